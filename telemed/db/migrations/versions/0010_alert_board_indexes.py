"""Open-alert board and scheduler indexes

- ``ix_alerts_status_severity_opened`` serves the board's order (status, severity, opened_at)
  and the escalation job's "open critical alerts opened before …";
- ``ix_careplans_patient_current`` makes a patient's current active plan one index lookup on
  every engine, whatever the planner's statistics say (SQLite, without ``ANALYZE``, picked
  ``ix_careplans_is_current``);
- (the board's "consent withdrawn" notices use 0009's ``ix_consents_refusals``);
- ``ANALYZE`` gives SQLite's planner statistics (PostgreSQL's autovacuum keeps its own).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_alerts_status_severity_opened', 'alerts',
                    ['status', 'severity', 'opened_at'])
    op.create_index('ix_careplans_patient_current', 'careplans',
                    ['patient_id', 'is_current', 'status'])
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ANALYZE')


def downgrade() -> None:
    op.drop_index('ix_careplans_patient_current', table_name='careplans')
    op.drop_index('ix_alerts_status_severity_opened', table_name='alerts')
