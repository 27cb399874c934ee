"""Booking (docs/booking.md): clinicians publish weekly availability and days off; patients,
or delegates who act for them, book a televisit in a free slot, move it or cancel it.

The slots themselves are computed (`telemed.domain.booking`); only a taken slot has a row
(`Booking`). Its unique index on (clinician, start) among bookings in force is what makes
two bookings of one slot impossible: the second insert fails and its caller gets 409
``slot_taken``, whatever the timing, on SQLite and PostgreSQL alike. A booking creates the
visit through `services.visits.add_visit`, so the waiting room, notifications and the
report work as for any visit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import (
    Availability,
    AvailabilityException,
    Booking,
    Patient,
    User,
    Visit,
    VisitParticipant,
)
from telemed.db.types import utcnow
from telemed.domain import booking as rules
from telemed.domain.audit_reasons import because
from telemed.errors import ApiError, conflict, forbidden, invalid, not_found
from telemed.notify import outbox
from telemed.principal import CLINICIANS, Principal
from telemed.services import audit
from telemed.services import visits as visit_service
from telemed.services.delegates import delegated_patient_ids
from telemed.settings import Settings as AppSettings

MAX_REASON = 500
MAX_NOTE = 200


@dataclass(frozen=True)
class FreeSlot:
    """A free slot of a clinician."""

    id: str
    clinician_id: str
    slot: rules.Slot


@dataclass(frozen=True)
class Settings:
    """The service's booking rules: its time zone and the cut-off for patients' changes."""

    timezone: str
    cutoff: timedelta


def settings_of(settings: AppSettings) -> Settings:
    """The booking rules of the platform's settings (the one place that reads them)."""
    return Settings(settings.timezone, timedelta(hours=settings.booking_cutoff_hours))


# Availability ------------------------------------------------------------------------


def _clinician(who: Principal) -> None:
    if not who.is_clinician:
        raise forbidden("Only doctors and nurses publish availability.")


def _rule(row: Availability) -> rules.WeeklyRule:
    start, end = rules.parse_time(row.start), rules.parse_time(row.end)
    assert start is not None and end is not None  # checked on entry
    return rules.WeeklyRule(row.weekday, start, end, row.slot_minutes, row.kind)


async def availability_of(session: AsyncSession, clinician_id: str
                          ) -> tuple[list[Availability], list[AvailabilityException]]:
    """A clinician's weekly rules (by weekday and start) and days off (by first day)."""
    found = (await session.exec(
        select(Availability).where(Availability.clinician_id == clinician_id)
        .order_by(col(Availability.weekday), col(Availability.start)))).all()
    off = (await session.exec(
        select(AvailabilityException).where(AvailabilityException.clinician_id == clinician_id)
        .order_by(col(AvailabilityException.first_day)))).all()
    return list(found), list(off)


async def add_availability(session: AsyncSession, who: Principal, *, weekday: int, start: str,
                           end: str, slot_minutes: int, kind: str) -> Availability:
    """Publish weekly hours for the caller; refused when they overlap hours of the same day."""
    _clinician(who)
    errors = rules.rule_errors(weekday, start, end, slot_minutes, kind)
    if errors:
        raise invalid(errors)
    row = Availability(clinician_id=who.user_id, weekday=weekday, start=start, end=end,
                       slot_minutes=slot_minutes, kind=kind)
    existing, _ = await availability_of(session, who.user_id)
    if rules.overlaps(_rule(row), [_rule(r) for r in existing]):
        raise conflict("These hours overlap hours you already published for that day.",
                       "availability_overlap")
    session.add(row)
    await session.commit()
    return row


async def delete_availability(session: AsyncSession, who: Principal, rule_id: str) -> None:
    """Withdraw weekly hours (visits already booked in them stay)."""
    await _withdraw(session, who, Availability, rule_id, "Availability")


Own = TypeVar("Own", Availability, AvailabilityException)  # a clinician's own row


