"""Identity: OIDC logins, second factors, sessions with device and last use

Staff and delegate accounts get a fiscal code (portal accounts are matched through their
patient), a TOTP secret with the last accepted time step (a code is never accepted twice),
recovery codes and WebAuthn credentials. A session row records how the person logged in,
from which device and address, when it was last used, and (OIDC) the ID token used as the
hint of the logout at the provider. Identity decisions are recorded in ``identity_events``.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import telemed.db.types

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = telemed.db.types.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('fiscal_code', _S(length=16), nullable=True))
        batch.add_column(sa.Column('totp_secret', _S(length=64), nullable=True))
        batch.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))
        batch.create_index('ix_users_fiscal_code', ['fiscal_code'])
    with op.batch_alter_table('user_sessions') as batch:
        batch.add_column(sa.Column('method', _S(length=16), nullable=True))
        batch.add_column(sa.Column('user_agent', _S(length=255), nullable=True))
        batch.add_column(sa.Column('address', _S(length=64), nullable=True))
        batch.add_column(sa.Column('last_used_at', _T(timezone=True), nullable=True))
        batch.add_column(sa.Column('second_factor', _S(length=16), nullable=True))
        batch.add_column(sa.Column('acr', _S(length=128), nullable=True))
        batch.add_column(sa.Column('id_token', sa.Text(), nullable=True))
    op.create_table(
        'recovery_codes',
        sa.Column('id', _S(length=32), nullable=False),
        sa.Column('user_id', _S(length=32), nullable=False),
        sa.Column('code_hash', _S(length=64), nullable=False),
        sa.Column('used_at', _T(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_recovery_codes_user_id', 'recovery_codes', ['user_id'])
    op.create_table(
        'webauthn_credentials',
        sa.Column('id', _S(length=255), nullable=False),
        sa.Column('user_id', _S(length=32), nullable=False),
        sa.Column('public_key', sa.Text(), nullable=False),
        sa.Column('sign_count', sa.Integer(), nullable=False),
        sa.Column('name', _S(length=64), nullable=False),
        sa.Column('created_at', _T(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_webauthn_credentials_user_id', 'webauthn_credentials', ['user_id'])
    op.create_table(
        'identity_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', _T(timezone=True), nullable=False),
        sa.Column('user_id', _S(length=32), nullable=False),
        sa.Column('actor_id', _S(length=32), nullable=True),
        sa.Column('kind', _S(length=32), nullable=False),
        sa.Column('detail', _S(length=1000), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_identity_events_user_id', 'identity_events', ['user_id'])


def downgrade() -> None:
    op.drop_index('ix_identity_events_user_id', table_name='identity_events')
    op.drop_table('identity_events')
    op.drop_index('ix_webauthn_credentials_user_id', table_name='webauthn_credentials')
    op.drop_table('webauthn_credentials')
    op.drop_index('ix_recovery_codes_user_id', table_name='recovery_codes')
    op.drop_table('recovery_codes')
    with op.batch_alter_table('user_sessions') as batch:
        for name in ('id_token', 'acr', 'second_factor', 'last_used_at', 'address',
                     'user_agent', 'method'):
            batch.drop_column(name)
    with op.batch_alter_table('users') as batch:
        batch.drop_index('ix_users_fiscal_code')
        for name in ('totp_last_step', 'totp_secret', 'fiscal_code'):
            batch.drop_column(name)
