"""Device assignment history (who had a device when)

A reading belongs to the patient the device was assigned to at the reading's time
(`telemed.domain.assignments`). Existing devices get one interval for their current patient,
from their registration (or from their earliest stored reading, when that is older, so the
history covers what the record already holds) until their revocation, open when not revoked.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import telemed.db.types

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_BACKFILL = """
INSERT INTO device_assignments (device_id, patient_id, valid_from, valid_until)
SELECT d.id, d.patient_id,
       CASE WHEN o.first_time IS NOT NULL AND o.first_time < d.created_at
            THEN o.first_time ELSE d.created_at END,
       d.revoked_at
FROM devices d
LEFT JOIN (SELECT device_id, MIN(time) AS first_time FROM observations
           GROUP BY device_id) o ON o.device_id = d.id
WHERE d.patient_id IS NOT NULL
"""


def upgrade() -> None:
    op.create_table(
        'device_assignments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('device_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('patient_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('valid_from', telemed.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('valid_until', telemed.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('assigned_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('ended_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('device_assignments', schema=None) as batch_op:
        batch_op.create_index('ix_device_assignments_device_from',
                              ['device_id', 'valid_from'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_assignments_patient_id'), ['patient_id'],
                              unique=False)
        # at most one open interval per device: its current patient
        batch_op.create_index('uq_device_assignments_open', ['device_id'], unique=True,
                              sqlite_where=sa.text('valid_until IS NULL'),
                              postgresql_where=sa.text('valid_until IS NULL'))
    op.execute(_BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table('device_assignments', schema=None) as batch_op:
        batch_op.drop_index('uq_device_assignments_open')
        batch_op.drop_index(batch_op.f('ix_device_assignments_patient_id'))
        batch_op.drop_index('ix_device_assignments_device_from')
    op.drop_table('device_assignments')
