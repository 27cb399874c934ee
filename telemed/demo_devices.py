"""Simulated home devices for the demo region: registered once, then streaming.

`telemed demo` registers one device per kind a demo patient's plan needs (credentials kept
0600 in DATA_DIR/demo-devices.json, rotated when lost), replays three simulated days in about
a minute so charts and trend rules have history, then keeps streaming live.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from devices.buffer import PackBuffer
from devices.client import DeviceClient
from devices.profiles import Reading
from devices.simulator import DeviceCredentials, SimulationOptions, Simulator
from telemed.db.engine import make_engine, make_session_factory
from telemed.db.models import Device, Patient
from telemed.db.types import utcnow
from telemed.demo import COMPLETED_PLAN, EMERGENCY_PATIENT, PATIENTS
from telemed.domain.fiscal_code import build_fiscal_code
from telemed.settings import Settings

log = logging.getLogger("telemed.demo")

BACKFILL_SECONDS = 60.0
BACKFILL_DAYS = 3
LIVE_RATE = 1 / 30  # one pack every 30 s per device

# Device kinds by the metrics of each demo plan.
KINDS_BY_METRIC = {
    "body_weight": "scale",
    "bp_systolic": "bp_cuff",
    "bp_diastolic": "bp_cuff",
    "heart_rate": "bp_cuff",
    "blood_glucose": "glucometer",
    "body_temp": "thermometer",
    "spo2": "multi",
    "resp_rate": "multi",
}


def credentials_file(settings: Settings) -> Path:
    """Where the demo devices' credentials are kept."""
    return settings.data_dir / "demo-devices.json"


def _load(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return {}
    return {item["device_id"]: item for item in data if isinstance(item, dict)} if isinstance(
        data, list) else {}


def _save(path: Path, items: list[dict[str, str]]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(items, out, indent=2)


async def ensure_demo_devices(settings: Settings) -> list[DeviceCredentials]:
    """Register (or re-key) the demo devices through the running broker."""
    from telemed.broker.runtime import open_broker
    from telemed.services.devices import register_device, rotate_credentials

    path = credentials_file(settings)
    known = _load(path)
    result: list[dict[str, str]] = []
    engine = make_engine(settings.effective_database_url)
    try:
        async with (open_broker(settings, private="attach") as broker,
                    make_session_factory(engine)() as session):
            for demo in PATIENTS:
                code = build_fiscal_code(demo.given, demo.family, demo.birth, demo.sex,
                                         demo.birthplace)
                patient = (await session.exec(
                    select(Patient).where(Patient.fiscal_code == code))).first()
                if patient is None or demo.family == COMPLETED_PLAN:
                    continue  # (a completed plan measures nothing more)
                metrics = [m["metric"] for m in demo.plan["monitoring"]]
                kinds = sorted({KINDS_BY_METRIC[m] for m in metrics if m in KINDS_BY_METRIC})
                for kind in kinds:
                    serial = f"DEMO-{demo.family.upper()}-{kind.upper()}"
                    device = (await session.exec(
                        select(Device).where(Device.serial == serial))).first()
                    if device is not None and device.status == "revoked":
                        continue
                    if device is None:
                        # The replay sends the last BACKFILL_DAYS: the patient has had
                        # the device since before them.
                        reg = await register_device(
                            session, broker.dynsec, None, serial=serial, kind=kind,
                            patient_id=patient.id,
                            assigned_from=utcnow() - timedelta(days=BACKFILL_DAYS, hours=1))
                        device_id, password = reg.device.id, reg.password
                    elif device.id in known:
                        device_id, password = device.id, known[device.id]["password"]
                    else:
                        reg = await rotate_credentials(session, broker.dynsec, None, device.id)
                        device_id, password = device.id, reg.password
                    result.append({"device_id": device_id, "password": password,
                                   "kind": kind, "scenario": demo.scenario, "serial": serial,
                                   "patient_id": patient.id, "timezone": patient.timezone})
    finally:
        await engine.dispose()
    _save(path, result)
    return [DeviceCredentials.from_json(item) for item in result]


async def stream_demo_devices(settings: Settings, devices: list[DeviceCredentials]) -> None:
    """Replay recent days quickly, then stream live until cancelled."""
    host, _, port = settings.mqtt_listen.rpartition(":")
    buffer = settings.data_dir / "demo-device-buffer.db"
    scale = BACKFILL_DAYS * 86400 / BACKFILL_SECONDS
    backfill = SimulationOptions(host=host, port=int(port), rate=1.0,
                                 duration=BACKFILL_SECONDS, time_scale=scale,
                                 buffer_path=buffer, seed=7)
    print(f"Replaying {BACKFILL_DAYS} days of {len(devices)} demo devices "
          f"in {BACKFILL_SECONDS:.0f} s…", flush=True)
    print((await Simulator(devices, backfill).run()).summary(), flush=True)
    await demo_emergency(settings, devices)
    live = SimulationOptions(host=host, port=int(port), rate=LIVE_RATE, buffer_path=buffer,
                             seed=7)  # same seed: same patients as the replay
    print("Demo devices are streaming live (Ctrl-C stops them).", flush=True)
    await Simulator(devices, live).run()


EMERGENCY_SPO2 = 86.0  # below the post-discharge plan's critical_low (91 %)


async def demo_emergency(settings: Settings, devices: list[DeviceCredentials]) -> None:
    """A critical demo alert nobody acknowledges: the post-discharge patient's oximeter sends
    one SpO2 reading below the plan's critical band, through the broker like any reading.
    The plan escalates after a short period, so within a few minutes the on-call doctor gets
    the email in the mail catcher (docs/notifications.md, "With make run")."""
    serial = f"DEMO-{EMERGENCY_PATIENT.upper()}-MULTI"
    device = next((d for d in devices if d.serial == serial), None)
    if device is None:
        return
    host, _, port = settings.mqtt_listen.rpartition(":")
    buffer = PackBuffer(settings.data_dir / "demo-emergency-buffer.db")
    await buffer.open()
    client = DeviceClient(device.device_id, device.password, host, int(port), buffer=buffer)
    try:
        await client.start()
        await client.send([Reading("spo2", EMERGENCY_SPO2, "%", utcnow())])
        await client.wait_delivered(seconds=30)
        print(f"A critical demo alert was raised ({EMERGENCY_PATIENT}): unacknowledged, it "
              "escalates by email to the on-call doctor in a few minutes.", flush=True)
    except TimeoutError:
        log.warning("the demo emergency reading was not delivered")
    finally:
        await client.close(say_offline=False)
        await buffer.close()
