"""Clinical documents; signed visit reports become televisit_report documents

Each signed row of ``visit_reports`` becomes a signed ``televisit_report`` document with its
text as the "findings" section, ``legacy_hash`` = its old SHA-256 (still checkable: the old
table stays, read-only) and no seal: the document says it was signed before seals existed.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
import sqlmodel
from alembic import op

import telemed.db.types

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = telemed.db.types.UTCDateTime


def upgrade() -> None:
    documents = op.create_table(
        'documents',
        sa.Column('id', _S(length=32), nullable=False),
        sa.Column('patient_id', _S(length=32), nullable=False),
        sa.Column('kind', _S(length=32), nullable=False),
        sa.Column('title', _S(length=200), nullable=False),
        sa.Column('status', _S(length=16), nullable=False),
        sa.Column('language', _S(length=8), nullable=False),
        sa.Column('author_id', _S(length=32), nullable=False),
        sa.Column('visit_id', _S(length=32), nullable=True),
        sa.Column('careplan_id', _S(length=32), nullable=True),
        sa.Column('period_start', _T(timezone=True), nullable=True),
        sa.Column('period_end', _T(timezone=True), nullable=True),
        sa.Column('sections', sa.JSON(), nullable=False),
        sa.Column('figures', sa.JSON(), nullable=True),
        sa.Column('created_at', _T(timezone=True), nullable=False),
        sa.Column('updated_at', _T(timezone=True), nullable=False),
        sa.Column('signed_at', _T(timezone=True), nullable=True),
        sa.Column('signed_by', _S(length=32), nullable=True),
        sa.Column('replaces_id', _S(length=32), nullable=True),
        sa.Column('replaced_by_id', _S(length=32), nullable=True),
        sa.Column('bundle', sa.Text(), nullable=True),
        sa.Column('pdf', sa.LargeBinary(), nullable=True),
        sa.Column('content_hash', _S(length=64), nullable=True),
        sa.Column('legacy_hash', _S(length=64), nullable=True),
        sa.Column('publication', _S(length=16), nullable=True),
        sa.Column('publish_attempts', sa.Integer(), nullable=False),
        sa.Column('publish_next_at', _T(timezone=True), nullable=True),
        sa.Column('publish_error', _S(length=500), nullable=True),
        sa.Column('published_at', _T(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'], ),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ),
        sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index('ix_documents_patient_created', ['patient_id', 'created_at'])
        batch_op.create_index('ix_documents_publication', ['publication', 'publish_next_at'])
        batch_op.create_index(batch_op.f('ix_documents_visit_id'), ['visit_id'])
        batch_op.create_index(batch_op.f('ix_documents_careplan_id'), ['careplan_id'])

    _migrate_reports(documents)


def _migrate_reports(documents: sa.Table | None = None) -> None:
    """Each signed visit report without its document becomes one (idempotent)."""
    if documents is None:
        typed = {'sections': sa.JSON(), 'created_at': _T(timezone=True),
                 'updated_at': _T(timezone=True), 'signed_at': _T(timezone=True)}
        documents = sa.table('documents', *(sa.column(c, typed.get(c)) for c in (
            'id', 'patient_id', 'kind', 'title', 'status', 'language', 'author_id',
            'visit_id', 'careplan_id', 'sections', 'figures', 'created_at', 'updated_at',
            'signed_at', 'signed_by', 'content_hash', 'legacy_hash', 'publication',
            'publish_attempts')))
    bind = op.get_bind()
    reports = sa.table('visit_reports', sa.column('visit_id'), sa.column('author_id'),
                       sa.column('text'), sa.column('content_hash'),
                       sa.column('signed_at', _T(timezone=True)))
    visits = sa.table('visits', sa.column('id'), sa.column('patient_id'))
    done = sa.table('documents', sa.column('visit_id'), sa.column('legacy_hash'))
    rows = bind.execute(
        sa.select(reports.c.visit_id, reports.c.author_id, reports.c.text,
                  reports.c.content_hash, reports.c.signed_at, visits.c.patient_id)
        .join(visits, visits.c.id == reports.c.visit_id)
        .where(~sa.exists().where(done.c.visit_id == reports.c.visit_id,
                                  done.c.legacy_hash.is_not(None)))
    ).all()
    if rows:
        op.bulk_insert(documents, [{
            'id': uuid.uuid4().hex, 'patient_id': patient_id, 'kind': 'televisit_report',
            'title': 'Referto di Televisita', 'status': 'signed', 'language': 'it',
            'author_id': author_id, 'visit_id': visit_id, 'careplan_id': None,
            'sections': {'findings': text}, 'figures': None, 'created_at': signed_at,
            'updated_at': signed_at, 'signed_at': signed_at, 'signed_by': author_id,
            'content_hash': None, 'legacy_hash': content_hash, 'publication': None,
            'publish_attempts': 0,
        } for visit_id, author_id, text, content_hash, signed_at, patient_id in rows])


def downgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_careplan_id'))
        batch_op.drop_index(batch_op.f('ix_documents_visit_id'))
        batch_op.drop_index('ix_documents_publication')
        batch_op.drop_index('ix_documents_patient_created')
    op.drop_table('documents')
