"""Rule states read as text and the worker's memo of parsed threshold states: a state is
parsed again whenever its stored text changed (another worker, a person's reset), never
trusted because it was parsed before."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import col, update

from telemed import keys
from telemed.app import create_app
from telemed.db.models import RuleState
from telemed.domain.thresholds import ThresholdState
from telemed.services import alerts
from telemed.services.rule_states import ParsedStates, RuleStates
from telemed.settings import Settings, load_settings
from tests.conftest import World
from tests.helpers.ward import Ward
from tests.integration.monitoring import add_plan, alerts_of, now_s

KEY = "threshold:heart_rate"
AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def app(settings: Settings, request: pytest.FixtureRequest) -> web.Application:
    """Both engines: PostgreSQL returns a JSON column decoded unless the query asks for text."""
    if request.param == "sqlite":
        return create_app(settings)
    values = settings.model_dump()
    values["database_url"] = request.getfixturevalue("migrated_postgres_url")
    return create_app(load_settings(**values))


@pytest.fixture
async def ward(world: World) -> Ward:
    return await Ward(world).build()


async def _states(ward: Ward, memo: ParsedStates) -> RuleStates:
    async with ward.world.app[keys.SESSIONS]() as session:
        return await RuleStates.load(session, [ward.patient.id], memo)


async def _write(ward: Ward, state: ThresholdState, memo: ParsedStates) -> None:
    async with ward.world.app[keys.SESSIONS]() as session:
        states = await RuleStates.load(session, [ward.patient.id], memo)
        states.put_threshold(ward.patient.id, KEY, state)
        await states.save(session)
        await session.commit()


async def test_a_state_written_is_read_back_from_the_memo_until_its_text_changes(
        client: TestClient[Any, Any], ward: Ward) -> None:
    memo = ParsedStates()
    written = ThresholdState("warning", 2, 0, AT)
    await _write(ward, written, memo)
    assert (await _states(ward, memo)).threshold(ward.patient.id, KEY) is written

    # another worker writes the same row: its text differs, so it is parsed afresh
    theirs = ThresholdState("critical", 3, 1, AT + timedelta(minutes=1))
    async with ward.world.app[keys.SESSIONS]() as session:
        await session.exec(update(RuleState)
                           .where(col(RuleState.patient_id) == ward.patient.id)
                           .where(col(RuleState.rule_key) == KEY)
                           .values(state=theirs.to_dict()))
        await session.commit()
    seen = (await _states(ward, memo)).threshold(ward.patient.id, KEY)
    assert seen == theirs and seen is not written

    # a person's resolution forgets the state: the rule starts afresh
    async with ward.world.app[keys.SESSIONS]() as session:
        await alerts.reset_rule_state(session, ward.patient.id, KEY)
        await session.commit()
    assert (await _states(ward, memo)).threshold(ward.patient.id, KEY) == ThresholdState()


async def test_an_unchanged_state_is_not_written_again(client: TestClient[Any, Any],
                                                       ward: Ward) -> None:
    memo = ParsedStates()
    state = ThresholdState(None, 0, 0, AT)
    await _write(ward, state, memo)
    async with ward.world.app[keys.SESSIONS]() as session:
        states = await RuleStates.load(session, [ward.patient.id], memo)
        states.put_threshold(ward.patient.id, KEY, ThresholdState(None, 0, 0, AT))
        assert not states._dirty
        # a fresh state where none is stored is no row either
        states.put_threshold(ward.patient.id, "threshold:spo2", ThresholdState())
        assert not states._dirty


async def test_unreadable_stored_text_gives_a_fresh_state(client: TestClient[Any, Any],
                                                          ward: Ward) -> None:
    memo = ParsedStates()
    await _write(ward, ThresholdState("warning", 1, 0, AT), memo)
    for broken in ("[1, 2]", '"text"', json.dumps({"severity": "bogus", "warning_streak": "x"})):
        async with ward.world.app[keys.SESSIONS]() as session:
            await session.exec(update(RuleState)
                               .where(col(RuleState.patient_id) == ward.patient.id)
                               .values(state=json.loads(broken)))
            await session.commit()
        assert (await _states(ward, memo)).threshold(ward.patient.id, KEY) == ThresholdState()


def test_the_memo_is_bounded() -> None:
    memo = ParsedStates(limit=4)
    for n in range(9):
        memo.remember((f"p{n}", KEY), "{}", ThresholdState())
    assert len(memo) <= 4
    memo.remember(("p8", KEY), '{"a": 1}', ThresholdState("warning"))
    assert memo.parse(("p8", KEY), '{"a": 1}') == ThresholdState("warning")


async def test_a_reset_between_batches_restarts_the_streak(client: TestClient[Any, Any],
                                                           ward: Ward) -> None:
    """The worker's memo keeps the streak of one out-of-band reading; a person's reset
    between two batches makes the next reading the first of a new streak (no alert)."""
    await add_plan(ward.world.app, ward.patient.id, ward.doctor["id"],
                   {"monitoring": [{"metric": "heart_rate", "schedule": {"continuous": True},
                                    "confirm_count": 2}]})
    t = now_s()
    await ward.send(("heart_rate", 125, "/min", t - 20))
    async with ward.world.app[keys.SESSIONS]() as session:
        await alerts.reset_rule_state(session, ward.patient.id, KEY)
        await session.commit()
    await ward.send(("heart_rate", 126, "/min", t - 10))
    assert await alerts_of(ward.world.app, ward.patient.id) == []
    await ward.send(("heart_rate", 127, "/min", t))
    [alert] = await alerts_of(ward.world.app, ward.patient.id)
    assert alert.value == 127
