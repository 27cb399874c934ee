"""Spare (a slot reserved for a branch that needed no schema change; empty is a no-op)

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
