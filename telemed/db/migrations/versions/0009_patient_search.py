"""Patient search and list indexes

Patients are listed by (family name, given name, id) with keyset pagination: an index serves
that order. Search terms (`telemed.domain.search_terms`) live in `patient_search_terms`,
filled here for the patients already registered and kept by the patients service. The
consent decision in force for a (patient, grantee) is found with one index seek, and the
few refusals (where lists of withdrawals start) without reading every consent.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from telemed.domain.search_terms import patient_terms

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_patients_name_order', 'patients',
                    ['family_name', 'given_name', 'id'], unique=False)
    terms = op.create_table(
        'patient_search_terms',
        sa.Column('patient_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('term', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.id']),
        sa.PrimaryKeyConstraint('patient_id', 'term'),
    )
    op.create_index('ix_patient_search_terms_term', 'patient_search_terms',
                    ['term', 'patient_id'], unique=False)
    op.create_index('ix_consents_in_force', 'consents',
                    ['patient_id', 'grantee_id', 'recorded_at', 'id'], unique=False)
    op.create_index('ix_consents_refusals', 'consents', ['granted', 'patient_id'], unique=False)
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT id, given_name, family_name, fiscal_code FROM patients")).all()
    batch = [{"patient_id": pid, "term": term}
             for pid, given, family, code in rows
             for term in sorted(patient_terms(given, family, code))]
    for start in range(0, len(batch), 5000):
        op.bulk_insert(terms, batch[start:start + 5000])


def downgrade() -> None:
    op.drop_index('ix_consents_refusals', table_name='consents')
    op.drop_index('ix_consents_in_force', table_name='consents')
    op.drop_index('ix_patient_search_terms_term', table_name='patient_search_terms')
    op.drop_table('patient_search_terms')
    op.drop_index('ix_patients_name_order', table_name='patients')
