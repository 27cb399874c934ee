"""audit reasons as codes with parameters

An audit row's ``reason`` (English text) becomes ``reason_code`` and ``reason_params`` (JSON),
said in the reader's language at the edge (telemed.domain.audit_reasons). Each known English
text is mapped to its code here (a frozen copy: the app's catalogue may change, this cannot);
a text this version did not write stays as the ``legacy`` code with the text as its ``text``
parameter. The downgrade writes the English text back.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

# The texts of the versions before codes: most are their code in words ("latest vitals");
# words of one resource only are scoped to it ("acknowledge" of an alert).
FIXED: dict[str, str] = {code.replace("_", " "): code for code in (
    "list", "search", "alert_stream", "alert_board", "latest_vitals", "vitals_charts",
    "vitals_series", "population_view", "alarm_burden", "consent_withdrawn_notice",
    "visit_participant", "rescheduled", "acknowledge_page", "password_changed", "command_line",
    "second_factor_reset", "teleconsult_access", "dicom_reconciliation", "manual_reading",
    "manual_reading_form", "my_record", "questionnaires_due", "guest_revoked")} | {
    "alert board: latest vitals": "alert_board_vitals", "agenda of bookings": "booking_agenda",
    "notifications of the alert": "alert_notifications", "log out everywhere":
    "logout_everywhere", "telemonitoring without record consent": "telemonitoring",
    "on-call access": "oncall_access", "device reassigned: no change": "device_unchanged"}
_WORDS_OF = {"alert": "opened updated escalated recovered acknowledge resolve",
             "consent": "granted revoked", "emergency_review": "confirmed flagged",
             "careplan": "activate complete", "user": "activated deactivated"}
_PREFIX = {"emergency_review": "review"}
SCOPED: dict[tuple[str, str], str] = {
    (resource, word): f"{_PREFIX.get(resource, resource)}_{word}"
    for resource, words in _WORDS_OF.items() for word in words.split(" ")} | {
    ("alert", "escalated to nobody (no clinician in the chain)"): "alert_escalated_nobody",
    ("careplan", "completed: superseded by a newly activated plan"): "careplan_superseded"}
# Texts with parameters: (code, old template); a ``{for}`` is an inner reason's text.
PATTERNS: tuple[tuple[str, str], ...] = (
    ("emergency", "emergency: {grounds}"),
    ("oncall_access_for", "on-call access: {for}"),
    ("teleconsult_access_for", "teleconsult access: {for}"),
    ("command_line_for", "command line: {for}"),
    ("careplan_version", "version {version}"),
    ("alert_escalated_to", "escalated to {user}"),
    ("alert_snooze", "snooze {minutes} min"),
    ("oncall_shift", "on-call shift {shift}"),
    ("guest_invited", "guest invited to visit {visit}"),
    ("device_taken", "device {serial} taken from this patient at {at}"),
    ("device_given", "device {serial} given to this patient at {at}"),
    ("delegation_requested", "{relationship} ({scope}): {delegate} (written request: {note})"),
    ("delegation_granted", "{relationship} ({scope}): {delegate}"),
)
OLD_TEXT = {code: text for text, code in FIXED.items()} | {
    code: text for (_, text), code in SCOPED.items()} | dict(PATTERNS) | {"legacy": "{text}"}
MAX_REASON = 1000  # the old column's length

_NAMED = re.compile(r"\\\{(\w+)\\\}")
_WORDS = {"grounds": r"\w+", "version": r"\d+", "minutes": r"\d+", "user": r"\w+",
          "shift": r"\w+", "visit": r"\w+", "relationship": r"\w+", "scope": r"\w+",
          "at": r"\S+"}
MATCHERS = [(code, re.compile("^" + _NAMED.sub(
    lambda m: f"(?P<{m[1].replace('for', 'inner')}>{_WORDS.get(m[1], '.+?')})",
    re.escape(template)) + "$", re.DOTALL)) for code, template in PATTERNS]


def to_code(resource: str, text: str) -> tuple[str, dict[str, str]]:
    """The code and parameters of an old English reason of a row of `resource`."""
    code = SCOPED.get((resource, text)) or FIXED.get(text)
    if code is not None:
        return code, {}
    for code, matcher in MATCHERS:
        found = matcher.match(text)
        if found is None:
            continue
        params = found.groupdict()
        inner = params.pop("inner", None)
        if inner is not None:
            inner_code, inner_params = to_code(resource, inner)
            params = {**inner_params, "for": inner_code}
        return code, params
    return "legacy", {"text": text}


def to_text(code: str, params: dict[str, Any] | None) -> str:
    """The old English text of a code and its parameters."""
    values = {name: str(value) for name, value in (params or {}).items()}
    inner = values.pop("for", None)
    if inner is not None:
        values["for"] = to_text(inner, values)
    template = OLD_TEXT.get(code)
    if template is None:
        return code
    try:
        text = template.format_map(values)
    except (KeyError, ValueError, IndexError):
        text = template
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"


AUDIT = sa.table("audit_events", sa.column("id", sa.Integer), sa.column("resource", sa.String),
                 sa.column("reason", sa.String), sa.column("reason_code", sa.String),
                 sa.column("reason_params", sa.JSON(none_as_null=True)))
BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason_code', sqlmodel.sql.sqltypes.AutoString(length=32),
                                      nullable=True))
        batch_op.add_column(sa.Column('reason_params', sa.JSON(), nullable=True))
    conn = op.get_bind()
    texts = conn.execute(sa.select(AUDIT.c.resource, AUDIT.c.reason).distinct()
                         .where(AUDIT.c.reason.is_not(None))).all()
    for resource, text in texts:
        code, params = to_code(resource, text)
        conn.execute(AUDIT.update()
                     .where(AUDIT.c.resource == resource).where(AUDIT.c.reason == text)
                     .values(reason_code=code, reason_params=params or None))
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('reason')


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=1000),
                                      nullable=True))
    conn = op.get_bind()
    after = 0
    while True:
        rows = conn.execute(sa.select(AUDIT.c.id, AUDIT.c.reason_code, AUDIT.c.reason_params)
                            .where(AUDIT.c.reason_code.is_not(None)).where(AUDIT.c.id > after)
                            .order_by(AUDIT.c.id).limit(BATCH)).all()
        if not rows:
            break
        conn.execute(AUDIT.update().where(AUDIT.c.id == sa.bindparam("row_id"))
                     .values(reason=sa.bindparam("text")),
                     [{"row_id": row_id, "text": to_text(code, params)}
                      for row_id, code, params in rows])
        after = rows[-1][0]
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('reason_params')
        batch_op.drop_column('reason_code')
