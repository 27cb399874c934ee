"""Booking test helpers: a clinician with published hours and patients to book them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import World


@dataclass
class Clinic:
    """A doctor with weekly hours three days from now, and bearer headers per person."""

    doctor: dict[str, str]
    headers: dict[str, dict[str, str]]
    day: datetime  # a UTC time on the day the hours are published for


def ahead(days: int = 3) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


async def open_clinic(world: World, *, start: str = "09:00", end: str = "11:00",
                      minutes: int = 20, days: int = 3) -> Clinic:
    """A doctor who publishes hours on the Rome weekday `days` from now."""
    doctor = await world.user("doctor")
    headers = {doctor["username"]: await world.token(doctor["username"])}
    day = ahead(days)
    from zoneinfo import ZoneInfo

    weekday = day.astimezone(ZoneInfo("Europe/Rome")).weekday()
    resp = await world.client.post("/api/v1/availability", headers=headers[doctor["username"]],
                                   json={"weekday": weekday, "start": start, "end": end,
                                         "slot_minutes": minutes, "kind": "televisit"})
    assert resp.status == 201, await resp.text()
    return Clinic(doctor, headers, day)


async def patient_user(world: World, clinic: Clinic, *, team: bool = True) -> dict[str, str]:
    """A patient (on the clinic doctor's team unless `team` is False) and their user."""
    patient = await world.patient(team=[clinic.doctor["id"]] if team else [])
    user = await world.user("patient", patient_id=patient.id)
    user["patient_id"] = patient.id
    clinic.headers[user["username"]] = await world.token(user["username"])
    return user


async def slots(client: TestClient[Any, Any], clinic: Clinic, headers: dict[str, str],
                **query: str) -> list[dict[str, Any]]:
    params = {"clinician": clinic.doctor["id"], "from": datetime.now(UTC).isoformat(),
              "to": ahead(7).isoformat(), **query}
    resp = await client.get("/api/v1/slots", params=params, headers=headers)
    assert resp.status == 200, await resp.text()
    items: list[dict[str, Any]] = (await resp.json())["items"]
    return items


async def race(client: TestClient[Any, Any], slot_id: str,
               headers: list[dict[str, str]]) -> list[tuple[int, dict[str, Any]]]:
    """Book one slot for several callers at the same time; (status, body) of each."""

    async def one(h: dict[str, str]) -> tuple[int, dict[str, Any]]:
        resp = await client.post("/api/v1/visits", headers=h,
                                 json={"slot_id": slot_id, "reason": "Controllo pressione"})
        return resp.status, await resp.json()

    return list(await asyncio.gather(*(one(h) for h in headers)))


async def second_booking_refused(app: Any) -> bool:
    """Whether the database itself refuses a second booking in force of a booked slot
    (the unique index, not a check made before the insert)."""
    from sqlalchemy.exc import IntegrityError
    from sqlmodel import select

    from telemed import keys
    from telemed.db.models import Booking

    async with app[keys.SESSIONS]() as session:
        first = (await session.exec(select(Booking))).one()
        session.add(Booking(clinician_id=first.clinician_id, slot_start=first.slot_start,
                            slot_minutes=first.slot_minutes, visit_id=first.visit_id,
                            patient_id=first.patient_id, reason="again",
                            booked_by=first.booked_by))
        try:
            await session.commit()
        except IntegrityError:
            return True
    return False
