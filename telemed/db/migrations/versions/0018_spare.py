"""Reserved slot for spare (filled by the branch that owns it; empty is a no-op)

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
