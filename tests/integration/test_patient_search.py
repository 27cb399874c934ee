"""Patient lists by set: search by folded word prefixes, keyset pages, scope, audit of what is
shown (the JSON API, the `/patients` page and FHIR `Patient?name=`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import AuditEvent, CareTeamMember, Consent, Patient, PatientSearchTerm
from telemed.db.types import utcnow
from telemed.domain.fiscal_code import build_fiscal_code
from tests.conftest import World
from tests.helpers.pages import logged_in

Client = TestClient[Any, Any]


async def _patient(world: World, given: str, family: str, team: list[str], *,
                   withdrawn: bool = False, n: int = 1) -> Patient:
    birth = date(1950 + n, 1 + n % 12, 1 + n % 28)
    async with world.app[keys.SESSIONS]() as session:
        patient = Patient(fiscal_code=build_fiscal_code(given, family, birth, "F", "Roma"),
                          given_name=given, family_name=family, birth_date=birth, sex="F")
        session.add(patient)
        await session.flush()
        at = utcnow() - timedelta(days=2)
        for user_id in team:
            session.add(CareTeamMember(patient_id=patient.id, user_id=user_id))
            session.add(Consent(patient_id=patient.id, granted=True, recorded_by=user_id,
                                recorded_at=at))
        if withdrawn:
            session.add(Consent(patient_id=patient.id, granted=False, recorded_by=team[0],
                                recorded_at=at + timedelta(days=1)))
        await session.commit()
    return patient


async def _names(client: Client, headers: dict[str, str], query: str) -> list[str]:
    resp = await client.get("/api/v1/patients", params={"q": query}, headers=headers)
    assert resp.status == 200, await resp.text()
    return [f"{p['given_name']} {p['family_name']}" for p in (await resp.json())["items"]]


async def test_search_ignores_case_and_accents_and_matches_word_starts(
        client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    other = await world.user("doctor")
    niccolo = await _patient(world, "Niccolò", "D'Amico", [doctor["id"]], n=1)
    await _patient(world, "Maria Grazia", "De Luca", [doctor["id"]], n=2)
    await _patient(world, "Nicola", "Rossi", [doctor["id"]], n=3)
    await _patient(world, "Niccolò", "Rossi", [other["id"]], n=4)  # someone else's
    await _patient(world, "Nives", "Rossini", [doctor["id"]], withdrawn=True, n=5)
    h = await world.token(doctor["username"])

    assert await _names(client, h, "niccolo") == ["Niccolò D'Amico"]
    assert await _names(client, h, "NICCOLÒ") == ["Niccolò D'Amico"]
    assert await _names(client, h, "nic") == ["Niccolò D'Amico", "Nicola Rossi"]
    assert await _names(client, h, "damico") == ["Niccolò D'Amico"]
    assert await _names(client, h, "d'amico nic") == ["Niccolò D'Amico"]
    assert await _names(client, h, "deluca grazia") == ["Maria Grazia De Luca"]
    assert await _names(client, h, niccolo.fiscal_code[:6].lower()) == ["Niccolò D'Amico"]
    assert await _names(client, h, niccolo.fiscal_code) == ["Niccolò D'Amico"]
    # Inside a word is not a match; punctuation alone finds nothing.
    assert await _names(client, h, "ccolo") == []
    assert await _names(client, h, "'-") == []
    # Never someone else's patient, nor one who withdrew consent.
    assert await _names(client, h, "rossi") == ["Nicola Rossi"]
    assert await _names(client, h, "nives") == []


async def test_renaming_a_patient_renames_its_search_terms(client: Client,
                                                          world: World) -> None:
    doctor = await world.user("doctor")
    patient = await _patient(world, "Anna", "Bianchi", [doctor["id"]])
    h = await world.token(doctor["username"])
    resp = await client.patch(f"/api/v1/patients/{patient.id}", json={"family_name": "Verdì"},
                              headers=h)
    assert resp.status == 200, await resp.text()
    assert await _names(client, h, "bianchi") == []
    assert await _names(client, h, "verdi") == ["Anna Verdì"]
    async with world.app[keys.SESSIONS]() as session:
        terms = set((await session.exec(select(PatientSearchTerm.term).where(
            PatientSearchTerm.patient_id == patient.id))).all())
    assert terms == {"anna", "verdi", patient.fiscal_code.lower()}


async def test_keyset_pages_cover_everyone_once_in_name_order(client: Client,
                                                             world: World) -> None:
    doctor = await world.user("doctor")
    made = [await _patient(world, given, "Esposito", [doctor["id"]], n=i)
            for i, given in enumerate(["Bruno", "Anna", "Carla", "Anna", "Dario"])]
    h = await world.token(doctor["username"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", "q": "esposito"} | ({"cursor": cursor} if cursor else {})
        body = await (await client.get("/api/v1/patients", params=params, headers=h)).json()
        seen += [p["id"] for p in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    expected = sorted(made, key=lambda p: (p.family_name, p.given_name, p.id))
    assert seen == [p.id for p in expected]


async def test_the_list_audits_the_patients_shown_not_the_others(client: Client,
                                                                world: World) -> None:
    doctor = await world.user("doctor")
    for i in range(5):
        await _patient(world, f"Anna{chr(65 + i)}", "Verdi", [doctor["id"]], n=i)
    h = await world.token(doctor["username"])
    resp = await client.get("/api/v1/patients", params={"limit": "3"}, headers=h)
    shown = [p["id"] for p in (await resp.json())["items"]]
    async with world.app[keys.SESSIONS]() as session:
        rows = (await session.exec(select(AuditEvent)
                                   .where(AuditEvent.reason_code == "list"))).all()
    assert sorted(r.patient_id for r in rows) == sorted(shown) and len(shown) == 3
    assert all(r.actor_id == doctor["id"] and r.resource == "patient"
               and r.resource_id == r.patient_id and r.request_id for r in rows)


async def test_fhir_patient_name_search(client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    other = await world.user("doctor")
    mine = await _patient(world, "Niccolò", "Bianchi", [doctor["id"]], n=1)
    await _patient(world, "Niccolò", "Bianchini", [other["id"]], n=2)
    h = await world.token(doctor["username"])

    async def found(query: str) -> list[str]:
        resp = await client.get(f"/fhir/R4/Patient?{query}", headers=h)
        assert resp.status == 200, await resp.text()
        return [e["resource"]["id"] for e in (await resp.json()).get("entry", [])]

    assert await found("name=nicco") == [mine.id]
    assert await found("name=BIANCH") == [mine.id]
    assert await found("name=zzz,bian") == [mine.id]
    assert await found("name=rossi") == []
    assert await found("name=nicco&name=rossi") == []


async def test_the_withdrawn_notice_names_twenty_and_says_more(client: Client,
                                                              world: World) -> None:
    doctor = await world.user("doctor")
    for i in range(22):
        await _patient(world, f"Paola{chr(65 + i)}", "Neri", [doctor["id"]], withdrawn=True,
                       n=i)
    await logged_in(client, doctor["username"])
    page = await (await client.get("/patients")).text()
    assert page.count("<li data-patient-id=") == 20 and 'id="withdrawn-more"' in page
    # What the notice shows is audited, and only that.
    async with world.app[keys.SESSIONS]() as session:
        noticed = (await session.exec(select(AuditEvent.patient_id).where(
            AuditEvent.reason_code == "consent_withdrawn_notice"))).all()
        names = (await session.exec(select(Patient.id).where(
            col(Patient.given_name).in_([f"Paola{chr(65 + i)}" for i in range(20)])))).all()
    assert sorted(noticed) == sorted(names)


async def test_fhir_total_is_counted_up_to_the_cap_or_all_when_asked(
        client: Client, world: World, monkeypatch: Any) -> None:
    from telemed.services import fhir_rows as spec

    monkeypatch.setattr(spec, "TOTAL_CAP", 3)
    doctor = await world.user("doctor")
    for i in range(5):
        await _patient(world, f"Anna{chr(65 + i)}", "Verdi", [doctor["id"]], n=i)
    h = await world.token(doctor["username"])

    async def bundle(query: str) -> dict[str, Any]:
        resp = await client.get(f"/fhir/R4/Patient?{query}", headers=h)
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())

    assert bundle_total(await bundle("_count=10")) == 5  # one page holds them all
    assert bundle_total(await bundle("_count=2")) is None  # more than 3: not counted
    assert bundle_total(await bundle("_count=2&name=annaa,annab")) == 2
    accurate = await bundle("_count=2&_total=accurate")
    assert bundle_total(accurate) == 5
    following = next(link["url"] for link in accurate["link"] if link["relation"] == "next")
    assert "_total=accurate" in following
    assert bundle_total(await bundle("_count=10&_total=none")) is None
    assert bundle_total(await bundle("_count=0&_total=accurate")) == 5
    resp = await client.get("/fhir/R4/Patient?_total=maybe", headers=h)
    assert resp.status == 400


def bundle_total(bundle: dict[str, Any]) -> int | None:
    total = bundle.get("total")
    return None if total is None else int(total)
