"""What each patient's rules remember (`RuleState` rows): read for many patients in one
query, written back in one upsert, and the ingest worker's memo of parsed threshold states.

A rule state is read as the stored JSON text and parsed only when used. The worker reads the
threshold states of every patient of every batch; `ParsedStates` keeps each one it parsed or
wrote beside the text it came from, so a state whose text is unchanged since (the common case:
this worker wrote it) is not parsed again. The text is compared, not trusted: a state another
worker wrote, or a person's resolution reset (the row is gone), is read afresh.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Text, cast
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import RuleState
from telemed.db.types import utcnow
from telemed.db.upserts import insert_on_conflict
from telemed.domain.thresholds import ThresholdState
from telemed.services.observations import sqlite_rows, sqlite_time
from telemed.services.pagination import chunks

StateKey = tuple[str, str]  # (patient id, rule key)

DEFAULT_MEMO_LIMIT = 100_000


class ParsedStates:
    """Threshold states parsed before, by (patient, rule key), with their stored text.

    Bounded: past ``limit`` entries the older half is forgotten (insertion order; a state
    written again moves to the end)."""

    def __init__(self, limit: int = DEFAULT_MEMO_LIMIT) -> None:
        self._limit = limit
        self._parsed: dict[StateKey, tuple[str, ThresholdState]] = {}

    def __len__(self) -> int:
        return len(self._parsed)

    def parse(self, key: StateKey, text: str) -> ThresholdState:
        """The state stored as ``text`` (parsed only if it is not the text remembered)."""
        known = self._parsed.get(key)
        if known is not None and known[0] == text:
            return known[1]
        state = ThresholdState.from_dict(_loads(text))
        self.remember(key, text, state)
        return state

    def remember(self, key: StateKey, text: str, state: ThresholdState) -> None:
        self._parsed.pop(key, None)
        self._parsed[key] = (text, state)
        if len(self._parsed) > self._limit:
            for old in list(self._parsed)[: len(self._parsed) // 2]:
                del self._parsed[old]


def _loads(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class RuleStates:
    """RuleState rows of some patients: loaded in one query (a few hundred patients each),
    written back in one upsert."""

    def __init__(self, texts: dict[StateKey, str], memo: ParsedStates | None = None) -> None:
        self._texts = texts
        self._memo = memo if memo is not None else ParsedStates()
        self._rows: dict[StateKey, dict[str, Any]] = {}  # parsed on first use
        self._dirty: dict[StateKey, dict[str, Any]] = {}
        self._thresholds: dict[StateKey, ThresholdState] = {}  # written, for the memo

    @classmethod
    async def load(cls, session: AsyncSession, patient_ids: Sequence[str],
                   memo: ParsedStates | None = None) -> RuleStates:
        texts: dict[StateKey, str] = {}
        for part in chunks(sorted(set(patient_ids))):
            result = await session.exec(
                select(RuleState.patient_id, RuleState.rule_key,
                       cast(col(RuleState.state), Text))  # the text: parsed if used
                .where(col(RuleState.patient_id).in_(part)))
            texts.update({(pid, key): text for pid, key, text in result.all()})
        return cls(texts, memo)

    def get(self, patient_id: str, key: str) -> dict[str, Any]:
        """The state as stored (``{}`` when the rule remembers nothing)."""
        where = (patient_id, key)
        if where in self._dirty:
            return self._dirty[where]
        row = self._rows.get(where)
        if row is None:
            row = self._rows[where] = _loads(self._texts.get(where))
        return row

    def put(self, patient_id: str, key: str, state: dict[str, Any]) -> None:
        if self.get(patient_id, key) == state:
            return
        self._dirty[(patient_id, key)] = state

    def threshold(self, patient_id: str, key: str) -> ThresholdState:
        """A threshold rule's state (fresh when none is stored)."""
        where = (patient_id, key)
        if where in self._thresholds:
            return self._thresholds[where]
        text = self._texts.get(where)
        return ThresholdState() if text is None else self._memo.parse(where, text)

    def put_threshold(self, patient_id: str, key: str, state: ThresholdState) -> None:
        if state == self.threshold(patient_id, key):
            return
        self._thresholds[(patient_id, key)] = state
        self._dirty[(patient_id, key)] = state.to_dict()

    async def save(self, session: AsyncSession) -> None:
        if not self._dirty:
            return
        conn = await session.connection()
        now = utcnow()
        dirty = sorted(self._dirty.items())
        texts = {where: json.dumps(state) for where, state in dirty}
        if conn.dialect.name == "sqlite":
            # one multi-row statement with parameters formatted here (the JSON as the
            # column's type writes it): no executemany, no per-value bind processing
            at = sqlite_time(now)
            await sqlite_rows(conn, _SQLITE_UPSERT, [
                (pid, key, texts[(pid, key)], at) for (pid, key), _ in dirty])
        else:
            await conn.execute(_upsert_statement(conn.dialect.name), [
                {"patient_id": pid, "rule_key": key, "state": state, "updated_at": now}
                for (pid, key), state in dirty])
        for where, state in self._thresholds.items():
            self._memo.remember(where, texts[where], state)
        self._texts.update(texts)
        self._rows.update(self._dirty)
        self._dirty.clear()
        self._thresholds.clear()


_UPSERTS: dict[str, Any] = {}
_SQLITE_UPSERT = (
    "INSERT INTO rule_states (patient_id, rule_key, state, updated_at) VALUES {values} "
    "ON CONFLICT (patient_id, rule_key) DO UPDATE SET state = excluded.state, "
    "updated_at = excluded.updated_at")


def _upsert_statement(dialect: str) -> Any:
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        stmt = _UPSERTS[dialect] = insert_on_conflict(
            dialect, RuleState.__table__,  # type: ignore[attr-defined]
            ["patient_id", "rule_key"], update=["state", "updated_at"])
    return stmt
