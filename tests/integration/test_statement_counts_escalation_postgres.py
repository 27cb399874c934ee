"""The due escalation steps taken together on PostgreSQL (the sequence numbers under the
advisory lock, the executemany writes): the same statements at 5 and 50 due steps, the same
folding and numbering as on SQLite."""

from __future__ import annotations

import pytest
from aiohttp import web

from tests.conftest import World
from tests.helpers import escalation_backlog

pytestmark = [pytest.mark.postgres, pytest.mark.scale]


@pytest.fixture
def app(postgres_app: web.Application) -> web.Application:
    return postgres_app


async def test_a_pass_does_not_grow_with_the_due_escalations(world: World) -> None:
    await escalation_backlog.pass_does_not_grow_with_the_due_escalations(world)


async def test_steps_taken_together_fold_and_number_as_one_after_the_other(
        world: World) -> None:
    await escalation_backlog.steps_fold_and_number_as_one_after_the_other(world)
