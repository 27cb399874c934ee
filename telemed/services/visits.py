"""Visits: scheduling, access, the join window, the lifecycle and the per-role lists.

Lifecycle: scheduled → waiting (someone is in the room) → in_progress (a clinician and the
patient, or two teleconsult participants, are admitted) → completed (a clinician ended it,
or signed its report); scheduled or waiting → cancelled. A visit can be joined from 15
minutes before its start until 30 minutes after its scheduled end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from sqlalchemy import func, true, tuple_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import (
    Booking,
    ChatMessage,
    Patient,
    User,
    Visit,
    VisitGuest,
    VisitParticipant,
)
from telemed.db.types import utcnow
from telemed.domain.audit_reasons import because
from telemed.domain.booking import cancel_refusal
from telemed.domain.visit_audience import sees_visit
from telemed.errors import N_, ApiError, conflict, forbidden, invalid, not_found
from telemed.notify import outbox
from telemed.principal import CLINICIANS, Principal
from telemed.services import audit, scope
from telemed.services.access import authorize_patient
from telemed.services.audit import Resource
from telemed.services.delegates import delegation_of, may_act
from telemed.services.pagination import Page
from telemed.services.users import display_names

VisitKind = Literal["televisit", "teleconsult", "teleassistance"]
VisitStatus = Literal["scheduled", "waiting", "in_progress", "completed", "cancelled"]
JoinRole = Literal["clinician", "patient", "guest"]
KINDS: tuple[VisitKind, ...] = get_args(VisitKind)
OPEN_STATUSES = ("scheduled", "waiting", "in_progress")

MIN_DURATION, MAX_DURATION = 5, 240
JOIN_OPENS_BEFORE = timedelta(minutes=15)
JOIN_CLOSES_AFTER = timedelta(minutes=30)
PAST_GRACE = timedelta(minutes=1)
MAX_AHEAD = timedelta(days=366)
MAX_CLINICIANS: dict[str, int] = {"televisit": 2, "teleassistance": 2, "teleconsult": 6}
# An invitation opens the visit, not a lasting right: to an invited clinician without access
# to the record, until this long after the visit's scheduled start (a visit lasts at most
# 4 hours: the rest is time to write the report).
PARTICIPANT_ACCESS_AFTER = timedelta(days=7)
Action = Literal["read", "create", "update", "export"]


@dataclass(frozen=True)
class VisitRecord:
    """A visit with its invited clinicians."""

    visit: Visit
    participant_ids: tuple[str, ...]


# Reading ---------------------------------------------------------------------


async def participants_of(session: AsyncSession, visit_id: str) -> tuple[str, ...]:
    result = await session.exec(
        select(VisitParticipant.user_id).where(VisitParticipant.visit_id == visit_id)
    )
    return tuple(sorted(result.all()))


async def load_visit(session: AsyncSession, visit_id: str) -> VisitRecord:
    """The visit and its participants, or 404 (no access check: callers authorize)."""
    visit = await session.get(Visit, visit_id) if len(visit_id) <= 64 else None
    if visit is None:
        raise not_found("Visit")
    return VisitRecord(visit, await participants_of(session, visit_id))


async def authorize_visit(
    session: AsyncSession,
    who: Principal,
    record: VisitRecord,
    *,
    action: Action,
    resource: Resource = "visit",
    request_id: str | None = None,
) -> None:
    """Allow invited clinicians, the patient and the patient's care team; audit either way.

    An invited clinician need not be on the care team (a consulted specialist): that access
    is audited here with the reason "visit participant", and ends `PARTICIPANT_ACCESS_AFTER`
    the visit's scheduled start (an invitation is no lasting right). Everybody else goes
    through `authorize_patient`, which audits and raises 403.

    A clinicians-only visit does not exist for the patient's side (the patient, a delegate,
    any portal user: `domain.visit_audience.sees_visit`): 404, audited as a denied access.
    """
    visit = record.visit
    if not sees_visit(who.role, visit.patient_invited):
        audit.record(session, actor=who, action=action, resource=resource,
                     patient_id=visit.patient_id, resource_id=visit.id, outcome="denied",
                     request_id=request_id)
        await session.commit()
        raise not_found("Visit")
    if who.is_clinician and who.user_id in record.participant_ids \
            and visit.scheduled_start >= invitation_horizon():
        audit.record(session, actor=who, action=action, resource=resource,
                     patient_id=visit.patient_id, resource_id=visit.id,
                     reason=because("visit_participant"), request_id=request_id)
        return
    await authorize_patient(session, who, visit.patient_id, action=action, resource=resource,
                            resource_id=visit.id, request_id=request_id)


async def authorize_listed(
    session: AsyncSession, who: Principal, records: Sequence[VisitRecord], *,
    request_id: str | None = None,
) -> None:
    """`authorize_visit` (``read``) of the visits a page lists, at a cost that does not grow
    with them: the ones `who` is invited to while the invitation opens them (a clinician's
    agenda holds only those) audited in one statement, with the reason "visit participant";
    any other one by one."""
    horizon = invitation_horizon()
    invited = {r.visit.id for r in records
               if who.is_clinician and who.user_id in r.participant_ids
               and sees_visit(who.role, r.visit.patient_invited)
               and r.visit.scheduled_start >= horizon}
    await audit.record_reads(session, actor=who, resource="visit", reads=[
        (r.visit.patient_id, r.visit.id) for r in records if r.visit.id in invited],
        reason=because("visit_participant"), request_id=request_id)
    for record in records:
        if record.visit.id not in invited:
            await authorize_visit(session, who, record, action="read", request_id=request_id)


def shown_to(who: Principal) -> Any:
    """SQL condition: the visits `who` may see by their audience (`sees_visit`): for the
    patient's side those that invite the patient (for the others: true)."""
    if sees_visit(who.role, patient_invited=False):
        return true()
    return col(Visit.patient_invited).is_(True)


