"""Clinical documents (CONTRACT §8, docs/documents.md): draft, edit, sign, replace, read.

Rules live in `telemed.domain.documents`; sealing, FHIR and PDF in `telemed.documents`.
Every read or change goes through `authorize_patient` (resource "document", audited).
Patients and their delegates see signed documents only; the care team also sees drafts;
administrators never see documents. Signing asks the signer's password again or a code of
their second factor (guessed no faster than at sign-in), seals the FHIR Bundle (JWS) and the
PDF (PAdES) with the organisation's seal, names the clinician in both and in the audit line,
notifies the patient, and queues the publication to the regional record when
``TELEMED_FSE_URL`` is set. A kind with two signers (the teleconsult report) is sealed only
at the co-signer's signature; until then it is ``partially_signed`` and stays with the team.
The consulted specialist, whose access to the record ended with the answer, reads, signs
and corrects the report of that teleconsult (audited as "teleconsult report").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import (
    Alert,
    CarePlan,
    Document,
    Observation,
    Patient,
    QuestionnaireResponse,
    User,
    Visit,
)
from telemed.db.teleconsults import Teleconsult
from telemed.db.types import utcnow
from telemed.documents import signing
from telemed.documents.fhir import (
    DocumentFacts,
    EncounterInfo,
    PatientInfo,
    PersonInfo,
    build_bundle,
)
from telemed.documents.pdf import render_document, render_index
from telemed.documents.report_words import monitoring_text
from telemed.documents.seal import Seal
from telemed.domain import documents as rules
from telemed.domain.audit_reasons import Reason, ReasonCode, because
from telemed.domain.careplans import TimedSchedule, parse_careplan_content
from telemed.domain.fiscal_code import fhir_gender
from telemed.domain.local_time import DEFAULT_ZONE, day_text, zone
from telemed.domain.questionnaires import Scored
from telemed.domain.schedule import measurement_windows, missed_windows
from telemed.domain.score_report import ScoreLine
from telemed.errors import N_, ApiError, conflict, forbidden, not_found
from telemed.i18n.labels import label
from telemed.identity.confirm import confirm_identity
from telemed.notify import outbox
from telemed.principal import Principal
from telemed.security import LoginGuard
from telemed.services import audit, scope
from telemed.services.access import authorize_patient, has_consent
from telemed.services.sign_in import too_many_attempts
from telemed.services.teleconsults import link_document
from telemed.services.users import LoginError, authenticate
from telemed.services.visit_reports import content_hash_of
from telemed.services.visits import (
    JOIN_OPENS_BEFORE,
    Span,
    authorize_visit,
    invitation_horizon,
    invited_page,
    load_visit,
)
from telemed.services.visits import MAX_DURATION as MAX_VISIT_MINUTES

REPORTABLE_VISITS = ("in_progress", "completed")
MONITORING_KINDS = ("monitoring_plan", "monitoring_report", "monitoring_final_report")
DEFAULT_REPORT_DAYS = 30
REPORTS_DUE_DAYS = 30  # how far back the agenda's "reports to write" looks
MAX_SERIES_POINTS = 240
LEGACY_NOTE = "signed before seals existed"


@dataclass(frozen=True)
class Signing:
    """What signing needs beyond the request: the seal, the service's name, publishing."""

    seal: Seal | None
    service_name: str
    publish: bool
    timezone: str = DEFAULT_ZONE  # the service's (Settings.timezone): the PDF's times


@dataclass(frozen=True)
class Confirmation:
    """The signer proves again who they are: their password, or a code of their second factor
    (TOTP). ``guard`` and ``address`` limit the guesses as at sign-in."""

    password: str | None = None
    code: str | None = None
    address: str = ""
    guard: LoginGuard | None = None


