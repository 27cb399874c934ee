"""The demo's cardiologist reads routine news in the daily summary: her settings page shows
the choice, and seeding again keeps whatever she chose since."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.demo import DEMO_PASSWORD, seed_region
from tests.conftest import World
from tests.helpers.pages import csrf_of, log_in

Client = TestClient[Any, Any]


def _selected(page: str, kind: str) -> str:
    """The delivery selected for `kind` on the settings page."""
    select = re.search(rf'<select id="delivery_{kind}".*?</select>', page, re.S)
    assert select is not None, kind
    chosen = re.search(r'<option value="(\w+)" selected>', select.group(0))
    assert chosen is not None, kind
    return chosen.group(1)


async def test_dr_conti_has_a_daily_summary_and_keeps_her_own_choice(
        client: Client, world: World) -> None:
    async with world.app[keys.SESSIONS]() as session:
        await seed_region(session)
    assert (await log_in(client, "dr.conti", DEMO_PASSWORD)).status == 303
    page = await (await client.get("/settings/notifications")).text()
    assert _selected(page, "teleconsult_update") == "digest"
    assert _selected(page, "document_cosign") == "digest"
    assert _selected(page, "teleconsult_request") == "immediate"
    assert 'value="07:30"' in page
    me = await (await client.get("/api/v1/users/me")).json()
    assert {k for k, how in me["notify_delivery"].items() if how == "digest"} == {
        "teleconsult_update", "document_cosign"}

    token = await csrf_of(client, "/settings/notifications")
    resp = await client.post("/settings/notifications", allow_redirects=False, data={
        "csrf_token": token, "email": me["email"], "notify_teleconsult_request": "on",
        "notify_teleconsult_update": "on", "notify_document_cosign": "on",
        "delivery_teleconsult_update": "immediate", "delivery_document_cosign": "immediate",
        "digest_time": "07:30"})
    assert resp.status == 303
    async with world.app[keys.SESSIONS]() as session:
        await seed_region(session)  # the demo again: her choice stays
    me = await (await client.get("/api/v1/users/me")).json()
    assert set(me["notify_delivery"].values()) == {"immediate"}