def invitation_horizon(now: datetime | None = None) -> datetime:
    """Visits that started before this no longer open to a clinician by invitation alone."""
    return (now or utcnow()) - PARTICIPANT_ACCESS_AFTER


def invited_scope(user_id: str) -> Any:
    """SQL condition: visits the user is invited to that still open to them by invitation."""
    horizon = invitation_horizon()
    mine = select(VisitParticipant.visit_id).where(VisitParticipant.user_id == user_id) \
        .where(col(VisitParticipant.scheduled_start) >= horizon)
    return col(Visit.id).in_(mine) & (col(Visit.scheduled_start) >= horizon)


agenda_start = col(VisitParticipant.scheduled_start)  # the visit's start, in the index
agenda_key = col(VisitParticipant.visit_id)
WINDOW = 2  # a page takes its candidates from windows of this many times its size


@dataclass(frozen=True)
class Span:
    """Which of a clinician's visits a page reads, in time order (`invited_page`): from
    `since`, before `until`, after (before, `descending`) the key `after` (start, visit id)."""

    since: datetime | None = None
    until: datetime | None = None
    after: tuple[datetime, str] | None = None
    descending: bool = False

    def order(self, start: Any = agenda_start, key: Any = agenda_key) -> tuple[Any, Any]:
        """The order on (start, visit id): the participant rows', or a window's."""
        if self.descending:
            return start.desc(), key.desc()
        return start.asc(), key.asc()

    def rows(self, user_id: str) -> list[Any]:
        """SQL conditions: the participant rows of `user_id` in the span, a range of
        ``ix_visit_participants_user_start``."""
        found = [col(VisitParticipant.user_id) == user_id]
        if self.since is not None:
            found.append(agenda_start >= self.since)
        if self.until is not None:
            found.append(agenda_start < self.until)
        if self.after is not None:
            start, key = self.after
            if self.descending:  # a plain bound for the index range, then the exact key
                found += [agenda_start <= start,
                          tuple_(agenda_start, agenda_key) < tuple_(start, key)]
            else:
                found += [agenda_start >= start,
                          tuple_(agenda_start, agenda_key) > tuple_(start, key)]
        return found

    def window(self, user_id: str, size: int) -> Any:
        """The next `size` participant rows of `user_id` (``ix_visit_participants_user_start``
        alone): the candidates of a page."""
        return select(agenda_start, agenda_key).where(*self.rows(user_id)) \
            .order_by(*self.order()).limit(size)


