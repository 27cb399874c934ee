"""The agenda's "reports to write" and the patient page's past visits with their report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from telemed import keys
from telemed.db.models import AuditEvent, Document, Visit, VisitParticipant
from telemed.errors import ApiError
from telemed.principal import Principal
from telemed.services import documents
from tests.conftest import World
from tests.helpers.pages import logged_in
from tests.helpers.statements import counting

NOW = datetime.now(UTC)


def _who(user: dict[str, str], patient_id: str | None = None) -> Principal:
    return Principal(user["id"], user["username"], user["role"],  # type: ignore[arg-type]
                     user["username"], patient_id, "session")


async def _visit(world: World, patient_id: str, doctors: list[str], *, days_ago: float,
                 status: str = "completed", report: str | None = None,
                 replacement: str | None = None) -> str:
    """A visit `days_ago` with its participants, (`report`: its status) a report and
    (`replacement`: its status) the report's replacement."""
    async with world.app[keys.SESSIONS]() as session:
        visit = Visit(kind="televisit", patient_id=patient_id, duration_minutes=30,
                      scheduled_start=NOW - timedelta(days=days_ago), status=status,
                      created_by=doctors[0])
        session.add(visit)
        await session.flush()
        for user_id in doctors:
            session.add(VisitParticipant(visit_id=visit.id, user_id=user_id,
                                         scheduled_start=visit.scheduled_start))
        replaces: str | None = None
        for status in (report, replacement):
            if status is not None:
                doc = Document(patient_id=patient_id, kind="televisit_report",
                               title="Referto di Televisita", status=status,
                               author_id=doctors[0], visit_id=visit.id, replaces_id=replaces)
                session.add(doc)
                await session.flush()
                replaces = doc.id
        await session.commit()
        return visit.id


async def test_reports_to_write_and_who_sees_them(client: TestClient[Any, Any],
                                                  world: World) -> None:
    doctor, colleague, nurse = (await world.user("doctor"), await world.user("doctor"),
                                await world.user("nurse"))
    outsider = await world.user("doctor")  # no team: invited to one visit only
    patient = await world.patient(team=[doctor["id"], colleague["id"], nurse["id"]])
    patient_user = await world.user("patient", patient_id=patient.id)
    me = [doctor["id"]]
    none_yet = await _visit(world, patient.id, me, days_ago=1)
    drafted = await _visit(world, patient.id, me, days_ago=3, report="draft")
    left_open = await _visit(world, patient.id, me, days_ago=2, status="in_progress")
    invited = await _visit(world, patient.id, [doctor["id"], outsider["id"]], days_ago=4)
    await _visit(world, patient.id, [outsider["id"]], days_ago=10)  # invitation lapsed
    await _visit(world, patient.id, me, days_ago=5, report="signed")
    await _visit(world, patient.id, me, days_ago=5, report="signed", replacement="draft")
    await _visit(world, patient.id, me, days_ago=6, report="partially_signed")
    await _visit(world, patient.id, me, days_ago=40)  # older than 30 days
    await _visit(world, patient.id, me, days_ago=2, status="cancelled")
    await _visit(world, patient.id, me, days_ago=-1, status="scheduled")
    await _visit(world, patient.id, [colleague["id"]], days_ago=1)  # someone else's

    async with world.app[keys.SESSIONS]() as session:
        due = await documents.reports_to_write(session, _who(doctor), request_id="r-due")
        assert [d.visit.id for d in due] == [none_yet, left_open, drafted, invited]
        assert [d.report is not None for d in due] == [False, False, True, False]
        assert [d.visit.id for d in await documents.reports_to_write(
            session, _who(outsider))] == [invited]
        assert await documents.reports_to_write(session, _who(nurse)) == []
        with pytest.raises(ApiError) as refused:
            await documents.reports_to_write(session, _who(patient_user, patient.id))
        assert refused.value.status == 403
        audited = (await session.exec(select(AuditEvent.resource_id).where(
            AuditEvent.request_id == "r-due", AuditEvent.resource == "visit"))).all()
        assert sorted(audited) == sorted([none_yet, left_open, drafted, invited])

    await logged_in(client, doctor["username"])
    page = await (await client.get("/visits")).text()
    assert "data-reports-due" in page
    for visit_id in (none_yet, drafted, left_open, invited):
        assert f'href="/visits/{visit_id}/report"' in page
    await logged_in(client, colleague["username"])
    page = await (await client.get("/visits")).text()
    assert "data-reports-due" in page and none_yet not in page and drafted not in page
    await logged_in(client, patient_user["username"])
    page = await (await client.get("/visits")).text()
    assert "data-reports-due" not in page and none_yet not in page


