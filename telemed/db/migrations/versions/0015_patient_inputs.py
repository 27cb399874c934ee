"""Patient inputs: who entered a manual reading, and questionnaire responses

``observations.entered_by`` is the user who typed a manual reading in (the patient, a
delegate or a clinician); NULL for a device's reading. ``questionnaire_responses`` holds the
answers to the platform's questionnaires (`telemed.domain.questionnaires`) with their score.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import telemed.db.types

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entered_by', sqlmodel.sql.sqltypes.AutoString(length=32),
                                      nullable=True))
    op.create_table(
        'questionnaire_responses',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('patient_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('questionnaire', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('answers', sa.JSON(), nullable=False),
        sa.Column('score', sa.Integer(), nullable=False),
        sa.Column('band', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('flags', sa.JSON(), nullable=False),
        sa.Column('entered_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('authored_at', telemed.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ),
        sa.ForeignKeyConstraint(['entered_by'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('questionnaire_responses', schema=None) as batch_op:
        batch_op.create_index('ix_questionnaire_responses_patient_at',
                              ['patient_id', 'authored_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('questionnaire_responses', schema=None) as batch_op:
        batch_op.drop_index('ix_questionnaire_responses_patient_at')
    op.drop_table('questionnaire_responses')
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.drop_column('entered_by')