async def invited_page(session: AsyncSession, user_id: str, query: Any, span: Span,
                       limit: int) -> list[Any]:
    """The first `limit` rows of `query` (over `Visit`, with its other conditions: access,
    status…) among the visits `user_id` is invited to, in the order of `span`: the query
    runs on a window of the clinician's next participant rows (twice the page), the next
    window (twice as large) only when the rows that pass fill less than the page. Each
    engine reads the window in its order and each visit by key, and stops at the page, in
    the form its planner follows (`_joined`, `_walked`): what a page reads grows with the
    page, not with the visits the clinician was ever invited to."""
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    on_window = _joined if postgres else _walked
    found: list[Any] = []
    size = WINDOW * limit
    while len(found) < limit:
        window = span.window(user_id, size)
        found += (await session.exec(
            on_window(query, user_id, span, window).limit(limit - len(found)))).all()
        if len(found) >= limit:
            break
        last = (await session.exec(window.offset(size - 1).limit(1))).first()
        if last is None:  # the window held every row left
            break
        span = Span(span.since, span.until, (last[0], last[1]), span.descending)
        size *= 2  # few rows pass: fewer, larger windows
    return found


def _joined(query: Any, user_id: str, span: Span, window: Any) -> Any:
    """`query` on the `window` of `user_id`, for PostgreSQL: joined to it (a derived table)
    by the visit's key, in its order. The planner reads the window in order and each visit by
    key; given the window as ``visit_id IN (…)`` of a joined participant row, it read all
    the participant rows by a sequential scan to match them with it."""
    rows = window.subquery("agenda")
    return query.join(rows, rows.c.visit_id == col(Visit.id)) \
        .order_by(*span.order(rows.c.scheduled_start, rows.c.visit_id))


def _walked(query: Any, user_id: str, span: Span, window: Any) -> Any:
    """`query` on the `window` of `user_id`, for SQLite: joined to the participant rows of
    `user_id` that are in the window (``visit_id IN (…)``), walked in the index's order from
    the span's start to the window's last start (in place of the span's end: an index range
    takes one bound a side). SQLite does not keep a derived table's order: it would test
    every row of the window, then sort them; without the range it walked the clinician's
    rows from the first."""
    starts = window.subquery()
    if span.descending:
        edge = agenda_start >= select(func.min(starts.c.scheduled_start)).scalar_subquery()
        near = replace(span, since=None)
    else:
        edge = agenda_start <= select(func.max(starts.c.scheduled_start)).scalar_subquery()
        near = replace(span, until=None)
    mine = (col(VisitParticipant.visit_id) == col(Visit.id)) \
        & (col(VisitParticipant.user_id) == user_id)
    return query.join(VisitParticipant, mine).where(*near.rows(user_id)).where(edge) \
        .where(agenda_key.in_(window.with_only_columns(agenda_key))).order_by(*span.order())


async def get_visit(
    session: AsyncSession, who: Principal, visit_id: str, request_id: str | None = None
) -> VisitRecord:
    """A visit the caller may see."""
    record = await load_visit(session, visit_id)
    await authorize_visit(session, who, record, action="read", request_id=request_id)
    await session.commit()
    return record


async def _records(session: AsyncSession, visits: Sequence[Visit]) -> list[VisitRecord]:
    if not visits:
        return []
    result = await session.exec(
        select(VisitParticipant).where(col(VisitParticipant.visit_id).in_([v.id for v in visits]))
    )
    by_visit: dict[str, list[str]] = {}
    for row in result.all():
        by_visit.setdefault(row.visit_id, []).append(row.user_id)
    return [VisitRecord(v, tuple(sorted(by_visit.get(v.id, [])))) for v in visits]


