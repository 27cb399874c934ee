"""One patient with its care team and its resources made on demand, for the tests that walk
the route table by patient (the scope matrix, the emergency-access trust test)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import AuditEvent, QuestionnaireResponse
from tests.conftest import World
from tests.helpers.plans import PLAN
from tests.helpers.teleconsults import specialist
from tests.integration.monitoring import (
    add_device,
    add_plan,
    alerts_of,
    basic,
    now_s,
    observations,
    pack,
)
from tests.integration.visit_helpers import soon

PARAM = re.compile(r"\{([^}]+)\}")


PLAN_CONTENT = {k: PLAN[k] for k in ("goals", "monitoring", "trends", "news2")}


class Side:
    """One patient with its care team, and its resources created on demand (cached)."""

    def __init__(self, world: World, name: str) -> None:
        self.world = world
        self.name = name
        self._cache: dict[str, str] = {}

    async def build(self) -> Side:
        w = self.world
        self.doctor = await w.user("doctor")
        self.nurse = await w.user("nurse")
        self.patient = await w.patient(team=[self.doctor["id"], self.nurse["id"]])
        self.patient_user = await w.user("patient", patient_id=self.patient.id)
        return self

    def copy_to(self, world: World) -> Side:
        """This side's people and their tokens, in `world` on a copy of the database they were
        made in (tests/helpers/seeded.py); its other resources are made again on demand."""
        copy = Side(world, self.name)
        copy.doctor, copy.nurse = self.doctor, self.nurse
        copy.patient, copy.patient_user = self.patient, self.patient_user
        copy._cache = {k: v for k, v in self._cache.items() if k.startswith("token:")}
        return copy

    async def headers(self, who: dict[str, str]) -> dict[str, str]:
        key = f"token:{who['username']}"
        if key not in self._cache:
            self._cache[key] = (await self.world.token(who["username"]))["Authorization"]
        return {"Authorization": self._cache[key]}

    async def _once(self, key: str, make: Callable[[], Awaitable[str]]) -> str:
        if key not in self._cache:
            self._cache[key] = await make()
        return self._cache[key]

    # -- factories, one per path parameter -------------------------------------------------
    async def patient_id(self) -> str:
        return str(self.patient.id)

    async def user_id(self) -> str:
        return self.doctor["id"]

    async def plan_id(self) -> str:
        async def make() -> str:
            plan = await add_plan(self.world.app, self.patient.id, self.doctor["id"],
                                  PLAN_CONTENT)
            return plan.plan_id
        return await self._once("plan", make)

    async def device_id(self) -> str:
        return await self._once("device", lambda: add_device(self.world.app, self.patient.id))

    async def alert_id(self) -> str:
        async def make() -> str:
            device = await self.device_id()
            resp = await self.world.client.post(
                f"/api/v1/devices/{device}/readings", headers=basic(device),
                data=pack(("spo2", 93, "%", now_s() - 30)))  # warning band: opens an alert
            assert resp.status == 200, await resp.text()
            alerts = await alerts_of(self.world.app, self.patient.id)
            assert alerts, "the reading opened no alert"
            return alerts[0].id
        return await self._once("alert", make)

    async def observation_fhir_id(self) -> str:
        await self.alert_id()  # the spo2 reading is stored as an Observation
        rows = await observations(self.world.app, self.patient.id)
        assert rows, "no observation stored"
        return str(rows[0].id)

    async def visit_id(self) -> str:
        async def make() -> str:
            resp = await self.world.client.post(
                "/api/v1/visits", headers=await self.headers(self.doctor),
                json={"kind": "televisit", "patient_id": self.patient.id,
                      "participant_ids": [self.doctor["id"]], "scheduled_start": soon(5),
                      "duration_minutes": 30})
            assert resp.status == 201, await resp.text()
            return str((await resp.json())["id"])
        return await self._once("visit", make)

    async def document_id(self) -> str:
        """A signed televisit report of this patient's visit."""
        async def make() -> str:
            from telemed.services import visits as visit_service
            from tests.conftest import PASSWORD

            visit = await self.visit_id()
            async with self.world.app[keys.SESSIONS]() as session:
                await visit_service.advance(session, visit, "in_progress")
            headers = await self.headers(self.doctor)
            resp = await self.world.client.post(f"/api/v1/visits/{visit}/report",
                                                headers=headers, json={"text": "Referto."})
            assert resp.status == 201, await resp.text()
            doc = str((await resp.json())["id"])
            signed = await self.world.client.post(f"/api/v1/documents/{doc}/sign",
                                                  headers=headers, json={"password": PASSWORD})
            assert signed.status == 200, await signed.text()
            return doc
        return await self._once("document", make)

    async def guest_id(self) -> str:
        async def make() -> str:
            visit = await self.visit_id()
            resp = await self.world.client.post(f"/api/v1/visits/{visit}/guests",
                                                headers=await self.headers(self.doctor),
                                                json={"name": "Luigi Verdi"})
            assert resp.status == 201, await resp.text()
            return str((await resp.json())["id"])
        return await self._once("guest", make)

    async def delegation_id(self) -> str:
        async def make() -> str:
            caregiver = await self.world.user("patient")
            resp = await self.world.client.post(
                f"/api/v1/patients/{self.patient.id}/delegates",
                headers=await self.headers(self.patient_user),
                json={"delegate_username": caregiver["username"], "relationship": "caregiver"})
            assert resp.status == 201, await resp.text()
            return str((await resp.json())["id"])
        return await self._once("delegation", make)

    async def access_id(self) -> str:
        """An emergency access to this patient by a doctor of no team (to be reviewed)."""
        async def make() -> str:
            er = await self.world.user("doctor")
            resp = await self.world.client.post(
                f"/api/v1/patients/{self.patient.id}/emergency-access",
                headers=await self.headers(er),
                json={"reason_code": "urgent_clinical_need",
                      "reason": "Chiamata dal 118 per dispnea improvvisa"})
            assert resp.status == 201, await resp.text()
            return str((await resp.json())["id"])
        return await self._once("emergency", make)

    async def audit_event_id(self) -> str:
        async def make() -> str:
            resp = await self.world.client.get(f"/api/v1/patients/{self.patient.id}",
                                               headers=await self.headers(self.doctor))
            assert resp.status == 200, await resp.text()
            async with self.world.app[keys.SESSIONS]() as session:
                result = await session.exec(select(AuditEvent)
                                            .where(AuditEvent.patient_id == self.patient.id)
                                            .order_by(col(AuditEvent.id)))
                event = result.first()
            assert event is not None, "no audit event recorded"
            return str(event.id)
        return await self._once("audit", make)

    async def questionnaire_response_id(self) -> str:
        async def make() -> str:
            async with self.world.app[keys.SESSIONS]() as session:
                row = QuestionnaireResponse(
                    patient_id=self.patient.id, questionnaire="hf_diary",
                    answers=HF_ANSWERS, score=0, band="stable",
                    entered_by=self.patient_user["id"])
                session.add(row)
                await session.commit()
                return row.id
        return await self._once("questionnaire_response", make)
    # -- teleconsult and images (docs/teleconsult.md) --------------------------------------
    async def teleconsult_id(self) -> str:
        """The team doctor's request to a cardiologist about this patient."""
        async def make() -> str:
            asked = await specialist(self.world)
            resp = await self.world.client.post(
                "/api/v1/teleconsults", headers=await self.headers(self.doctor),
                json={"patient_id": self.patient.id, "specialist_id": asked["id"],
                      "question": "Soffio sistolico: ecocardio?", "mode": "live"})
            assert resp.status == 201, await resp.text()
            return str((await resp.json())["id"])
        return await self._once("teleconsult", make)

    async def attachment_id(self) -> str:
        """A PDF attached to the patient's visit (the patient reads it too)."""
        async def make() -> str:
            visit = await self.visit_id()
            resp = await self.world.client.post(
                f"/api/v1/visits/{visit}/attachments?filename=referto.pdf",
                data=b"%PDF-1.4\n%%EOF\n",
                headers={**await self.headers(self.doctor), "Content-Type": "application/pdf"})
            assert resp.status == 201, await resp.text()
            return str((await resp.json())["id"])
        return await self._once("attachment", make)

    async def _study(self) -> tuple[str, str, str]:
        """A CT study of this patient attached to its teleconsult: stored in the app's PACS
        when it has one, else known from its attachment only (the proxy authorizes by it)."""
        key = "study"
        if key not in self._cache:
            from telemed.db.teleconsults import Attachment
            from telemed.imaging import dicomweb as dw
            from telemed.imaging.samples import series
            from telemed.imaging.setup import IMAGING

            sample = series(self.patient.fiscal_code)
            consult = await self.teleconsult_id()
            pacs = self.world.app[IMAGING]
            sop = "1.2.826.0.1.3680043.8.498.1"
            if pacs is not None:
                await pacs.store(sample.files[0])
                found = await pacs.search_instances(sample.study_uid, sample.series_uid)
                sop = str(dw.value(found[0], dw.TAG_SOP_UID))
            async with self.world.app[keys.SESSIONS]() as session:
                session.add(Attachment(patient_id=self.patient.id, teleconsult_id=consult,
                                       kind="study", study_uid=sample.study_uid,
                                       created_by=self.doctor["id"]))
                await session.commit()
            self._cache[key] = "|".join((sample.study_uid, sample.series_uid, sop))
        study, series_uid, sop = self._cache[key].split("|")
        return study, series_uid, sop

    async def study_uid(self) -> str:
        return (await self._study())[0]

    async def series_uid(self) -> str:
        return (await self._study())[1]

    async def sop_uid(self) -> str:
        return (await self._study())[2]

    async def frame(self) -> str:
        return "1"

    async def fhir_id(self, fhir_type: str) -> str:
        makers: dict[str, Callable[[], Awaitable[str]]] = {
            "Patient": self.patient_id,
            "Observation": self.observation_fhir_id,
            "CarePlan": self.plan_id,
            "Appointment": self.visit_id,
            "Flag": self.alert_id,
            "AuditEvent": self.audit_event_id,
            "DocumentReference": self.document_id,
            "Bundle": self.document_id,
            "QuestionnaireResponse": self.questionnaire_response_id,
        }
        if fhir_type not in makers:
            pytest.fail(f"no fixture for path parameter id of FHIR type {fhir_type}")
        return await makers[fhir_type]()

    async def value(self, param: str, path: str) -> str:
        if param == "id" and path.startswith("/fhir/R4/"):
            return await self.fhir_id(path.split("/")[3])
        factory = FACTORIES.get(param)
        if factory is None:
            pytest.fail(f"no fixture for path parameter {param} (route {path})")
        return str(await factory(self))


