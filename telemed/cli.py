"""Command line: `telemed serve|web|ingest|db upgrade|user add|device add|document verify|demo`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from telemed.logs import LOG_FORMATS, setup_logging
from telemed.settings import SettingsError, load_settings


def _aware_time(text: str) -> datetime:
    """An ISO 8601 time with its UTC offset (argparse type)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"give the time with its offset: {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telemed", description="Telemed platform")
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--log-format", default="auto", choices=LOG_FORMATS,
                        help="json lines, text, or auto (text on a terminal, else json)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", help="web, signalling, ingest and scheduler in one process")
    sub.add_parser("web", help="web and signalling only")
    sub.add_parser("ingest", help="ingest worker only")
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations")
    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser("add", help="create a user and print its id")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["admin", "doctor", "nurse", "patient"])
    add.add_argument("--patient", dest="patient_id", help="patient id (role patient)")
    add.add_argument("--display-name", help="name shown in the UI (default: the username)")
    add.add_argument("--email", help="where notifications are sent (the user can change it)")
    add.add_argument("--phone", help="phone number in international form, e.g. +39 333 1234567")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input")
    device = sub.add_parser("device", help="manage devices")
    device_sub = device.add_subparsers(dest="device_command", required=True, metavar="ACTION")
    dadd = device_sub.add_parser("add", help="register a device and print its MQTT credentials")
    dadd.add_argument("serial")
    dadd.add_argument("--kind", required=True,
                      choices=["bp_cuff", "pulse_oximeter", "scale", "thermometer",
                               "glucometer", "multi"])
    dadd.add_argument("--patient", dest="patient_id", required=True)
    dadd.add_argument("--since", dest="assigned_from", type=_aware_time, default=None,
                      help="the patient has had the device since this ISO 8601 time with its "
                           "offset (at most 30 days ago; default: now); its readings from "
                           "before it are refused")
    document = sub.add_parser("document", help="clinical documents")
    doc_sub = document.add_subparsers(dest="document_command", required=True, metavar="ACTION")
    verify = doc_sub.add_parser("verify", help="check that a signed PDF or FHIR Bundle is "
                                "intact and who sealed it (exit 0 only when it is)")
    verify.add_argument("file", type=Path)
    verify.add_argument("--anchor", type=Path, default=None,
                        help="PEM file of the trusted CA certificates (default: "
                             "TELEMED_SEAL_TRUST_ANCHOR, or the demo seal's CA)")
    demo = sub.add_parser("demo", help="seed the demo region and run simulated devices")
    only = demo.add_mutually_exclusive_group()
    only.add_argument("--seed-only", action="store_true", help="seed data, start no devices")
    only.add_argument("--devices-only", action="store_true",
                      help="only run the simulated devices (the region is already seeded)")
    return parser


def _fail(message: str) -> int:
    print(f"telemed: {message}", file=sys.stderr)
    return 2


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise ValueError("passwords do not match")
    return first


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `telemed` console script."""
    args = _parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    if args.log_level != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        return _fail(str(exc))
    from telemed import commands

    try:
        if args.command in ("serve", "web", "ingest"):
            if args.command != "ingest":
                from telemed.documents.seal import load_seal

                load_seal(settings)  # a bad seal stops the start, naming its setting
            commands.serve(settings, role=args.command)
            return 0
        if args.command == "db":
            commands.db_upgrade(settings)
            print("database is up to date")
            return 0
        if args.command == "user":
            password = _read_password(args.password_stdin)
            user_id = asyncio.run(
                commands.add_user(settings, args.username, password, args.role,
                                  args.display_name or args.username, args.patient_id,
                                  args.email, args.phone)
            )
            print(user_id)
            return 0
        if args.command == "device":
            print(asyncio.run(commands.add_device(settings, args.serial, args.kind,
                                                  args.patient_id, args.assigned_from)))
            return 0
        if args.command == "document":
            intact, report = commands.verify_document(settings, args.file, args.anchor)
            print(report)
            return 0 if intact else 1
        if args.command == "demo":
            commands.demo(settings, seed_only=args.seed_only, devices_only=args.devices_only)
            return 0
    except (commands.CommandError, SettingsError) as exc:
        return _fail(str(exc))
    except ValueError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    return _fail(f"unknown command {args.command}")

