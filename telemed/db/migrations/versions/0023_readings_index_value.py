"""Readings' index covers the value (charts of 30 days read the index alone)

``ix_observations_patient_metric_time`` becomes ``ix_observations_patient_metric_time_value``
(patient_id, metric, time, value): the same searches and order, and the charts' per-bucket
count, minimum, maximum and sum, and the vitals panel's period figures, read the index without
a table lookup per reading (30 days of a per-minute wearable: 86,400 readings). Still one
index per reading written.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_observations_patient_metric_time_value', 'observations',
                    ['patient_id', 'metric', 'time', 'value'])
    op.drop_index('ix_observations_patient_metric_time', table_name='observations')


def downgrade() -> None:
    op.create_index('ix_observations_patient_metric_time', 'observations',
                    ['patient_id', 'metric', 'time'])
    op.drop_index('ix_observations_patient_metric_time_value', table_name='observations')