async def _withdraw(session: AsyncSession, who: Principal, model: type[Own], row_id: str,
                    name: str) -> None:
    """Delete one of the caller's own hours or days off (another's is not found)."""
    _clinician(who)
    row = await session.get(model, row_id) if len(row_id) <= 32 else None
    if row is None or row.clinician_id != who.user_id:
        raise not_found(name)
    await session.delete(row)
    await session.commit()


async def add_day_off(session: AsyncSession, who: Principal, *, first_day: date,
                      last_day: date, note: str | None, today: date) -> AvailabilityException:
    """Days (inclusive) the caller takes no bookings."""
    _clinician(who)
    errors: dict[str, str] = {}
    if last_day < first_day:
        errors["last_day"] = "The last day must not come before the first."
    elif (last_day - first_day).days > 366:
        errors["last_day"] = "At most a year at a time."
    if last_day < today:
        errors.setdefault("last_day", "These days are already past.")
    note = " ".join(note.split()) if note else None
    if note is not None and len(note) > MAX_NOTE:
        errors["note"] = "At most 200 characters."
    if errors:
        raise invalid(errors)
    row = AvailabilityException(clinician_id=who.user_id, first_day=first_day,
                                last_day=last_day, note=note or None)
    session.add(row)
    await session.commit()
    return row


async def delete_day_off(session: AsyncSession, who: Principal, exception_id: str) -> None:
    """Withdraw days off (the slots in them are free again)."""
    await _withdraw(session, who, AvailabilityException, exception_id, "Day off")


async def bookable_clinicians(session: AsyncSession) -> list[User]:
    """Active clinicians who publish availability, by name."""
    with_hours = select(Availability.clinician_id)
    return list((await session.exec(
        select(User).where(col(User.id).in_(with_hours)).where(col(User.active))
        .where(col(User.role).in_(CLINICIANS)).order_by(col(User.display_name)))).all())


# Slots -----------------------------------------------------------------------------------


def check_range(since: datetime, until: datetime) -> None:
    """400 unless ``since < until`` spans at most `rules.MAX_RANGE`."""
    if until <= since:
        raise ApiError(400, "invalid_range", "to must come after from.")
    if until - since > rules.MAX_RANGE:
        raise ApiError(400, "invalid_range", "List at most 62 days of slots at a time.")


async def free_slots(session: AsyncSession, config: Settings, *, since: datetime,
                     until: datetime, clinician_id: str | None = None,
                     kind: str | None = None, now: datetime | None = None) -> list[FreeSlot]:
    """Free slots from ``since`` to ``until`` of one clinician or of all who publish hours,
    starting no sooner than the cut-off from now; by start, then clinician."""
    check_range(since, until)
    now = now or utcnow()
    not_before = max(since, now + config.cutoff)
    query = select(Availability)
    if clinician_id is not None:
        query = query.where(Availability.clinician_id == clinician_id)
    if kind is not None:
        query = query.where(Availability.kind == kind)
    hours = (await session.exec(query)).all()
    people = sorted({h.clinician_id for h in hours})
    if not people:
        return []
    active = set((await session.exec(
        select(User.id).where(col(User.id).in_(people)).where(col(User.active)))).all())
    off = (await session.exec(
        select(AvailabilityException).where(col(AvailabilityException.clinician_id).in_(people))
        .where(col(AvailabilityException.last_day) >= since.date() - timedelta(days=1))
        .where(col(AvailabilityException.first_day) <= until.date() + timedelta(days=1)))).all()
    taken = (await session.exec(
        select(Booking.clinician_id, Booking.slot_start)
        .where(col(Booking.clinician_id).in_(people)).where(col(Booking.released_at).is_(None))
        .where(Booking.slot_start >= since).where(Booking.slot_start < until))).all()
    busy = await _busy(session, people, since, until)
    found: list[FreeSlot] = []
    for person in people:
        if person not in active:
            continue
        candidates = rules.candidate_slots(
            [_rule(h) for h in hours if h.clinician_id == person],
            [rules.DayOff(o.first_day, o.last_day) for o in off if o.clinician_id == person],
            config.timezone, since, until)
        free = rules.free_slots(candidates, booked={at for who, at in taken if who == person},
                                busy=busy.get(person, []), not_before=not_before)
        found.extend(FreeSlot(rules.slot_id(person, s.start), person, s) for s in free)
    found.sort(key=lambda f: (f.slot.start, f.clinician_id))
    return found


