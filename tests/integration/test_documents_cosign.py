"""Co-signed documents: the teleconsult answer becomes a `teleconsult_report` that the
specialist signs and the requester co-signs; only then is it sealed, in both names; who may
not sign, when, and the identity confirmed again by password or second-factor code."""

from __future__ import annotations

import time
from typing import Any

import pyotp
from aiohttp.test_utils import TestClient
from sqlmodel import col, delete, select

from telemed import keys
from telemed.db.models import AuditEvent, CareTeamMember, Document, Notification
from telemed.db.teleconsults import Teleconsult
from tests.conftest import World
from tests.helpers.identity import with_totp
from tests.helpers.pages import log_in, post_form, text_of
from tests.helpers.teleconsults import ANSWER, QUESTION
from tests.helpers.teleconsults import answered_consult as _answered
from tests.helpers.teleconsults import sign as _sign
from tests.unit.fhir.validation import validate


async def _row(world: World, doc_id: str) -> Document:
    async with world.app[keys.SESSIONS]() as session:
        doc = await session.get(Document, doc_id)
        assert doc is not None
        return doc


async def test_the_patients_access_log_says_a_signing_and_a_request_read_in_italian(
        client: TestClient[Any, Any], world: World) -> None:
    w = await _answered(client, world)
    consult = f"/api/v1/teleconsults/{w['consult']['id']}"
    assert (await client.get(consult, headers=w["h"]["cardio"])).status == 200
    assert (await _sign(client, w["url"], w["h"]["cardio"])).status == 200
    assert (await log_in(client, w["portal"]["username"])).status in (302, 303)
    page = await client.get(f"/patients/{w['patient'].id}/privacy",
                            headers={"Accept-Language": "it"})
    italian = text_of(await page.text())
    signer = w["cardio"]["username"]
    assert f"Firmato da {signer}, in attesa della controfirma" in italian
    assert "Relazione di teleconsulto: Firma" in italian  # the report's access around signing
    assert "Richiesta di teleconsulto" in italian and "Teleconsult request" not in italian
    assert "awaiting co-signature" not in italian


