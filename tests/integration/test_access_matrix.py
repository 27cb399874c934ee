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

# The body each case sends, by the name its row of MATRIX gives ("-": none).
BODIES: dict[str, Any] = {
    "-": None,
    "plan": PLAN,
    "patient_patch": {"phone": "+390612345678"},
    "goals": {"goals": ["x"]},
    "consent": {"granted": True, "note": "Richiesta scritta prot. 12/2026"},
    "emergency": {"reason": "Paziente in arresto cardiaco in PS",
                  "reason_code": "unable_to_consent"},
    "delegate": {"delegate_username": "nobody", "relationship": "caregiver"},
    "document": {"kind": "monitoring_report", "careplan_id": "{other_plan}"},
    "sections": {"sections": {"findings": "Rivisto."}},
    "wrong_password": {"password": "wrong-password"},
    "consult_own": {"patient_id": "{own}", "specialty": "cardiology", "question": "?"},
    "consult_other": {"patient_id": "{other}", "specialty": "cardiology", "question": "?"},
    "new_user": {"username": "new.user", "password": "Lunga-password-9", "role": "nurse",
                 "display_name": "N"},
    "new_patient": {"fiscal_code": "BNCLCU70E15F205N", "given_name": "Luca",
                    "family_name": "Bianco", "birth_date": "1970-05-15", "sex": "M"},
}

# {own}, {other}: patient ids; {own_plan}, {other_plan}: care plans; {own_doc}, {other_doc}:
# draft documents of the teams' doctors (CONTRACT §8). No PACS is configured here: an
# authorized image read answers 503.
# method path                                       body            doctor nurse patient admin anon
MATRIX = """
GET    /api/v1/patients/{own}                       -               200 200 200 200 401
GET    /api/v1/patients/{other}                     -               403 403 403 200 401
PATCH  /api/v1/patients/{own}                       patient_patch   200 200 403 200 401
PATCH  /api/v1/patients/{other}                     patient_patch   403 403 403 200 401
GET    /api/v1/patients/{own}/care-team             -               200 200 200 403 401
GET    /api/v1/patients/{other}/care-team           -               403 403 403 403 401
GET    /api/v1/patients/{own}/careplans             -               200 200 200 403 401
GET    /api/v1/patients/{other}/careplans           -               403 403 403 403 401
POST   /api/v1/patients/{own}/careplans             plan            201 201 403 403 401
POST   /api/v1/patients/{other}/careplans           plan            403 403 403 403 401
GET    /api/v1/careplans/{own_plan}                 -               200 200 200 403 401
GET    /api/v1/careplans/{other_plan}               -               403 403 403 403 401
GET    /api/v1/careplans/{own_plan}/versions        -               200 200 200 403 401
PATCH  /api/v1/careplans/{own_plan}                 goals           200 200 403 403 401
PATCH  /api/v1/careplans/{other_plan}               goals           403 403 403 403 401
POST   /api/v1/careplans/{other_plan}/activate      -               403 403 403 403 401
POST   /api/v1/careplans/{other_plan}/complete      -               403 403 403 403 401
GET    /api/v1/patients/{own}/consents              -               200 200 200 200 401
GET    /api/v1/patients/{other}/consents            -               403 403 403 200 401
POST   /api/v1/patients/{own}/consents              consent         403 403 201 201 401
POST   /api/v1/patients/{other}/consents            consent         403 403 403 201 401
GET    /api/v1/patients/{own}/access-log            -               403 403 200 200 401
GET    /api/v1/patients/{other}/access-log          -               403 403 403 200 401
POST   /api/v1/patients/{other}/emergency-access    emergency       201 201 403 403 401
GET    /api/v1/patients/{own}/delegates             -               403 403 200 200 401
GET    /api/v1/patients/{other}/delegates           -               403 403 403 200 401
POST   /api/v1/patients/{other}/delegates           delegate        403 403 403 422 401
GET    /api/v1/patients/{own}/documents             -               200 200 200 403 401
GET    /api/v1/patients/{other}/documents           -               403 403 403 403 401
GET    /api/v1/patients/{other}/documents/index.pdf -               403 403 403 403 401
POST   /api/v1/patients/{other}/documents           document        403 403 403 403 401
GET    /api/v1/documents/{own_doc}                  -               200 200 404 403 401
GET    /api/v1/documents/{other_doc}                -               403 403 403 403 401
GET    /api/v1/documents/{other_doc}/pdf            -               403 403 403 403 401
PATCH  /api/v1/documents/{own_doc}                  sections        200 403 403 403 401
POST   /api/v1/documents/{own_doc}/sign             wrong_password  422 403 403 403 401
POST   /api/v1/documents/{other_doc}/replace        -               403 403 403 403 401
GET    /api/v1/patients/{own}/studies               -               503 503 503 403 401
GET    /api/v1/patients/{other}/studies             -               403 403 403 403 401
POST   /api/v1/teleconsults                         consult_own     422 422 403 403 401
POST   /api/v1/teleconsults                         consult_other   403 403 403 403 401
GET    /api/v1/teleconsults                         -               200 200 403 403 401
GET    /api/v1/teleconsults/0000                    -               404 404 403 403 401
GET    /api/v1/attachments/0000                     -               404 404 404 403 401
GET    /api/v1/studies/1.2.3                        -               503 503 503 403 401
GET    /api/v1/patients/0000                        -               404 404 404 404 401
GET    /api/v1/careplans/0000                       -               404 404 404 403 401
GET    /api/v1/users                                -               403 403 403 200 401
POST   /api/v1/users                                new_user        403 403 403 201 401
GET    /api/v1/users/me                             -               200 200 200 200 401
POST   /api/v1/patients                             new_patient     201 201 403 201 401
"""


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    body: dict[str, Any] | None
    expected: dict[str, int]  # caller → status


CALLERS = ("doctor", "nurse", "patient", "admin", "anon")
CASES = [Case(method, path, BODIES[body], dict(zip(CALLERS, map(int, statuses), strict=True)))
         for method, path, body, *statuses in map(str.split, MATRIX.strip().splitlines())]


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
