"""`telemed-device`: the home-device simulator's command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from devices.mqtt import TlsOptions
from devices.profiles import KIND_METRICS, KINDS, SCENARIOS
from devices.simulator import (
    DeviceCredentials,
    SimulationOptions,
    Simulator,
    load_credentials,
    register_devices,
    save_credentials,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telemed-device",
                                     description="Telemed home-device simulator")
    parser.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sim = sub.add_parser("simulate", help="run simulated devices against a broker")
    source = sim.add_mutually_exclusive_group(required=True)
    source.add_argument("--credentials", type=Path, metavar="FILE",
                        help="JSON list of {device_id, password, kind, scenario}")
    source.add_argument("--register", metavar="URL",
                        help="register new devices through the platform at URL first")
    sim.add_argument("--token", default=os.environ.get("TELEMED_TOKEN"),
                     help="bearer token of a clinician, for --register (env TELEMED_TOKEN)")
    sim.add_argument("--patient", action="append", default=[], metavar="ID",
                     help="patient to attach registered devices to (repeatable)")
    sim.add_argument("--kind", action="append", choices=KINDS, default=[],
                     help="kind of registered devices (repeatable; default: all kinds)")
    sim.add_argument("--save-credentials", type=Path, metavar="FILE",
                     help="write the registered devices' credentials here (0600)")
    sim.add_argument("--count", type=int, help="number of devices (default: all / 1)")
    sim.add_argument("--rate", type=float, default=0.2,
                     help="packs per second per device (default 0.2)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=18830)
    sim.add_argument("--tls", action="store_true", help="connect with TLS (mqtts)")
    sim.add_argument("--ca-file", help="CA bundle for --tls (default: the system's)")
    sim.add_argument("--insecure", action="store_true", help="do not verify the certificate")
    sim.add_argument("--protocol", choices=["3.1.1", "5"], default="5")
    sim.add_argument("--scenario", choices=list(SCENARIOS),
                     help="scenario for every device (default: each device's own, or stable)")
    sim.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    sim.add_argument("--time-scale", type=float, default=1.0,
                     help="simulated seconds per real second; needs --duration")
    sim.add_argument("--follow-schedule", action="store_true",
                     help="measure at the times of the care plan's config topic")
    sim.add_argument("--units", choices=["canonical", "alternative"], default="canonical",
                     help="report canonical units, or other accepted ones (mmol/L, [degF]...)")
    sim.add_argument("--buffer", type=Path, default=Path("telemed-device-buffer.db"),
                     help="SQLite outbox file (default ./telemed-device-buffer.db)")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--no-progress", action="store_true", help="no progress bar")
    sub.add_parser("kinds", help="list device kinds and scenarios")
    return parser


async def _devices(args: argparse.Namespace) -> list[DeviceCredentials]:
    if args.credentials is not None:
        devices = load_credentials(args.credentials)
        if args.count is not None:
            devices = devices[: args.count]
    else:
        if not args.token:
            raise ValueError("--register needs --token (or TELEMED_TOKEN)")
        devices = await register_devices(
            args.register, args.token, count=args.count or 1, patient_ids=args.patient,
            kinds=args.kind or list(KINDS), scenario=args.scenario or "stable",
            replayed_seconds=(args.duration or 0) * (args.time_scale - 1)
            if args.time_scale > 1 else 0.0)
        if args.save_credentials is not None:
            save_credentials(args.save_credentials, devices)
    if args.scenario:
        devices = [DeviceCredentials(d.device_id, d.password, d.kind, args.scenario, d.serial,
                                     d.patient_id, d.timezone) for d in devices]
    return devices


async def _simulate(args: argparse.Namespace) -> str:
    from tqdm import tqdm

    devices = await _devices(args)
    tls = TlsOptions(args.ca_file, args.insecure) if args.tls else None
    options = SimulationOptions(
        host=args.host, port=args.port, tls=tls, protocol=args.protocol, rate=args.rate,
        duration=args.duration, time_scale=args.time_scale,
        follow_schedule=args.follow_schedule, buffer_path=args.buffer, seed=args.seed,
        unit_style=args.units)
    total = None
    if args.duration and not args.follow_schedule:
        total = int(len(devices) * args.rate * args.duration)
    with tqdm(total=total, unit="pack", disable=args.no_progress, dynamic_ncols=True,
              desc=f"{len(devices)} devices") as bar:
        report = await Simulator(devices, options, progress=bar).run()
    return report.summary()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `telemed-device` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "kinds":
        for kind in KINDS:
            print(f"{kind}: {', '.join(KIND_METRICS[kind])}")
        print("scenarios: " + ", ".join(SCENARIOS))
        return 0
    try:
        print(asyncio.run(_simulate(args)))
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"telemed-device: {exc}", file=sys.stderr)
        return 2
    return 0
