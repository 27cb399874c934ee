"""Co-signed documents: the co-signer, when they co-signed, and the teleconsult reported

A kind with two signers (the teleconsult report) is signed by its author, then by the
co-signer named on the document; ``teleconsult_id`` links a report to its request.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import telemed.db.types

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cosigner_id', _S(length=32), nullable=True))
        batch_op.add_column(sa.Column('cosigned_at', telemed.db.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('teleconsult_id', _S(length=32), nullable=True))
        batch_op.create_foreign_key('fk_documents_cosigner_id_users', 'users',
                                    ['cosigner_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_documents_teleconsult_id'), ['teleconsult_id'])


def downgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_teleconsult_id'))
        batch_op.drop_constraint('fk_documents_cosigner_id_users', type_='foreignkey')
        batch_op.drop_column('teleconsult_id')
        batch_op.drop_column('cosigned_at')
        batch_op.drop_column('cosigner_id')