async def test_the_answer_is_a_report_sealed_only_when_co_signed(
        client: TestClient[Any, Any], world: World) -> None:
    w = await _answered(client, world)
    h, url = w["h"], w["url"]
    # The platform drafted the report from the request and the answer; the request links it.
    draft = await (await client.get(url, headers=h["cardio"])).json()
    assert (draft["kind"], draft["status"]) == ("teleconsult_report", "draft")
    assert (draft["author_id"], draft["cosigner_id"]) == (w["cardio"]["id"], w["gp"]["id"])
    assert draft["teleconsult_id"] == w["consult"]["id"]
    sections = {s["key"]: s["text"] for s in draft["sections"]}
    assert sections["question"].startswith(QUESTION) and "Urgency: urgent" in \
        sections["question"] and sections["findings"] == ANSWER
    async with world.app[keys.SESSIONS]() as session:
        consult = await session.get(Teleconsult, w["consult"]["id"])
        assert consult is not None and consult.document_id == draft["id"]
    # The co-signer cannot sign first, nor edit; the patient does not see it.
    first = await _sign(client, url, h["gp"])
    assert first.status == 403 and (await first.json())["error"]["code"] == "not_author"
    assert (await client.get(url, headers=h["patient"])).status == 404
    # The specialist signs: the report stops changing and waits, unsealed and unpublished.
    signed = await _sign(client, url, h["cardio"])
    assert signed.status == 200, await signed.text()
    body = await signed.json()
    assert body["status"] == "partially_signed" and body["sealed"] is False
    assert body["signed_by"] == w["cardio"]["id"] and body["cosigned_at"] is None
    edit = await client.patch(url, headers=h["cardio"], json={"sections": {"conclusions": "x"}})
    assert edit.status == 409 and (await edit.json())["error"]["code"] == "document_being_signed"
    again = await _sign(client, url, h["cardio"])
    assert again.status == 409 and (await again.json())["error"]["code"] == \
        "already_signed_by_you"
    assert (await client.get(url + "/fhir", headers=h["gp"])).status == 409
    assert (await client.get(url, headers=h["patient"])).status == 404
    listed = await (await client.get(f"/api/v1/patients/{w['patient'].id}/documents",
                                     headers=h["patient"])).json()
    assert listed["items"] == []
    # Nobody but the named co-signer completes it: a colleague of the care team, a stranger
    # without access to the patient, the patient.
    for who, status, code in (("colleague", 403, "not_cosigner"),
                              ("stranger", 403, "forbidden"), ("patient", 403, None)):
        resp = await _sign(client, url, h[who])
        assert resp.status == status, (who, await resp.text())
        if code:
            assert (await resp.json())["error"]["code"] == code
    # A wrong password co-signs nothing, and the attempt is audited.
    wrong = await _sign(client, url, h["gp"], password="nope")
    assert wrong.status == 403 and (await wrong.json())["error"]["code"] == "password_wrong"
    row = await _row(world, draft["id"])
    assert row.status == "partially_signed" and row.bundle is None
    async with world.app[keys.SESSIONS]() as session:
        notes = (await session.exec(select(Notification).where(
            Notification.cause_id == draft["id"]))).all()
        refused = (await session.exec(select(AuditEvent).where(
            AuditEvent.resource_id == draft["id"], AuditEvent.outcome == "denied",
            AuditEvent.actor_id == w["gp"]["id"]))).all()
    assert [(n.user_id, n.kind) for n in notes] == [(w["gp"]["id"], "document_cosign")]
    assert [(e.reason_code, e.reason_params) for e in refused] == [
        ("signature_wrong_password", None)]
    # The requester co-signs: sealed in both names, published, the patient notified.
    done = await _sign(client, url, h["gp"])
    assert done.status == 200, await done.text()
    final = await done.json()
    assert final["status"] == "signed" and final["sealed"] is True
    assert final["signed_by"] == w["cardio"]["id"] and final["cosigned_at"]
    assert (await _sign(client, url, h["gp"])).status == 409  # nobody signs twice
    bundle = await (await client.get(url + "/fhir", headers=h["patient"])).json()
    validate(bundle)
    composition = bundle["entry"][0]["resource"]
    assert composition["type"]["coding"][0]["code"] == "85208-7"
    people = {e["fullUrl"]: e["resource"]["id"] for e in bundle["entry"]
              if e["resource"]["resourceType"] == "Practitioner"}
    assert [(a["mode"], people[a["party"]["reference"]]) for a in composition["attester"]] \
        == [("legal", w["cardio"]["id"]), ("professional", w["gp"]["id"])]
    verified = await (await client.post(url + "/verify", headers=h["patient"])).json()
    names = f"{w['cardio']['username'].title()}, {w['gp']['username'].title()}"
    assert verified["ok"] is True and verified["pdf"]["signed_by"] == names
    assert verified["bundle"]["signed_by"] == names
    async with world.app[keys.SESSIONS]() as session:
        notes = (await session.exec(select(Notification).where(
            Notification.cause_id == draft["id"]))).all()
        lines = (await session.exec(select(AuditEvent.reason_code, AuditEvent.reason_params)
                                    .where(AuditEvent.resource_id == draft["id"],
                                           AuditEvent.action == "update",
                                           AuditEvent.outcome == "success"))).all()
    assert sorted(n.kind for n in notes) == ["document_available", "document_cosign"]
    signed = sorted((code, params) for code, params in lines
                    if code in ("document_cosigned", "document_signed_awaiting"))
    assert signed == [("document_cosigned", {"user": w["gp"]["username"]}),
                      ("document_signed_awaiting", {"user": w["cardio"]["username"]})]
    # A correction is written by one signer and co-signed by the other; nobody else.
    assert (await client.post(url + "/replace", headers=h["colleague"])).status == 403
    fix = await client.post(url + "/replace", headers=h["gp"])
    assert fix.status == 201, await fix.text()
    correction = await fix.json()
    assert correction["cosigner_id"] == w["cardio"]["id"]
    fix_url = f"/api/v1/documents/{correction['id']}"
    assert (await _sign(client, fix_url, h["gp"])).status == 200
    assert (await _sign(client, fix_url, h["cardio"])).status == 200
    # The correction is in force: the request links it; the old report is never signed again.
    async with world.app[keys.SESSIONS]() as session:
        consult = await session.get(Teleconsult, w["consult"]["id"])
        assert consult is not None and consult.document_id == correction["id"]
    assert (await _row(world, draft["id"])).status == "replaced"
    late = await _sign(client, url, h["gp"])
    assert late.status == 409 and (await late.json())["error"]["code"] == "document_replaced"


