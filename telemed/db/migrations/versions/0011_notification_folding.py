"""Notification folding and alarm burden: fold key and count, when an alert first recovered

- ``notifications.fold_key`` / ``fold_count`` / ``folded_at``: duplicates of a notification
  within the fold window are folded into it (``telemed.domain.quiet``), which says how many;
- ``alerts.recovered_at``: when the alert's condition first cleared, so the alarm burden
  (``telemed.services.alarm_burden``) tells the alerts that recovered before anyone looked;
  filled for existing alerts from their ``recovered`` audit rows;
- ``ix_alerts_opened_patient``: the burden of a period is a range on ``opened_at``;
- ``visit_guests.email`` and ``notifications.guest_id`` (``user_id`` may then be empty): a
  guest without an account gets visit reminders by email.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from telemed.db.types import UTCDateTime

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fold_key', sqlmodel.sql.sqltypes.AutoString(length=200),
                                      nullable=True))
        batch_op.add_column(sa.Column('fold_count', sa.Integer(), nullable=False,
                                      server_default='1'))
        batch_op.add_column(sa.Column('folded_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('guest_id', sqlmodel.sql.sqltypes.AutoString(length=32),
                                      nullable=True))
        batch_op.create_foreign_key('fk_notifications_guest_id', 'visit_guests', ['guest_id'],
                                    ['id'])
        batch_op.alter_column('user_id', existing_type=sqlmodel.sql.sqltypes.AutoString(
            length=32), nullable=True)
    with op.batch_alter_table('visit_guests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254),
                                      nullable=True))
    op.create_index('ix_notifications_user_fold', 'notifications',
                    ['user_id', 'fold_key', 'created_at'])
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recovered_at', UTCDateTime(timezone=True),
                                      nullable=True))
    op.create_index('ix_alerts_opened_patient', 'alerts', ['opened_at', 'patient_id'])
    op.execute(
        "UPDATE alerts SET recovered_at = (SELECT MIN(audit_events.at) FROM audit_events "
        "WHERE audit_events.resource = 'alert' AND audit_events.resource_id = alerts.id "
        "AND audit_events.reason = 'recovered') WHERE recovered = true OR EXISTS ("
        "SELECT 1 FROM audit_events WHERE audit_events.resource = 'alert' "
        "AND audit_events.resource_id = alerts.id AND audit_events.reason = 'recovered')")


def downgrade() -> None:
    op.drop_index('ix_alerts_opened_patient', table_name='alerts')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('recovered_at')
    op.drop_index('ix_notifications_user_fold', table_name='notifications')
    with op.batch_alter_table('visit_guests', schema=None) as batch_op:
        batch_op.drop_column('email')
    op.execute("DELETE FROM notification_deliveries WHERE notification_id IN "
               "(SELECT id FROM notifications WHERE user_id IS NULL)")
    op.execute("DELETE FROM notifications WHERE user_id IS NULL")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.alter_column('user_id', existing_type=sqlmodel.sql.sqltypes.AutoString(
            length=32), nullable=False)
        batch_op.drop_constraint('fk_notifications_guest_id', type_='foreignkey')
        batch_op.drop_column('guest_id')
        batch_op.drop_column('folded_at')
        batch_op.drop_column('fold_count')
        batch_op.drop_column('fold_key')
