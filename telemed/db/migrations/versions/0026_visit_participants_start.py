"""A clinician's visits in time order from one index

``visit_participants`` gets ``scheduled_start``, a copy of the visit's (filled here from
``visits``; the visits service writes it with the participant and again when a booked visit
moves), and ``ix_visit_participants_user_id`` becomes ``ix_visit_participants_user_start``
(user_id, scheduled_start, visit_id). A clinician's visit list, the agenda's day and its
reports to write read that index in order and stop at the page: they no longer gather every
visit the clinician was ever invited to and sort them (20,000 patients: tens of thousands).
Still one index per participant written.

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import telemed.db.types

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('visit_participants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scheduled_start',
                                      telemed.db.types.UTCDateTime(timezone=True),
                                      nullable=True))
    op.execute(
        "UPDATE visit_participants SET scheduled_start = (SELECT visits.scheduled_start "
        "FROM visits WHERE visits.id = visit_participants.visit_id)")
    with op.batch_alter_table('visit_participants', schema=None) as batch_op:
        batch_op.alter_column('scheduled_start', existing_type=telemed.db.types.UTCDateTime(
            timezone=True), nullable=False)
        batch_op.drop_index('ix_visit_participants_user_id')
        batch_op.create_index('ix_visit_participants_user_start',
                              ['user_id', 'scheduled_start', 'visit_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('visit_participants', schema=None) as batch_op:
        batch_op.drop_index('ix_visit_participants_user_start')
        batch_op.create_index('ix_visit_participants_user_id', ['user_id'], unique=False)
        batch_op.drop_column('scheduled_start')
