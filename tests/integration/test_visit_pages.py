"""Visit pages through the real app: agenda, scheduling, check-in, room, report, panel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.services import visits as visit_service
from tests.conftest import PASSWORD, World
from tests.helpers.pages import csrf_of, logged_in
from tests.integration.visit_helpers import make_visit


async def test_patient_check_in_page(client: TestClient[Any, Any], world: World) -> None:
    setup = await make_visit(world)
    await logged_in(client, setup.patient_user["username"])
    agenda = await client.get("/visits")
    assert agenda.status == 200
    assert f"/visits/{setup.visit_id}/check-in" in await agenda.text()
    entry = await client.get(f"/visits/{setup.visit_id}", allow_redirects=False)
    assert entry.headers["Location"] == f"/visits/{setup.visit_id}/check-in"
    page = await client.get(f"/visits/{setup.visit_id}/check-in")
    html = await page.text()
    assert page.status == 200
    assert 'id="visit-strings"' in html and "visit/checkin.js" in html
    assert 'data-visit-id="' + setup.visit_id in html
    assert "<script>" not in html  # no inline script (CSP)
    # A patient is sent away from the clinician's room.
    room = await client.get(f"/visits/{setup.visit_id}/room", allow_redirects=False)
    assert room.status == 403


async def test_clinician_room_and_report(client: TestClient[Any, Any], world: World) -> None:
    setup = await make_visit(world)
    await logged_in(client, setup.doctor["username"])
    agenda = await (await client.get("/visits")).text()
    assert f"/visits/{setup.visit_id}/room" in agenda or "No visits today" in agenda
    page = await client.get(f"/visits/{setup.visit_id}/room")
    html = await page.text()
    assert page.status == 200 and "visit/room.js" in html and 'id="knocks"' in html
    report = await (await client.get(f"/visits/{setup.visit_id}/report")).text()
    assert "<textarea" not in report  # not held yet
    async with world.app[keys.SESSIONS]() as session:
        await visit_service.advance(session, setup.visit_id, "in_progress")
    csrf = await csrf_of(client, f"/visits/{setup.visit_id}/report")
    form = await client.get(f"/visits/{setup.visit_id}/report")
    assert "<textarea" in await form.text()
    started = await client.post(f"/visits/{setup.visit_id}/report", allow_redirects=False,
                                data={"section_findings": "Tutto bene.\n\nControllo tra un mese.",
                                      "section_reason": "Controllo", "csrf_token": csrf})
    assert started.status == 303, await started.text()
    doc_url = started.headers["Location"]
    assert doc_url.startswith("/documents/")
    draft = await (await client.get(doc_url)).text()
    assert 'name="section_findings"' in draft and 'name="password"' in draft
    saved = await client.post(doc_url, allow_redirects=False, data={
        "section_conclusions": "Quadro stabile.", "csrf_token": csrf})
    assert saved.status == 303 and saved.headers["Location"] == doc_url
    assert "Quadro stabile." in await (await client.get(doc_url)).text()
    bidi = await client.post(doc_url, data={"section_therapy": "x\u202ey", "csrf_token": csrf})
    assert bidi.status == 422 and 'id="therapy-error"' in await bidi.text()
    wrong = await client.post(doc_url + "/sign", data={"password": "wrong", "csrf_token": csrf})
    assert wrong.status == 403 and 'name="password"' in await wrong.text()
    signed = await client.post(doc_url + "/sign",
                               data={"password": PASSWORD, "csrf_token": csrf})
    assert signed.status == 200
    html = await signed.text()
    assert "<p class=\"report__text\">Controllo tra un mese.</p>" in html
    assert "<textarea" not in html
    # The visit's report page now leads to the document; a second report is refused.
    moved = await client.get(f"/visits/{setup.visit_id}/report", allow_redirects=False)
    assert moved.status == 303 and moved.headers["Location"] == doc_url
    again = await client.post(f"/visits/{setup.visit_id}/report",
                              data={"section_findings": "changed", "csrf_token": csrf})
    assert again.status == 409


async def test_schedule_form(client: TestClient[Any, Any], world: World) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    await logged_in(client, doctor["username"])
    form = await client.get(f"/visits/new?patient={patient.id}")
    assert form.status == 200
    csrf = await csrf_of(client, "/visits/new")
    start = datetime.now(UTC).astimezone() + timedelta(days=1)
    from zoneinfo import ZoneInfo

    local = start.astimezone(ZoneInfo("Europe/Rome"))
    bad = await client.post("/visits/new", data={
        "csrf_token": csrf, "kind": "televisit", "patient_id": patient.id,
        "participant_ids": doctor["id"], "date": local.date().isoformat(),
        "time": local.strftime("%H:%M"), "duration_minutes": "500"})
    assert bad.status == 422
    made = await client.post("/visits/new", data={
        "csrf_token": csrf, "kind": "televisit", "patient_id": patient.id,
        "participant_ids": doctor["id"], "date": local.date().isoformat(),
        "time": local.strftime("%H:%M"), "duration_minutes": "20"}, allow_redirects=False)
    assert made.status == 303, await made.text()
    assert made.headers["Location"].endswith("/room")


async def test_visit_panel_partial(client: TestClient[Any, Any], world: World) -> None:
    """The snippet for the patient's page renders with `visit_panel`'s context."""
    import aiohttp_jinja2
    from aiohttp import web

    from telemed.principal import PRINCIPAL
    from telemed.views.render import LANGUAGE
    from telemed.views.visits.panel import visit_panel

    setup = await make_visit(world)
    async with world.app[keys.SESSIONS]() as session:
        await visit_service.advance(session, setup.visit_id, "in_progress")
    from aiohttp.test_utils import make_mocked_request

    from telemed.db.models import User
    from telemed.principal import REQUEST_ID
    from telemed.services.users import to_principal

    request = make_mocked_request("GET", "/", app=world.app)
    async with world.app[keys.SESSIONS]() as session:
        row = await session.get(User, setup.doctor["id"])
        assert row is not None
    request[PRINCIPAL] = to_principal(row, "session")
    request[REQUEST_ID] = "test"
    request[LANGUAGE] = "en"
    context = await visit_panel(request, setup.patient_id)
    assert [v["id"] for v in context["upcoming_visits"]] == [setup.visit_id]
    assert "visit_reports" not in context  # reports are documents now (documents_panel)
    env = aiohttp_jinja2.get_env(world.app)
    html = env.get_template("visit_panel.html").render(
        **context, lang="en", timezone="Europe/Rome", url=lambda *a, **k: "")
    assert f"/visits/{setup.visit_id}" in html
    assert isinstance(request, web.BaseRequest)
