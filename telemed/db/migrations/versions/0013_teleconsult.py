"""Teleconsult requests, notes, signed answers, clinicians' specialties, attachments

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from telemed.db.types import UTCDateTime

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def _s(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        'teleconsults',
        sa.Column('id', _s(32), primary_key=True),
        sa.Column('patient_id', _s(32), sa.ForeignKey('patients.id'), nullable=False),
        sa.Column('requester_id', _s(32), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('specialist_id', _s(32), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('specialty', _s(32), nullable=True),
        sa.Column('question', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('urgency', _s(16), nullable=False),
        sa.Column('mode', _s(16), nullable=False),
        sa.Column('status', _s(16), nullable=False),
        sa.Column('visit_id', _s(32), sa.ForeignKey('visits.id'), nullable=True),
        sa.Column('document_id', _s(32), nullable=True),
        _at('created_at'), _at('updated_at'), _at('accepted_at', True), _at('closed_at', True),
    )
    op.create_index('ix_teleconsults_specialist_status', 'teleconsults',
                    ['specialist_id', 'status'])
    op.create_index('ix_teleconsults_specialty_status', 'teleconsults', ['specialty', 'status'])
    op.create_index('ix_teleconsults_requester', 'teleconsults', ['requester_id', 'created_at'])
    op.create_index('ix_teleconsults_patient', 'teleconsults', ['patient_id', 'status'])
    op.create_table(
        'teleconsult_notes',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('teleconsult_id', _s(32), sa.ForeignKey('teleconsults.id'), nullable=False),
        sa.Column('author_id', _s(32), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('action', _s(16), nullable=False),
        sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        _at('at'),
    )
    op.create_index('ix_teleconsult_notes_teleconsult_id', 'teleconsult_notes',
                    ['teleconsult_id'])
    op.create_table(
        'teleconsult_answers',
        sa.Column('teleconsult_id', _s(32), sa.ForeignKey('teleconsults.id'), primary_key=True),
        sa.Column('author_id', _s(32), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('content_hash', _s(64), nullable=False),
        _at('signed_at'),
    )
    op.create_table(
        'user_specialties',
        sa.Column('user_id', _s(32), sa.ForeignKey('users.id'), primary_key=True),
        sa.Column('specialty', _s(32), primary_key=True),
    )
    op.create_index('ix_user_specialties_specialty', 'user_specialties', ['specialty'])
    op.create_table(
        'attachments',
        sa.Column('id', _s(32), primary_key=True),
        sa.Column('patient_id', _s(32), sa.ForeignKey('patients.id'), nullable=False),
        sa.Column('teleconsult_id', _s(32), sa.ForeignKey('teleconsults.id'), nullable=True),
        sa.Column('visit_id', _s(32), sa.ForeignKey('visits.id'), nullable=True),
        sa.Column('kind', _s(8), nullable=False),
        sa.Column('media_type', _s(32), nullable=True),
        sa.Column('filename', _s(200), nullable=True),
        sa.Column('size', sa.Integer(), nullable=True),
        sa.Column('sha256', _s(64), nullable=True),
        sa.Column('data', sa.LargeBinary(), nullable=True),
        sa.Column('study_uid', _s(64), nullable=True),
        sa.Column('reconciled_from', _s(64), nullable=True),
        sa.Column('created_by', _s(32), sa.ForeignKey('users.id'), nullable=False),
        _at('created_at'),
    )
    op.create_index('ix_attachments_patient_id', 'attachments', ['patient_id'])
    op.create_index('ix_attachments_teleconsult_id', 'attachments', ['teleconsult_id'])
    op.create_index('ix_attachments_visit_id', 'attachments', ['visit_id'])


def downgrade() -> None:
    op.drop_table('attachments')
    op.drop_table('user_specialties')
    op.drop_table('teleconsult_answers')
    op.drop_table('teleconsult_notes')
    op.drop_table('teleconsults')
