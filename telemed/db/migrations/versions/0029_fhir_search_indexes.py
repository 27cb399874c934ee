"""Indexes in the order of the FHIR searches of care plans, documents and questionnaire
responses: a clinician's page reads its window, not the table

A clinician's search without ``patient=`` tests the access rules on windows of the rows in the
search's order (`telemed.services.fhir_rows.find`). These three tables had no index in that
order, so each window was a top-N sort of the whole table (PostgreSQL, 20,000 patients:
20,101 care plans, 5,101 documents, 10,101 responses read for a page of 100):

- ``ix_careplans_current_period`` (is_current, period_start, plan_id): the current versions,
  latest period first (``is_current`` leads: the search's equality on it, then the order);
- ``ix_documents_signed`` (signed_at, id), partial on ``signed_at IS NOT NULL``: the signed
  documents, newest first (drafts have no signing time and are never listed);
- ``ix_questionnaire_responses_authored`` (authored_at, id): newest first.

Revision ID: 0029
Revises: 0028
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None

SIGNED = 'signed_at IS NOT NULL'


def upgrade() -> None:
    op.create_index('ix_careplans_current_period', 'careplans',
                    ['is_current', 'period_start', 'plan_id'], unique=False)
    op.create_index('ix_documents_signed', 'documents', ['signed_at', 'id'], unique=False,
                    sqlite_where=sa.text(SIGNED), postgresql_where=sa.text(SIGNED))
    op.create_index('ix_questionnaire_responses_authored', 'questionnaire_responses',
                    ['authored_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_questionnaire_responses_authored', table_name='questionnaire_responses')
    op.drop_index('ix_documents_signed', table_name='documents')
    op.drop_index('ix_careplans_current_period', table_name='careplans')
