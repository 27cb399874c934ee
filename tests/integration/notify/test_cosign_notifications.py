"""Co-signature notifications (docs/notifications.md, ``document_cosign``): the first signature
of a teleconsult report tells its named co-signer, a correction signed by one signer tells the
other; in the bell and by email through a real SMTP server, with nothing clinical, to nobody
else; recorded in the signature's transaction (rolled back: nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import select

from telemed import keys
from telemed.db.models import Document, Notification
from telemed.notify import outbox
from telemed.notify.setup import NOTIFIER
from telemed.settings import Settings
from tests.conftest import World
from tests.helpers.teleconsults import ANSWER, QUESTION, answered_consult, sign
from tests.integration.notify.clinic import with_mail
from tests.smtp_fixture import MailCatcher, body_of

Client = TestClient[Any, Any]
SITE = "http://127.0.0.1:8080"


@pytest.fixture
def settings(settings: Settings, smtp_server: MailCatcher) -> Settings:
    return with_mail(settings, smtp_server.url)


async def _cosign_bell(client: Client, headers: dict[str, str]) -> list[tuple[str, str]]:
    data = await (await client.get("/api/v1/notifications", headers=headers)).json()
    return [(n["title"], n["link"]) for n in data["items"] if n["kind"] == "document_cosign"]


async def test_each_signer_is_told_when_the_other_signed_and_nobody_else(
        client: Client, world: World, smtp_server: MailCatcher) -> None:
    w = await answered_consult(client, world)
    h, url, consult_id = w["h"], w["url"], w["consult"]["id"]
    await client.app[NOTIFIER].run_once()  # the request's own news, before anyone has an address
    for who, lang in (("gp", "it"), ("cardio", "en"), ("colleague", "en"), ("patient", "en")):
        resp = await client.patch("/api/v1/users/me", headers=h[who],
                                  json={"email": f"{who}@asl.example", "language": lang})
        assert resp.status == 200, await resp.text()
    patient = w["patient"]
    smtp_server.forbid(QUESTION, *ANSWER.split("\n\n"), patient.given_name,
                       patient.family_name, "ecocardiogramma")
    initials = f"{patient.given_name[0]}. {patient.family_name[0]}."

    # The specialist signs: the requester is asked to co-sign, on the request's page.
    assert (await sign(client, url, h["cardio"])).status == 200
    assert await _cosign_bell(client, h["gp"]) == [
        (f"Un referto attende la tua controfirma (paziente {initials})",
         f"/teleconsults/{consult_id}")]
    for other in ("cardio", "colleague"):
        assert await _cosign_bell(client, h[other]) == []
    await client.app[NOTIFIER].run_once()
    [mail] = smtp_server.messages  # one email, to the co-signer only
    assert mail["To"] == "gp@asl.example"
    assert mail["Subject"] == \
        f"Telemed: Un referto attende la tua controfirma (paziente {initials})"
    assert f"{SITE}/teleconsults/{consult_id}" in body_of(mail).splitlines()

    # The co-signature completes it: nobody is asked to co-sign again.
    assert (await sign(client, url, h["gp"])).status == 200
    assert len(await _cosign_bell(client, h["gp"])) == 1
    assert await _cosign_bell(client, h["cardio"]) == []

    # The requester corrects it and signs: the specialist co-signs, on the correction's page.
    fix = await client.post(url + "/replace", headers=h["gp"])
    assert fix.status == 201, await fix.text()
    correction = (await fix.json())["id"]
    assert (await sign(client, f"/api/v1/documents/{correction}", h["gp"])).status == 200
    assert await _cosign_bell(client, h["cardio"]) == [
        (f"A report awaits your co-signature (patient {initials})", f"/documents/{correction}")]
    assert len(await _cosign_bell(client, h["gp"])) == 1
    assert await _cosign_bell(client, h["colleague"]) == []
    before = len(smtp_server.messages)
    await client.app[NOTIFIER].run_once()
    told = [m for m in smtp_server.messages[before:]
            if str(m["Subject"]).startswith("Telemed: A report awaits")]
    assert [m["To"] for m in told] == ["cardio@asl.example"]
    assert f"{SITE}/documents/{correction}" in body_of(told[0]).splitlines()
    assert {m["To"] for m in smtp_server.messages} <= {"gp@asl.example", "cardio@asl.example",
                                                       "patient@asl.example"}


async def test_a_rolled_back_signature_leaves_no_notification(
        client: Client, world: World) -> None:
    w = await answered_consult(client, world)
    doc_id = w["consult"]["document_id"]
    async with world.app[keys.SESSIONS]() as session:
        doc = await session.get(Document, doc_id)
        assert doc is not None
        made = await outbox.document_cosign(session, doc)
        assert [n.user_id for n in made] == [w["gp"]["id"]]
        await session.rollback()
    async with world.app[keys.SESSIONS]() as session:
        rows = (await session.exec(select(Notification).where(
            Notification.kind == "document_cosign"))).all()
    assert rows == []
    await client.app[NOTIFIER].run_once()
    assert await _cosign_bell(client, w["h"]["gp"]) == []
