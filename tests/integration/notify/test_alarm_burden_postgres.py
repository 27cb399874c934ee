"""The alarm burden's order statistics picked by PostgreSQL equal the domain's."""

from __future__ import annotations

import pytest
from aiohttp import web

from tests.conftest import World
from tests.integration.notify.clinic import ORDER_SIZES, check_order_statistics

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(postgres_app: web.Application) -> web.Application:
    return postgres_app


@pytest.mark.parametrize("count", ORDER_SIZES)
async def test_sql_order_statistics_are_the_domains_on_postgres(world: World,
                                                                count: int) -> None:
    await check_order_statistics(world, count)
