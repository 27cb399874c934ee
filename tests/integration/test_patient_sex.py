"""Patient sex: our letters and FHIR administrative gender in, M/F/O/U out, FHIR gender mapped."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from telemed.domain.fiscal_code import build_fiscal_code
from tests.conftest import PASSWORD, World

ANNA = build_fiscal_code("Anna", "Verdi", date(1975, 6, 15), "F", "Roma")


def patient(sex: Any, code: str = ANNA) -> dict[str, Any]:
    return {"fiscal_code": code, "given_name": "Anna", "family_name": "Verdi",
            "birth_date": "1975-06-15", "sex": sex}


@pytest.fixture
async def doctor_h(world: World) -> dict[str, str]:
    doctor = await world.user("doctor")
    return await world.token(doctor["username"])


@pytest.mark.parametrize(("sex", "stored", "gender"), [
    ("F", "F", "female"), ("female", "F", "female"), ("Female", "F", "female"),
    ("other", "O", "other"), ("O", "O", "other"), ("unknown", "U", "unknown"),
    ("u", "U", "unknown"),
])
async def test_accepted_forms_are_stored_as_letters(client: TestClient[Any, Any],
                                                    doctor_h: dict[str, str], sex: str,
                                                    stored: str, gender: str) -> None:
    resp = await client.post("/api/v1/patients", json=patient(sex), headers=doctor_h)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["sex"] == stored
    got = await (await client.get(f"/api/v1/patients/{created['id']}", headers=doctor_h)).json()
    assert got["sex"] == stored
    fhir = await client.get(f"/fhir/R4/Patient/{created['id']}", headers=doctor_h)
    assert (await fhir.json())["gender"] == gender


@pytest.mark.parametrize("sex", ["male", "M", "MALE"])
async def test_fiscal_code_check_still_applies_to_male_and_female(
    client: TestClient[Any, Any], doctor_h: dict[str, str], sex: str
) -> None:
    resp = await client.post("/api/v1/patients", json=patient(sex), headers=doctor_h)
    assert resp.status == 422
    assert (await resp.json())["error"]["fields"] == {
        "fiscal_code": "The fiscal code does not match the sex M."}


@pytest.mark.parametrize("sex", ["X", "", "femmina", "intersex", 1, True, None, ["F"]])
async def test_other_values_are_refused(client: TestClient[Any, Any],
                                        doctor_h: dict[str, str], sex: Any) -> None:
    resp = await client.post("/api/v1/patients", json=patient(sex), headers=doctor_h)
    assert resp.status == 422
    assert "sex" in (await resp.json())["error"]["fields"]


async def test_changing_sex_to_other_keeps_the_code(client: TestClient[Any, Any],
                                                    doctor_h: dict[str, str]) -> None:
    created = await (await client.post("/api/v1/patients", json=patient("female"),
                                       headers=doctor_h)).json()
    url = f"/api/v1/patients/{created['id']}"
    assert (await (await client.patch(url, json={"sex": "other"}, headers=doctor_h)).json())[
        "sex"] == "O"
    back = await client.patch(url, json={"sex": "male"}, headers=doctor_h)
    assert back.status == 422  # male against a woman's fiscal code


async def test_openapi_documents_the_enum(client: TestClient[Any, Any]) -> None:
    spec = await (await client.get("/api/v1/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert schemas["PatientCreate"]["properties"]["sex"]["enum"] == [
        "M", "F", "O", "U", "male", "female", "other", "unknown"]
    assert schemas["Patient"]["properties"]["sex"]["enum"] == ["M", "F", "O", "U"]
    get = spec["paths"]["/api/v1/patients/{patient_id}"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Patient"}


async def _csrf(client: TestClient[Any, Any], path: str) -> str:
    page = await (await client.get(path)).text()
    return page.split('name="csrf-token" content="')[1].split('"')[0]


async def test_registration_form_offers_all_four_in_both_languages(
    client: TestClient[Any, Any], world: World
) -> None:
    doctor = await world.user("doctor")
    resp = await client.post("/login", data={"username": doctor["username"],
                                             "password": PASSWORD,
                                             "csrf_token": await _csrf(client, "/login")},
                             allow_redirects=False)
    assert resp.status in (302, 303)
    page = await (await client.get("/patients/new")).text()
    for value in ("M", "F", "O", "U"):
        assert f'value="{value}"' in page
    assert "Other" in page and "Unknown" in page
    switched = await client.post("/language", data={
        "lang": "it", "next": "/patients/new", "csrf_token": await _csrf(client, "/")},
        allow_redirects=False)
    assert switched.status == 303
    page = await (await client.get("/patients/new")).text()
    assert "Altro" in page and "Non noto" in page and "Femmina" in page
    created = await client.post("/patients/new", data={
        "given_name": "Anna", "family_name": "Verdi", "birth_date": "1975-06-15", "sex": "U",
        "fiscal_code": ANNA, "timezone": "Europe/Rome",
        "csrf_token": await _csrf(client, "/patients/new")}, allow_redirects=False)
    assert created.status == 303, await created.text()
    shown = await (await client.get(created.headers["Location"])).text()
    assert "Non noto" in shown