async def list_visits(
    session: AsyncSession,
    who: Principal,
    page: Page,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    patient_id: str | None = None,
    status: str | None = None,
    request_id: str | None = None,
) -> list[VisitRecord]:
    """Visits by start time: a clinician's own (or a patient's, with `patient_id`), a
    patient's own. Administrators see none (visits are clinical data)."""
    query = select(Visit)
    start, key = col(Visit.scheduled_start), col(Visit.id)  # a patient's visits: a few
    if who.role == "patient":
        if who.patient_id is None or patient_id not in (None, who.patient_id):
            raise forbidden("You have no access to this patient's record.", key="no_access")
        query = query.where(Visit.patient_id == who.patient_id).where(shown_to(who))
    elif who.is_clinician:
        if patient_id is not None:
            await authorize_patient(session, who, patient_id, action="read", resource="visit",
                                    request_id=request_id)
            await session.commit()
            query = query.where(Visit.patient_id == patient_id)
        else:
            # The caller's visits, read from its participant rows in time order
            # (`invited_page`): those of its patients (record access), and those it is
            # invited to while the invitation still opens them (`invited_scope`).
            visible = scope.visible(col(Visit.patient_id), who)
            assert visible is not None  # None only for administrators
            # the invitation's horizon on the visit's own start: the participant row's copy
            # orders and bounds the window, it never decides access
            query = select(Visit).where(
                visible | (col(Visit.scheduled_start) >= invitation_horizon()))
            if status is not None:
                query = query.where(Visit.status == status)
            after = None if page.after is None else (
                datetime.fromisoformat(str(page.after[0])), str(page.after[1]))
            return await _records(session, await invited_page(
                session, who.user_id, query, Span(since, until, after), page.limit))
    else:
        raise forbidden("Administrators do not see visits.")
    if since is not None:
        query = query.where(start >= since)
    if until is not None:
        query = query.where(start < until)
    if status is not None:
        query = query.where(Visit.status == status)
    if page.after is not None:
        after_start = datetime.fromisoformat(str(page.after[0]))
        query = query.where(tuple_(start, key) > tuple_(after_start, str(page.after[1])))
    query = query.order_by(start, key).limit(page.limit)
    visits = (await session.exec(query)).all()
    return await _records(session, visits)


async def participant_choices(session: AsyncSession, *, limit: int) -> list[User]:
    """Active clinicians by name, for the scheduling form's choice of participants."""
    return list((await session.exec(
        select(User).where(col(User.role).in_(CLINICIANS)).where(col(User.active))
        .order_by(col(User.display_name)).limit(limit))).all())