async def test_reports_to_write_cost_the_same_with_more_visits(client: TestClient[Any, Any],
                                                               world: World) -> None:
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    counts = []
    for _ in range(2):
        for n in range(4):
            await _visit(world, patient.id, [doctor["id"]], days_ago=1 + n,
                         report="draft" if n % 2 else None)
        async with world.app[keys.SESSIONS]() as session:
            with counting(world.app) as statements:
                due = await documents.reports_to_write(session, _who(doctor))
        counts.append((len(due), len([s for s in statements if s.startswith("SELECT")])))
    assert counts[0][0] == 4 and counts[1][0] == 8
    # the page's query on a window of the doctor's visits, and (a page not filled) whether
    # that window held every visit left
    assert counts[0][1] == counts[1][1] == 2


async def test_patient_page_shows_past_visits_with_their_report(client: TestClient[Any, Any],
                                                                world: World) -> None:
    doctor, colleague, stranger = (await world.user("doctor"), await world.user("doctor"),
                                   await world.user("doctor"))
    patient = await world.patient(team=[doctor["id"], colleague["id"]])
    patient_user = await world.user("patient", patient_id=patient.id)
    unwritten = await _visit(world, patient.id, [doctor["id"]], days_ago=1)
    drafted = await _visit(world, patient.id, [doctor["id"]], days_ago=2, report="draft")
    await _visit(world, patient.id, [doctor["id"]], days_ago=3, report="signed",
                 replacement="draft")  # still in force: the signed one
    async with world.app[keys.SESSIONS]() as session:
        signed_id = (await session.exec(select(Document.id).where(
            col(Document.status) == "signed", Document.patient_id == patient.id))).one()
        shown = await documents.past_visit_reports(session, _who(colleague), patient.id)
        assert [(p.visit.id, p.report and p.report.status) for p in shown][:2] == [
            (unwritten, None), (drafted, "draft")]
        assert len(shown) == 3 and shown[2].report and shown[2].report.id == signed_id
        with pytest.raises(ApiError) as refused:
            await documents.past_visit_reports(session, _who(stranger), patient.id)
        assert refused.value.status == 403
        with pytest.raises(ApiError):
            await documents.past_visit_reports(session, _who(patient_user, patient.id),
                                               patient.id)

    await logged_in(client, colleague["username"])  # the care team, not a participant
    page = await (await client.get(f"/patients/{patient.id}")).text()
    assert "data-past-visits" in page
    assert f'href="/documents/{signed_id}"' in page
    assert f'href="/visits/{unwritten}/report"' in page
    assert f'href="/visits/{drafted}/report"' in page
    await logged_in(client, stranger["username"])
    assert (await client.get(f"/patients/{patient.id}")).status == 403
    await logged_in(client, patient_user["username"])
    own = await (await client.get("/my-record")).text()
    assert "data-past-visits" not in own and unwritten not in own


async def test_reports_and_visits_past_windows_of_rows_that_do_not_pass(
        client: TestClient[Any, Any], world: World) -> None:
    """The lists read a clinician's visits a window at a time (`visits.invited_page`): when
    the most recent ones do not pass (signed, cancelled, another status), the next, larger
    windows still find the rest, in order, with the count, the agenda's link and the pages
    of /visits/reports."""
    from telemed.services import visits
    from telemed.services.pagination import Page

    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    due = [await _visit(world, patient.id, [doctor["id"]], days_ago=17 + i) for i in range(12)]
    for i in range(30):  # newer, none to write
        await _visit(world, patient.id, [doctor["id"]], days_ago=1 + i / 10,
                     report="final" if i % 2 else None, status="completed" if i % 2 else
                     "cancelled")
    who = _who(doctor)
    async with world.app[keys.SESSIONS]() as session:
        found = await documents.reports_to_write(session, who, limit=10, now=NOW)
        assert [r.visit.id for r in found] == due[:10]
        rest = await documents.reports_to_write(
            session, who, limit=10, now=NOW,
            after=(found[-1].visit.scheduled_start.isoformat(), found[-1].visit.id))
        assert [r.visit.id for r in rest] == due[10:]
        assert await documents.reports_to_write_count(session, who, cap=99, now=NOW) == 12
        assert await documents.reports_to_write_count(session, who, cap=5, now=NOW) == 6
        completed = await visits.list_visits(session, who, Page(3, None), status="cancelled")
        assert len(completed) == 3
        assert all(r.visit.status == "cancelled" for r in completed)

    await logged_in(client, doctor["username"])
    agenda = await (await client.get("/visits")).text()
    assert agenda.count('/report">') == 10
    assert "The 10 most recent of 12." in agenda and 'href="/visits/reports"' in agenda
    first = await (await client.get("/visits/reports")).text()
    assert first.count('/report">') == 12 and "Next page" not in first
