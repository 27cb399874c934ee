"""Visit reports: written after the visit, signed by their author, immutable once signed.

Signing records the author, the time and a SHA-256 hash of the canonical content
(`visit_id`, `author_id`, `signed_at`, `text` as sorted JSON), so any later change to the
stored row is detectable with `content_hash_of`. There is no update or delete: a second
report for the same visit is refused with 409.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Visit, VisitReport
from telemed.db.types import utcnow
from telemed.errors import N_, conflict, forbidden, invalid
from telemed.notify import outbox
from telemed.principal import Principal
from telemed.services import free_text
from telemed.services.access import authorize_patient
from telemed.services.visits import authorize_visit, load_visit

MAX_REPORT = 20_000
REPORTABLE = ("in_progress", "completed")


def content_hash_of(*, visit_id: str, author_id: str, signed_at: datetime, text: str) -> str:
    """SHA-256 (hex) of the canonical signed content."""
    canonical = json.dumps(
        {"author_id": author_id, "signed_at": signed_at.isoformat(), "text": text,
         "visit_id": visit_id},
        ensure_ascii=False, separators=(",", ":"), sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def is_intact(report: VisitReport) -> bool:
    """True when the stored report still matches its recorded hash."""
    return report.content_hash == content_hash_of(
        visit_id=report.visit_id, author_id=report.author_id, signed_at=report.signed_at,
        text=report.text,
    )


async def sign_report(
    session: AsyncSession,
    who: Principal,
    visit_id: str,
    text: str,
    *,
    now: datetime | None = None,
    request_id: str | None = None,
) -> VisitReport:
    """Write and sign the report of a held visit (this also completes it)."""
    if not who.is_clinician:
        raise forbidden("Only doctors and nurses write visit reports.")
    record = await load_visit(session, visit_id)
    await authorize_visit(session, who, record, action="create", resource="visit_report",
                          request_id=request_id)
    await session.commit()
    clean = free_text.optional(text, "text", max_length=MAX_REPORT, multiline=True) or ""
    if not clean or len(clean) > MAX_REPORT:
        raise invalid({"text": N_("Write the report (at most 20000 characters).")})
    visit = record.visit
    if visit.status not in REPORTABLE:
        raise conflict("A report can be written only for a visit that took place.",
                       "visit_not_held")
    if await session.get(VisitReport, visit_id) is not None:
        raise conflict("The report of this visit is already signed and cannot change.",
                       "report_signed")
    signed_at = (now or utcnow()).replace(microsecond=0)
    report = VisitReport(
        visit_id=visit_id, author_id=who.user_id, text=clean, signed_at=signed_at,
        content_hash=content_hash_of(visit_id=visit_id, author_id=who.user_id,
                                     signed_at=signed_at, text=clean),
    )
    session.add(report)
    if visit.status != "completed":
        visit.status = "completed"
        visit.ended_at = signed_at
        session.add(visit)
    await outbox.document_available(session, visit.patient_id, visit_id, "/my-record")
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise conflict("The report of this visit is already signed and cannot change.",
                       "report_signed") from None
    return report


async def get_report(
    session: AsyncSession, who: Principal, visit_id: str, request_id: str | None = None
) -> VisitReport | None:
    """The signed report of a visit the caller may see (None when not written yet)."""
    record = await load_visit(session, visit_id)
    await authorize_visit(session, who, record, action="read", resource="visit_report",
                          request_id=request_id)
    await session.commit()
    return await session.get(VisitReport, visit_id)


async def reports_for_patient(
    session: AsyncSession, who: Principal, patient_id: str, *, limit: int = 50,
    request_id: str | None = None,
) -> list[tuple[Visit, VisitReport]]:
    """The patient's signed visit reports, newest first."""
    await authorize_patient(session, who, patient_id, action="read", resource="visit_report",
                            request_id=request_id)
    await session.commit()
    rows = (await session.exec(
        select(Visit, VisitReport)
        .join(VisitReport, col(VisitReport.visit_id) == col(Visit.id))
        .where(Visit.patient_id == patient_id)
        .order_by(col(VisitReport.signed_at).desc())
        .limit(limit)
    )).all()
    return [(visit, report) for visit, report in rows]
