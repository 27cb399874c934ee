"""Teleconsults that invite the patient: the requester's choice on the request, and whether
the patient (and delegates) may join a visit (a live teleconsult without them: no)

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('teleconsults', schema=None) as batch_op:
        batch_op.add_column(sa.Column('include_patient', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('patient_invited', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_column('patient_invited')
    with op.batch_alter_table('teleconsults', schema=None) as batch_op:
        batch_op.drop_column('include_patient')
