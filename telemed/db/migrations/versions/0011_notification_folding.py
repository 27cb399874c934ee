"""Notification folding and alarm burden: fold key and count, when an alert first recovered

- ``notifications.fold_key`` / ``fold_count`` / ``folded_at``: duplicates of a notification
  within the fold window are folded into it (``telemed.domain.quiet``), which says how many;
- ``alerts.recovered_at``: when the alert's condition first cleared, so the alarm burden
  (``telemed.services.alarm_burden``) tells the alerts that recovered before anyone looked;
  filled for existing alerts from their ``recovered`` audit rows;
- ``ix_alerts_opened_patient``: the burden of a period is a range on ``opened_at``.

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
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('folded_at')
        batch_op.drop_column('fold_count')
        batch_op.drop_column('fold_key')
