"""Emergency access reasons and review; delegation requests

- ``emergency_accesses``: the reason chosen from a fixed list (``reason_code``; rows from
  before get ``unspecified``) and the after-the-fact review (who, when, confirmed|flagged,
  note).
- ``delegations.request_note``: the written request an administrator acted on.
- Audit reasons no longer carry clinical text (administrators read the access log). Older
  rows written by the rules ("threshold critical: Oxygen saturation 84 %…"), consent decisions
  with the patient's note ("revoked: …") and emergency accesses with their free-text reason
  keep only their non-clinical head; the clinical facts stay in their own tables, behind the
  clinical access rules.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
import telemed.db.types
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def _redact_audit_reasons() -> None:
    events = sa.table('audit_events', sa.column('resource', sa.String),
                      sa.column('action', sa.String), sa.column('actor_id', sa.String),
                      sa.column('reason', sa.String))
    op.execute(events.update()
               .where(events.c.resource == 'alert').where(events.c.actor_id.is_(None))
               .where(events.c.reason.is_not(None))
               .values(reason=sa.case((events.c.reason.like('recovered%'), 'recovered'),
                                      (events.c.reason.like('escalated%'), 'escalated'),
                                      (events.c.reason.like('updated%'), 'updated'),
                                      else_='opened')))
    op.execute(events.update()
               .where(events.c.resource == 'consent').where(events.c.action == 'update')
               .where(events.c.reason.like('granted%')).values(reason='granted'))
    op.execute(events.update()
               .where(events.c.resource == 'consent').where(events.c.action == 'update')
               .where(events.c.reason.like('revoked%')).values(reason='revoked'))
    op.execute(events.update()
               .where(events.c.action == 'emergency').values(reason='emergency access'))


def upgrade() -> None:
    with op.batch_alter_table('emergency_accesses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason_code',
                                      sqlmodel.sql.sqltypes.AutoString(length=32),
                                      nullable=False, server_default='unspecified'))
        batch_op.add_column(sa.Column('reviewed_by',
                                      sqlmodel.sql.sqltypes.AutoString(length=32),
                                      nullable=True))
        batch_op.add_column(sa.Column('reviewed_at', telemed.db.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('review_outcome',
                                      sqlmodel.sql.sqltypes.AutoString(length=16),
                                      nullable=True))
        batch_op.add_column(sa.Column('review_note',
                                      sqlmodel.sql.sqltypes.AutoString(length=1000),
                                      nullable=True))
    with op.batch_alter_table('emergency_accesses', schema=None) as batch_op:
        batch_op.alter_column('reason_code', server_default=None)
    with op.batch_alter_table('delegations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_note',
                                      sqlmodel.sql.sqltypes.AutoString(length=1000),
                                      nullable=True))
    _redact_audit_reasons()


def downgrade() -> None:
    with op.batch_alter_table('delegations', schema=None) as batch_op:
        batch_op.drop_column('request_note')
    with op.batch_alter_table('emergency_accesses', schema=None) as batch_op:
        batch_op.drop_column('review_note')
        batch_op.drop_column('review_outcome')
        batch_op.drop_column('reviewed_at')
        batch_op.drop_column('reviewed_by')
        batch_op.drop_column('reason_code')
