"""Teleconsult requests (CONTRACT §9, docs/teleconsult.md): a clinician asks a specialist,
or a specialty, a question about a patient; the specialist accepts, declines or asks for
more; a live consult schedules a teleconsult visit (`telemed.services.visits`), an async one
is answered in writing.

Access: the requester needs the patient's record (`authorize_patient`). The addressee (the
named specialist, or while nobody has taken it, the members of the asked specialty) reads
the request itself, audited with the reason "Teleconsult request"; from acceptance until
the answer the specialist may consult the record (`access.active_consult`, `scope.consulting`),
audited as "teleconsult access" on the patient's access log.

The answer is a signed text (`TeleconsultAnswer`, hash of its canonical content), kept here
until the documents service writes the co-signed `teleconsult_report`: `report_source` gives
it what it needs, and `link_document` records the document's id on the request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Patient, User
from telemed.db.teleconsults import Teleconsult, TeleconsultAnswer, TeleconsultNote, UserSpecialty
from telemed.db.types import utcnow
from telemed.domain import teleconsults as rules
from telemed.domain.audit_reasons import ReasonCode, because
from telemed.errors import N_, ApiError, conflict, forbidden, invalid, not_found
from telemed.notify import outbox
from telemed.principal import Principal
from telemed.services import audit, free_text
from telemed.services.access import authorize_patient
from telemed.services.visits import VisitRecord, schedule_visit

# The caller's part in a request: who wrote it, who is asked (by name), a member of the
# asked specialty while nobody took it, or a clinician of the patient's record (reads only).
Part = Literal["requester", "specialist", "member", "team"]


@dataclass(frozen=True)
class ConsultView:
    """A request with what its pages and API show: the patient's name, people's names,
    its notes and its answer."""

    consult: Teleconsult
    patient: Patient
    names: dict[str, str]
    notes: tuple[TeleconsultNote, ...]
    answer: TeleconsultAnswer | None
    role: Part  # the caller's part in it


# Specialties ---------------------------------------------------------------------


async def specialties_of(session: AsyncSession, user_id: str) -> list[str]:
    rows = await session.exec(select(UserSpecialty.specialty)
                              .where(UserSpecialty.user_id == user_id))
    return sorted(rows.all())


async def set_specialties(session: AsyncSession, user_id: str, specialties: Sequence[str]
                          ) -> None:
    """Give a clinician its specialties (the demo and administrators' tools)."""
    unknown = [s for s in specialties if s not in rules.SPECIALTIES]
    if unknown:
        raise invalid({"specialty": f"Unknown specialty {unknown[0]!r}."})
    for specialty in specialties:
        if await session.get(UserSpecialty, (user_id, specialty)) is None:
            session.add(UserSpecialty(user_id=user_id, specialty=specialty))


async def specialists(session: AsyncSession, *, limit: int = 200
                      ) -> list[tuple[User, list[str]]]:
    """Active doctors with their specialties, by name (the request form's choices)."""
    users = (await session.exec(select(User).where(User.role == "doctor")
                                .where(col(User.active)).order_by(col(User.display_name))
                                .limit(limit))).all()
    rows = (await session.exec(select(UserSpecialty).where(
        col(UserSpecialty.user_id).in_([u.id for u in users])))).all() if users else []
    by_user: dict[str, list[str]] = {}
    for row in rows:
        by_user.setdefault(row.user_id, []).append(row.specialty)
    return [(u, sorted(by_user.get(u.id, []))) for u in users]


# Creating ------------------------------------------------------------------------


async def create_request(
    session: AsyncSession, who: Principal, *, patient_id: str, question: str, urgency: str,
    mode: str, specialist_id: str | None = None, specialty: str | None = None,
    include_patient: bool = False, request_id: str | None = None,
) -> Teleconsult:
    """A clinician with access to the patient asks a specialist or a specialty (a live
    consult may invite the patient to its visit: `include_patient`)."""
    if not who.is_clinician:
        raise forbidden("Only doctors and nurses ask for a teleconsult.")
    await authorize_patient(session, who, patient_id, action="create", resource="teleconsult",
                            request_id=request_id)
    await session.commit()
    errors: dict[str, str] = {}
    text = free_text.required(question, "question", max_length=rules.MAX_QUESTION,
                              multiline=True)
    if urgency not in rules.URGENCIES:
        errors["urgency"] = "Urgency must be routine or urgent."
    if mode not in rules.MODES:
        errors["mode"] = "Mode must be live or async."
    elif include_patient and mode != "live":
        errors["include_patient"] = N_("Only a live teleconsult can include the patient.")
    if (specialist_id is None) == (specialty is None):
        errors["specialist_id"] = "Name either a specialist or a specialty."
    elif specialist_id is not None:
        user = await session.get(User, specialist_id) if len(specialist_id) <= 32 else None
        if user is None or not user.active or user.role != "doctor":
            errors["specialist_id"] = "The specialist must be an active doctor."
        elif user.id == who.user_id:
            errors["specialist_id"] = "You cannot ask yourself."
    elif specialty not in rules.SPECIALTIES:
        errors["specialty"] = "Unknown specialty."
    elif (await session.exec(
            select(UserSpecialty.user_id).where(UserSpecialty.specialty == specialty)
            .where(UserSpecialty.user_id != who.user_id).limit(1))).first() is None:
        errors["specialty"] = "Nobody of that specialty can take the request."
    if errors:
        raise invalid(errors)
    consult = Teleconsult(patient_id=patient_id, requester_id=who.user_id,
                          specialist_id=specialist_id, specialty=specialty, question=text,
                          urgency=urgency, mode=mode, include_patient=include_patient)
    session.add(consult)
    await session.flush()
    audit.record(session, actor=who, action="create", resource="teleconsult",
                 patient_id=patient_id, resource_id=consult.id, request_id=request_id)
    await _notify(session, consult, "requested")
    await session.commit()
    return consult


# Notifications (docs/notifications.md): each move tells the other side ------------------

# The notification of each move (`outbox.teleconsult`'s event), told to the other side.
NOTIFIED: dict[str, str] = {"accept": "accepted", "decline": "declined",
                            "more_info": "more_info", "add_info": "add_info",
                            "cancel": "cancelled", "answer": "answered"}

# The audit reason of each move on a request.
ACTION_REASONS: dict[rules.Action, ReasonCode] = {
    "accept": "teleconsult_accept", "decline": "teleconsult_decline",
    "more_info": "teleconsult_more_info", "add_info": "teleconsult_add_info",
    "cancel": "teleconsult_cancel", "schedule": "teleconsult_schedule",
    "answer": "teleconsult_answer"}


async def _addressees(session: AsyncSession, consult: Teleconsult) -> list[str]:
    """The specialist, or while nobody took it, every member of the asked specialty."""
    if consult.specialist_id is not None:
        return [consult.specialist_id]
    rows = await session.exec(select(UserSpecialty.user_id)
                              .where(UserSpecialty.specialty == consult.specialty))
    return [u for u in rows.all() if u != consult.requester_id]


async def _notify(session: AsyncSession, consult: Teleconsult, event: str) -> None:
    """Record the notification of `event` in the transaction of the move: a new request
    or the requester's move to the addressees, the specialist's move to the requester."""
    patient = await session.get(Patient, consult.patient_id)
    if patient is None:
        return
    to_specialist = event in ("requested", "add_info", "cancelled")
    people = await _addressees(session, consult) if to_specialist else [consult.requester_id]
    await outbox.teleconsult(session, consult_id=consult.id, patient=patient, user_ids=people,
                             event=event, urgent=consult.urgency == "urgent")


# Reading -------------------------------------------------------------------------


async def load(session: AsyncSession, consult_id: str) -> Teleconsult:
    consult = await session.get(Teleconsult, consult_id) if len(consult_id) <= 32 else None
    if consult is None:
        raise not_found("Teleconsult")
    return consult


async def _in_specialty(session: AsyncSession, consult: Teleconsult, user_id: str) -> bool:
    if consult.specialty is None:
        return False
    return await session.get(UserSpecialty, (user_id, consult.specialty)) is not None


async def authorize_consult(
    session: AsyncSession, who: Principal, consult: Teleconsult, *,
    action: Literal["read", "create", "update"] = "read", request_id: str | None = None,
) -> Part:
    """The caller's part in the request, or 403 (audited either way). Clinicians of the
    patient's record may read a request (`team`); only its people act on it. For the
    patient's side a request does not exist (404, as its clinicians-only visit:
    `domain.visit_audience`)."""
    def denied() -> ApiError:
        audit.record(session, actor=who, action=action, resource="teleconsult",
                     patient_id=consult.patient_id, resource_id=consult.id,
                     outcome="denied", request_id=request_id)
        return forbidden("You have no access to this teleconsult.")

    if not who.is_clinician:
        denied()
        await session.commit()
        raise not_found("Teleconsult")
    if consult.requester_id == who.user_id:
        await authorize_patient(session, who, consult.patient_id, action=action,
                                resource="teleconsult", resource_id=consult.id,
                                request_id=request_id)
        return "requester"
    addressee = consult.specialist_id == who.user_id
    member = not addressee and await _in_specialty(session, consult, who.user_id)
    if rules.sees_request(consult.status, addressee, member, consult.specialist_id is not None):
        audit.record(session, actor=who, action=action, resource="teleconsult",
                     patient_id=consult.patient_id, resource_id=consult.id,
                     reason=because("teleconsult_request"), request_id=request_id)
        return "specialist" if addressee else "member"
    if action == "read":
        await authorize_patient(session, who, consult.patient_id, action="read",
                                resource="teleconsult", resource_id=consult.id,
                                request_id=request_id)
        return "team"
    error = denied()
    await session.commit()
    raise error


async def _view(session: AsyncSession, consult: Teleconsult, role: Part) -> ConsultView:
    patient = await session.get(Patient, consult.patient_id)
    assert patient is not None
    notes = (await session.exec(select(TeleconsultNote)
                                .where(TeleconsultNote.teleconsult_id == consult.id)
                                .order_by(col(TeleconsultNote.id)))).all()
    answer = await session.get(TeleconsultAnswer, consult.id)
    people = {consult.requester_id, *(n.author_id for n in notes)}
    if consult.specialist_id:
        people.add(consult.specialist_id)
    rows = (await session.exec(select(User.id, User.display_name)
                               .where(col(User.id).in_(sorted(people))))).all()
    return ConsultView(consult, patient, {uid: name for uid, name in rows}, tuple(notes),
                       answer, role)


async def get_request(session: AsyncSession, who: Principal, consult_id: str,
                      request_id: str | None = None) -> ConsultView:
    consult = await load(session, consult_id)
    role = await authorize_consult(session, who, consult, request_id=request_id)
    await session.commit()
    return await _view(session, consult, role)


async def inbox(session: AsyncSession, who: Principal, *, box: str = "inbox",
                limit: int = 100) -> list[tuple[Teleconsult, Patient]]:
    """Requests addressed to the caller (or, untaken, to its specialties), open first and
    urgent first; `box="sent"`: the caller's own requests, newest first."""
    if not who.is_clinician:
        raise forbidden("Only doctors and nurses have teleconsults.")
    query = select(Teleconsult, Patient).join(
        Patient, col(Patient.id) == col(Teleconsult.patient_id))
    if box == "sent":
        query = query.where(Teleconsult.requester_id == who.user_id).order_by(
            col(Teleconsult.created_at).desc())
    elif box == "inbox":
        mine = select(UserSpecialty.specialty).where(UserSpecialty.user_id == who.user_id)
        query = query.where(or_(
            col(Teleconsult.specialist_id) == who.user_id,
            col(Teleconsult.specialist_id).is_(None) & col(Teleconsult.specialty).in_(mine)
            & col(Teleconsult.status).in_(sorted(rules.OPEN)),
        )).where(col(Teleconsult.requester_id) != who.user_id).order_by(
            col(Teleconsult.closed_at).is_not(None), col(Teleconsult.urgency).desc(),
            col(Teleconsult.created_at))
    else:
        raise ApiError(400, "invalid_box", "box must be inbox or sent.")
    rows = (await session.exec(query.limit(limit))).all()
    return [(c, p) for c, p in rows]


# Moving --------------------------------------------------------------------------


async def act(
    session: AsyncSession, who: Principal, consult_id: str, action: rules.Action,
    text: str | None = None, *, request_id: str | None = None,
) -> ConsultView:
    """accept, decline, more_info (specialist), add_info, cancel (requester)."""
    consult = await load(session, consult_id)
    role = await authorize_consult(session, who, consult, action="update",
                                   request_id=request_id)
    note = free_text.optional(text, "text", max_length=rules.MAX_NOTE, multiline=True)
    if action in ("decline", "more_info", "add_info") and not note:
        await session.commit()
        raise invalid({"text": "Say why, or what is needed."})
    # A member of the asked specialty acts as its specialist (and takes the request).
    actor: rules.Actor = "requester" if role == "requester" else "specialist"
    status = rules.next_status(consult.status, action, actor, consult.mode)
    if status is None:
        await session.commit()
        raise conflict(f"This teleconsult cannot be {action.replace('_', ' ')}ed now "
                       f"(it is {consult.status}).", "teleconsult_state")
    now = utcnow()
    if role == "member":  # a specialty member takes the request: it becomes theirs
        consult.specialist_id = who.user_id
    consult.status = status
    consult.updated_at = now
    if status == "accepted":
        consult.accepted_at = now
    if status in ("declined", "cancelled"):
        consult.closed_at = now
    session.add(consult)
    session.add(TeleconsultNote(teleconsult_id=consult.id, author_id=who.user_id,
                                action=action, text=note or "", at=now))
    audit.record(session, actor=who, action="update", resource="teleconsult",
                 patient_id=consult.patient_id, resource_id=consult.id,
                 reason=because(ACTION_REASONS[action]), request_id=request_id)
    if action in NOTIFIED:
        await _notify(session, consult, NOTIFIED[action])
    await session.commit()
    return await _view(session, consult, "specialist" if role == "member" else role)


async def schedule(
    session: AsyncSession, who: Principal, consult_id: str, *, scheduled_start: datetime,
    duration_minutes: int, request_id: str | None = None,
) -> tuple[ConsultView, VisitRecord]:
    """A live consult: the specialist schedules the teleconsult visit with the requester;
    when the request includes the patient, the visit invites them (they join from the
    waiting room when the clinicians admit them), else the patient cannot join it."""
    consult = await load(session, consult_id)
    role = await authorize_consult(session, who, consult, action="update",
                                   request_id=request_id)
    if role != "specialist" or rules.next_status(consult.status, "schedule", "specialist",
                                                 consult.mode) is None:
        await session.commit()
        raise conflict("Only the specialist schedules an accepted live teleconsult.",
                       "teleconsult_state")
    await session.commit()
    record = await schedule_visit(
        session, who, kind="teleconsult", patient_id=consult.patient_id,
        participant_ids=[who.user_id, consult.requester_id], scheduled_start=scheduled_start,
        duration_minutes=duration_minutes, request_id=request_id,
        patient_invited=consult.include_patient)
    consult = await load(session, consult_id)
    consult.status = "scheduled"
    consult.visit_id = record.visit.id
    consult.updated_at = utcnow()
    session.add(consult)
    session.add(TeleconsultNote(teleconsult_id=consult.id, author_id=who.user_id,
                                action="schedule", text="", at=consult.updated_at))
    await session.commit()
    return await _view(session, consult, role), record


def answer_hash(*, teleconsult_id: str, author_id: str, signed_at: datetime, text: str) -> str:
    canonical = json.dumps({"author_id": author_id, "signed_at": signed_at.isoformat(),
                            "teleconsult_id": teleconsult_id, "text": text},
                           ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def answer_intact(answer: TeleconsultAnswer) -> bool:
    return answer.content_hash == answer_hash(
        teleconsult_id=answer.teleconsult_id, author_id=answer.author_id,
        signed_at=answer.signed_at, text=answer.text)


async def answer(session: AsyncSession, who: Principal, consult_id: str, text: str, *,
                 request_id: str | None = None) -> ConsultView:
    """The specialist signs the written answer; the consult (and its access) ends."""
    consult = await load(session, consult_id)
    role = await authorize_consult(session, who, consult, action="create",
                                   request_id=request_id)
    clean = free_text.required(text, "text", max_length=rules.MAX_ANSWER, multiline=True)
    if role != "specialist" or rules.next_status(consult.status, "answer", "specialist",
                                                 consult.mode) is None:
        await session.commit()
        raise conflict("Only the specialist answers an accepted teleconsult, once.",
                       "teleconsult_state")
    signed_at = utcnow().replace(microsecond=0)
    session.add(TeleconsultAnswer(
        teleconsult_id=consult.id, author_id=who.user_id, text=clean, signed_at=signed_at,
        content_hash=answer_hash(teleconsult_id=consult.id, author_id=who.user_id,
                                 signed_at=signed_at, text=clean)))
    consult.status = "answered"
    consult.updated_at = consult.closed_at = signed_at
    session.add(consult)
    audit.record(session, actor=who, action="create", resource="teleconsult",
                 patient_id=consult.patient_id, resource_id=consult.id,
                 reason=because(ACTION_REASONS["answer"]),
                 request_id=request_id)
    await _notify(session, consult, NOTIFIED["answer"])
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise conflict("This teleconsult is already answered.", "teleconsult_state") from None
    return await _view(session, consult, role)


# The documents hook ---------------------------------------------------------------


async def report_source(session: AsyncSession, consult_id: str
                        ) -> tuple[Teleconsult, TeleconsultAnswer] | None:
    """What a co-signed `teleconsult_report` is built from (the documents service): the
    request and its signed answer; None until answered. No access check: the caller
    (a service acting for a participant) authorizes."""
    consult = await session.get(Teleconsult, consult_id)
    found = await session.get(TeleconsultAnswer, consult_id)
    return (consult, found) if consult is not None and found is not None else None


async def link_document(session: AsyncSession, consult_id: str, document_id: str) -> None:
    """Record the `teleconsult_report` written for an answered request."""
    consult = await load(session, consult_id)
    consult.document_id = document_id
    session.add(consult)


async def consult_of_visit(session: AsyncSession, visit_id: str) -> Teleconsult | None:
    return (await session.exec(select(Teleconsult).where(Teleconsult.visit_id == visit_id)
                               .limit(1))).first()
