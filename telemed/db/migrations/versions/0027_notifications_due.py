"""Held notifications say when they are due: the digest pass reads only what is due

``notifications.due_at``: when the summary of a held notification is due (the owner's digest
time after it was held, read in the service's time zone; at once for a kind the owner
switched back to right away, `telemed.domain.digest.due_at`), filled here for those held now;
the worker writes it when it holds one, a change of the owner's choices writes it again.
``ix_notifications_held`` (digest_id, held_at: every notification) becomes
``ix_notifications_due`` (due_at, user_id; partial: only those held and not yet in a
summary): the digest pass reads the range due instead of every held notification with its
owner's choices (its time grew with what was held, 2 to 71 ms from 50 to 20,000 patients).

The time zone is the one `telemed db upgrade` is given (``TELEMED_TIMEZONE``; else the
default, Europe/Rome). The downgrade drops the column: what is held stays held, dated again
at every pass as before.

Revision ID: 0027
Revises: 0026
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

import telemed.db.types
from telemed.db.types import utcnow
from telemed.domain import digest
from telemed.domain.local_time import zone
from telemed.notify import kinds

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None

_T = telemed.db.types.UTCDateTime
PENDING = 'digest_id IS NULL AND due_at IS NOT NULL'  # held, not yet in a summary
NOTIFICATIONS = sa.table('notifications', sa.column('id', sa.String()),
                         sa.column('user_id', sa.String()), sa.column('kind', sa.String()),
                         sa.column('held_at', _T()), sa.column('digest_id', sa.String()),
                         sa.column('due_at', _T()))
USERS = sa.table('users', sa.column('id', sa.String()), sa.column('digest_kinds', sa.JSON()),
                 sa.column('digest_time', sa.String()))


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_at', _T(timezone=True), nullable=True))
    _date_held()
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_held')
        batch_op.create_index('ix_notifications_due', ['due_at', 'user_id'], unique=False,
                              sqlite_where=sa.text(PENDING), postgresql_where=sa.text(PENDING))


def _date_held() -> None:
    """Each notification held and not yet in a summary gets its due instant, by its owner's
    choices as they stand (one UPDATE per notification: a day's worth or so)."""
    n, u = NOTIFICATIONS.c, USERS.c
    where, now = zone(context.config.attributes.get("timezone")), utcnow()
    bind = op.get_bind()
    held = bind.execute(
        sa.select(n.id, n.kind, n.held_at, u.digest_kinds, u.digest_time)
        .join(USERS, u.id == n.user_id)
        .where(n.digest_id.is_(None), n.held_at.is_not(None))).all()
    dated = [{"key": key, "due": digest.due_at(held_at, kind in kinds.digest_kinds(waiting),
                                               digest.stored_time(at), where, now)}
             for key, kind, held_at, waiting, at in held]
    if dated:
        bind.execute(NOTIFICATIONS.update().where(n.id == sa.bindparam('key'))
                     .values(due_at=sa.bindparam('due')), dated)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_due')
        batch_op.create_index('ix_notifications_held', ['digest_id', 'held_at'], unique=False)
        batch_op.drop_column('due_at')
