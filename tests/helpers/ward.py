"""A doctor's patient with a device, and someone of another team, for alert tests."""

from __future__ import annotations

from typing import Any

from tests.conftest import World
from tests.integration.monitoring import add_device, basic, pack

READINGS = "/api/v1/devices/{}/readings"


class Ward:
    """A doctor's patient with a device, plus someone of another team."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def build(self) -> Ward:
        w = self.world
        self.doctor = await w.user("doctor")
        self.nurse = await w.user("nurse")
        self.stranger = await w.user("doctor")
        self.patient = await w.patient(team=[self.doctor["id"], self.nurse["id"]])
        self.other = await w.patient(team=[self.stranger["id"]])
        self.patient_user = await w.user("patient", patient_id=self.patient.id)
        self.admin = await w.user("admin")
        self.device = await add_device(w.app, self.patient.id)
        return self

    async def send(self, *records: tuple[str, float, str, float]) -> dict[str, Any]:
        resp = await self.world.client.post(READINGS.format(self.device), data=pack(*records),
                                            headers=basic(self.device))
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())

    async def headers(self, who: dict[str, str]) -> dict[str, str]:
        return await self.world.token(who["username"])
