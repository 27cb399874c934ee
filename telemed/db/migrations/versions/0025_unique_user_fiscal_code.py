"""A staff or delegate fiscal code belongs to one account, enforced by the database

``ix_users_fiscal_code`` becomes UNIQUE (accounts without a code, NULL, stay as many as
they are on both engines): single sign-on matches a person by this code, and the check the
services make before writing it cannot stop two requests that run at the same moment.
Existing duplicates stop the upgrade before anything changes, with how many codes are held
twice and what to do; the codes themselves (personal data) are never printed.

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

_DUPLICATED = sa.text(
    "SELECT COUNT(*) FROM (SELECT fiscal_code FROM users WHERE fiscal_code IS NOT NULL "
    "GROUP BY fiscal_code HAVING COUNT(*) > 1) AS duplicated")
FIX = ("SELECT fiscal_code, COUNT(*) FROM users WHERE fiscal_code IS NOT NULL "
       "GROUP BY fiscal_code HAVING COUNT(*) > 1")


def refusal(duplicated: int) -> str:
    """Why the upgrade stops: how many codes, never which."""
    return (f"{duplicated} staff/delegate fiscal code(s) are held by more than one account "
            f"(users.fiscal_code must be unique). Nothing was changed. With the previous "
            f"version still running, give each code to one account only (PUT "
            f"/api/v1/users/{{id}}/fiscal-code, or the user's page; null removes it); "
            f"the accounts to look at are those this query lists: {FIX}. Then run the "
            f"upgrade again.")


def upgrade() -> None:
    duplicated = op.get_bind().execute(_DUPLICATED).scalar_one()
    if duplicated:
        raise RuntimeError(refusal(duplicated))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_fiscal_code')
        batch_op.create_index('ix_users_fiscal_code', ['fiscal_code'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_fiscal_code')
        batch_op.create_index('ix_users_fiscal_code', ['fiscal_code'])