def local_day(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of the local calendar day containing `now`."""
    zone = ZoneInfo(timezone)
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(), zone)
    return start, datetime.combine(day + timedelta(days=1), time(), zone)


async def todays_visits(
    session: AsyncSession, who: Principal, *, timezone: str, now: datetime | None = None
) -> list[VisitRecord]:
    """The clinician's visits of the local day, cancelled ones included (they show as such)."""
    start, end = local_day(now or utcnow(), timezone)
    visits = await invited_page(session, who.user_id, select(Visit),
                                Span(since=start, until=end), 200)
    return await _records(session, visits)


async def next_visit(
    session: AsyncSession, who: Principal, *, now: datetime | None = None
) -> VisitRecord | None:
    """The patient's next visit that can still be joined (or is still to come)."""
    if who.patient_id is None:
        return None
    now = now or utcnow()
    candidates = (await session.exec(
        select(Visit).where(Visit.patient_id == who.patient_id).where(shown_to(who))
        .where(col(Visit.status).in_(OPEN_STATUSES))
        .where(Visit.scheduled_start >= now - timedelta(minutes=MAX_DURATION) - JOIN_CLOSES_AFTER)
        .order_by(col(Visit.scheduled_start))
        .limit(20)
    )).all()
    for visit in candidates:
        if join_window(visit)[1] >= now:
            return (await _records(session, [visit]))[0]
    return None


# Scheduling ------------------------------------------------------------------


def _aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() is not None


async def _check_participants(
    session: AsyncSession, kind: str, participant_ids: Sequence[str]
) -> dict[str, str]:
    errors: dict[str, str] = {}
    unique = list(dict.fromkeys(participant_ids))
    if not unique:
        errors["participant_ids"] = N_("Invite at least one clinician.")
        return errors
    limit = MAX_CLINICIANS.get(kind)
    if limit is not None and len(unique) > limit:
        errors["participant_ids"] = N_(
            "A televisit or teleassistance has at most 2 clinicians, a teleconsult at most 6."
        )
        return errors
    users = (await session.exec(select(User).where(col(User.id).in_(unique)))).all()
    found = {user.id: user for user in users}
    for index, user_id in enumerate(unique):
        user = found.get(user_id)
        if user is None or not user.active or user.role not in CLINICIANS:
            errors[f"participant_ids[{index}]"] = "Participants must be active doctors or nurses."
    return errors


async def schedule_visit(
    session: AsyncSession,
    who: Principal,
    *,
    kind: str,
    patient_id: str,
    participant_ids: Sequence[str],
    scheduled_start: datetime,
    duration_minutes: int,
    now: datetime | None = None,
    request_id: str | None = None,
    patient_invited: bool = True,
) -> VisitRecord:
    """Schedule a visit; only a clinician with access to the patient may do it.
    `patient_invited` False: a clinicians-only visit (a live teleconsult without the
    patient), which the patient and delegates neither join, list, nor are told of."""
    if not who.is_clinician:
        raise forbidden("Only doctors and nurses schedule visits.")
    now = now or utcnow()
    errors: dict[str, str] = {}
    if kind not in KINDS:
        errors["kind"] = N_("Kind must be televisit, teleconsult or teleassistance.")
    if not _aware(scheduled_start):
        errors["scheduled_start"] = N_("Give the start time with its UTC offset.")
    elif scheduled_start < now - PAST_GRACE:
        errors["scheduled_start"] = N_("The start time is in the past.")
    elif scheduled_start > now + MAX_AHEAD:
        errors["scheduled_start"] = N_("The start time is more than a year ahead.")
    if not MIN_DURATION <= duration_minutes <= MAX_DURATION:
        errors["duration_minutes"] = N_("Duration must be from 5 to 240 minutes.")
    errors.update(await _check_participants(session, kind, participant_ids))
    await authorize_new_visit(session, who, patient_id, errors, request_id)
    record = await add_visit(session, who, kind=kind, patient_id=patient_id,
                             participant_ids=participant_ids, scheduled_start=scheduled_start,
                             duration_minutes=duration_minutes, request_id=request_id,
                             patient_invited=patient_invited)
    await session.commit()
    return record


async def authorize_new_visit(session: AsyncSession, who: Principal, patient_id: str,
                              errors: dict[str, str], request_id: str | None) -> None:
    """Whether ``who`` may add a visit to the patient's record (audited, a refusal too);
    then the request's field ``errors``, if any, raised with the audit event kept."""
    await authorize_patient(session, who, patient_id, action="create", resource="visit",
                            request_id=request_id)
    if errors:
        await session.commit()  # keep the audit event
        raise invalid(errors)


async def add_visit(
    session: AsyncSession,
    who: Principal,
    *,
    kind: str,
    patient_id: str,
    participant_ids: Sequence[str],
    scheduled_start: datetime,
    duration_minutes: int,
    request_id: str | None = None,
    patient_invited: bool = True,
) -> VisitRecord:
    """Add an authorized, checked visit to the session (flushed, not committed): its
    participants, its audit event and its ``visit_changed`` notifications. Scheduling by a
    clinician and booking by a patient (services/booking.py) both go through here."""
    visit = Visit(kind=kind, patient_id=patient_id, scheduled_start=scheduled_start,
                  duration_minutes=duration_minutes, created_by=who.user_id,
                  patient_invited=patient_invited)
    session.add(visit)
    await session.flush()
    unique = tuple(dict.fromkeys(participant_ids))
    for user_id in unique:
        session.add(VisitParticipant(visit_id=visit.id, user_id=user_id,
                                     scheduled_start=scheduled_start))
    audit.record(session, actor=who, action="create", resource="visit",
                 patient_id=patient_id, resource_id=visit.id, request_id=request_id)
    await outbox.visit_changed(session, patient_id, visit.id, unique, who.user_id,
                               patient=patient_invited)
    await session.flush()
    return VisitRecord(visit, tuple(sorted(unique)))


async def move_visit(session: AsyncSession, visit: Visit, start: datetime, minutes: int) -> None:
    """Give the visit a new start and duration (flushed with the session), its participants'
    copy of the start with it."""
    visit.scheduled_start = start
    visit.duration_minutes = minutes
    session.add(visit)
    await session.exec(update(VisitParticipant).where(col(VisitParticipant.visit_id) == visit.id)
                       .values(scheduled_start=start))


async def cancel_visit(
    session: AsyncSession, who: Principal, visit_id: str, request_id: str | None = None,
    *, cutoff: timedelta = timedelta(0), now: datetime | None = None,
) -> VisitRecord:
    """Cancel a visit that has not started yet. The patient (or a delegate who acts) may
    cancel their own until `cutoff` before its start; a booked slot is released."""
    now = now or utcnow()
    record = await load_visit(session, visit_id)
    await authorize_visit(session, who, record, action="update", request_id=request_id)
    visit = record.visit
    refusal = cancel_refusal(visit.status, visit.scheduled_start, now, cutoff,
                             clinician=who.is_clinician)
    if refusal is not None:
        await session.commit()  # the access check's audit record is kept
    if refusal == "visit_not_cancellable":
        raise conflict("This visit can no longer be cancelled.", "visit_not_cancellable")
    if refusal == "past_cutoff":
        raise conflict("It is too late to change this visit online: call your care team.",
                       "past_cutoff")
    visit.status = "cancelled"
    visit.ended_at = now
    session.add(visit)
    await session.exec(
        update(Booking).where(col(Booking.visit_id) == visit.id)
        .where(col(Booking.released_at).is_(None)).values(released_at=now))
    await outbox.visit_changed(session, visit.patient_id, visit.id, record.participant_ids,
                               who.user_id, patient=visit.patient_invited)
    await session.commit()
    return record


# Joining -----------------------------------------------------------------------


def scheduled_end(visit: Visit) -> datetime:
    return visit.scheduled_start + timedelta(minutes=visit.duration_minutes)


def join_window(visit: Visit) -> tuple[datetime, datetime]:
    """When the visit can be joined: 15 minutes before start to 30 after the scheduled end."""
    return visit.scheduled_start - JOIN_OPENS_BEFORE, scheduled_end(visit) + JOIN_CLOSES_AFTER


def check_joinable(visit: Visit, now: datetime | None = None) -> None:
    """409 unless the visit is open and inside its join window."""
    now = now or utcnow()
    if visit.status == "cancelled":
        raise conflict("This visit was cancelled.", "visit_cancelled")
    if visit.status == "completed":
        raise conflict("This visit has ended.", "visit_completed")
    opens, closes = join_window(visit)
    if now < opens:
        raise ApiError(409, "too_early",
                       "The visit opens 15 minutes before its start time.")
    if now > closes:
        raise conflict("The time to join this visit is over.", "too_late")


def join_role(who: Principal, record: VisitRecord) -> JoinRole:
    """How the caller takes part: an invited clinician, or the patient when the visit invites
    them; 403 otherwise."""
    if who.is_clinician and who.user_id in record.participant_ids:
        return "clinician"
    if who.role == "patient" and who.patient_id == record.visit.patient_id \
            and record.visit.patient_invited:
        return "patient"
    raise forbidden("You are not invited to this visit.")


async def role_in(session: AsyncSession, who: Principal, record: VisitRecord) -> JoinRole:
    """`join_role`, where a delegate who acts for the patient takes the patient's place."""
    try:
        return join_role(who, record)
    except ApiError:
        patient_id = record.visit.patient_id  # a parent, guardian or caregiver who acts
        if who.role == "patient" and who.patient_id != patient_id \
                and record.visit.patient_invited \
                and await may_act(session, patient_id, who.user_id):
            return "patient"
        raise


async def prepare_join(
    session: AsyncSession, who: Principal, visit_id: str, request_id: str | None = None
) -> tuple[VisitRecord, JoinRole]:
    """The visit and the caller's role in it, when the caller may join now."""
    record = await load_visit(session, visit_id)
    await authorize_visit(session, who, record, action="read", request_id=request_id)
    await session.commit()
    role = await role_in(session, who, record)
    check_joinable(record.visit)
    return record, role


@dataclass(frozen=True)
class ActingFor:
    """How a delegate in a visit is introduced: relationship, their sex when their own
    record says it (F, M), and the patient's name."""

    relationship: str
    sex: str | None
    patient_name: str


async def acting_for(session: AsyncSession, user: User, patient_id: str) -> ActingFor | None:
    """For a portal user in a visit of someone else's: who they are to the patient."""
    if user.role != "patient" or user.patient_id == patient_id:
        return None
    held = await delegation_of(session, patient_id, user.id)
    patient = await session.get(Patient, patient_id)
    if held is None or patient is None:
        return None
    own = await session.get(Patient, user.patient_id) if user.patient_id else None
    return ActingFor(held.relationship, own.sex if own is not None else None,
                     f"{patient.given_name} {patient.family_name}")


# Lifecycle (driven by the signalling rooms) ------------------------------------


async def advance(
    session: AsyncSession, visit_id: str, phase: Literal["waiting", "in_progress", "completed"],
    now: datetime | None = None,
) -> Visit | None:
    """Move a visit forward to `phase` (never backwards, never out of cancelled)."""
    now = now or utcnow()
    visit = await session.get(Visit, visit_id)
    if visit is None or visit.status in ("completed", "cancelled"):
        return visit
    if phase == "waiting" and visit.status == "scheduled":
        visit.status = "waiting"
    elif phase == "in_progress" and visit.status in ("scheduled", "waiting"):
        visit.status = "in_progress"
        visit.started_at = now
    elif phase == "completed":
        visit.status = "completed"
        visit.ended_at = now
    else:
        return visit
    session.add(visit)
    await session.commit()
    return visit


# Chat -------------------------------------------------------------------------


async def save_chat(
    session: AsyncSession, *, visit_id: str, seq: int, sender_id: str, text: str, ts: datetime
) -> None:
    """Store one numbered chat line of a visit."""
    session.add(ChatMessage(visit_id=visit_id, seq=seq, sender_id=sender_id, text=text, ts=ts))
    await session.commit()


async def chat_history(
    session: AsyncSession, visit_id: str, limit: int
) -> list[tuple[ChatMessage, str]]:
    """The last `limit` chat lines of a visit (oldest first) with the sender's name."""
    rows = (await session.exec(
        select(ChatMessage).where(ChatMessage.visit_id == visit_id)
        .order_by(col(ChatMessage.seq).desc()).limit(limit)
    )).all()
    senders = {row.sender_id for row in rows}
    names = await display_names(session, list(senders))
    guest_ids = [s[len("guest:"):] for s in senders if s.startswith("guest:")]
    if guest_ids:  # guests (visit_guests.py) chat as "guest:<id>"
        guests = (await session.exec(
            select(VisitGuest).where(col(VisitGuest.id).in_(guest_ids)))).all()
        names.update({f"guest:{g.id}": g.name for g in guests})
    return [(row, names.get(row.sender_id, "")) for row in reversed(rows)]


async def patients_of(session: AsyncSession, records: Sequence[VisitRecord]) -> dict[str, Patient]:
    """The patients of the visits `records` (already authorised), by id, in one query."""
    wanted = sorted({record.visit.patient_id for record in records})
    if not wanted:
        return {}
    found = await session.exec(select(Patient).where(col(Patient.id).in_(wanted)))
    return {patient.id: patient for patient in found.all()}


async def patient_of(session: AsyncSession, record: VisitRecord) -> Patient | None:
    """The patient of the visit `record` (already authorised)."""
    return await session.get(Patient, record.visit.patient_id)
