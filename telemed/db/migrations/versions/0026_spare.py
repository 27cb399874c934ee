"""Spare (a slot reserved for a branch that needed no schema change; empty is a no-op)

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
