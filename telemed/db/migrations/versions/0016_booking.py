"""Booking: clinicians' weekly availability, days off, bookings; delegates who act

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import telemed.db.types
from telemed.domain import delegation

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_ID = sqlmodel.sql.sqltypes.AutoString(length=32)
_WHEN = telemed.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'availability',
        sa.Column('id', _ID, nullable=False),
        sa.Column('clinician_id', _ID, nullable=False),
        sa.Column('weekday', sa.Integer(), nullable=False),
        sa.Column('start', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column('end', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column('slot_minutes', sa.Integer(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('created_at', _WHEN, nullable=False),
        sa.ForeignKeyConstraint(['clinician_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_availability_clinician_id', 'availability', ['clinician_id'])
    op.create_table(
        'availability_exceptions',
        sa.Column('id', _ID, nullable=False),
        sa.Column('clinician_id', _ID, nullable=False),
        sa.Column('first_day', sa.Date(), nullable=False),
        sa.Column('last_day', sa.Date(), nullable=False),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('created_at', _WHEN, nullable=False),
        sa.ForeignKeyConstraint(['clinician_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_availability_exceptions_clinician_id', 'availability_exceptions',
                    ['clinician_id'])
    op.create_table(
        'bookings',
        sa.Column('id', _ID, nullable=False),
        sa.Column('clinician_id', _ID, nullable=False),
        sa.Column('slot_start', _WHEN, nullable=False),
        sa.Column('slot_minutes', sa.Integer(), nullable=False),
        sa.Column('visit_id', _ID, nullable=False),
        sa.Column('patient_id', _ID, nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column('booked_by', _ID, nullable=False),
        sa.Column('booked_at', _WHEN, nullable=False),
        sa.Column('released_at', _WHEN, nullable=True),
        sa.ForeignKeyConstraint(['clinician_id'], ['users.id'], ),
        sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], ),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ),
        sa.ForeignKeyConstraint(['booked_by'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_bookings_visit_id', 'bookings', ['visit_id'])
    op.create_index('ix_bookings_patient_id', 'bookings', ['patient_id'])
    # one booking in force per clinician and slot start: two bookings of a slot, one wins
    op.create_index('uq_bookings_slot_in_force', 'bookings', ['clinician_id', 'slot_start'],
                    unique=True, sqlite_where=sa.text('released_at IS NULL'),
                    postgresql_where=sa.text('released_at IS NULL'))
    with op.batch_alter_table('delegations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=8),
                                      nullable=False, server_default='read'))
        batch_op.add_column(sa.Column('valid_until', sa.Date(), nullable=True))
    _end_parents_delegations_at_majority()


def _end_parents_delegations_at_majority() -> None:
    """A parent's delegation granted while the patient was a minor ends at 18."""
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT d.id, d.granted_at, p.birth_date FROM delegations d "
        "JOIN patients p ON p.id = d.patient_id WHERE d.relationship = 'parent'")).all()
    for ident, granted_at, birth in rows:
        granted = granted_at if isinstance(granted_at, datetime) else \
            datetime.fromisoformat(str(granted_at))
        born = birth if isinstance(birth, date) else date.fromisoformat(str(birth))
        until = delegation.ends_on('parent', born, granted.date())
        if until is not None:
            bind.execute(sa.text("UPDATE delegations SET valid_until = :until WHERE id = :id"),
                         {"until": until, "id": ident})


def downgrade() -> None:
    with op.batch_alter_table('delegations', schema=None) as batch_op:
        batch_op.drop_column('valid_until')
        batch_op.drop_column('scope')
    op.drop_index('uq_bookings_slot_in_force', table_name='bookings')
    op.drop_index('ix_bookings_patient_id', table_name='bookings')
    op.drop_index('ix_bookings_visit_id', table_name='bookings')
    op.drop_table('bookings')
    op.drop_index('ix_availability_exceptions_clinician_id',
                  table_name='availability_exceptions')
    op.drop_table('availability_exceptions')
    op.drop_index('ix_availability_clinician_id', table_name='availability')
    op.drop_table('availability')