async def test_a_live_consults_report_and_co_signing_needs_access(
        client: TestClient[Any, Any], world: World) -> None:
    w = await _answered(client, world, mode="live")
    # The report of a live consult names its visit and cites what was attached.
    doc = await (await client.get(w["url"], headers=w["h"]["cardio"])).json()
    assert doc["visit_id"] == w["consult"]["visit_id"] is not None
    question = next(s["text"] for s in doc["sections"] if s["key"] == "question")
    assert "Mode: live video teleconsult" in question and "- ecg.pdf" in question
    assert (await _sign(client, w["url"], w["h"]["cardio"])).status == 200
    async with world.app[keys.SESSIONS]() as session:  # the GP left the care team
        await session.exec(delete(CareTeamMember).where(
            col(CareTeamMember.patient_id) == w["patient"].id,
            col(CareTeamMember.user_id) == w["gp"]["id"]))
        await session.commit()
    resp = await _sign(client, w["url"], w["h"]["gp"])
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "forbidden"
    assert (await _row(world, w["consult"]["document_id"])).status == "partially_signed"


async def _enrol(world: World, user_id: str) -> str:
    return await with_totp(world.app, user_id)


def _codes(secret: str) -> tuple[str, str]:
    """A fresh code (the next step: enrolling spent the current one) and a wrong one."""
    fresh = pyotp.TOTP(secret).at(time.time() + 30)
    return fresh, str((int(fresh) + 1) % 1_000_000).zfill(6)


async def test_signing_with_a_second_factor_code(client: TestClient[Any, Any],
                                                 world: World) -> None:
    w = await _answered(client, world)
    h, url = w["h"], w["url"]
    secret = await _enrol(world, w["cardio"]["id"])
    fresh, wrong = _codes(secret)
    resp = await _sign(client, url, h["cardio"], code=wrong)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "code_wrong"
    assert (await _row(world, w["consult"]["document_id"])).status == "draft"
    # A code of someone without a second factor, or a malformed one, signs nothing.
    no_factor = await _sign(client, url, h["gp"], code=fresh)
    assert no_factor.status == 403
    assert (await _sign(client, url, h["cardio"], code="12ab56")).status == 422
    assert (await client.post(url + "/sign", headers=h["cardio"], json={})).status == 422
    resp = await _sign(client, url, h["cardio"], code=fresh)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "partially_signed"
    async with world.app[keys.SESSIONS]() as session:
        refused = (await session.exec(select(AuditEvent.reason_code).where(
            AuditEvent.resource_id == w["consult"]["document_id"],
            AuditEvent.outcome == "denied", AuditEvent.actor_id == w["cardio"]["id"]))).all()
    assert refused == ["signature_wrong_code"]


async def test_wrong_codes_are_limited_like_sign_in(client: TestClient[Any, Any],
                                                    world: World) -> None:
    w = await _answered(client, world)
    secret = await _enrol(world, w["cardio"]["id"])
    fresh, wrong = _codes(secret)
    statuses = [(await _sign(client, w["url"], w["h"]["cardio"], code=wrong)).status
                for _ in range(6)]
    assert statuses[:5] == [403] * 5 and statuses[5] == 429
    blocked = await _sign(client, w["url"], w["h"]["cardio"], code=fresh)
    assert blocked.status == 429 and "Retry-After" in blocked.headers
    assert (await _row(world, w["consult"]["document_id"])).status == "draft"


async def test_request_page_shows_the_report_and_co_signs(client: TestClient[Any, Any],
                                                          world: World) -> None:
    w = await _answered(client, world)
    consult_page = f"/teleconsults/{w['consult']['id']}"
    assert (await _sign(client, w["url"], w["h"]["cardio"])).status == 200
    await log_in(client, w["gp"]["username"])
    page = await (await client.get(consult_page)).text()
    assert 'id="awaiting-cosignature"' in page and 'data-report-status="partially_signed"' \
        in page
    assert "Co-sign the document" in page and 'name="code"' not in page  # no second factor
    secret = await _enrol(world, w["gp"]["id"])
    page = await (await client.get(consult_page)).text()
    assert 'name="code"' in page  # now the form offers the authenticator's code
    sign = f"/documents/{w['consult']['document_id']}/sign"
    fresh, wrong = _codes(secret)
    resp = await post_form(client, sign, {"code": wrong, "next": consult_page},
                           page=consult_page)
    assert resp.status == 403 and "second factor" in text_of(await resp.text())
    resp = await post_form(client, sign, {"password": "", "code": fresh,
                                          "next": consult_page}, page=consult_page)
    assert resp.status == 303 and resp.headers["Location"] == consult_page
    page = await (await client.get(consult_page)).text()
    assert 'data-report-status="signed"' in page and "awaiting-cosignature" not in page
    assert "Co-sign the document" not in page
    assert "co-signed by" in text_of(page)
    await post_form(client, "/language", {"lang": "it", "next": consult_page})
    italian = text_of(await (await client.get(consult_page)).text())
    assert "Relazione di teleconsulto" in italian and "controfirmato da" in italian

