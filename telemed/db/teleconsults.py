"""Table models of teleconsults and attachments (CONTRACT §9, docs/teleconsult.md).

Kept apart from `telemed.db.models` (the same metadata): a teleconsult request, its notes
(accept, decline, more information asked and given), its signed written answer, the
specialties of clinicians, and the attachments of a request or a visit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from telemed.db.types import UTCDateTime, new_id, utcnow


class Teleconsult(SQLModel, table=True):
    """A GP's question to a specialist (or to a specialty) about a patient."""

    __tablename__ = "teleconsults"
    __table_args__ = (
        Index("ix_teleconsults_specialist_status", "specialist_id", "status"),
        Index("ix_teleconsults_specialty_status", "specialty", "status"),
        Index("ix_teleconsults_requester", "requester_id", "created_at"),
        Index("ix_teleconsults_patient", "patient_id", "status"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    patient_id: str = Field(foreign_key="patients.id", max_length=32)
    requester_id: str = Field(foreign_key="users.id", max_length=32)
    specialist_id: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    specialty: str | None = Field(default=None, max_length=32)
    question: str
    urgency: str = Field(max_length=16)
    mode: str = Field(max_length=16)
    # A live consult whose visit invites the patient too (the requester's choice).
    include_patient: bool = False
    status: str = Field(default="requested", max_length=16)
    visit_id: str | None = Field(default=None, foreign_key="visits.id", max_length=32)
    # The co-signed `teleconsult_report` document, once the documents service writes one.
    document_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TeleconsultNote(SQLModel, table=True):
    """A step of a request's conversation: accepted, declined (why), more information asked
    or given, cancelled."""

    __tablename__ = "teleconsult_notes"

    id: int | None = Field(default=None, primary_key=True)
    teleconsult_id: str = Field(foreign_key="teleconsults.id", index=True, max_length=32)
    author_id: str = Field(foreign_key="users.id", max_length=32)
    action: str = Field(max_length=16)
    text: str = Field(default="")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TeleconsultAnswer(SQLModel, table=True):
    """The specialist's written answer, signed (hash of the canonical content); immutable."""

    __tablename__ = "teleconsult_answers"

    teleconsult_id: str = Field(foreign_key="teleconsults.id", primary_key=True, max_length=32)
    author_id: str = Field(foreign_key="users.id", max_length=32)
    text: str
    content_hash: str = Field(max_length=64)
    signed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UserSpecialty(SQLModel, table=True):
    """A clinician's specialty (a request may be addressed to a specialty)."""

    __tablename__ = "user_specialties"

    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=32)
    specialty: str = Field(primary_key=True, max_length=32, index=True)


class Attachment(SQLModel, table=True):
    """A file (PDF, JPEG, PNG: stored here; DICOM: stored in the PACS) or a PACS study
    attached to a teleconsult request or a visit."""

    __tablename__ = "attachments"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    patient_id: str = Field(foreign_key="patients.id", index=True, max_length=32)
    teleconsult_id: str | None = Field(default=None, foreign_key="teleconsults.id",
                                       index=True, max_length=32)
    visit_id: str | None = Field(default=None, foreign_key="visits.id", index=True,
                                 max_length=32)
    kind: str = Field(max_length=8)  # file | study
    media_type: str | None = Field(default=None, max_length=32)
    filename: str | None = Field(default=None, max_length=200)
    size: int | None = None
    sha256: str | None = Field(default=None, max_length=64)
    data: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    study_uid: str | None = Field(default=None, max_length=64)
    # The PatientID the DICOM file carried when the clinician confirmed a reconciliation.
    reconciled_from: str | None = Field(default=None, max_length=64)
    created_by: str = Field(foreign_key="users.id", max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
