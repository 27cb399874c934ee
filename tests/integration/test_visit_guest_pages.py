"""The guests page of a visit (`/visits/{id}/guests`): invite, the one-time link, the list
with each guest's state, revoke, errors, who may use it — through the real app and forms."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import AuditEvent, Visit, VisitGuest
from tests.conftest import World
from tests.helpers.pages import field_error, log_in, post_form, text_of
from tests.integration.visit_helpers import VisitSetup, make_visit, soon

Client = TestClient[Any, Any]
LINK_RE = re.compile(r'id="guest-link"[^>]*value="([^"]+)"')


def _page(setup: VisitSetup) -> str:
    return f"/visits/{setup.visit_id}/guests"


async def _invite(client: Client, setup: VisitSetup, name: str) -> Any:
    return await post_form(client, _page(setup), {"name": name}, page=_page(setup))


async def _revoke(client: Client, setup: VisitSetup, guest_id: str) -> Any:
    return await post_form(client, f"{_page(setup)}/{guest_id}/revoke", {}, page=_page(setup))


async def _guests(world: World, visit_id: str) -> list[VisitGuest]:
    async with world.app[keys.SESSIONS]() as session:
        rows = await session.exec(select(VisitGuest).where(VisitGuest.visit_id == visit_id)
                                  .order_by(col(VisitGuest.created_at)))
        return list(rows.all())


async def _audit(world: World, guest_id: str) -> list[tuple[str, str]]:
    async with world.app[keys.SESSIONS]() as session:
        rows = await session.exec(select(AuditEvent).where(
            AuditEvent.resource == "visit_guest", AuditEvent.resource_id == guest_id)
            .order_by(col(AuditEvent.id)))
        return [(e.action, e.actor_id or "") for e in rows.all()]


def _row_state(page: str, guest_id: str) -> str:
    match = re.search(rf'id="guest-{guest_id}" data-state="([a-z]+)"', page)
    assert match, f"guest {guest_id} is not listed"
    return match[1]


async def _move_visit(world: World, visit_id: str, **values: Any) -> None:
    async with world.app[keys.SESSIONS]() as session:
        visit = await session.get(Visit, visit_id)
        assert visit is not None
        for key, value in values.items():
            setattr(visit, key, value)
        session.add(visit)
        await session.commit()


async def test_doctor_invites_copies_the_link_once_and_revokes(client: Client,
                                                               world: World) -> None:
    setup = await make_visit(world)
    await log_in(client, setup.doctor["username"])
    empty = await client.get(_page(setup))
    assert empty.status == 200
    html = await empty.text()
    assert "Nobody has been invited yet." in html and 'name="name"' in html
    assert "<script>" not in html and "style=" not in html  # CSP: no inline script/style

    made = await _invite(client, setup, "  Maria Rossi (figlia) ")
    assert made.status == 303 and made.headers["Location"] == _page(setup)
    shown = await client.get(_page(setup))
    assert shown.headers["Cache-Control"] == "no-store"
    html = await shown.text()
    text = text_of(html)
    assert "Invitation created for Maria Rossi (figlia). Send the link below." in text
    link = LINK_RE.search(html)
    assert link, "the new link is shown"
    assert link[1].startswith(f"http://127.0.0.1:8080/visits/{setup.visit_id}/guest?t=")
    assert "It works once" in text and "It expires on" in text
    assert 'id="btn-copy-link"' in html and "visit/guests.js" in html
    (guest,) = await _guests(world, setup.visit_id)
    assert guest.name == "Maria Rossi (figlia)"
    assert _row_state(html, guest.id) == "pending"
    assert await _audit(world, guest.id) == [("create", setup.doctor["id"])]

    # Shown once: a reload lists the guest but no longer shows the link.
    again = await (await client.get(_page(setup))).text()
    assert LINK_RE.search(again) is None and "Maria Rossi (figlia)" in again

    # The guest opens the link: the page shows it used.
    parts = urlsplit(link[1])
    opened = await client.get(f"{parts.path}?{parts.query}", allow_redirects=False)
    assert opened.status == 303
    assert _row_state(await (await client.get(_page(setup))).text(), guest.id) == "used"

    revoked = await _revoke(client, setup, guest.id)
    assert revoked.status == 303 and revoked.headers["Location"] == _page(setup)
    html = await (await client.get(_page(setup))).text()
    assert "The invitation of Maria Rossi (figlia) was revoked." in text_of(html)
    assert _row_state(html, guest.id) == "revoked"
    assert f"/guests/{guest.id}/revoke" not in html  # no button for a revoked guest
    (row,) = await _guests(world, setup.visit_id)
    assert row.revoked_at is not None and row.revoked_by == setup.doctor["id"]
    assert await _audit(world, guest.id) == [("create", setup.doctor["id"]),
                                             ("delete", setup.doctor["id"])]
    # The link is refused now.
    assert (await client.get(f"{parts.path}?{parts.query}",
                             allow_redirects=False)).status == 403


async def test_revoking_twice_is_an_error_and_changes_nothing(client: Client,
                                                              world: World) -> None:
    setup = await make_visit(world)
    await log_in(client, setup.doctor["username"])
    await _invite(client, setup, "Interprete")
    (guest,) = await _guests(world, setup.visit_id)
    assert (await _revoke(client, setup, guest.id)).status == 303
    (first,) = await _guests(world, setup.visit_id)

    twice = await _revoke(client, setup, guest.id)
    assert twice.status == 409
    assert "This guest's invitation was already revoked." in text_of(await twice.text())
    (after,) = await _guests(world, setup.visit_id)
    assert after.revoked_at == first.revoked_at
    assert [a for a, _ in await _audit(world, guest.id)].count("delete") == 1


async def test_bad_names_are_shown_at_the_field_and_save_nothing(client: Client,
                                                                 world: World) -> None:
    setup = await make_visit(world)
    await log_in(client, setup.doctor["username"])
    for name, error in (
        ("", "Give the guest's name (at most 80 characters)."),
        ("x" * 81, "At most 80 characters."),
        ("   \u0007 ", "Contains a character that is not allowed here (U+0007)."),
        ("Anna \u202eRossi", "Contains a character that is not allowed here (U+202E)."),
    ):
        resp = await _invite(client, setup, name)
        assert resp.status == 422, name
        html = await resp.text()
        assert field_error(html, "name") == f"Error: {error}"
        assert 'aria-invalid="true"' in html and "error-summary" in html
    assert await _guests(world, setup.visit_id) == []
    kept = await _invite(client, setup, "y" * 81)
    assert 'value="' + "y" * 81 + '"' in await kept.text()  # what was typed stays


async def test_the_guest_limit_and_another_visits_guest(client: Client, world: World) -> None:
    setup = await make_visit(world)
    other = await make_visit(world)
    resp = await client.post(f"/api/v1/visits/{other.visit_id}/guests",
                             headers=other.headers[other.doctor["username"]],
                             json={"name": "Ospite altrui"})
    assert resp.status == 201
    (foreign,) = await _guests(world, other.visit_id)

    await log_in(client, setup.doctor["username"])
    assert (await _invite(client, setup, "Primo")).status == 303
    html = await (await client.get(_page(setup))).text()
    assert 'name="name"' not in html  # a televisit has one guest: no form
    assert "Revoke an invitation to invite someone else." in text_of(html)
    full = await _invite(client, setup, "Secondo")
    assert full.status == 409
    assert "This visit already has as many guests as it allows." in text_of(await full.text())
    assert [g.name for g in await _guests(world, setup.visit_id)] == ["Primo"]

    # Another visit's guest under this visit: not found, and nothing changes.
    wrong = await _revoke(client, setup, foreign.id)
    assert wrong.status == 404
    assert "Guest not found." in text_of(await wrong.text())
    (still,) = await _guests(world, other.visit_id)
    assert still.revoked_at is None
    assert (await _revoke(client, setup, "nope")).status == 404


async def test_expired_links_and_closed_visits(client: Client, world: World) -> None:
    setup = await make_visit(world)
    cancelled = await make_visit(world)  # (bearer tokens first: the pages log in below)
    await log_in(client, setup.doctor["username"])
    await _invite(client, setup, "Figlio")
    (guest,) = await _guests(world, setup.visit_id)
    # The join window closed an hour ago: the unused link has expired.
    await _move_visit(world, setup.visit_id,
                      scheduled_start=datetime.now(UTC) - timedelta(hours=2))
    html = await (await client.get(_page(setup))).text()
    assert _row_state(html, guest.id) == "expired"
    assert f"/guests/{guest.id}/revoke" not in html
    text = text_of(html)
    assert "Guests can no longer be invited to this visit." in text
    assert "The time to join this visit is over." in text and 'name="name"' not in html
    late = await _invite(client, setup, "Altro")
    assert late.status == 409 and "The time to join this visit is over." in text_of(
        await late.text())

    await _move_visit(world, cancelled.visit_id, status="cancelled")
    await log_in(client, cancelled.doctor["username"])
    refused = await _invite(client, cancelled, "Ospite")
    assert refused.status == 409 and "This visit was cancelled." in text_of(await refused.text())
    assert await _guests(world, cancelled.visit_id) == []


async def test_italian_page_and_errors(client: Client, world: World) -> None:
    setup = await make_visit(world)
    await log_in(client, setup.doctor["username"])
    await post_form(client, "/language", {"lang": "it", "next": _page(setup)})
    html = await (await client.get(_page(setup))).text()
    assert "Ospiti della visita" in html and "Invita e crea il link" in html
    bad = await _invite(client, setup, " ")
    assert "Indica il nome dell'ospite (al massimo 80 caratteri)." in text_of(await bad.text())
    assert (await _invite(client, setup, "Maria")).status == 303
    shown = text_of(await (await client.get(_page(setup))).text())
    assert "Invito creato per Maria. Invia il link qui sotto." in shown
    assert "Funziona una sola volta" in shown and "Non ancora usato" in shown


async def test_who_may_use_the_page(client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    nurse = await world.user("nurse")
    patient = await world.patient(team=[doctor["id"], nurse["id"]])
    patient_user = await world.user("patient", patient_id=patient.id)
    resp = await client.post("/api/v1/visits", headers=await world.token(doctor["username"]),
                             json={"kind": "televisit", "patient_id": patient.id,
                                   "participant_ids": [doctor["id"]],
                                   "scheduled_start": soon(5), "duration_minutes": 30})
    visit_id = (await resp.json())["id"]
    setup = VisitSetup(visit_id, patient.id, [doctor], patient_user)
    resp = await client.post(f"/api/v1/visits/{visit_id}/guests",
                             headers=await world.token(doctor["username"]),
                             json={"name": "Nipote"})
    (guest,) = await _guests(world, visit_id)

    # The patient and an administrator: refused by the route policy.
    for person in (patient_user, await world.user("admin")):
        await log_in(client, person["username"])
        assert (await client.get(_page(setup))).status == 403
        assert (await _invite(client, setup, "Intruso")).status == 403
        assert (await _revoke(client, setup, guest.id)).status == 403

    # A doctor of another care team: refused by the service, nothing changes.
    outsider = await world.user("doctor")
    await log_in(client, outsider["username"])
    assert (await client.get(_page(setup))).status == 403
    assert (await _invite(client, setup, "Intruso")).status == 403
    assert (await _revoke(client, setup, guest.id)).status == 403
    (row,) = await _guests(world, visit_id)
    assert row.revoked_at is None and row.name == "Nipote"

    # The team's nurse (not invited to the call) manages guests, as the API allows, but
    # gets no link to a room she cannot join.
    await log_in(client, nurse["username"])
    page = await client.get(_page(setup))
    html = await page.text()
    assert page.status == 200 and "Nipote" in html
    assert f"/visits/{visit_id}/room" not in html
    assert (await _revoke(client, setup, guest.id)).status == 303
    assert await _audit(world, guest.id) == [("create", doctor["id"]), ("delete", nurse["id"])]


async def test_form_without_csrf_token_changes_nothing(client: Client, world: World) -> None:
    setup = await make_visit(world)
    await log_in(client, setup.doctor["username"])
    resp = await client.post(_page(setup), data={"name": "Maria"}, allow_redirects=False)
    assert resp.status == 403
    assert await _guests(world, setup.visit_id) == []


async def test_room_and_patient_page_lead_to_the_guests_page(client: Client,
                                                             world: World) -> None:
    setup = await make_visit(world)
    await log_in(client, setup.doctor["username"])
    room = await (await client.get(f"/visits/{setup.visit_id}/room")).text()
    assert re.search(rf'href="{re.escape(_page(setup))}" target="_blank" rel="noopener"', room)
    record = await (await client.get(f"/patients/{setup.patient_id}")).text()
    assert f'href="{_page(setup)}"' in record

    await log_in(client, setup.patient_user["username"])
    mine = await (await client.get("/my-record")).text()
    assert f"/visits/{setup.visit_id}" in mine and _page(setup) not in mine
