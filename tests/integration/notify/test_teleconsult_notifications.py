"""Teleconsult notifications (docs/notifications.md): a new request reaches the specialist or
every member of the asked specialty (urgent ones whatever they chose), each move reaches the
other side; in the bell and by email through a real SMTP server, with nothing clinical."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from telemed.notify.setup import NOTIFIER
from telemed.settings import Settings
from tests.conftest import World
from tests.helpers.teleconsults import specialist
from tests.integration.notify.clinic import with_mail
from tests.smtp_fixture import MailCatcher, body_of

Client = TestClient[Any, Any]
QUESTION = "Dispnea da sforzo e soffio sistolico: ecocardiogramma?"
NOTES = {"more-info": "Ultimo ECG e creatinina?", "add-info": "ECG: fibrillazione atriale",
         "decline": "Non di mia competenza", "answer": "Ecocardio entro sette giorni"}


@pytest.fixture
def settings(settings: Settings, smtp_server: MailCatcher) -> Settings:
    return with_mail(settings, smtp_server.url)


async def _person(client: Client, world: World, user: dict[str, str], address: str,
                  **prefs: Any) -> dict[str, Any]:
    headers = await world.token(user["username"])
    resp = await client.patch("/api/v1/users/me", headers=headers,
                              json={"email": address, **prefs})
    assert resp.status == 200, await resp.text()
    return {**user, "h": headers, "address": address}


async def _bell(client: Client, who: dict[str, Any]) -> list[tuple[str, str, str]]:
    data = await (await client.get("/api/v1/notifications", headers=who["h"])).json()
    return [(n["kind"], n["title"], n["link"]) for n in data["items"]]


async def _ask(client: Client, gp: dict[str, Any], patient_id: str,
               **to: str) -> str:
    resp = await client.post("/api/v1/teleconsults", headers=gp["h"], json={
        "patient_id": patient_id, "question": QUESTION, "mode": "async", **to})
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def _move(client: Client, who: dict[str, Any], consult_id: str, action: str) -> None:
    resp = await client.post(f"/api/v1/teleconsults/{consult_id}/{action}", headers=who["h"],
                             json={"text": NOTES.get(action)} if action in NOTES else {})
    assert resp.status in (200, 201), await resp.text()


async def test_requests_and_moves_reach_the_other_side_by_bell_and_email(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    gp = await _person(client, world, await world.user("doctor"), "gp@asl.example")
    # One cardiologist reads Italian; the other turned routine requests off.
    conti = await _person(client, world, await specialist(world), "conti@asl.example",
                          language="it")
    neri = await _person(client, world, await specialist(world), "neri@asl.example",
                         notify={"teleconsult_request": False})
    patient = await world.patient(team=[gp["id"]])
    smtp_server.forbid(QUESTION, *NOTES.values(), patient.given_name, patient.family_name,
                       "ecocardio", "ECG")
    initials = f"{patient.given_name[0]}. {patient.family_name[0]}."

    # An urgent request to the specialty: every member, whatever they chose.
    urgent = await _ask(client, gp, patient.id, specialty="cardiology", urgency="urgent")
    link = f"/teleconsults/{urgent}"
    assert await _bell(client, conti) == [
        ("teleconsult_urgent", f"Richiesta URGENTE di teleconsulto (paziente {initials})", link)]
    assert await _bell(client, neri) == [
        ("teleconsult_urgent", f"URGENT teleconsult request (patient {initials})", link)]
    assert await _bell(client, gp) == []  # who asked is not told
    # A routine one to the specialty: the member who turned them off is not told.
    routine = await _ask(client, gp, patient.id, specialty="cardiology", urgency="routine")
    assert (await _bell(client, conti))[0][:2] == (
        "teleconsult_request", f"Nuova richiesta di teleconsulto (paziente {initials})")
    assert len(await _bell(client, neri)) == 1

    # The specialist's moves reach the requester; the requester's, the specialist who took it.
    await _move(client, conti, urgent, "more-info")
    await _move(client, gp, urgent, "add-info")
    await _move(client, conti, urgent, "accept")
    await _move(client, conti, urgent, "answer")
    await _move(client, neri, routine, "decline")
    assert [title for _kind, title, _link in await _bell(client, gp)] == [
        f"Your teleconsult request was declined (patient {initials})",
        f"Your teleconsult request was answered (patient {initials})",
        f"Your teleconsult request was accepted (patient {initials})",
        f"The specialist asks for more information about a teleconsult request "
        f"(patient {initials})"]
    assert (await _bell(client, conti))[0][1] == (
        f"Sono state aggiunte informazioni a una richiesta di teleconsulto (paziente {initials})")
    assert len(await _bell(client, neri)) == 1  # the request was Conti's once taken
    # Withdrawn before anyone took it: every member of the specialty is told.
    withdrawn = await _ask(client, gp, patient.id, specialty="cardiology", urgency="routine")
    await _move(client, gp, withdrawn, "cancel")
    assert (await _bell(client, neri))[0][1] == (
        f"A teleconsult request was withdrawn (patient {initials})")

    await client.app[NOTIFIER].run_once()
    messages = await smtp_server.wait_for(11)  # urgent ones and routine ones alike, at once
    by_to: dict[str, list[str]] = {}
    for msg in messages:
        by_to.setdefault(str(msg["To"]), []).append(str(msg["Subject"]))
        links = {f"http://127.0.0.1:8080/teleconsults/{c}" for c in (urgent, routine, withdrawn)}
        assert links & {line.strip() for line in body_of(msg).splitlines()}
    assert len(by_to["gp@asl.example"]) == 4
    assert sorted(by_to["neri@asl.example"]) == [
        f"Telemed: A teleconsult request was withdrawn (patient {initials})",
        f"Telemed: URGENT teleconsult request (patient {initials})"]
    assert f"Telemed: Richiesta URGENTE di teleconsulto (paziente {initials})" in \
        by_to["conti@asl.example"] and len(by_to["conti@asl.example"]) == 5
