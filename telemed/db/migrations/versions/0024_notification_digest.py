"""Daily digest of routine notifications: users' choices, held notifications, digests

``users.digest_kinds`` (JSON list) and ``users.digest_time`` ("HH:MM") hold what a person
chose; ``notifications.held_at`` marks a notification whose email waits for the digest and
``notifications.digest_id`` the digest that took it; ``notification_digests`` is one summary
email per user and due instant (unique), with the delivery state of that email. Every new
column is nullable: existing users and notifications keep their behaviour (right away).

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import telemed.db.types

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = telemed.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        'notification_digests',
        sa.Column('id', _S(length=32), nullable=False),
        sa.Column('user_id', _S(length=32), nullable=False),
        sa.Column('due_at', _T(timezone=True), nullable=False),
        sa.Column('items', sa.Integer(), nullable=False),
        sa.Column('address', _S(length=320), nullable=False),
        sa.Column('status', _S(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', _T(timezone=True), nullable=False),
        sa.Column('last_error', _S(length=500), nullable=True),
        sa.Column('message_id', _S(length=255), nullable=False),
        sa.Column('created_at', _T(timezone=True), nullable=False),
        sa.Column('sent_at', _T(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'due_at', name='uq_digest_user_due'),
    )
    with op.batch_alter_table('notification_digests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_digests_user_id'), ['user_id'])
        batch_op.create_index('ix_digests_status_next', ['status', 'next_attempt_at'])
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest_kinds', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('digest_time', _S(length=5), nullable=True))
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_at', _T(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('digest_id', _S(length=32), nullable=True))
        batch_op.create_foreign_key('fk_notifications_digest_id_notification_digests',
                                    'notification_digests', ['digest_id'], ['id'])
        batch_op.create_index('ix_notifications_held', ['digest_id', 'held_at'])


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_held')
        batch_op.drop_constraint('fk_notifications_digest_id_notification_digests',
                                 type_='foreignkey')
        batch_op.drop_column('digest_id')
        batch_op.drop_column('held_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('digest_time')
        batch_op.drop_column('digest_kinds')
    with op.batch_alter_table('notification_digests', schema=None) as batch_op:
        batch_op.drop_index('ix_digests_status_next')
        batch_op.drop_index(batch_op.f('ix_notification_digests_user_id'))
    op.drop_table('notification_digests')
