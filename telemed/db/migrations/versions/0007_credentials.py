"""Server-side sessions, password changes, login throttling

Every browser session and every API access token is a row of ``user_sessions``: logging out
revokes that row, "log out everywhere" and a password change revoke the user's rows, so a
copied cookie or token stops working at once. Cookies and tokens issued before this revision
carry no session id and are no longer accepted (users log in again).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import telemed.db.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'user_sessions',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('created_at', telemed.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', telemed.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', telemed.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('revoked_reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_user_sessions_user_open', 'user_sessions', ['user_id', 'revoked_at'])


def downgrade() -> None:
    op.drop_index('ix_user_sessions_user_open', table_name='user_sessions')
    op.drop_table('user_sessions')
