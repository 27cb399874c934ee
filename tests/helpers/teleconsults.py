"""Teleconsult test helpers: a specialist doctor."""

from __future__ import annotations

from telemed import keys
from telemed.services.teleconsults import set_specialties
from tests.conftest import World


async def specialist(world: World, specialty: str = "cardiology") -> dict[str, str]:
    """A new doctor with `specialty`."""
    doctor = await world.user("doctor")
    async with world.app[keys.SESSIONS]() as session:
        await set_specialties(session, doctor["id"], [specialty])
        await session.commit()
    return doctor
