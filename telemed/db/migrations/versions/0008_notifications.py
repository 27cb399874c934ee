"""Notifications outbox, deliveries, user contact details and preferences, on-call shifts

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from telemed.db.types import UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _s(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', _s(254), nullable=True))
        batch_op.add_column(sa.Column('notify_prefs', sa.JSON(), nullable=True))
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_step', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('escalated_at', UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        'notifications',
        sa.Column('id', _s(32), primary_key=True),
        sa.Column('user_id', _s(32), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('kind', _s(32), nullable=False),
        sa.Column('title_code', _s(64), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('link', _s(500), nullable=False),
        sa.Column('cause_type', _s(32), nullable=False),
        sa.Column('cause_id', _s(64), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('read_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('dispatched_at', UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_notifications_user_created', 'notifications', ['user_id', 'created_at'])
    op.create_index('ix_notifications_cause_id', 'notifications', ['cause_id'])
    op.create_index('ix_notifications_dispatched_at', 'notifications', ['dispatched_at'])
    op.create_table(
        'notification_deliveries',
        sa.Column('id', _s(32), primary_key=True),
        sa.Column('notification_id', _s(32), sa.ForeignKey('notifications.id'),
                  nullable=False),
        sa.Column('channel', _s(16), nullable=False),
        sa.Column('address', _s(320), nullable=False),
        sa.Column('status', _s(16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_error', _s(500), nullable=True),
        sa.Column('message_id', _s(255), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('sent_at', UTCDateTime(timezone=True), nullable=True),
        sa.UniqueConstraint('notification_id', 'channel', 'address', name='uq_delivery_target'),
    )
    op.create_index('ix_deliveries_status_next', 'notification_deliveries',
                    ['status', 'next_attempt_at'])
    op.create_index('ix_notification_deliveries_notification_id', 'notification_deliveries',
                    ['notification_id'])
    op.create_table(
        'oncall_shifts',
        sa.Column('id', _s(32), primary_key=True),
        sa.Column('user_id', _s(32), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('starts_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('ends_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_by', _s(32), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_oncall_span', 'oncall_shifts', ['starts_at', 'ends_at'])
    op.create_index('ix_oncall_shifts_user_id', 'oncall_shifts', ['user_id'])


def downgrade() -> None:
    op.drop_table('oncall_shifts')
    op.drop_table('notification_deliveries')
    op.drop_table('notifications')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('escalation_step')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('notify_prefs')
        batch_op.drop_column('email')
