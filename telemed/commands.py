"""What the command line does, one function per command."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import text

from telemed.db import migrate
from telemed.db.engine import make_engine, make_session_factory
from telemed.domain.audit_reasons import because
from telemed.errors import ApiError
from telemed.heap import settle_heap
from telemed.settings import Role, Settings

log = logging.getLogger("telemed")


class CommandError(Exception):
    """A command failed for a reason the user can act on (one line)."""


def _explain(exc: ApiError) -> str:
    if exc.fields:
        return "; ".join(f"{field}: {message}" for field, message in exc.fields.items())
    return exc.message


def db_upgrade(settings: Settings) -> None:
    """Apply the Alembic migrations."""
    try:
        migrate.upgrade(settings.effective_database_url, timezone=settings.timezone)
    except Exception as exc:
        raise CommandError(f"database upgrade failed: {exc}") from exc


async def schema_revision(settings: Settings) -> str | None:
    """The revision the database is at (None when never migrated)."""
    engine = make_engine(settings.effective_database_url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text("SELECT version_num FROM alembic_version"))
            row = result.first()
            return str(row[0]) if row else None
    except Exception:
        return None
    finally:
        await engine.dispose()


def serve(settings: Settings, role: Role = "serve") -> None:
    """Run the platform (or one role of it) until interrupted.

    serve = web + signalling + ingest + scheduler; web = the site and API only; ingest = the
    MQTT ingest worker and the scheduler, with /healthz, /readyz and /metrics on HTTP_PORT.
    """
    from aiohttp import web

    from telemed.app import create_app  # the whole platform: only `serve` loads it

    if settings.effective_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    if asyncio.run(schema_revision(settings)) != migrate.current_revision_head():
        raise CommandError("the database is not up to date: run `telemed db upgrade` first")
    app = create_app(settings, role)
    settle_heap()
    if role == "ingest":
        print(f"Telemed ingest worker running (health on {settings.http_host}:"
              f"{settings.http_port})", flush=True)
    else:
        print(f"Telemed is running at {settings.effective_public_url}/", flush=True)
    from telemed.broker import BrokerError

    try:
        web.run_app(app, host=settings.http_host, port=settings.http_port, print=None,
                    access_log=None, shutdown_timeout=10)
    except BrokerError as exc:
        raise CommandError(f"broker: {exc}") from None
    except OSError as exc:
        raise CommandError(f"cannot listen on {settings.http_host}:{settings.http_port}: "
                           f"{exc.strerror or exc}") from None


async def add_user(
    settings: Settings,
    username: str,
    password: str,
    role: str,
    display_name: str,
    patient_id: str | None,
    email: str | None = None,
    phone: str | None = None,
) -> str:
    """Create a user; return its id."""
    from telemed.services import audit
    from telemed.services.users import create_user

    engine = make_engine(settings.effective_database_url)
    try:
        async with make_session_factory(engine)() as session:
            try:
                user = await create_user(session, username=username, password=password,
                                         role=role, display_name=display_name,
                                         patient_id=patient_id, email=email,
                                         phone=phone)
            except ApiError as exc:
                raise CommandError(_explain(exc)) from None
            audit.record(session, actor=None, action="create", resource="user",
                         resource_id=user.id, patient_id=patient_id, reason=because("command_line"))
            await session.commit()
            return user.id
    finally:
        await engine.dispose()


async def add_device(settings: Settings, serial: str, kind: str, patient_id: str,
                     assigned_from: datetime | None = None) -> str:
    """Register a device; return its credentials as printable text (shown this once).

    Uses the configured broker: MQTT_URL's, or the private one `telemed serve` runs (when it
    is not running, a private Mosquitto is started for the duration of the command).
    """
    from telemed.broker import BrokerError
    from telemed.broker.runtime import open_broker
    from telemed.broker.topics import DeviceTopics
    from telemed.services.devices import register_device

    engine = make_engine(settings.effective_database_url)
    try:
        async with (open_broker(settings, private="start_if_down") as broker,
                    make_session_factory(engine)() as session):
            registration = await register_device(
                session, broker.dynsec, None, serial=serial, kind=kind, patient_id=patient_id,
                assigned_from=assigned_from)
    except ApiError as exc:
        raise CommandError(_explain(exc)) from None
    except BrokerError as exc:
        raise CommandError(f"broker: {exc}") from None
    finally:
        await engine.dispose()
    device = registration.device
    topics = DeviceTopics.of(device.id)
    return "\n".join([
        f"Device {serial} ({kind}) registered for patient {patient_id}"
        + (f" since {assigned_from.isoformat()}." if assigned_from else "."),
        "The password is shown only now: store it in the device.",
        f"  device id       {device.id}",
        f"  broker          {broker.info.address} ({broker.info.url})",
        f"  MQTT username   {device.id}",
        f"  MQTT client id  {device.id}",
        f"  MQTT password   {registration.password}",
        f"  publish         {topics.readings}  (SenML JSON, QoS 1)",
        f"  publish         {topics.status}  (retained online/offline, also the will)",
        f"  subscribe       {topics.config}  (retained measurement schedule)",
        f"  subscribe       {topics.errors}  (why a pack or record was rejected)",
    ])


def demo(settings: Settings, *, seed_only: bool = False, devices_only: bool = False) -> None:
    """Seed the demo region and, unless `seed_only`, stream its simulated devices."""
    from telemed.broker import BrokerError
    from telemed.demo import seed

    if not devices_only:
        print(asyncio.run(seed(settings)), flush=True)
    if seed_only:
        return
    from telemed.demo_devices import ensure_demo_devices, stream_demo_devices

    async def run() -> None:
        devices = await ensure_demo_devices(settings)
        await stream_demo_devices(settings, devices)

    try:
        asyncio.run(run())
    except BrokerError as exc:
        raise CommandError(f"broker: {exc} (is `telemed serve` running?)") from None


def verify_document(settings: Settings, path: Path, anchor: Path | None = None) -> tuple[bool, str]:
    """`telemed document verify FILE`: is a PDF or FHIR Bundle intact, and who sealed it?

    Checked against ``anchor`` (PEM), else TELEMED_SEAL_TRUST_ANCHOR, else the seal in use
    (the demo seal under development). Returns (ok, the lines to print)."""
    from cryptography import x509

    from telemed.documents.seal import load_seal
    from telemed.documents.signing import verify_any

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    source = anchor or (Path(settings.seal_trust_anchor) if settings.seal_trust_anchor
                        else None)
    if source is not None:
        try:
            anchors = tuple(x509.load_pem_x509_certificates(source.read_bytes()))
        except (OSError, ValueError):
            raise CommandError(f"cannot read the trust anchor {source}") from None
    else:
        seal = load_seal(settings)
        if seal is None:
            raise CommandError("no trust anchor: give --anchor FILE or set "
                               "TELEMED_SEAL_TRUST_ANCHOR")
        anchors = seal.anchors
    verdict = verify_any(data, anchors)
    lines = [f"{path}: {'INTACT' if verdict.intact else 'NOT INTACT'}, "
             f"{'trusted' if verdict.trusted else 'NOT trusted'} ({verdict.format})"]
    if verdict.seal:
        lines.append(f"seal: {verdict.seal}")
    if verdict.signed_by:
        lines.append(f"signed by: {verdict.signed_by}")
    if verdict.signed_at:
        lines.append(f"signed at: {verdict.signed_at}")
    if verdict.reason:
        lines.append(f"reason: {verdict.reason}")
    return verdict.ok, "\n".join(lines)
