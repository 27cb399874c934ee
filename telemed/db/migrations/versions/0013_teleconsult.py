"""Reserved slot for teleconsult (filled by the branch that owns it; empty is a no-op)

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
