"""Role × endpoint matrix: own patient, another team's patient, anonymous."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from telemed.settings import Settings
from tests.conftest import World, fresh_settings
from tests.helpers.plans import PLAN
from tests.helpers.seeded import Seed, seed

PATIENT_PATCH = {"phone": "+390612345678"}


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # {own}, {other}: patient ids; {own_plan}, {other_plan}: care plan ids
    body: dict[str, Any] | None
    expected: dict[str, int]  # caller → status


# callers: doctor (team of own), nurse (team of own), patient (own), admin, anon
CASES = [
    Case("GET", "/api/v1/patients/{own}", None,
         {"doctor": 200, "nurse": 200, "patient": 200, "admin": 200, "anon": 401}),
    Case("GET", "/api/v1/patients/{other}", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 200, "anon": 401}),
    Case("PATCH", "/api/v1/patients/{own}", PATIENT_PATCH,
         {"doctor": 200, "nurse": 200, "patient": 403, "admin": 200, "anon": 401}),
    Case("PATCH", "/api/v1/patients/{other}", PATIENT_PATCH,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 200, "anon": 401}),
    Case("GET", "/api/v1/patients/{own}/care-team", None,
         {"doctor": 200, "nurse": 200, "patient": 200, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/patients/{other}/care-team", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/patients/{own}/careplans", None,
         {"doctor": 200, "nurse": 200, "patient": 200, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/patients/{other}/careplans", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("POST", "/api/v1/patients/{own}/careplans", PLAN,
         {"doctor": 201, "nurse": 201, "patient": 403, "admin": 403, "anon": 401}),
    Case("POST", "/api/v1/patients/{other}/careplans", PLAN,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/careplans/{own_plan}", None,
         {"doctor": 200, "nurse": 200, "patient": 200, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/careplans/{other_plan}", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/careplans/{own_plan}/versions", None,
         {"doctor": 200, "nurse": 200, "patient": 200, "admin": 403, "anon": 401}),
    Case("PATCH", "/api/v1/careplans/{own_plan}", {"goals": ["x"]},
         {"doctor": 200, "nurse": 200, "patient": 403, "admin": 403, "anon": 401}),
    Case("PATCH", "/api/v1/careplans/{other_plan}", {"goals": ["x"]},
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("POST", "/api/v1/careplans/{other_plan}/activate", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("POST", "/api/v1/careplans/{other_plan}/complete", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/patients/{own}/consents", None,
         {"doctor": 200, "nurse": 200, "patient": 200, "admin": 200, "anon": 401}),
    Case("GET", "/api/v1/patients/{other}/consents", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 200, "anon": 401}),
    Case("POST", "/api/v1/patients/{own}/consents",
         {"granted": True, "note": "Richiesta scritta prot. 12/2026"},
         {"doctor": 403, "nurse": 403, "patient": 201, "admin": 201, "anon": 401}),
    Case("POST", "/api/v1/patients/{other}/consents",
         {"granted": True, "note": "Richiesta scritta prot. 12/2026"},
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 201, "anon": 401}),
    Case("GET", "/api/v1/patients/{own}/access-log", None,
         {"doctor": 403, "nurse": 403, "patient": 200, "admin": 200, "anon": 401}),
    Case("GET", "/api/v1/patients/{other}/access-log", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 200, "anon": 401}),
    Case("POST", "/api/v1/patients/{other}/emergency-access",
         {"reason": "Paziente in arresto cardiaco in PS", "reason_code": "unable_to_consent"},
         {"doctor": 201, "nurse": 201, "patient": 403, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/patients/{own}/delegates", None,
         {"doctor": 403, "nurse": 403, "patient": 200, "admin": 200, "anon": 401}),
    Case("GET", "/api/v1/patients/{other}/delegates", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 200, "anon": 401}),
    Case("POST", "/api/v1/patients/{other}/delegates",
         {"delegate_username": "nobody", "relationship": "caregiver"},
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 422, "anon": 401}),
    # Clinical documents (CONTRACT §8): {own_doc}, {other_doc} are drafts of the teams' doctors.
    Case("GET", "/api/v1/patients/{own}/documents", None,
         {"doctor": 200, "nurse": 200, "patient": 200, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/patients/{other}/documents", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/patients/{other}/documents/index.pdf", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("POST", "/api/v1/patients/{other}/documents",
         {"kind": "monitoring_report", "careplan_id": "{other_plan}"},
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/documents/{own_doc}", None,
         {"doctor": 200, "nurse": 200, "patient": 404, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/documents/{other_doc}", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/documents/{other_doc}/pdf", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("PATCH", "/api/v1/documents/{own_doc}", {"sections": {"findings": "Rivisto."}},
         {"doctor": 200, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("POST", "/api/v1/documents/{own_doc}/sign", {"password": "wrong-password"},
         {"doctor": 422, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("POST", "/api/v1/documents/{other_doc}/replace", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    # Teleconsult and images (no PACS configured here: an authorized read answers 503)
    Case("GET", "/api/v1/patients/{own}/studies", None,
         {"doctor": 503, "nurse": 503, "patient": 503, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/patients/{other}/studies", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("POST", "/api/v1/teleconsults",
         {"patient_id": "{own}", "specialty": "cardiology", "question": "?"},
         {"doctor": 422, "nurse": 422, "patient": 403, "admin": 403, "anon": 401}),
    Case("POST", "/api/v1/teleconsults",
         {"patient_id": "{other}", "specialty": "cardiology", "question": "?"},
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/teleconsults", None,
         {"doctor": 200, "nurse": 200, "patient": 403, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/teleconsults/0000", None,
         {"doctor": 404, "nurse": 404, "patient": 403, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/attachments/0000", None,
         {"doctor": 404, "nurse": 404, "patient": 404, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/studies/1.2.3", None,
         {"doctor": 503, "nurse": 503, "patient": 503, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/patients/0000", None,
         {"doctor": 404, "nurse": 404, "patient": 404, "admin": 404, "anon": 401}),
    Case("GET", "/api/v1/careplans/0000", None,
         {"doctor": 404, "nurse": 404, "patient": 404, "admin": 403, "anon": 401}),
    Case("GET", "/api/v1/users", None,
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 200, "anon": 401}),
    Case("POST", "/api/v1/users", {"username": "new.user", "password": "Lunga-password-9",
                                   "role": "nurse", "display_name": "N"},
         {"doctor": 403, "nurse": 403, "patient": 403, "admin": 201, "anon": 401}),
    Case("GET", "/api/v1/users/me", None,
         {"doctor": 200, "nurse": 200, "patient": 200, "admin": 200, "anon": 401}),
    Case("POST", "/api/v1/patients", {
        "fiscal_code": "BNCLCU70E15F205N", "given_name": "Luca", "family_name": "Bianco",
        "birth_date": "1970-05-15", "sex": "M"},
         {"doctor": 201, "nurse": 201, "patient": 403, "admin": 201, "anon": 401}),
]

CALLERS = ("doctor", "nurse", "patient", "admin", "anon")


async def _scene(world: World) -> dict[str, Any]:
    """Two teams' patients, each with a care plan and a draft document; a header per caller."""
    client = world.client
    doctor = await world.user("doctor")
    nurse = await world.user("nurse")
    other_doctor = await world.user("doctor")
    own = await world.patient(team=[doctor["id"], nurse["id"]])
    other = await world.patient(team=[other_doctor["id"]])
    ids = {"own": own.id, "other": other.id}
    for key, patient, who in (("own_plan", own, doctor), ("other_plan", other, other_doctor)):
        resp = await client.post(f"/api/v1/patients/{patient.id}/careplans", json=PLAN,
                                 headers=await world.token(who["username"]))
        ids[key] = (await resp.json())["id"]
    for key, patient, who in (("own_doc", own, doctor), ("other_doc", other, other_doctor)):
        plan = ids["own_plan" if key == "own_doc" else "other_plan"]
        resp = await client.post(f"/api/v1/patients/{patient.id}/documents",
                                 json={"kind": "monitoring_report", "careplan_id": plan},
                                 headers=await world.token(who["username"]))
        assert resp.status == 201, await resp.text()
        ids[key] = (await resp.json())["id"]
    users = {"doctor": doctor, "nurse": nurse, "admin": await world.user("admin"),
             "patient": await world.user("patient", patient_id=own.id)}
    headers = {caller: await world.token(user["username"]) for caller, user in users.items()}
    return {"ids": ids, "headers": {**headers, "anon": {}}}


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Seed[dict[str, Any]]:
    """Built once; every case gets its own copy of the database (the calls change it)."""
    return seed(tmp_path_factory, _scene)


@pytest.fixture
def settings(scene: Seed[dict[str, Any]], tmp_path: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return fresh_settings(tmp_path, tmp_path_factory, template=scene.database)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
@pytest.mark.parametrize("caller", CALLERS)
async def test_matrix(client: TestClient[Any, Any], scene: Seed[dict[str, Any]], case: Case,
                      caller: str) -> None:
    ids = scene.data["ids"]
    path = case.path.format(**ids)
    body = json.loads(json.dumps(case.body).replace("{other_plan}", ids["other_plan"]))
    if body is not None and body.get("patient_id") in ("{own}", "{other}"):
        body = {**body, "patient_id": ids[body["patient_id"].strip("{}")]}
    resp = await client.request(case.method, path, json=body,
                                headers=scene.data["headers"][caller])
    assert resp.status == case.expected[caller], await resp.text()
    if resp.status >= 400:
        assert "error" in await resp.json()