FACTORIES: dict[str, Callable[[Side], Awaitable[str]]] = {
    "patient_id": Side.patient_id,
    "user_id": Side.user_id,
    "plan_id": Side.plan_id,
    "device_id": Side.device_id,
    "alert_id": Side.alert_id,
    "visit_id": Side.visit_id,
    "guest_id": Side.guest_id,
    "delegation_id": Side.delegation_id,
    "access_id": Side.access_id,
    "teleconsult_id": Side.teleconsult_id,
    "attachment_id": Side.attachment_id,
    "study_uid": Side.study_uid,
    "series_uid": Side.series_uid,
    "sop_uid": Side.sop_uid,
    "frame": Side.frame,
    "document_id": Side.document_id,
}


FHIR_TYPES = {"Patient", "Observation", "CarePlan", "Appointment", "Flag", "AuditEvent",
              "DocumentReference", "Bundle", "QuestionnaireResponse"}
HF_ANSWERS = {"breathlessness": 0, "orthopnoea": 0, "ankle_swelling": 0, "fatigue": 0}


# Path parameters that name no patient's data: their routes are tested where they live.
NOT_PATIENT_SCOPED: dict[str, str] = {
    "notification_id": "a user's own notification; another user's id answers 404 "
                       "(tests/integration/notify)",
    "delivery_id": "the admins' failed-delivery queue, which carries no patient data "
                   "(tests/integration/notify)",
    "code": "a questionnaire of the catalogue; the patient is the caller's own record or "
            "?patient= (tests/integration/test_questionnaires.py)",
    "session": "one of the caller's own sessions; anyone else's answers 404 "
               "(tests/integration/test_my_sessions.py)",
    "rule_id": "a clinician's own weekly availability; another's answers 404 "
               "(tests/integration/test_booking_api.py)",
    "exception_id": "a clinician's own day off; another's answers 404 "
                    "(tests/integration/test_booking_api.py)",
}