async def _busy(session: AsyncSession, people: Sequence[str], since: datetime,
                until: datetime) -> dict[str, list[tuple[datetime, datetime]]]:
    """The clinicians' open visits around the range (booked or scheduled by hand)."""
    rows = (await session.exec(
        select(VisitParticipant.user_id, Visit)
        .join(Visit, col(Visit.id) == col(VisitParticipant.visit_id))
        .where(col(VisitParticipant.user_id).in_(list(people)))
        .where(col(Visit.status).in_(visit_service.OPEN_STATUSES))
        .where(Visit.scheduled_start < until)
        .where(Visit.scheduled_start >= since - timedelta(minutes=visit_service.MAX_DURATION))
    )).all()
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for person, visit in rows:
        spans.setdefault(person, []).append(
            (visit.scheduled_start, visit_service.scheduled_end(visit)))
    return spans


async def _free_slot(session: AsyncSession, config: Settings, slot_id: str,
                     now: datetime) -> FreeSlot:
    """The named slot when it exists and is free now: 404 when no such slot, 409 when
    taken or too soon."""
    parsed = rules.parse_slot_id(slot_id)
    if parsed is None:
        raise invalid({"slot_id": "Not a slot."})
    clinician_id, start = parsed
    if start < now + config.cutoff:
        raise conflict("This slot is too soon to be booked online.", "past_cutoff")
    nearby = await free_slots(session, config, since=start, until=start + timedelta(minutes=1),
                              clinician_id=clinician_id, now=now)
    for slot in nearby:
        if slot.id == slot_id:
            return slot
    exists = rules.candidate_slots(
        [_rule(h) for h in (await availability_of(session, clinician_id))[0]], [],
        config.timezone, start, start + timedelta(minutes=1))
    if exists:
        raise conflict("This slot was just taken: choose another.", "slot_taken")
    raise not_found("Slot")


# Booking, moving ---------------------------------------------------------------------------


async def _take(session: AsyncSession, booking: Booking) -> None:
    """Insert the booking; the unique index refuses a second one for the slot (409)."""
    session.add(booking)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise conflict("This slot was just taken: choose another.", "slot_taken") from None


