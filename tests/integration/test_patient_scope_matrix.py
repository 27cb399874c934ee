"""Generated from the route table: the patient dimension of every route's policy.

test_route_policies.py checks that anonymous callers and roles outside a route's policy are
refused. This module checks, for every non-public route with path parameters and every role
INSIDE its policy, that the caller

(a) reaches the resources of a patient of its own care team (its own record, for a patient):
    never 401/403 — a 2xx, or a 4xx about the body or the state, is fine;
(b) is refused the resources of another team's patient with 403 or 404, never a 2xx.

By-design departures are listed, each with its reason, in OTHER_PATIENT_ALLOWED (b) and
OWN_PATIENT_REFUSED (a). A new route whose path parameter has no factory here fails
test_every_path_parameter_has_a_fixture with "no fixture for path parameter X".
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import AuditEvent
from telemed.principal import PUBLIC, policy_of
from telemed.settings import Settings
from tests.conftest import World
from tests.integration.monitoring import (
    add_device,
    add_plan,
    alerts_of,
    basic,
    now_s,
    observations,
    pack,
)
from tests.integration.test_patients_careplans_api import PLAN
from tests.integration.test_route_policies import all_routes
from tests.integration.visit_helpers import soon

Route = tuple[str, str]

# An administrator belongs to no care team: every patient is "another team's" patient to it.
# What it may do is fixed by services.access.ADMIN_RESOURCES (demographics, consents, access
# log — never clinical data), by services.delegates (admins manage delegations) and by
# services.devices._authorize (admins manage every device).
ADMIN_DEMOGRAPHICS = "admin sees and corrects the demographics of every patient (ADMIN_RESOURCES)"
ADMIN_PRIVACY = ("admin handles consents, delegations, the access log and the review of "
                 "emergency accesses of every patient (privacy desk; ADMIN_RESOURCES, "
                 "services.delegates, services.consent.review_emergency)")
ADMIN_DEVICES = "admin manages every device (services.devices._authorize skips the patient check)"
NOT_INVITED = ("care-team membership opens the visit record, not the call: only clinicians "
               "invited as participants may join (the team nurse is not invited here)")

# (b) The caller MAY act on another team's patient here, by design.
OTHER_PATIENT_ALLOWED: dict[tuple[str, str, str], str] = {
    ("POST", "/api/v1/patients/{patient_id}/emergency-access", "doctor"):
        "break-glass access is open to any clinician (time-limited, reason required, audited)",
    ("POST", "/api/v1/patients/{patient_id}/emergency-access", "nurse"):
        "break-glass access is open to any clinician (time-limited, reason required, audited)",
    ("GET", "/api/v1/users/{user_id}", "admin"):
        "administrators manage every user account; users are not patient data",
    ("PATCH", "/api/v1/users/{user_id}", "admin"):
        "administrators deactivate and reactivate every user account (no patient data)",
    **{(m, p, "admin"): ADMIN_DEMOGRAPHICS for m, p in (
        ("GET", "/api/v1/patients/{patient_id}"),
        ("PATCH", "/api/v1/patients/{patient_id}"),
        ("GET", "/fhir/R4/Patient/{id}"),
        ("GET", "/patients/{patient_id}"),
    )},
    **{(m, p, "admin"): ADMIN_PRIVACY for m, p in (
        ("GET", "/api/v1/patients/{patient_id}/consents"),
        ("POST", "/api/v1/patients/{patient_id}/consents"),
        ("GET", "/api/v1/patients/{patient_id}/access-log"),
        ("GET", "/fhir/R4/AuditEvent/{id}"),
        ("GET", "/patients/{patient_id}/privacy"),
        ("GET", "/patients/{patient_id}/privacy/withdraw"),
        ("GET", "/api/v1/patients/{patient_id}/delegates"),
        ("POST", "/api/v1/patients/{patient_id}/delegates"),
        ("DELETE", "/api/v1/patients/{patient_id}/delegates/{delegation_id}"),
        ("POST", "/api/v1/emergency-accesses/{access_id}/review"),
    )},
    **{(m, p, "admin"): ADMIN_DEVICES for m, p in (
        ("GET", "/api/v1/devices/{device_id}"),
        ("PATCH", "/api/v1/devices/{device_id}"),
        ("DELETE", "/api/v1/devices/{device_id}"),
        ("POST", "/api/v1/devices/{device_id}/credentials"),
        ("GET", "/devices/{device_id}"),
    )},
}

# (a) The caller may NOT act on its own team's patient here, by design.
OWN_PATIENT_REFUSED: dict[tuple[str, str, str], str] = {
    ("GET", "/api/v1/visits/{visit_id}/join", "nurse"): NOT_INVITED,
    ("GET", "/visits/{visit_id}/room", "nurse"): NOT_INVITED,
}

# Routes whose handler needs the MQTT broker after authorization (not started here): a 503
# "broker_unavailable" on the caller's own patient means authorization let the call through.
NEEDS_BROKER = {
    ("DELETE", "/api/v1/devices/{device_id}"),
    ("POST", "/api/v1/devices/{device_id}/credentials"),
}

# Page POST routes are HTML form posts guarded by a CSRF token bound to a browser session;
# a bearer-token call would be refused by the CSRF check, not by the patient rule. Their
# patient scoping is the same service call as the matching API route checked here.
SKIPPED_PAGE_POSTS = "page form post (CSRF + session): covered by the matching API route"

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

    async def fhir_id(self, fhir_type: str) -> str:
        makers: dict[str, Callable[[], Awaitable[str]]] = {
            "Patient": self.patient_id,
            "Observation": self.observation_fhir_id,
            "CarePlan": self.plan_id,
            "Appointment": self.visit_id,
            "Flag": self.alert_id,
            "AuditEvent": self.audit_event_id,
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
}
FHIR_TYPES = {"Patient", "Observation", "CarePlan", "Appointment", "Flag", "AuditEvent"}

# Path parameters that name no patient's data: their routes are tested where they live.
NOT_PATIENT_SCOPED: dict[str, str] = {
    "notification_id": "a user's own notification; another user's id answers 404 "
                       "(tests/integration/notify)",
    "delivery_id": "the admins' failed-delivery queue, which carries no patient data "
                   "(tests/integration/notify)",
}


def patient_scoped(path: str) -> bool:
    """The route's path names patient data (not only a user's own things)."""
    return not set(PARAM.findall(path)) & NOT_PATIENT_SCOPED.keys()


async def _body(method: str, path: str, side: Side) -> dict[str, Any] | None:
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
        case ("POST", "/api/v1/alerts/{alert_id}/ack"):
            return {"note": "seen"}
        case ("POST", "/api/v1/alerts/{alert_id}/resolve"):
            return {"note": "called the patient, all fine"}
        case ("POST", "/api/v1/alerts/{alert_id}/snooze"):
            return {"minutes": 30}
        case ("POST", "/api/v1/visits/{visit_id}/report"):
            return {"text": "Visita regolare, nessuna variazione della terapia."}
        case ("POST", "/api/v1/visits/{visit_id}/guests"):
            return {"name": "Luigi Verdi"}
        case ("POST", "/api/v1/emergency-accesses/{access_id}/review"):
            return {"outcome": "confirmed"}
    return {}


def _is_page(path: str) -> bool:
    return not path.startswith(("/api/", "/fhir/"))


def _cases(settings: Settings) -> list[Any]:
    from telemed.app import create_app

    cases = []
    for method, path, handler in all_routes(create_app(settings)):
        policy = policy_of(handler)
        if policy == PUBLIC or not PARAM.search(path) or not patient_scoped(path):
            continue
        assert isinstance(policy, frozenset)
        for role in sorted(policy):
            marks = []
            if _is_page(path) and method != "GET":
                marks.append(pytest.mark.skip(reason=SKIPPED_PAGE_POSTS))
            cases.append(pytest.param((method, path, role), id=f"{method} {path} as {role}",
                                      marks=marks))
    return cases


def _test_settings() -> Settings:
    from telemed.settings import load_settings

    return load_settings(env="test", secret_key="x" * 40, database_url="sqlite+aiosqlite://",
                         data_dir=".")


def test_every_path_parameter_has_a_fixture(settings: Settings) -> None:
    from telemed.app import create_app

    for _method, path, handler in all_routes(create_app(settings)):
        if policy_of(handler) == PUBLIC or not patient_scoped(path):
            continue
        for param in PARAM.findall(path):
            if param == "id" and path.startswith("/fhir/R4/"):
                fhir_type = path.split("/")[3]
                assert fhir_type in FHIR_TYPES, \
                    f"no fixture for path parameter id of FHIR type {fhir_type} ({path})"
            else:
                assert param in FACTORIES, f"no fixture for path parameter {param} ({path})"


def test_exception_lists_name_real_routes(settings: Settings) -> None:
    from telemed.app import create_app

    known = {(m, p, r) for m, p, h in all_routes(create_app(settings))
             if isinstance(policy_of(h), frozenset) for r in policy_of(h)}  # type: ignore[union-attr]
    for key in (*OTHER_PATIENT_ALLOWED, *OWN_PATIENT_REFUSED):
        assert key in known, f"exception for a route/role that does not exist: {key}"


async def _call(client: TestClient[Any, Any], method: str, path: str, side: Side,
                headers: dict[str, str], *, rest: Side | None = None) -> tuple[int, str, str]:
    """Call the route with ids of `side` (or: the first id of `side`, the others of `rest`)."""
    url = path
    for i, param in enumerate(PARAM.findall(path)):
        owner = side if rest is None or i == 0 else rest
        url = url.replace(f"{{{param}}}", await owner.value(param, path))
    body = await _body(method, path, side)
    kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": False}
    if body is not None:
        kwargs["json"] = body
    resp = await client.request(method, url, **kwargs)
    text = await resp.text()
    return resp.status, resp.headers.get("Location", ""), text[:300]


async def test_patient_scope(client: TestClient[Any, Any], world: World,
                             scope_case: tuple[str, str, str]) -> None:
    method, path, role = scope_case
    mine = await Side(world, "mine").build()
    other = await Side(world, "other").build()
    caller = {"doctor": mine.doctor, "nurse": mine.nurse, "patient": mine.patient_user}.get(role)
    if caller is None:
        caller = await world.user(role)
    headers = await mine.headers(caller)

    # (b) another team's patient — called first, so (a) cannot disturb it.
    status, location, text = await _call(client, method, path, other, headers)
    if (method, path, role) in OTHER_PATIENT_ALLOWED:
        assert status not in (401, 403), ("documented as allowed", status, text)
    else:
        assert status in (403, 404), \
            f"{method} {path} as {role} on ANOTHER team's patient: {status} {text}"

    # (a) the caller's own team's patient (own record, for a patient).
    status, location, text = await _call(client, method, path, mine, headers)
    if (method, path, role) in OWN_PATIENT_REFUSED:
        assert status in (403, 404), ("documented as refused", status, text)
    else:
        assert status not in (401, 403), \
            f"{method} {path} as {role} on its OWN team's patient: {status} {text}"
        broker_down = (method, path) in NEEDS_BROKER and status == 503 \
            and "broker_unavailable" in text
        assert status < 500 or broker_down, \
            f"{method} {path} as {role}: server error {status} {text}"
        if _is_page(path):
            assert "/login" not in location, (method, path, role, status, location)


def _mixed_cases(settings: Settings) -> list[Any]:
    """Routes with a parent and a child id: the child must belong to the parent."""
    return [c for c in _cases(settings) if len(PARAM.findall(c.values[0][1])) > 1]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scope_case" in metafunc.fixturenames:
        metafunc.parametrize("scope_case", _cases(_test_settings()))
    if "mixed_case" in metafunc.fixturenames:
        metafunc.parametrize("mixed_case", _mixed_cases(_test_settings()))


async def test_child_id_of_another_patient_under_own_parent(
    client: TestClient[Any, Any], world: World, mixed_case: tuple[str, str, str]
) -> None:
    """/parent/{own id}/child/{another patient's child id}: refused, never acted on."""
    method, path, role = mixed_case
    mine = await Side(world, "mine").build()
    other = await Side(world, "other").build()
    caller = {"doctor": mine.doctor, "nurse": mine.nurse, "patient": mine.patient_user}.get(role)
    if caller is None:
        caller = await world.user(role)
    status, _location, text = await _call(client, method, path, mine,
                                          await mine.headers(caller), rest=other)
    assert status in (403, 404), \
        f"{method} {path} as {role}, own parent + another patient's child: {status} {text}"
