"""Table models (sqlmodel). Public API shapes live in the api package, not here."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from telemed.db.types import UTCDateTime, new_id, utcnow


class User(SQLModel, table=True):
    """A person who logs in: admin, doctor, nurse or patient."""

    __tablename__ = "users"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    username: str = Field(unique=True, index=True, max_length=64)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16, index=True)
    display_name: str = Field(max_length=128)
    patient_id: str | None = Field(default=None, foreign_key="patients.id", max_length=32)
    active: bool = True
    language: str | None = Field(default=None, max_length=8)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=16)  # E.164 (telemed.domain.phone)
    # Per-kind notification choices {"kind": bool} (telemed.notify.kinds has the rules).
    notify_prefs: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The kinds whose email waits for the daily digest (a list; telemed.domain.digest), and
    # the local time of that digest ("HH:MM"; None: the default 07:30).
    digest_kinds: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    digest_time: str | None = Field(default=None, max_length=5)
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sessions_valid_after: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Identity (telemed/identity): the fiscal code of a staff or delegate account (a portal
    # account is matched through its patient; one account per code, unique index, NULLs
    # allowed), the TOTP secret and its last accepted step.
    fiscal_code: str | None = Field(default=None, unique=True, index=True, max_length=16)
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_last_step: int | None = None


class Patient(SQLModel, table=True):
    """A patient's demographics."""

    __tablename__ = "patients"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    fiscal_code: str = Field(unique=True, index=True, max_length=16)
    given_name: str = Field(max_length=100)
    family_name: str = Field(max_length=100, index=True)
    birth_date: date
    sex: str = Field(max_length=1)
    phone: str | None = Field(default=None, max_length=32)
    timezone: str = Field(default="Europe/Rome", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    # Lists page in this order (keyset pagination served by the index).
    __table_args__ = (Index("ix_patients_name_order", "family_name", "given_name", "id"),)


class PatientSearchTerm(SQLModel, table=True):
    """A folded word a patient is found by (`telemed.domain.search_terms`), kept by the
    patients service; prefix search is a range on the term index."""

    __tablename__ = "patient_search_terms"
    __table_args__ = (Index("ix_patient_search_terms_term", "term", "patient_id"),)

    patient_id: str = Field(foreign_key="patients.id", primary_key=True, max_length=32)
    term: str = Field(primary_key=True, max_length=32)


class CareTeamMember(SQLModel, table=True):
    """A clinician on a patient's care team (gives access to the record)."""

    __tablename__ = "care_team_members"

    patient_id: str = Field(foreign_key="patients.id", primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=32, index=True)
    responsible: bool = False
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CarePlan(SQLModel, table=True):
    """One version of a care plan (PAI). `plan_id` is stable across versions."""

    __tablename__ = "careplans"
    __table_args__ = (UniqueConstraint("plan_id", "version", name="uq_careplan_version"),
                      Index("ix_careplans_patient_current", "patient_id", "is_current",
                            "status"),
                      # the FHIR search's order among current versions (latest period first)
                      Index("ix_careplans_current_period", "is_current", "period_start",
                            "plan_id"))

    row_id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    plan_id: str = Field(index=True, max_length=32)
    version: int
    patient_id: str = Field(foreign_key="patients.id", index=True, max_length=32)
    status: str = Field(max_length=16)
    title: str = Field(max_length=200)
    period_start: date
    period_end: date | None = None
    content: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    is_current: bool = Field(default=True, index=True)
    created_by: str = Field(foreign_key="users.id", max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    activated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    superseded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Device(SQLModel, table=True):
    """A patient's home device and its broker identity."""

    __tablename__ = "devices"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    serial: str = Field(unique=True, index=True, max_length=64)
    kind: str = Field(max_length=32)
    patient_id: str | None = Field(
        default=None, foreign_key="patients.id", index=True, max_length=32
    )
    status: str = Field(default="offline", max_length=16)
    secret_hash: str = Field(default="", max_length=255)
    last_seen: datetime | None = Field(default=None, sa_type=UTCDateTime)
    battery: float | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DeviceAssignment(SQLModel, table=True):
    """Who had a device when: the half-open interval ``[valid_from, valid_until)``.

    A reading belongs to the patient whose interval holds its time
    (`telemed.domain.assignments`). A device's intervals never overlap; at most one is open
    (``valid_until`` NULL), and it is the device's current patient.
    """

    __tablename__ = "device_assignments"
    __table_args__ = (
        Index("ix_device_assignments_device_from", "device_id", "valid_from"),
        Index("uq_device_assignments_open", "device_id", unique=True,
              sqlite_where=text("valid_until IS NULL"),
              postgresql_where=text("valid_until IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(foreign_key="devices.id", max_length=32)
    patient_id: str = Field(foreign_key="patients.id", index=True, max_length=32)
    valid_from: datetime = Field(sa_type=UTCDateTime)
    valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    assigned_by: str | None = Field(default=None, max_length=32)
    ended_by: str | None = Field(default=None, max_length=32)


class Observation(SQLModel, table=True):
    """A stored reading in its canonical unit; unique on (device, metric, time)."""

    __tablename__ = "observations"
    __table_args__ = (
        # The reading's key (device, metric, time), led by the time so that readings arriving
        # now append to the index instead of touching a page per device (migration 0028).
        UniqueConstraint("time", "device_id", "metric", name="uq_observation_reading"),
        # Covers the charts' aggregates: count, min, max, sum of a period (migration 0023).
        Index("ix_observations_patient_metric_time_value", "patient_id", "metric", "time",
              "value"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: str = Field(foreign_key="patients.id", max_length=32)
    device_id: str = Field(foreign_key="devices.id", max_length=32)
    metric: str = Field(max_length=32)
    value: float
    unit: str = Field(max_length=16)
    time: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    late: bool = False
    # The person who typed a manual reading in (patient, delegate, clinician); None: a device.
    entered_by: str | None = Field(default=None, max_length=32)


class QuestionnaireResponse(SQLModel, table=True):
    """Answers to one of the platform's questionnaires, scored (`domain.questionnaires`)."""

    __tablename__ = "questionnaire_responses"
    __table_args__ = (Index("ix_questionnaire_responses_patient_at", "patient_id",
                            "authored_at"),
                      # the FHIR search's order (newest first)
                      Index("ix_questionnaire_responses_authored", "authored_at", "id"))

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    patient_id: str = Field(foreign_key="patients.id", max_length=32)
    questionnaire: str = Field(max_length=32)
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    score: int
    band: str | None = Field(default=None, max_length=32)
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    entered_by: str = Field(foreign_key="users.id", max_length=32)
    authored_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Alert(SQLModel, table=True):
    """An alert raised by a care-plan rule; one open per (patient, rule_key)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index(
            "uq_alerts_open_rule",
            "patient_id",
            "rule_key",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
        Index("ix_alerts_status_severity", "status", "severity"),
        Index("ix_alerts_status_severity_opened", "status", "severity", "opened_at"),
        Index("ix_alerts_opened_patient", "opened_at", "patient_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    patient_id: str = Field(foreign_key="patients.id", index=True, max_length=32)
    rule_key: str = Field(max_length=128)
    kind: str = Field(max_length=32)
    metric: str | None = Field(default=None, max_length=32)
    severity: str = Field(max_length=16)
    status: str = Field(default="open", max_length=16)
    recovered: bool = False
    value: float | None = None
    detail: str = Field(default="", max_length=500)
    # The same fact as data (telemed.domain.alert_detail); None on rows from before 0004.
    detail_code: str | None = Field(default=None, max_length=32)
    detail_args: dict[str, Any] | None = Field(default=None,
                                               sa_column=Column(JSON, nullable=True))
    careplan_id: str | None = Field(default=None, max_length=32)
    careplan_version: int | None = None
    escalated: bool = False
    # Escalation chain step reached (telemed.notify.escalation) and when it was last taken.
    escalation_step: int = 0
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=32)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ack_note: str | None = Field(default=None, max_length=1000)
    resolved_by: str | None = Field(default=None, max_length=32)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolve_note: str | None = Field(default=None, max_length=1000)
    snoozed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    seq: int = Field(default=0, index=True)
    # When the condition first cleared (the alarm burden's "recovered before anyone looked").
    recovered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RuleState(SQLModel, table=True):
    """Per-patient rule evaluation state (consecutive counts, last classification)."""

    __tablename__ = "rule_states"

    patient_id: str = Field(foreign_key="patients.id", primary_key=True, max_length=32)
    rule_key: str = Field(primary_key=True, max_length=128)
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Visit(SQLModel, table=True):
    """A televisit, teleconsult or teleassistance session."""

    __tablename__ = "visits"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    kind: str = Field(max_length=16)
    patient_id: str = Field(foreign_key="patients.id", index=True, max_length=32)
    scheduled_start: datetime = Field(sa_type=UTCDateTime, index=True)
    duration_minutes: int
    status: str = Field(default="scheduled", max_length=16)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: str = Field(foreign_key="users.id", max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # False: a clinicians-only visit (a live teleconsult without the patient): the patient
    # and delegates neither join it, see it, nor are told of it.
    patient_invited: bool = True


class VisitParticipant(SQLModel, table=True):
    """A clinician invited to a visit.

    `scheduled_start` is the visit's, copied (`services.visits` keeps it when a visit is
    added or moved): a clinician's visits are read in time order from one index
    (``ix_visit_participants_user_start``), a page at a time, however many visits the
    region holds.
    """

    __tablename__ = "visit_participants"
    __table_args__ = (Index("ix_visit_participants_user_start", "user_id", "scheduled_start",
                            "visit_id"),)

    visit_id: str = Field(foreign_key="visits.id", primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=32)
    scheduled_start: datetime = Field(sa_type=UTCDateTime)


class VisitGuest(SQLModel, table=True):
    """A person without an account invited to a visit by a clinician (family, interpreter).

    The invitation link is one-time: `used_at` is set when it is first opened. Revoking
    (`revoked_at`) refuses the link and the guest's joins and disconnects the guest.
    """

    __tablename__ = "visit_guests"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    visit_id: str = Field(foreign_key="visits.id", index=True, max_length=32)
    name: str = Field(max_length=80)
    # Where the visit reminders go (optional; the invitation link is handed over anyway).
    email: str | None = Field(default=None, max_length=254)
    invited_by: str = Field(foreign_key="users.id", max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: str | None = Field(default=None, foreign_key="users.id", max_length=32)


class VisitReport(SQLModel, table=True):
    """The signed report of a visit; immutable once signed."""

    __tablename__ = "visit_reports"

    visit_id: str = Field(foreign_key="visits.id", primary_key=True, max_length=32)
    author_id: str = Field(foreign_key="users.id", max_length=32)
    text: str
    content_hash: str = Field(max_length=64)
    signed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ChatMessage(SQLModel, table=True):
    """A chat line of a visit, numbered per visit."""

    __tablename__ = "chat_messages"

    visit_id: str = Field(foreign_key="visits.id", primary_key=True, max_length=32)
    seq: int = Field(primary_key=True)
    sender_id: str = Field(max_length=64)
    text: str = Field(max_length=4000)
    ts: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Consent(SQLModel, table=True):
    """A patient's grant or revocation of record consultation by care staff."""

    __tablename__ = "consents"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    patient_id: str = Field(foreign_key="patients.id", index=True, max_length=32)
    scope: str = Field(default="record", max_length=32)
    grantee_id: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    granted: bool
    recorded_by: str = Field(foreign_key="users.id", max_length=32)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    note: str | None = Field(default=None, max_length=1000)

    # The decision in force for (patient, grantee) is the newest: one index seek; the
    # refusals (the few "consent withdrawn" notices) without reading every consent.
    __table_args__ = (Index("ix_consents_in_force", "patient_id", "grantee_id", "recorded_at",
                            "id"),
                      Index("ix_consents_refusals", "granted", "patient_id"))


class EmergencyAccess(SQLModel, table=True):
    """A time-limited break-glass access to a patient's record."""

    __tablename__ = "emergency_accesses"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    patient_id: str = Field(foreign_key="patients.id", index=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    reason: str = Field(max_length=1000)
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    # One of telemed.domain.emergency.REASON_CODES ("unspecified" on rows from before 0006).
    reason_code: str = Field(default="unspecified", max_length=32)
    # The after-the-fact review by the responsible doctor or an administrator.
    reviewed_by: str | None = Field(default=None, max_length=32)
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    review_outcome: str | None = Field(default=None, max_length=16)  # confirmed | flagged
    review_note: str | None = Field(default=None, max_length=1000)


class Delegation(SQLModel, table=True):
    """Access to a patient's portal granted to a caregiver or a minor's parent."""

    __tablename__ = "delegations"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    patient_id: str = Field(foreign_key="patients.id", index=True, max_length=32)
    delegate_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    relationship: str = Field(max_length=16)
    granted_by: str = Field(foreign_key="users.id", max_length=32)
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The written request an administrator acted on (None when the patient granted it).
    request_note: str | None = Field(default=None, max_length=1000)
    revoked_by: str | None = Field(default=None, max_length=32)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # "read" (see the portal) or "act" (also book, answer, enter readings, join visits).
    scope: str = Field(default="read", max_length=8)
    # The day it stops being in force (a parent's, for a minor: the 18th birthday).
    valid_until: date | None = None


class AuditEvent(SQLModel, table=True):
    """Who read or changed which patient's data, when and why."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_patient_at", "patient_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor_id: str | None = Field(default=None, max_length=32)
    actor_role: str | None = Field(default=None, max_length=16)
    patient_id: str | None = Field(default=None, max_length=32)
    action: str = Field(max_length=16)
    resource: str = Field(max_length=32)
    resource_id: str | None = Field(default=None, max_length=64)
    # Why (telemed.domain.audit_reasons): a code and the text parameters of its template.
    reason_code: str | None = Field(default=None, max_length=32)
    reason_params: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    emergency: bool = False
    outcome: str = Field(default="success", max_length=16)
    request_id: str | None = Field(default=None, max_length=64)


class UserSession(SQLModel, table=True):
    """One login: a browser session (cookie) or an API access token, revocable on its own."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_open", "user_id", "revoked_at"),)

    id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", max_length=32)
    kind: str = Field(max_length=16)  # "cookie" or "bearer"
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_reason: str | None = Field(default=None, max_length=32)
    # How the person logged in ("password", "oidc"), from which device and address, last use;
    # an OIDC session keeps its ID token as the hint of the logout at the provider.
    method: str | None = Field(default=None, max_length=16)
    user_agent: str | None = Field(default=None, max_length=255)
    address: str | None = Field(default=None, max_length=64)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    second_factor: str | None = Field(default=None, max_length=16)
    acr: str | None = Field(default=None, max_length=128)
    id_token: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


# A notification held for a daily digest that has not taken it yet (ix_notifications_due).
PENDING_DIGEST = "digest_id IS NULL AND due_at IS NOT NULL"


class Notification(SQLModel, table=True):
    """A notification for one user, recorded with its cause (the outbox).

    ``title_code`` and ``params`` are translated at the edge, in the recipient's language.
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at"),
                      Index("ix_notifications_user_fold", "user_id", "fold_key", "created_at"),
                      # the held notifications not yet in a digest, by when they are due, and
                      # only they: the worker's digest pass reads the range due, nothing else
                      Index("ix_notifications_due", "due_at", "user_id",
                            sqlite_where=text(PENDING_DIGEST),
                            postgresql_where=text(PENDING_DIGEST)))

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    # The recipient: a user, or (visit reminders) a guest of a visit without an account.
    user_id: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    guest_id: str | None = Field(default=None, foreign_key="visit_guests.id", max_length=32)
    kind: str = Field(max_length=32)
    title_code: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    link: str = Field(max_length=500)
    cause_type: str = Field(max_length=32)
    cause_id: str = Field(max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set when the delivery worker created this notification's deliveries.
    dispatched_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    # Duplicates within the fold window are folded into this row (telemed.domain.quiet).
    fold_key: str | None = Field(default=None, max_length=200)
    fold_count: int = 1
    folded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Its email waits for the owner's daily digest (since then; due then: the digest time
    # after it was held, telemed.domain.digest.due_at), and the digest that took it.
    held_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    digest_id: str | None = Field(default=None, foreign_key="notification_digests.id",
                                  max_length=32)


class NotificationDelivery(SQLModel, table=True):
    """One attempt series of sending a notification over one channel to one address."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel", "address", name="uq_delivery_target"),
        Index("ix_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    notification_id: str = Field(foreign_key="notifications.id", index=True, max_length=32)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=320)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    message_id: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NotificationDigest(SQLModel, table=True):
    """One daily summary email of a user's held notifications (docs/notifications.md, "Daily
    digest"), with the delivery state of that email (leased like a delivery).

    One per user and due instant: two workers that both find it due make it once."""

    __tablename__ = "notification_digests"
    __table_args__ = (
        UniqueConstraint("user_id", "due_at", name="uq_digest_user_due"),
        Index("ix_digests_status_next", "status", "next_attempt_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    due_at: datetime = Field(sa_type=UTCDateTime)
    items: int = 0  # the unread notifications it lists (none: "skipped", nothing is sent)
    address: str = Field(default="", max_length=320)
    status: str = Field(default="pending", max_length=16)  # sent, failed, dead, skipped
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    message_id: str = Field(default="", max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OnCallShift(SQLModel, table=True):
    """A clinician covering escalations from ``starts_at`` to ``ends_at``."""

    __tablename__ = "oncall_shifts"
    __table_args__ = (Index("ix_oncall_span", "starts_at", "ends_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(foreign_key="users.id", max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RecoveryCode(SQLModel, table=True):
    """A one-time recovery code of a user's second factor (stored as its SHA-256)."""

    __tablename__ = "recovery_codes"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebAuthnCredential(SQLModel, table=True):
    """A security key or passkey registered as a user's second factor."""

    __tablename__ = "webauthn_credentials"

    id: str = Field(primary_key=True, max_length=255)  # the credential id, base64url
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    public_key: str = Field(sa_column=Column(Text, nullable=False))  # COSE key, base64url
    sign_count: int = 0
    name: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class IdentityEvent(SQLModel, table=True):
    """A recorded identity decision: an account chosen at SSO, a second factor reset, ..."""

    __tablename__ = "identity_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    actor_id: str | None = Field(default=None, max_length=32)
    kind: str = Field(max_length=32)
    detail: str | None = Field(default=None, max_length=1000)


class Availability(SQLModel, table=True):
    """A clinician's weekly bookable hours (local time of the service), in slots."""

    __tablename__ = "availability"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    clinician_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    weekday: int  # Monday 0
    start: str = Field(max_length=5)  # HH:MM
    end: str = Field(max_length=5)
    slot_minutes: int
    kind: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AvailabilityException(SQLModel, table=True):
    """Local days (first to last, inclusive) a clinician takes no bookings."""

    __tablename__ = "availability_exceptions"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    clinician_id: str = Field(foreign_key="users.id", index=True, max_length=32)
    first_day: date
    last_day: date
    note: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Booking(SQLModel, table=True):
    """A slot of a clinician's availability taken by a visit.

    At most one booking in force (``released_at`` NULL) per clinician and start: the unique
    index decides between two patients who book the same slot at once. Moving or
    cancelling the visit releases the row (kept as history).
    """

    __tablename__ = "bookings"
    __table_args__ = (
        Index("uq_bookings_slot_in_force", "clinician_id", "slot_start", unique=True,
              sqlite_where=text("released_at IS NULL"),
              postgresql_where=text("released_at IS NULL")),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    clinician_id: str = Field(foreign_key="users.id", max_length=32)
    slot_start: datetime = Field(sa_type=UTCDateTime)
    slot_minutes: int
    visit_id: str = Field(foreign_key="visits.id", index=True, max_length=32)
    patient_id: str = Field(foreign_key="patients.id", index=True, max_length=32)
    reason: str = Field(max_length=500)
    booked_by: str = Field(foreign_key="users.id", max_length=32)
    booked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# A signed document (ix_documents_signed): the FHIR search's rows, drafts left out.
SIGNED = "signed_at IS NOT NULL"


class Document(SQLModel, table=True):
    """A clinical document (CONTRACT §8): a draft its author edits, then signed and sealed.

    Once signed, ``bundle`` (the FHIR document Bundle with its JWS) and ``pdf`` (PAdES) are
    the document and never change; a correction is a new document that ``replaces`` it.
    Rows migrated from the old visit reports carry ``legacy_hash`` (their unkeyed SHA-256)
    and no seal. ``publication`` is the outbox state towards the regional record (FSE).
    """

    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_patient_created", "patient_id", "created_at"),
                      Index("ix_documents_publication", "publication", "publish_next_at"),
                      # the FHIR search's order among signed documents (newest first)
                      Index("ix_documents_signed", "signed_at", "id",
                            sqlite_where=text(SIGNED), postgresql_where=text(SIGNED)))

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    patient_id: str = Field(foreign_key="patients.id", max_length=32)
    kind: str = Field(max_length=32)
    title: str = Field(max_length=200)
    status: str = Field(default="draft", max_length=16)
    language: str = Field(default="it", max_length=8)
    author_id: str = Field(foreign_key="users.id", max_length=32)
    visit_id: str | None = Field(default=None, foreign_key="visits.id", index=True,
                                 max_length=32)
    careplan_id: str | None = Field(default=None, max_length=32, index=True)
    period_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    period_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sections: dict[str, Any] = Field(default_factory=dict,
                                     sa_column=Column(JSON, nullable=False))
    figures: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    signed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    signed_by: str | None = Field(default=None, max_length=32)
    # A kind with two signers (CONTRACT §8): the named co-signer and when they co-signed
    # (``signed_at``/``signed_by`` are the author's signature), and the teleconsult it reports.
    cosigner_id: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    cosigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    teleconsult_id: str | None = Field(default=None, index=True, max_length=32)
    replaces_id: str | None = Field(default=None, max_length=32)
    replaced_by_id: str | None = Field(default=None, max_length=32)
    bundle: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    pdf: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    content_hash: str | None = Field(default=None, max_length=64)
    legacy_hash: str | None = Field(default=None, max_length=64)
    publication: str | None = Field(default=None, max_length=16)  # pending | sent | failed
    publish_attempts: int = 0
    publish_next_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    publish_error: str | None = Field(default=None, max_length=500)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