async def book(session: AsyncSession, who: Principal, config: Settings, *, slot_id: str,
               reason: str, patient_id: str | None = None, now: datetime | None = None,
               request_id: str | None = None) -> visit_service.VisitRecord:
    """Book a free slot for a patient: the patient themself, a delegate who acts for them, or
    a clinician with access to the record (`patient_id` names the patient; a patient's own
    is the default)."""
    now = now or utcnow()
    patient_id = patient_id or who.patient_id
    if not patient_id:
        raise invalid({"patient_id": "Say for whom the visit is."})
    reason = " ".join(reason.split())
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = "Say briefly why you need the visit."
    elif len(reason) > MAX_REASON:
        errors["reason"] = "At most 500 characters."
    await visit_service.authorize_new_visit(session, who, patient_id, errors, request_id)
    slot = await _free_slot(session, config, slot_id, now)
    minutes = int((slot.slot.end - slot.slot.start).total_seconds() // 60)
    record = await visit_service.add_visit(
        session, who, kind=slot.slot.kind, patient_id=patient_id,
        participant_ids=[slot.clinician_id], scheduled_start=slot.slot.start,
        duration_minutes=minutes, request_id=request_id)
    await _take(session, Booking(clinician_id=slot.clinician_id, slot_start=slot.slot.start,
                                 slot_minutes=minutes, visit_id=record.visit.id,
                                 patient_id=patient_id, reason=reason, booked_by=who.user_id))
    await session.commit()
    return record


async def booking_of(session: AsyncSession, visit_id: str) -> Booking | None:
    """The booking in force of a visit, if it was booked."""
    return (await session.exec(
        select(Booking).where(Booking.visit_id == visit_id)
        .where(col(Booking.released_at).is_(None)))).first()


async def reasons(session: AsyncSession, visit_ids: Sequence[str]) -> dict[str, str]:
    """The booking reason of each booked visit (a visit a clinician scheduled has none)."""
    if not visit_ids:
        return {}
    rows = (await session.exec(
        select(Booking.visit_id, Booking.reason).where(col(Booking.visit_id).in_(list(visit_ids)))
        .order_by(col(Booking.booked_at)))).all()
    return {visit_id: reason for visit_id, reason in rows}


async def reschedule(session: AsyncSession, who: Principal, config: Settings, visit_id: str, *,
                     slot_id: str, now: datetime | None = None,
                     request_id: str | None = None) -> visit_service.VisitRecord:
    """Move a booked visit to another free slot of the same clinician (patients and
    delegates who act: until the cut-off before the present start)."""
    now = now or utcnow()
    record = await visit_service.load_visit(session, visit_id)
    await visit_service.authorize_visit(session, who, record, action="update",
                                        request_id=request_id)
    await session.commit()
    visit = record.visit
    current = await booking_of(session, visit.id)
    if current is None:
        raise conflict("Only a booked visit can be moved: ask your care team.", "not_booked")
    if visit.status != "scheduled":
        raise conflict("This visit can no longer be moved.", "visit_not_movable")
    if not who.is_clinician and not rules.may_change(visit.scheduled_start, now, config.cutoff):
        raise conflict("It is too late to change this visit online: call your care team.",
                       "past_cutoff")
    slot = await _free_slot(session, config, slot_id, now)
    if slot.clinician_id != current.clinician_id:
        raise invalid({"slot_id": "Choose a slot of the same clinician."})
    current.released_at = now
    session.add(current)
    await session.flush()
    minutes = int((slot.slot.end - slot.slot.start).total_seconds() // 60)
    await _take(session, Booking(clinician_id=slot.clinician_id, slot_start=slot.slot.start,
                                 slot_minutes=minutes, visit_id=visit.id,
                                 patient_id=visit.patient_id, reason=current.reason,
                                 booked_by=who.user_id))
    await visit_service.move_visit(session, visit, slot.slot.start, minutes)
    audit.record(session, actor=who, action="update", resource="visit",
                 patient_id=visit.patient_id, resource_id=visit.id, reason=because("rescheduled"),
                 request_id=request_id)
    await outbox.visit_changed(session, visit.patient_id, visit.id, record.participant_ids,
                               who.user_id, patient=visit.patient_invited)
    await session.commit()
    return record


@dataclass(frozen=True)
class Booked:
    """A visit with its booking in force (None: scheduled by a clinician) and patient."""

    visit: Visit
    booking: Booking | None
    patient: Patient


async def bookings_for(session: AsyncSession, who: Principal, *, since: datetime,
                       until: datetime, request_id: str | None = None) -> list[Booked]:
    """A clinician's bookings in force with their visits and patients, by start (the
    agenda); each shown patient is recorded in the access log."""
    if not who.is_clinician:
        raise forbidden("Only doctors and nurses have an agenda of bookings.")
    rows = (await session.exec(
        select(Booking, Visit, Patient).join(Visit, col(Visit.id) == col(Booking.visit_id))
        .join(Patient, col(Patient.id) == col(Booking.patient_id))
        .where(Booking.clinician_id == who.user_id).where(col(Booking.released_at).is_(None))
        .where(col(Visit.status).in_(visit_service.OPEN_STATUSES))
        .where(Booking.slot_start >= since).where(Booking.slot_start < until)
        .order_by(col(Booking.slot_start)).limit(200))).all()
    await audit.record_reads(session, actor=who, resource="visit",
                             reads=[(p.id, v.id) for _, v, p in rows],
                             reason=because("booking_agenda"), request_id=request_id)
    await session.commit()
    return [Booked(v, b, p) for b, v, p in rows]


async def upcoming_for_portal(session: AsyncSession, who: Principal,
                              now: datetime | None = None) -> list[Booked]:
    """The open visits still to come of the portal user's own record and of those they act
    for, by start (their own visits, not clinicians-only ones; nothing to audit)."""
    now = now or utcnow()
    patients = await patients_to_book_for(session, who)
    if not patients:
        return []
    rows = (await session.exec(
        select(Visit, Patient).join(Patient, col(Patient.id) == col(Visit.patient_id))
        .where(col(Visit.patient_id).in_(patients)).where(visit_service.shown_to(who))
        .where(col(Visit.status).in_(("scheduled", "waiting")))
        .where(Visit.scheduled_start >= now - timedelta(hours=1))
        .order_by(col(Visit.scheduled_start)).limit(50))).all()
    bookings = {b.visit_id: b for b in (await session.exec(
        select(Booking).where(col(Booking.visit_id).in_([v.id for v, _ in rows]))
        .where(col(Booking.released_at).is_(None)))).all()}
    return [Booked(v, bookings.get(v.id), p) for v, p in rows]


async def portal_patients(session: AsyncSession, who: Principal) -> list[Patient]:
    """The patients a portal user may book for, their own record first."""
    ids = await patients_to_book_for(session, who)
    found = {p.id: p for p in (await session.exec(
        select(Patient).where(col(Patient.id).in_(ids)))).all()}
    return [found[i] for i in ids if i in found]


async def patients_to_book_for(session: AsyncSession, who: Principal) -> list[str]:
    """The patients a portal user may book for: their own record and those they act for."""
    own = [who.patient_id] if who.patient_id else []
    return own + [p for p in await delegated_patient_ids(session, who.user_id, acting=True)
                  if p not in own]


# FHIR Schedule and Slot ------------------------------------------------------------------


async def schedule_of(session: AsyncSession, clinician_id: str
                      ) -> tuple[User, list[Availability]] | None:
    """A clinician who publishes hours, with the hours (a FHIR Schedule), or None."""
    user = await session.get(User, clinician_id) if len(clinician_id) <= 32 else None
    if user is None or not user.active or user.role not in CLINICIANS:
        return None
    hours, _ = await availability_of(session, clinician_id)
    return (user, hours) if hours else None


async def slot_status(session: AsyncSession, config: Settings, slot_id: str,
                      now: datetime | None = None) -> tuple[FreeSlot, str] | None:
    """A slot by id and whether it is ``free`` or ``busy`` (booked, taken by another visit
    or past the cut-off); None when the clinician's hours make no such slot."""
    parsed = rules.parse_slot_id(slot_id)
    if parsed is None:
        return None
    clinician_id, start = parsed
    found = await schedule_of(session, clinician_id)
    if found is None:
        return None
    hours, off = await availability_of(session, clinician_id)
    made = rules.candidate_slots(
        [_rule(h) for h in hours], [rules.DayOff(o.first_day, o.last_day) for o in off],
        config.timezone, start, start + timedelta(minutes=1))
    if not made:
        return None
    slot = FreeSlot(slot_id, clinician_id, made[0])
    free = await free_slots(session, config, since=start, until=start + timedelta(minutes=1),
                            clinician_id=clinician_id, now=now)
    return slot, "free" if free else "busy"
