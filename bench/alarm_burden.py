"""Alarm burden at a region's scale: the team's figures and the operators' gauges.

Seeds the population benchmark's region (one doctor and one nurse caring for every patient),
adds a week of handled alerts (three per patient: acknowledged, resolved, some recovered
before anyone looked, some escalated) and the nurse's notifications, then times
`services.alarm_burden.team_burden` (the API and page) and `platform_burden` (the
Prometheus gauges). Run: ``.venv/bin/python -m bench.alarm_burden [--sizes 20000]
[--postgres]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from bench.population import _bulk, _table, fresh_database, percentile, seed
from telemed.db.engine import make_engine, make_session_factory
from telemed.db.models import Alert, CareTeamMember, Notification, User
from telemed.db.types import new_id, utcnow
from telemed.principal import Principal
from telemed.services.alarm_burden import platform_burden, team_burden


async def add_week(url: str) -> tuple[Principal, int]:
    """Three handled alerts per patient over the last week, and the nurse's notifications."""
    engine = make_engine(url)
    now = utcnow()
    try:
        async with make_session_factory(engine)() as session:
            doctor = (await session.exec(
                select(User).where(User.username == "dr.population"))).one()
            nurse = (await session.exec(
                select(User).where(User.username == "inf.population"))).one()
            patients = (await session.exec(select(CareTeamMember.patient_id).where(
                CareTeamMember.user_id == doctor.id))).all()
        alerts: list[dict[str, Any]] = []
        for n, pid in enumerate(patients):
            for k in range(3):
                opened = now - timedelta(hours=1 + (n * 7 + k * 53) % 160)
                ack = opened + timedelta(seconds=30 + (n * 37 + k * 11) % 3600)
                alerts.append({
                    "id": new_id(), "patient_id": pid, "rule_key": f"bench:{k}",
                    "kind": "threshold", "metric": "spo2",
                    "severity": "critical" if (n + k) % 10 == 0 else "warning",
                    "status": "resolved", "recovered": (n + k) % 3 == 0,
                    "recovered_at": opened + timedelta(seconds=20) if (n + k) % 3 == 0
                    else None,
                    "detail": "", "escalated": (n + k) % 10 == 0,
                    "escalation_step": 1 if (n + k) % 10 == 0 else 0,
                    "opened_at": opened, "updated_at": ack, "acknowledged_by": nurse.id,
                    "acknowledged_at": ack, "resolved_by": nurse.id,
                    "resolved_at": ack + timedelta(minutes=5), "seq": 0})
        await _bulk(engine, _table(Alert), alerts)
        notes = [{"id": new_id(), "user_id": nurse.id, "kind": "alert_critical",
                  "title_code": "alert_critical", "params": {}, "link": "/alerts",
                  "cause_type": "alert", "cause_id": a["id"], "created_at": a["opened_at"],
                  "fold_count": 1}
                 for a in alerts if a["severity"] == "critical"]
        await _bulk(engine, _table(Notification), notes)
        who = Principal(user_id=doctor.id, username=doctor.username, role="doctor",
                        display_name=doctor.display_name, patient_id=None, via="bearer")
        return who, len(alerts)
    finally:
        await engine.dispose()


async def timed(samples: int, run: Any) -> list[float]:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        await run()
        times.append(time.perf_counter() - start)
    return times


async def measure(url: str, size: int, samples: int) -> None:
    began = time.perf_counter()
    await seed(url, size)
    who, added = await add_week(url)
    print(f"{size} patients seeded, {added} alerts of the week added "
          f"({time.perf_counter() - began:.0f} s)")
    engine = make_engine(url)
    try:
        sessions = make_session_factory(engine)

        async def team() -> None:
            async with sessions() as session:
                result = await team_burden(session, who, days=7)
            print(f"  team: {result.team.alerts} alerts, "
                  f"{result.team.alerts_per_patient_week:.2f}/patient-week, "
                  f"ack p90 {result.team.ack_p90_s:.0f} s", end="\r")

        async def platform() -> None:
            async with sessions() as session:
                await platform_burden(session, days=7)

        for name, run in (("team_burden (API, page)", team),
                          ("platform_burden (metrics)", platform)):
            times = await timed(samples, run)
            print(f"{name:28} median {percentile(times, 50) * 1000:7.0f} ms   "
                  f"max {max(times) * 1000:7.0f} ms   ({samples} samples)" + " " * 20)
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="telemed-burden-") as raw:
        for size in (int(s) for s in args.sizes.split(",") if s.strip()):
            async with fresh_database(Path(raw), args.postgres, size) as url:
                await measure(url, size, args.samples)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="20000")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--samples", type=int, default=5)
    return parser.parse_args(argv)


if __name__ == "__main__":
    try:
        asyncio.run(main(parse_args()))
    except KeyboardInterrupt:
        sys.exit(130)