# FHIR types that are no patient's data (a clinician's published hours and free slots,
# readable by every signed-in person; tests/integration/test_fhir_scheduling.py).
NOT_PATIENT_FHIR = ("/fhir/R4/Schedule/", "/fhir/R4/Slot/")


def patient_scoped(path: str) -> bool:
    """The route's path names patient data (not only a user's own things)."""
    if path.startswith(NOT_PATIENT_FHIR):
        return False
    return not set(PARAM.findall(path)) & NOT_PATIENT_SCOPED.keys()


async def valid_body(method: str, path: str, side: Side) -> dict[str, Any] | None:
    """A plausible valid body, so that refusals come from authorization, not validation."""
    if method in ("GET", "DELETE"):
        return None
    match (method, path):
        case ("PATCH", "/api/v1/patients/{patient_id}"):
            return {"phone": "+390611111111"}
        case ("POST", "/api/v1/patients/{patient_id}/careplans"):
            return PLAN
        case ("PATCH", "/api/v1/careplans/{plan_id}"):
            return {"title": "Scompenso cardiaco (rev.)"}
        case ("POST", "/api/v1/patients/{patient_id}/consents"):
            return {"granted": True}
        case ("POST", "/api/v1/patients/{patient_id}/emergency-access"):
            return {"reason": "Paziente incosciente in pronto soccorso",
                    "reason_code": "unable_to_consent"}
        case ("POST", "/api/v1/patients/{patient_id}/delegates"):
            caregiver = await side.world.user("patient")
            return {"delegate_username": caregiver["username"], "relationship": "caregiver"}
        case ("PATCH", "/api/v1/devices/{device_id}"):
            return {"patient_id": side.patient.id}
        case ("POST", "/api/v1/users/{user_id}/second-factor/reset"):
            return {"reason": "phone lost, confirmed by phone call"}
        case ("POST", "/api/v1/alerts/{alert_id}/ack"):
            return {"note": "seen"}
        case ("POST", "/api/v1/alerts/{alert_id}/resolve"):
            return {"note": "called the patient, all fine"}
        case ("POST", "/api/v1/alerts/{alert_id}/snooze"):
            return {"minutes": 30}
        case ("POST", "/api/v1/visits/{visit_id}/report"):
            return {"text": "Visita regolare, nessuna variazione della terapia."}
        case ("POST", "/api/v1/patients/{patient_id}/documents"):
            return {"kind": "monitoring_report", "careplan_id": await side.plan_id()}
        case ("PATCH", "/api/v1/documents/{document_id}"):
            return {"sections": {"conclusions": "Rivisto."}}
        case ("POST", "/api/v1/documents/{document_id}/sign"):
            return {"password": "correct-horse-battery-9"}
        case ("POST", "/api/v1/visits/{visit_id}/guests"):
            return {"name": "Luigi Verdi"}
        case ("POST", "/api/v1/visits/{visit_id}/reschedule"):
            return {"slot_id": f"{side.doctor['id']}-209901010900"}
        case ("POST", "/api/v1/patients/{patient_id}/questionnaire-responses"):
            return {"questionnaire": "hf_diary",
                    "answers": [{"link_id": k, "value": v} for k, v in HF_ANSWERS.items()]}
        case ("POST", "/api/v1/emergency-accesses/{access_id}/review"):
            return {"outcome": "confirmed"}
        case ("POST", "/api/v1/teleconsults/{teleconsult_id}/schedule"):
            return {"scheduled_start": soon(5), "duration_minutes": 30}
        case ("POST", "/api/v1/teleconsults/{teleconsult_id}/answer"):
            return {"text": "Ecocardiogramma entro 7 giorni."}
        case ("POST", "/api/v1/teleconsults/{teleconsult_id}/attachments") | \
                ("POST", "/api/v1/visits/{visit_id}/attachments"):
            return {"study_instance_uid": await side.study_uid()}
    return {}