def _rule(exc: rules.DocumentRuleError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def visible_to(who: Principal, doc: Document) -> bool:
    """Patients (and delegates) see sealed documents only; drafts stay with the team."""
    return who.role != "patient" or doc.status in rules.SEALED


async def _authorize(session: AsyncSession, who: Principal, doc: Document, *,
                     action: Literal["read", "create", "update", "export"],
                     reason: Reason | None = None, request_id: str | None = None) -> None:
    """`authorize_patient` for the document; the consulted specialist, whose access to the
    record ended with the answer, still acts on the report of that teleconsult."""
    if doc.teleconsult_id is not None and who.is_clinician and who.user_id in (
            doc.author_id, doc.cosigner_id):
        consult = await session.get(Teleconsult, doc.teleconsult_id)
        if consult is not None and consult.patient_id == doc.patient_id \
                and consult.specialist_id == who.user_id \
                and await has_consent(session, doc.patient_id, who.user_id):
            audit.record(session, actor=who, action=action, resource="document",
                         patient_id=doc.patient_id, resource_id=doc.id,
                         reason=(reason.within("teleconsult_report_for") if reason
                                 else because("teleconsult_report")),
                         request_id=request_id)
            return
    await authorize_patient(session, who, doc.patient_id, action=action, resource="document",
                            resource_id=doc.id, reason=reason, request_id=request_id)


async def _load(session: AsyncSession, doc_id: str) -> Document:
    doc = await session.get(Document, doc_id)
    if doc is None:
        raise not_found("Document")
    return doc


async def get_document(session: AsyncSession, who: Principal, doc_id: str, *,
                       action: str = "read", request_id: str | None = None) -> Document:
    """A document the caller may read (404 for a patient's look at a draft)."""
    doc = await _load(session, doc_id)
    await _authorize(session, who, doc, action="read" if action == "read" else "export",
                     request_id=request_id)
    await session.commit()
    if not visible_to(who, doc):
        raise not_found("Document")
    return doc


async def list_documents(session: AsyncSession, who: Principal, patient_id: str, *,
                         limit: int = 50, request_id: str | None = None) -> list[Document]:
    """The patient's documents, newest first (signed ones only for the patient's side)."""
    await authorize_patient(session, who, patient_id, action="read", resource="document",
                            request_id=request_id)
    await session.commit()
    query = select(Document).where(Document.patient_id == patient_id)
    if who.role == "patient":
        query = query.where(col(Document.status).in_(rules.SEALED))
    rows = (await session.exec(query.order_by(col(Document.created_at).desc(),
                                              col(Document.id).desc()).limit(limit))).all()
    return list(rows)


async def document_for_visit(session: AsyncSession, who: Principal,
                             visit_id: str, request_id: str | None = None) -> Document | None:
    """The visit's televisit report in force (draft or signed), if any."""
    record = await load_visit(session, visit_id)
    await authorize_visit(session, who, record, action="read", resource="document",
                          request_id=request_id)
    await session.commit()
    doc = await _visit_report(session, visit_id)
    return doc if doc is not None and visible_to(who, doc) else None


async def _visit_report(session: AsyncSession, visit_id: str) -> Document | None:
    return (await session.exec(
        select(Document).where(Document.visit_id == visit_id,
                               Document.kind == "televisit_report",
                               col(Document.replaced_by_id).is_(None))
        .order_by(col(Document.created_at).desc()))).first()


@dataclass(frozen=True)
class VisitReportState:
    """A held visit and its televisit report in force (None: not started; else its draft or
    signed document)."""

    visit: Visit
    patient: Patient
    report: Document | None


def _held(now: datetime) -> Any:
    """SQL condition: the visit took place and is over (completed, or left in progress and
    past the longest visit's end)."""
    return (col(Visit.status) == "completed") | (
        (col(Visit.status) == "in_progress")
        & (col(Visit.scheduled_start) < now - timedelta(minutes=MAX_VISIT_MINUTES)))


def _held_before(now: datetime) -> datetime:
    """Held visits started before this: a visit is held once joined, and joining opens
    `JOIN_OPENS_BEFORE` its start (the days ahead of a clinician's visits are not read)."""
    return now + JOIN_OPENS_BEFORE


def _with_report() -> Any:
    """Held visits with their patient and their televisit report in force (outer join; a
    signed report's replacement still in draft is not in force yet: one row a visit)."""
    report = ((col(Document.visit_id) == col(Visit.id))
              & (col(Document.kind) == "televisit_report")
              & col(Document.replaced_by_id).is_(None)
              & (col(Document.replaces_id).is_(None) | (col(Document.status) != "draft")))
    return (select(Visit, Patient, Document)
            .join(Patient, col(Patient.id) == col(Visit.patient_id))
            .outerjoin(Document, report))


def _due(who: Principal, days: int, now: datetime) -> tuple[Any, Any]:
    """The held visits of the last `days` `who` took part in whose report is not signed,
    with their patient and report (`_with_report`), read from its participant rows in time
    order; and the condition that `who` sees the patient's record (else only the
    invitation opens the visit)."""
    team = scope.visible(col(Visit.patient_id), who)
    assert team is not None  # None only for administrators
    query = (_with_report()
             .where(team | (col(Visit.scheduled_start) >= invitation_horizon(now)))
             .where(_held(now))
             .where(col(Document.id).is_(None) | (col(Document.status) == "draft")))
    return query, team


async def reports_to_write(session: AsyncSession, who: Principal, *,
                           days: int = REPORTS_DUE_DAYS, limit: int = 50,
                           after: Sequence[Any] | None = None,
                           now: datetime | None = None,
                           request_id: str | None = None) -> list[VisitReportState]:
    """The visits of the last `days` the clinician took part in, held, whose televisit report
    is not signed (none, or a draft; one its author signed awaits a co-signer, not a writer),
    newest first, a page of `limit` after the key `after` (start, visit id): one query a
    window of the clinician's visits (`visits.invited_page`), one audit statement per
    reason (as `authorize_visit`: the care team's reads, the invited clinician's)."""
    if not who.is_clinician:
        raise forbidden(N_("Only doctors and nurses write visit reports."))
    now = now or utcnow()
    query, team = _due(who, days, now)
    span = Span(since=now - timedelta(days=days), until=_held_before(now), descending=True,
                after=None if after is None
                else (datetime.fromisoformat(str(after[0])), str(after[1])))
    rows = await invited_page(session, who.user_id, query.add_columns(team.label("team")),
                              span, limit)
    by_team = [(r[0].patient_id, r[0].id) for r in rows if r[3]]
    invited = [(r[0].patient_id, r[0].id) for r in rows if not r[3]]
    if by_team:
        await audit.record_reads(session, actor=who, resource="visit", reads=by_team,
                                 request_id=request_id)
    if invited:
        await audit.record_reads(session, actor=who, resource="visit", reads=invited,
                                 reason=because("visit_participant"), request_id=request_id)
    await session.commit()
    return [VisitReportState(visit, patient, doc) for visit, patient, doc, _ in rows]


async def reports_to_write_count(session: AsyncSession, who: Principal, *, cap: int,
                                 days: int = REPORTS_DUE_DAYS,
                                 now: datetime | None = None) -> int:
    """How many reports `who` has to write (`reports_to_write`), counted up to `cap` + 1
    (more than `cap`: the count stops there, so it costs no more than a page)."""
    if not who.is_clinician:
        raise forbidden(N_("Only doctors and nurses write visit reports."))
    now = now or utcnow()
    query, _ = _due(who, days, now)
    return len(await invited_page(session, who.user_id, query.with_only_columns(col(Visit.id)),
                                  Span(since=now - timedelta(days=days),
                                       until=_held_before(now), descending=True),
                                  cap + 1))


async def past_visit_reports(session: AsyncSession, who: Principal, patient_id: str, *,
                             limit: int = 5, now: datetime | None = None,
                             request_id: str | None = None) -> list[VisitReportState]:
    """The patient's last `limit` held visits with their report, newest first, for the care
    team (a patient reads signed reports among the documents)."""
    if not who.is_clinician:
        raise forbidden(N_("Only doctors and nurses write visit reports."))
    await authorize_patient(session, who, patient_id, action="read", resource="visit",
                            request_id=request_id)
    await session.commit()
    rows = (await session.exec(
        _with_report().where(col(Visit.patient_id) == patient_id)
        .where(_held(now or utcnow()))
        .order_by(col(Visit.scheduled_start).desc(), col(Visit.id).desc())
        .limit(limit))).all()
    return [VisitReportState(visit, patient, doc) for visit, patient, doc in rows]


async def _language(session: AsyncSession, patient_id: str, default: str) -> str:
    lang = (await session.exec(select(User.language).where(
        User.patient_id == patient_id, User.role == "patient"))).first()
    return lang if lang in ("it", "en") else default


patient_language = _language  # the patient's language (documents are written in it)


def _sections(spec: rules.KindSpec, given: dict[str, Any]) -> dict[str, str]:
    clean, errors = rules.clean_sections(spec, given)
    if errors:
        raise ApiError(422, "validation_error", "Some sections are not valid.", fields=errors)
    return clean


async def draft_visit_report(session: AsyncSession, who: Principal, visit_id: str,
                             sections: dict[str, Any], *, language: str = "it",
                             request_id: str | None = None) -> Document:
    """Start the televisit report (referto) of a held visit, as a draft of its author."""
    if not who.is_clinician:
        raise ApiError(403, "forbidden", "Only doctors and nurses write visit reports.")
    record = await load_visit(session, visit_id)
    await authorize_visit(session, who, record, action="create", resource="document",
                          request_id=request_id)
    await session.commit()
    spec = rules.kind_of("televisit_report")
    clean = _sections(spec, sections)
    if record.visit.status not in REPORTABLE_VISITS:
        raise conflict("A report can be written only for a visit that took place.",
                       "visit_not_held")
    if await _visit_report(session, visit_id) is not None:
        raise conflict("This visit has a report already: edit its draft or replace it.",
                       "report_exists")
    lang = await _language(session, record.visit.patient_id, language)
    doc = Document(patient_id=record.visit.patient_id, kind=spec.key,
                   title=spec.title(lang), author_id=who.user_id, visit_id=visit_id,
                   sections=clean, language=lang)
    session.add(doc)
    await session.commit()
    await session.refresh(doc)
    return doc


async def update_draft(session: AsyncSession, who: Principal, doc_id: str,
                       sections: dict[str, Any], title: str | None = None,
                       request_id: str | None = None) -> Document:
    """Change a draft's sections (only its author, only while a draft)."""
    doc = await _load(session, doc_id)
    await _authorize(session, who, doc, action="update", request_id=request_id)
    await session.commit()
    try:
        rules.check_editable(doc.status, doc.author_id, who.user_id)
    except rules.DocumentRuleError as exc:
        raise _rule(exc) from None
    spec = rules.kind_of(doc.kind)
    merged = {**doc.sections, **_sections(spec, sections)}
    for key, value in sections.items():  # an emptied section goes away
        if isinstance(value, str) and not value.strip():
            merged.pop(key, None)
    if title is not None:
        title = title.strip()
        if not title or len(title) > rules.MAX_TITLE_CHARS:
            raise ApiError(422, "validation_error", "Some fields are not valid.",
                           fields={"title": "Between 1 and 200 characters."})
        doc.title = title
    doc.sections = merged
    doc.updated_at = utcnow()
    session.add(doc)
    await session.commit()
    await session.refresh(doc)
    return doc


async def replace_document(session: AsyncSession, who: Principal, doc_id: str,
                           patient_id: str | None = None,
                           request_id: str | None = None) -> Document:
    """A draft that will replace a signed document (same patient, same kind) once signed."""
    old = await _load(session, doc_id)
    await _authorize(session, who, old, action="create", request_id=request_id)
    await session.commit()
    if not who.is_clinician:
        raise ApiError(403, "forbidden", "Only clinicians write documents.")
    try:
        rules.check_replaceable(old.status, old.patient_id, patient_id or old.patient_id,
                                old.kind, old.kind)
        cosigner = rules.replacement_signers(rules.kind_of(old.kind), old.author_id,
                                             old.cosigner_id, who.user_id)
    except rules.DocumentRuleError as exc:
        raise _rule(exc) from None
    pending = (await session.exec(select(Document.id).where(
        Document.replaces_id == old.id, Document.status == "draft"))).first()
    if pending is not None:
        raise conflict("A replacement of this document is already being written.",
                       "replacement_pending")
    doc = Document(patient_id=old.patient_id, kind=old.kind, title=old.title,
                   author_id=who.user_id, visit_id=old.visit_id, careplan_id=old.careplan_id,
                   period_start=old.period_start, period_end=old.period_end,
                   sections=dict(old.sections), figures=old.figures, language=old.language,
                   replaces_id=old.id, cosigner_id=cosigner, teleconsult_id=old.teleconsult_id)
    session.add(doc)
    await session.commit()
    await session.refresh(doc)
    return doc


# --- monitoring reports: drafted from the data --------------------------------------------


async def _figures(session: AsyncSession, plan: CarePlan, patient: Patient, start: datetime,
                   end: datetime) -> rules.MonitoringFigures:
    content = parse_careplan_content(plan.content)
    obs = (await session.exec(
        select(Observation.metric, Observation.value, Observation.unit, Observation.time)
        .where(Observation.patient_id == patient.id, col(Observation.time) >= start,
               col(Observation.time) < end)
        .order_by(col(Observation.time)))).all()
    by_metric: dict[str, tuple[str, list[float]]] = {}
    times: dict[str, list[datetime]] = {}
    points: dict[str, list[tuple[str, float]]] = {}
    for metric, value, unit, at in obs:
        by_metric.setdefault(metric, (unit, []))[1].append(value)
        times.setdefault(metric, []).append(at)
        points.setdefault(metric, []).append((at.isoformat(), value))
    expected = taken = 0
    for entry in content.monitoring:
        if not isinstance(entry.schedule, TimedSchedule):
            continue
        windows = [w for w in measurement_windows(entry.schedule.times,
                                                  entry.schedule.tolerance_minutes,
                                                  patient.timezone, start, end)
                   if w.start >= start and w.end <= end]
        missed = missed_windows(windows, times.get(entry.metric, []), end)
        expected += len(windows)
        taken += len(windows) - len(missed)
    alerts = (await session.exec(
        select(Alert).where(Alert.patient_id == patient.id, col(Alert.opened_at) >= start,
                            col(Alert.opened_at) < end))).all()
    lines = [rules.AlertLine(a.kind, a.metric, a.severity, a.opened_at, a.status,
                             a.acknowledged_at or a.resolved_at,
                             a.resolve_note or a.ack_note) for a in alerts]
    series = {m: _thin(p) for m, p in points.items()}
    answered = (await session.exec(
        select(QuestionnaireResponse).where(
            QuestionnaireResponse.patient_id == patient.id,
            col(QuestionnaireResponse.authored_at) >= start,
            col(QuestionnaireResponse.authored_at) < end))).all()
    scores = [ScoreLine(r.questionnaire, r.authored_at,
                        Scored(r.score, r.band or "", tuple(r.flags))) for r in answered]
    return rules.monitoring_figures(period_start=start, period_end=end, expected=expected,
                                    taken=taken, readings=by_metric, alerts=lines,
                                    series=series, scores=scores)


def _thin(points: list[tuple[str, float]]) -> list[tuple[str, float]]:
    step = max(1, -(-len(points) // MAX_SERIES_POINTS))
    return points[::step]


async def draft_monitoring_report(session: AsyncSession, who: Principal, plan_id: str,
                                  kind: str = "monitoring_report", *,
                                  now: datetime | None = None, language: str = "it",
                                  patient_id: str | None = None,
                                  request_id: str | None = None,
                                  timezone: str = DEFAULT_ZONE) -> Document:
    """A monitoring report (periodic, or final at completion) drafted from the plan's data,
    in the patient's language, its times in the service's ``timezone``."""
    if kind not in MONITORING_KINDS:
        raise ApiError(422, "unknown_document_kind", f"Unknown monitoring document {kind!r}.")
    plan = (await session.exec(select(CarePlan).where(
        CarePlan.plan_id == plan_id, col(CarePlan.is_current)))).first()
    if plan is None or (patient_id is not None and plan.patient_id != patient_id):
        raise not_found("Care plan")
    patient = await authorize_patient(session, who, plan.patient_id, action="create",
                                      resource="document", resource_id=plan_id,
                                      request_id=request_id)
    await session.commit()
    if not who.is_clinician:
        raise ApiError(403, "forbidden", "Only clinicians write documents.")
    end = (now or utcnow()).replace(microsecond=0)
    started = plan.activated_at or datetime.combine(plan.period_start, datetime.min.time(),
                                                    tzinfo=UTC)
    if kind == "monitoring_final_report":
        if plan.status != "completed":
            raise conflict("The final report is drafted when the plan is completed.",
                           "plan_not_completed")
        end = plan.completed_at or end
        start = started
    else:
        days = int(plan.content.get("report_every_days", DEFAULT_REPORT_DAYS) or
                   DEFAULT_REPORT_DAYS)
        start = max(started, end - timedelta(days=days))
    spec = rules.kind_of(kind)
    lang = await _language(session, patient.id, language)
    figures = await _figures(session, plan, patient, start, end)
    sections = monitoring_text(figures, lang, where=zone(timezone))
    doc = Document(patient_id=patient.id, kind=kind, title=spec.title(lang),
                   author_id=who.user_id, careplan_id=plan_id, period_start=start,
                   period_end=end, sections=sections, figures=figures.to_dict(),
                   language=lang)
    session.add(doc)
    await session.commit()
    await session.refresh(doc)
    return doc


# --- signing ------------------------------------------------------------------------------


async def _person(session: AsyncSession, user_id: str) -> PersonInfo:
    user = await session.get(User, user_id)
    return PersonInfo(user_id, user.display_name if user else user_id,
                      user.role if user else "doctor")


async def facts_of(session: AsyncSession, doc: Document, organisation: str, *,
                   signer_id: str | None = None, signed_at: datetime | None = None,
                   cosigned_at: datetime | None = None,
                   timezone: str = DEFAULT_ZONE) -> DocumentFacts:
    """What the document states, for its Bundle and PDF (``cosigned_at``: the co-signature
    being made; a co-signed document's stored one otherwise)."""
    patient = await session.get(Patient, doc.patient_id)
    if patient is None:
        raise not_found("Patient")
    encounter = None
    if doc.visit_id:
        visit = await session.get(Visit, doc.visit_id)
        if visit is not None:
            encounter = EncounterInfo(visit.id, visit.status,
                                      visit.started_at or visit.scheduled_start,
                                      visit.ended_at)
    period = ((doc.period_start, doc.period_end)
              if doc.period_start and doc.period_end else None)
    cosigned_at = cosigned_at or doc.cosigned_at
    return DocumentFacts(
        id=doc.id, spec=rules.kind_of(doc.kind), title=doc.title, language=doc.language,
        patient=PatientInfo(patient.id, patient.fiscal_code, patient.given_name,
                            patient.family_name, patient.birth_date,
                            fhir_gender(patient.sex)),
        author=await _person(session, doc.author_id),
        signer=await _person(session, signer_id or doc.signed_by or doc.author_id),
        organisation=organisation, sections=dict(doc.sections),
        signed_at=signed_at or doc.signed_at or doc.updated_at, encounter=encounter,
        period=period, figures=doc.figures, replaces=doc.replaces_id,
        timezone=timezone,
        cosigner=(await _person(session, doc.cosigner_id)
                  if doc.cosigner_id and cosigned_at else None),
        cosigned_at=cosigned_at)


async def signs_with_code(session: AsyncSession, user_id: str) -> bool:
    """Whether the user may confirm a signature with a second-factor (TOTP) code."""
    user = await session.get(User, user_id)
    return user is not None and user.totp_secret is not None


def _refused(session: AsyncSession, who: Principal, doc: Document, why: ReasonCode,
             request_id: str | None) -> None:
    audit.record(session, actor=who, action="update", resource="document",
                 patient_id=doc.patient_id, resource_id=doc.id, outcome="denied",
                 reason=because(why), request_id=request_id)


async def _confirm(session: AsyncSession, who: Principal, doc: Document, proof: Confirmation,
                   request_id: str | None) -> None:
    """The signer's password or second-factor code, limited as at sign-in; a wrong one is
    audited and signs nothing."""
    if not proof.password and not proof.code:
        raise ApiError(422, "confirmation_missing", N_(
            "Signing needs your password or a code from your authenticator app."))
    key = f"second-factor:{who.username}" if proof.code else who.username
    wait = proof.guard.reserve(proof.address, key) if proof.guard else 0.0
    if wait > 0:
        _refused(session, who, doc, "signature_too_many_attempts", request_id)
        await session.commit()
        raise too_many_attempts(wait)
    try:
        if proof.code:
            confirmed = await confirm_identity(session, who.user_id, code=proof.code)
            error = ApiError(403, "code_wrong", N_(
                "Signing needs a code of your second factor: the one given is wrong, expired "
                "or already used."))
        else:
            error = ApiError(403, "password_wrong", N_(
                "Signing needs your password: the one given is wrong."))
            try:
                await authenticate(session, who.username, proof.password or "")
                confirmed = True
            except LoginError as exc:
                if exc.retry_after:  # the account is backing off: not evaluated
                    if proof.guard:
                        proof.guard.release(proof.address, key)
                    raise too_many_attempts(exc.retry_after) from None
                confirmed = False
    except ApiError:
        raise
    except BaseException:
        if proof.guard:  # the database failed us, not the signer
            proof.guard.release(proof.address, key)
        raise
    if not confirmed:
        _refused(session, who, doc, "signature_wrong_code" if proof.code
                 else "signature_wrong_password", request_id)
        await session.commit()
        raise error
    if proof.guard:
        proof.guard.succeeded(proof.address, key)


async def sign_document(session: AsyncSession, who: Principal, doc_id: str,
                        proof: Confirmation, signing_with: Signing, *,
                        request_id: str | None = None) -> Document:
    """Sign a document: its author signs the draft; a kind with two signers then waits for
    its co-signer, whose signature seals it. Once sealed it never changes."""
    doc = await _load(session, doc_id)
    await _authorize(session, who, doc, action="update", reason=because("document_sign"),
                     request_id=request_id)
    await session.commit()
    spec = rules.kind_of(doc.kind)
    try:
        after = rules.check_signable(doc.status, doc.author_id, who.user_id, spec,
                                     doc.sections, cosigner_id=doc.cosigner_id)
        if doc.status == "draft" and spec.signers > 1:
            cosigner = await session.get(User, doc.cosigner_id) if doc.cosigner_id else None
            rules.check_cosigner(spec, doc.author_id, doc.cosigner_id,
                                 cosigner.role if cosigner else None,
                                 bool(cosigner and cosigner.active))
    except rules.DocumentRuleError as exc:
        raise _rule(exc) from None
    seal = signing_with.seal
    if seal is None:
        raise ApiError(503, "seal_not_configured",
                       "Documents cannot be signed: the organisation's seal is not set up.")
    await _confirm(session, who, doc, proof, request_id)
    replaced: Document | None = None
    if doc.replaces_id:
        replaced = await _load(session, doc.replaces_id)
        try:
            rules.check_replaceable(replaced.status, replaced.patient_id, doc.patient_id,
                                    replaced.kind, doc.kind)
        except rules.DocumentRuleError as exc:
            raise _rule(exc) from None
    now = utcnow().replace(microsecond=0)
    if after == "partially_signed":
        return await _first_signature(session, who, doc, now, request_id)
    cosigning = doc.status == "partially_signed"
    if cosigning:
        facts = await facts_of(session, doc, signing_with.service_name, cosigned_at=now,
                               timezone=signing_with.timezone)
    else:
        facts = await facts_of(session, doc, signing_with.service_name, signer_id=who.user_id,
                               signed_at=now, timezone=signing_with.timezone)
    names = ", ".join(person.name for person in facts.signers)
    bundle = signing.seal_bundle(seal, build_bundle(facts), signer_name=names,
                                 who_reference=who.user_id, when=now)
    pdf = await asyncio.to_thread(_sealed_pdf, seal, facts, names)
    sealed: dict[str, Any] = {
        "status": "signed", "bundle": json.dumps(bundle, ensure_ascii=False), "pdf": pdf,
        "content_hash": rules.content_digest({k: v for k, v in bundle.items()
                                              if k != "signature"}),
        "updated_at": now, "publication": "pending" if signing_with.publish else None,
        "publish_next_at": now if signing_with.publish else None}
    sealed.update({"cosigned_at": now} if cosigning else {"signed_at": now,
                                                           "signed_by": who.user_id})
    won = await session.exec(
        update(Document).where(col(Document.id) == doc.id,
                               col(Document.status) == doc.status).values(**sealed))
    if won.rowcount != 1:
        await session.rollback()
        raise conflict("This document is already signed.", "already_signed")
    if replaced is not None:
        moved = await session.exec(
            update(Document).where(col(Document.id) == replaced.id,
                                   col(Document.status) == "signed")
            .values(status="replaced", replaced_by_id=doc.id, updated_at=now))
        if moved.rowcount != 1:
            await session.rollback()
            raise conflict("The document to replace was replaced meanwhile.",
                           "replacement_not_signed")
        if doc.teleconsult_id:  # the teleconsult's report in force is the correction
            await link_document(session, doc.teleconsult_id, doc.id)
    if doc.visit_id:  # signing the referto completes a visit still marked in progress
        visit = await session.get(Visit, doc.visit_id)
        if visit is not None and visit.status == "in_progress":
            visit.status, visit.ended_at = "completed", now
            session.add(visit)
    audit.record(session, actor=who, action="update", resource="document",
                 patient_id=doc.patient_id, resource_id=doc.id,
                 reason=because("document_cosigned" if cosigning else "document_signed",
                                user=who.username),
                 request_id=request_id)
    await outbox.document_available(session, doc.patient_id, doc.id, f"/documents/{doc.id}",
                                    cause_type="document")
    await session.commit()
    await session.refresh(doc)
    return doc


async def _first_signature(session: AsyncSession, who: Principal, doc: Document,
                           now: datetime, request_id: str | None) -> Document:
    """The author signs a document that needs a co-signer: it stops changing and waits."""
    won = await session.exec(
        update(Document).where(col(Document.id) == doc.id, col(Document.status) == "draft")
        .values(status="partially_signed", signed_at=now, signed_by=who.user_id,
                updated_at=now))
    if won.rowcount != 1:
        await session.rollback()
        raise conflict("This document is already signed.", "already_signed")
    audit.record(session, actor=who, action="update", resource="document",
                 patient_id=doc.patient_id, resource_id=doc.id,
                 reason=because("document_signed_awaiting", user=who.username),
                 request_id=request_id)
    await outbox.document_cosign(session, doc)
    await session.commit()
    await session.refresh(doc)
    return doc


def _sealed_pdf(seal: Seal, facts: DocumentFacts, names: str) -> bytes:
    pdf = render_document(facts, status="signed")
    return signing.seal_pdf(seal, pdf, signer_name=names,
                            reason=signing.seal_reason(facts.spec, facts.language, names))


async def document_pdf(session: AsyncSession, doc: Document, organisation: str,
                       timezone: str = DEFAULT_ZONE) -> bytes:
    """The stored sealed PDF, or (a draft, a migrated report) a rendering of it."""
    if doc.pdf is not None:
        return doc.pdf
    facts = await facts_of(session, doc, organisation, timezone=timezone)
    return await asyncio.to_thread(render_document, facts, status=doc.status,
                                   legacy_hash=doc.legacy_hash)


# --- verification -------------------------------------------------------------------------


def legacy_intact(doc: Document, visit_report_text: str | None) -> bool:
    """A migrated report: its text still matches the old unkeyed SHA-256."""
    if doc.legacy_hash is None or doc.signed_at is None or doc.visit_id is None:
        return False
    text = visit_report_text if visit_report_text is not None else \
        doc.sections.get("findings", "")
    return doc.legacy_hash == content_hash_of(visit_id=doc.visit_id, author_id=doc.author_id,
                                              signed_at=doc.signed_at, text=text)


async def verify_stored(session: AsyncSession, who: Principal, doc_id: str,
                        seal: Seal | None, request_id: str | None = None) -> dict[str, Any]:
    """Whether the stored PDF and Bundle of a document are intact, and who signed them."""
    doc = await get_document(session, who, doc_id, request_id=request_id)
    anchors = seal.anchors if seal else ()
    if doc.legacy_hash is not None:
        intact = legacy_intact(doc, None)
        return {"id": doc.id, "ok": False, "legacy": True, "note": LEGACY_NOTE,
                "legacy_hash": doc.legacy_hash, "legacy_intact": intact}
    if doc.status == "draft" or doc.pdf is None or doc.bundle is None:
        raise conflict("A draft is not signed yet.", "document_not_signed")
    pdf = await asyncio.to_thread(signing.verify_pdf, doc.pdf, anchors)
    bundle = signing.verify_bundle(doc.bundle.encode(), anchors)
    return {"id": doc.id, "ok": pdf.ok and bundle.ok, "legacy": False,
            "pdf": pdf.to_dict(), "bundle": bundle.to_dict()}


async def index_pdf(session: AsyncSession, who: Principal, patient_id: str,
                    organisation: str, language: str,
                    request_id: str | None = None, timezone: str = DEFAULT_ZONE) -> bytes:
    """The index of the patient's documents as a PDF (in the patient's language)."""
    docs = await list_documents(session, who, patient_id, limit=500, request_id=request_id)
    patient = await session.get(Patient, patient_id)
    assert patient is not None  # authorize_patient found it
    lang = await _language(session, patient_id, language)
    rows = [(day_text(d.signed_at or d.created_at, zone(timezone), lang),
             rules.kind_of(d.kind).title(lang), d.title,
             label(lang, "document_status", d.status)) for d in docs]
    return await asyncio.to_thread(
        render_index, organisation=organisation,
        patient_name=f"{patient.family_name} {patient.given_name}",
        fiscal_code=patient.fiscal_code, lang=lang, rows=rows, generated_at=utcnow(),
        timezone=timezone)


# --- for the FHIR API (DocumentReference, Bundle): signed documents only ---------------------

SIGNED_AT = col(Document.signed_at)
# (every one is signed: the last condition says so to the planner, which then walks the
# signed documents' index, ix_documents_signed, in the search's order)
PUBLISHED = (col(Document.status).in_(("signed", "replaced")), col(Document.bundle).is_not(None),
             SIGNED_AT.is_not(None))
PATIENT_COLUMN = col(Document.patient_id)
NEWEST_FIRST = (col(Document.signed_at), col(Document.id))


def of_kinds(kinds: list[str]) -> Any:
    """The condition "one of these kinds"."""
    return col(Document.kind).in_(kinds)


async def published(session: AsyncSession, doc_id: str) -> Document | None:
    """A signed (or replaced) document; drafts do not exist outside the platform."""
    doc = await session.get(Document, doc_id)
    return None if doc is None or doc.bundle is None or doc.status == "draft" else doc


def document_out(doc: Document, names: dict[str, str] | None = None) -> dict[str, Any]:
    """The public shape (CONTRACT §8)."""
    names = names or {}
    out: dict[str, Any] = {
        "id": doc.id, "kind": doc.kind, "title": doc.title, "status": doc.status,
        "patient_id": doc.patient_id, "language": doc.language,
        "author_id": doc.author_id, "author": names.get(doc.author_id),
        "created_at": doc.created_at.isoformat(),
        "signed_at": doc.signed_at.isoformat() if doc.signed_at else None,
        "signed_by": doc.signed_by, "signed_by_name": names.get(doc.signed_by or ""),
        "cosigner_id": doc.cosigner_id, "cosigner": names.get(doc.cosigner_id or ""),
        "cosigned_at": doc.cosigned_at.isoformat() if doc.cosigned_at else None,
        "teleconsult_id": doc.teleconsult_id,
        "replaces": doc.replaces_id, "replaced_by": doc.replaced_by_id,
        "visit_id": doc.visit_id, "careplan_id": doc.careplan_id,
        "sections": [{"key": s.key, "title": s.title(doc.language),
                      "text": doc.sections.get(s.key, ""),
                      "paragraphs": rules.paragraphs(doc.sections.get(s.key, "")),
                      "required": s.required}
                     for s in rules.kind_of(doc.kind).sections],
        "figures": doc.figures,
        "sealed": doc.bundle is not None,
        "publication": doc.publication,
    }
    if doc.legacy_hash is not None:
        out["legacy"] = {"note": LEGACY_NOTE, "sha256": doc.legacy_hash}
    return out
