"""Population benchmark (issue #16): prints figures, is not a test.

    .venv/bin/python -m bench.population [--sizes 10,20000] [--postgres] [--samples 5]
                                         [--budget 900] [--only vitals,scheduler] [--plans]

For each size N, in a fresh database (SQLite in a temporary directory, or a new PostgreSQL
database on the local server with --postgres), it seeds the shape of a region's population
with bulk SQL, rows as the services write them:
- one doctor and one nurse (created through the users service), N patients with valid fiscal
  codes, each in both care teams, with the consent collected at enrolment and an active care
  plan (SpO2 twice a day; the first patient: continuous SpO2 and heart rate), one device each;
- 30 days of minute-by-minute SpO2 and heart rate for the first patient (a dip and a spike in
  them, so a chart that hides extremes shows it);
- 2,000 open alerts (fewer when N is small), with their audit rows and sequence numbers;
- the scheduler's state as a pass just before would have left it;
- with the ``digest`` or ``visits`` groups: a few hundred staff users (specialists), and a
  portal user (with an email address) for every fourth patient;
- ``digest``: the doctor, the nurse and the staff users choosing the daily digest for the
  routine teleconsult and co-signature kinds, half the portal users for
  ``document_available``, each with the notifications of yesterday held for it (and one read
  notification of history per portal user);
- ``fhir``: a questionnaire response of every other patient and a signed document of every
  fourth (the doctor's FHIR searches without ``patient=``: Patient, Observation, Flag,
  CarePlan, DocumentReference, QuestionnaireResponse; with ``--plans`` on PostgreSQL, the
  rows each of their statements read, by ``EXPLAIN ANALYZE``);
- ``visits``: two visits per patient from 60 days ago to 30 days ahead (completed, scheduled,
  one in ten cancelled), one in eight a clinicians-only teleconsult (``patient_invited``
  false) of the doctor and a specialist, the others the doctor's or the nurse's.

Then it starts the real app (``telemed.app.create_app``, role ``web``) on a free port and times
each request of the issue's table: p50/p95 over a few samples (fewer when a request is slow),
the SQL statements each one ran (a ``before_cursor_execute`` counter on the app's engine), and
what the page or stream returned. A scheduler pass (``telemed.ingest.scheduler.run_once``) and
the delivery worker's digest passes (``telemed.notify.digests.make_due`` at chosen instants of
yesterday's clock: before any digest time, at 07:00, at 07:30; then one delivery pass of the
summaries' emails) are timed in the same process. The whole run is bounded: past
``--budget`` seconds every remaining request gets one sample and the table says so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.databases import postgres_database, sqlite_database
from telemed import keys
from telemed.app import create_app
from telemed.db.engine import make_engine, make_session_factory
from telemed.db.models import (
    Alert,
    AuditEvent,
    CarePlan,
    CareTeamMember,
    Consent,
    Device,
    Document,
    Notification,
    Observation,
    Patient,
    PatientSearchTerm,
    QuestionnaireResponse,
    RuleState,
    User,
    Visit,
    VisitParticipant,
)
from telemed.db.types import new_id
from telemed.domain import alert_detail
from telemed.domain.careplans import parse_careplan_content
from telemed.domain.digest import next_digest_at, stored_time
from telemed.domain.fiscal_code import build_fiscal_code
from telemed.domain.local_time import zone
from telemed.domain.quiet import fold_key
from telemed.domain.search_terms import patient_terms
from telemed.ingest.scheduler import run_once
from telemed.notify import digests
from telemed.notify.messages import initials
from telemed.notify.setup import NOTIFIER
from telemed.security import hash_password
from telemed.services.users import create_user
from telemed.settings import Settings, load_settings
from tests.helpers.net import free_port, running
from tests.helpers.query_plans import analyzed, captured, rows_read

SECRET = "bench-population-secret-0123456789abcdef"
PASSWORD = "bench-password-123456"
OPEN_ALERTS = 2_000
DAYS = 30
CHUNK = 2_000

GIVEN = ("Mario", "Giulia", "Luca", "Francesca", "Giuseppe", "Anna", "Antonio", "Maria",
         "Giovanni", "Chiara", "Niccolò", "Elena", "Salvatore", "Lucia", "Andrea", "Sara",
         "Francesco", "Marta", "Paolo", "Federica", "Stefano", "Valentina", "Roberto", "Ilaria")
FAMILY = ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
          "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa",
          "Giordano", "Rizzo", "Lombardi", "Moretti", "Barbieri", "Fontana", "Santoro",
          "Mariani", "Rinaldi", "Caruso", "Ferrara", "Galli", "Martini", "Leone", "Longo",
          "Gentile", "Martinelli", "Vitale", "Lombardo", "Serra", "Coppola", "De Santis",
          "D'Angelo", "Marchetti", "Parisi", "Villa", "Conte", "Ferraro", "Ferri", "Fabbri",
          "Bianco", "Marini", "Grasso", "Valentini", "Messina", "Sala", "De Angelis", "Gatti",
          "Pellegrini", "Palumbo", "Sanna", "Farina", "Rizzi", "Monti", "Cattaneo", "Morelli",
          "Amato", "Silvestri", "Mazza", "Testa", "Grassi", "Pellegrino", "Carbone", "Giuliani",
          "Benedetti", "Barone", "Rossetti", "Caputo", "Montanari", "Guerra", "Palmieri",
          "Bernardi", "Martino", "Fiore", "De Rosa", "Ferretti", "Bellini", "Basile", "Riva",
          "Donati", "Piras", "Vitali", "Battaglia", "Sartori", "Neri", "Costantini", "Milani",
          "Pagano", "Ruggiero", "Sorrentino", "D'Amico", "Orlando", "Damico", "Negri")
PLACES = ("Roma", "Milano", "Napoli", "Torino", "Bologna", "Firenze", "Bari", "Palermo")

COPD_PLAN = {
    "monitoring": [{"metric": "spo2", "schedule": {"times": ["08:00", "20:00"],
                                                   "tolerance_minutes": 90},
                    "bands": {"critical_low": 88, "warning_low": 92}}],
    "news2": {"enabled": False, "spo2_scale": 2, "on_oxygen": False},
    "silence_hours": 26,
    "escalate_after_minutes": 15,
}
WEARABLE_PLAN = {
    "monitoring": [
        {"metric": "spo2", "schedule": {"continuous": True},
         "bands": {"critical_low": 88, "warning_low": 92}},
        {"metric": "heart_rate", "schedule": {"continuous": True},
         "bands": {"critical_low": 40, "warning_low": 50, "warning_high": 110,
                   "critical_high": 130}},
    ],
    "silence_hours": 2,
    "escalate_after_minutes": 15,
}


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


# --- databases ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_database(tmp: Path, postgres: bool, size: int) -> AsyncIterator[str]:
    """A migrated, empty database URL, dropped (PostgreSQL) or deleted afterwards."""
    if not postgres:
        yield await sqlite_database(tmp / f"population-{size}.db")
        return
    async with postgres_database(f"telemed_population_{os.getpid()}_{size}") as url:
        yield url


# --- seeding -----------------------------------------------------------------------------


@dataclass
class Seeded:
    """What the requests need to know about the seeded population."""

    size: int
    doctor: str
    nurse: str
    wearer: str  # the patient with 30 days of per-minute readings
    alert_id: str
    open_alerts: int
    search: str
    readings: int
    seconds: float
    doctor_id: str = ""
    nurse_id: str = ""
    patient_ids: list[str] = field(default_factory=list)
    portal: str = ""  # a portal user whose patient has a clinicians-only visit
    extras: str = ""  # what `seed_extras` added, for the log


def person(n: int) -> tuple[str, str, date, str, str]:
    """Given name, family name, birth date, sex, birthplace of the n-th patient.

    Birth date and sex come from n itself (one pair per patient), so fiscal codes never clash.
    """
    birth = date(1930, 1, 1) + timedelta(days=n // 2)
    return (GIVEN[n % len(GIVEN)], FAMILY[(n // len(GIVEN)) % len(FAMILY)], birth,
            "MF"[n % 2], PLACES[n % len(PLACES)])


async def _bulk(engine: AsyncEngine, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        async with engine.begin() as conn:
            await conn.execute(insert(table), rows[start:start + CHUNK])


def _table(model: Any) -> Any:
    return model.__table__


async def analyze(url: str) -> None:
    """Fresh planner statistics after a bulk load (PostgreSQL)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


async def seed(url: str, size: int) -> Seeded:
    started = time.monotonic()
    now = datetime.now(UTC)
    engine = make_engine(url)
    try:
        sessions = make_session_factory(engine)
        async with sessions() as session:
            doctor = await create_user(session, username="dr.population", password=PASSWORD,
                                       role="doctor", display_name="Dott. Popolazione",
                                       patient_id=None)
            nurse = await create_user(session, username="inf.population", password=PASSWORD,
                                      role="nurse", display_name="Inf. Popolazione",
                                      patient_id=None)
            await session.commit()
        secret_hash = await asyncio.to_thread(hash_password, "bench-device-password")
        copd = parse_careplan_content(COPD_PLAN).to_dict()
        wearable = parse_careplan_content(WEARABLE_PLAN).to_dict()
        enrolled = now - timedelta(days=60)
        checked = now.isoformat()

        patients: list[dict[str, Any]] = []
        teams, consents, plans, devices, states, audits = [], [], [], [], [], []
        for n in range(size):
            given, family, birth, sex, place = person(n)
            pid = new_id()
            patients.append({
                "id": pid, "fiscal_code": build_fiscal_code(given, family, birth, sex, place),
                "given_name": given, "family_name": family, "birth_date": birth, "sex": sex,
                "phone": None, "timezone": "Europe/Rome", "created_at": enrolled,
                "updated_at": enrolled})
            teams.append({"patient_id": pid, "user_id": doctor.id, "responsible": True,
                          "added_at": enrolled})
            teams.append({"patient_id": pid, "user_id": nurse.id, "responsible": False,
                          "added_at": enrolled})
            consents.append({"id": new_id(), "patient_id": pid, "scope": "record",
                             "grantee_id": None, "granted": True, "recorded_by": doctor.id,
                             "recorded_at": enrolled, "note": "Consent collected at enrolment"})
            plans.append({
                "row_id": new_id(), "plan_id": new_id(), "version": 1, "patient_id": pid,
                "status": "active", "title": "Telemonitoraggio domiciliare",
                "period_start": enrolled.date(), "period_end": None,
                "content": wearable if n == 0 else copd, "is_current": True,
                "created_by": doctor.id, "created_at": enrolled, "activated_at": enrolled,
                "completed_at": None, "superseded_at": None})
            devices.append({
                "id": new_id(), "serial": f"POP-{n:07d}", "kind": "multi" if n == 0
                else "pulse_oximeter", "patient_id": pid, "status": "online",
                "secret_hash": secret_hash, "last_seen": now - timedelta(minutes=n % 600),
                "battery": 80.0, "created_at": enrolled, "revoked_at": None})
            if n > 0:
                states.append({"patient_id": pid, "rule_key": "schedule:spo2",
                               "state": {"checked_until": checked}, "updated_at": now})
            audits.append({"at": enrolled, "actor_id": doctor.id, "actor_role": "doctor",
                           "patient_id": pid, "action": "create", "resource": "patient",
                           "resource_id": pid, "reason": None, "emergency": False,
                           "outcome": "success", "request_id": None})
        for table, rows in ((Patient, patients), (CareTeamMember, teams), (Consent, consents),
                            (CarePlan, plans), (Device, devices), (RuleState, states)):
            await _bulk(engine, _table(table), rows)
        # The search terms the patients service keeps with every patient it writes.
        await _bulk(engine, _table(PatientSearchTerm), [
            {"patient_id": p["id"], "term": term} for p in patients
            for term in sorted(patient_terms(p["given_name"], p["family_name"],
                                             p["fiscal_code"]))])

        # 2,000 open alerts on 2,000 patients (SpO2 low on 1,500, heart rate high on 500); with
        # fewer patients, two per patient (SpO2 and heart rate), one open per rule as always.
        alerts = []
        count = min(OPEN_ALERTS, size * 2)
        for k in range(count):
            n = k % size if k < size else k - size
            metric = "spo2" if k < size and k < OPEN_ALERTS * 3 // 4 else "heart_rate"
            critical = k % 4 == 0
            value = (86.0 if critical else 90.0) if metric == "spo2" else (
                135.0 if critical else 115.0)
            zone = ("critical_low" if critical else "warning_low") if metric == "spo2" else (
                "critical_high" if critical else "warning_high")
            opened = now - timedelta(minutes=5 + k)
            detail = alert_detail.threshold(metric, value, zone, opened)
            alerts.append({
                "id": new_id(), "patient_id": patients[n]["id"],
                "rule_key": f"threshold:{metric}", "kind": "threshold", "metric": metric,
                "severity": "critical" if critical else "warning", "status": "open",
                "recovered": False, "value": value, "detail": detail.text[:500],
                "detail_code": detail.code, "detail_args": detail.args_json(),
                "careplan_id": plans[n]["plan_id"], "careplan_version": 1,
                # Critical alerts older than the plan's 15 minutes were escalated already.
                "escalated": critical and k >= 10, "opened_at": opened, "updated_at": opened,
                "acknowledged_by": None, "acknowledged_at": None, "ack_note": None,
                "resolved_by": None, "resolved_at": None, "resolve_note": None,
                "snoozed_until": None, "seq": count - k})
            audits.append({"at": opened, "actor_id": None, "actor_role": None,
                           "patient_id": patients[n]["id"], "action": "create",
                           "resource": "alert", "resource_id": alerts[-1]["id"],
                           "reason": f"threshold {alerts[-1]['severity']}: {detail.text}"[:1000],
                           "emergency": False, "outcome": "success", "request_id": None})
        await _bulk(engine, _table(Alert), alerts)
        await _bulk(engine, _table(AuditEvent), audits)

        # 30 days of per-minute SpO2 and heart rate for the first patient.
        wearer, device = patients[0]["id"], devices[0]["id"]
        rng = random.Random(16)
        start = (now - timedelta(days=DAYS)).replace(second=0, microsecond=0)
        minutes = DAYS * 24 * 60
        readings: list[dict[str, Any]] = []
        for i in range(minutes):
            at = start + timedelta(minutes=i)
            spo2 = round(96 + rng.gauss(0, 0.8))
            heart = round(72 + 8 * math.sin(i / 1440 * 2 * math.pi) + rng.gauss(0, 3))
            if i == minutes // 10:  # one short dip on the third day, one spike on the ninth
                spo2 = 83
            if i == 3 * minutes // 10:
                heart = 164
            for metric, value, unit in (("spo2", spo2, "%"), ("heart_rate", heart, "/min")):
                readings.append({"patient_id": wearer, "device_id": device, "metric": metric,
                                 "value": float(min(spo2, 100)) if metric == "spo2"
                                 else float(value), "unit": unit, "time": at,
                                 "received_at": at + timedelta(seconds=2), "late": False})
        await _bulk(engine, _table(Observation), readings)
    finally:
        await engine.dispose()
    if url.startswith("postgresql"):
        await analyze(url)
    first_alert = alerts[0]["id"]
    return Seeded(size=size, doctor="dr.population", nurse="inf.population",
                  wearer=str(wearer), alert_id=str(first_alert), open_alerts=count,
                  search=person(size // 2)[1],
                  readings=len(readings), seconds=time.monotonic() - started,
                  doctor_id=doctor.id, nurse_id=nurse.id,
                  patient_ids=[p["id"] for p in patients])


# --- seeding: staff, portal users, digests and visits (groups digest and visits) ----------

STAFF_TIMES = ("07:00", None, "08:00", "12:30", "18:00")  # None: the default 07:30
STAFF_KINDS = ["document_cosign", "teleconsult_request", "teleconsult_update"]
MOVES = ("accepted", "more_info", "answered", "declined")


def staff_count(size: int) -> int:
    """A few hundred specialists and ward staff at a region's size, fewer when small."""
    return max(10, min(300, size // 60))


def yesterday(hour: int, minute: int = 0, days: int = 1) -> datetime:
    """``hour:minute`` of the local day ``days`` before today (the service's clock)."""
    where = zone(None)
    day = datetime.now(where).date() - timedelta(days=days)
    return datetime.combine(day, datetime.min.time().replace(hour=hour, minute=minute),
                            tzinfo=where).astimezone(UTC)


def _user(username: str, role: str, name: str, password_hash: str, *, patient_id: str | None,
          email: str, digest_kinds: list[str] | None, digest_time: str | None,
          created: datetime) -> dict[str, Any]:
    return {"id": new_id(), "username": username, "password_hash": password_hash,
            "role": role, "display_name": name, "patient_id": patient_id, "active": True,
            "language": None, "email": email, "phone": None, "notify_prefs": None,
            "digest_kinds": digest_kinds, "digest_time": digest_time, "failed_logins": 0,
            "locked_until": None, "sessions_valid_after": None, "created_at": created,
            "fiscal_code": None, "totp_secret": None, "totp_last_step": None}


def _notification(user_id: str, kind: str, title_code: str, params: dict[str, Any],
                  link: str, cause: tuple[str, str], at: datetime, *, subject: str | None,
                  held: bool, digest_time: str | None = None,
                  read: bool = False) -> dict[str, Any]:
    """A notification as the outbox records it and the worker's fan-out leaves it (held:
    due at the owner's ``digest_time`` after)."""
    held_at = at + timedelta(seconds=3) if held else None
    return {"id": new_id(), "user_id": user_id, "guest_id": None, "kind": kind,
            "title_code": title_code, "params": params, "link": link,
            "cause_type": cause[0], "cause_id": cause[1], "created_at": at,
            "read_at": at + timedelta(hours=1) if read else None,
            "dispatched_at": at + timedelta(seconds=3), "fold_key": fold_key(kind, subject),
            "fold_count": 1, "folded_at": None, "held_at": held_at, "digest_id": None,
            "due_at": held_at and next_digest_at(held_at, stored_time(digest_time), zone(None))}


async def seed_extras(url: str, seeded: Seeded, digest: bool, visits: bool) -> None:
    """Staff and portal users, then the digests' or the visits' rows (see the docstring)."""
    started = time.monotonic()
    size, pids = seeded.size, seeded.patient_ids
    created = datetime.now(UTC) - timedelta(days=60)
    password_hash = await asyncio.to_thread(hash_password, PASSWORD)
    engine = make_engine(url)
    try:
        staff = [_user(f"staff.{i:03d}", "doctor" if i % 3 else "nurse", f"Dott. Staff {i}",
                       password_hash, patient_id=None, email=f"staff{i}@asl.example",
                       digest_kinds=STAFF_KINDS, digest_time=STAFF_TIMES[i % len(STAFF_TIMES)],
                       created=created) for i in range(staff_count(size))]
        portal = [_user(f"pz.{n:06d}", "patient", " ".join(person(n)[:2]), password_hash,
                        patient_id=pids[n], email=f"pz{n}@mail.example",
                        digest_kinds=["document_available"] if n % 8 == 0 else None,
                        digest_time=None if n % 16 == 0 else "19:00", created=created)
                  for n in range(0, size, 4)]
        await _bulk(engine, _table(User), staff + portal)
        seeded.portal = "pz.000004" if size > 4 else "pz.000000"
        said = [f"{len(staff)} staff users, {len(portal):,} portal users"]
        if digest:
            async with engine.begin() as conn:
                await conn.execute(
                    _table(User).update()
                    .where(_table(User).c.id.in_([seeded.doctor_id, seeded.nurse_id]))
                    .values(email="reparto@asl.example", digest_kinds=STAFF_KINDS))
            said.append(await _seed_digests(engine, seeded, staff, portal))
        if visits:
            said.append(await _seed_visits(engine, seeded, staff))
    finally:
        await engine.dispose()
    seeded.extras = "; ".join(said) + f" (in {time.monotonic() - started:.1f} s)"


async def _seed_digests(engine: AsyncEngine, seeded: Seeded, staff: list[dict[str, Any]],
                        portal: list[dict[str, Any]]) -> str:
    """Yesterday's routine news held for the digest: teleconsult moves and co-signatures of
    the staff (the doctor and nurse too), a new document for the portal users who chose it;
    and one read notice of history per portal user."""
    rows: list[dict[str, Any]] = []
    clinicians = [{"id": seeded.doctor_id}, {"id": seeded.nurse_id}, *staff]
    for i, user in enumerate(clinicians):
        for j in range(4 if i < 2 else 3):
            n = (i * 7 + j) % seeded.size
            given, family = person(n)[:2]
            at = yesterday(19 + j, i % 60, days=2)  # after every digest time
            consult = new_id()
            if j == 2:
                rows.append(_notification(
                    user["id"], "document_cosign", "document_cosign",
                    {"initials": initials(given, family)}, f"/teleconsults/{consult}",
                    ("document", new_id()), at, subject=None, held=True,
                    digest_time=user.get("digest_time")))
            else:
                move = MOVES[(i + j) % len(MOVES)]
                rows.append(_notification(
                    user["id"], "teleconsult_update", f"teleconsult_{move}",
                    {"initials": initials(given, family)}, f"/teleconsults/{consult}",
                    ("teleconsult", consult), at, subject=None, held=True,
                    digest_time=user.get("digest_time")))
    held_portal = 0
    for k, user in enumerate(portal):
        pid = str(user["patient_id"])
        rows.append(_notification(user["id"], "visit_changed", "visit_changed", {}, "/visits",
                                  ("visit", new_id()), yesterday(10, k % 60, days=9),
                                  subject=None, held=False, read=True))
        if user["digest_kinds"]:
            held_portal += 1
            rows.append(_notification(
                user["id"], "document_available", "document_available", {},
                f"/patients/{pid}/documents", ("document", new_id()),
                yesterday(19 + k % 4, k % 60, days=2), subject=pid, held=True,
                digest_time=user["digest_time"]))
    await _bulk(engine, _table(Notification), rows)
    return (f"{len(rows) - len(portal):,} notifications held for {len(clinicians)} clinicians "
            f"and {held_portal:,} portal users")


async def _seed_visits(engine: AsyncEngine, seeded: Seeded, staff: list[dict[str, Any]]) -> str:
    """Two visits per patient, as `services.visits.schedule_visit` writes them."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    visits: list[dict[str, Any]] = []
    invited: list[dict[str, Any]] = []
    span = 90 * 24 * 60  # minutes from 60 days ago to 30 days ahead
    hidden = 0
    for k in range(seeded.size * 2):
        pid = seeded.patient_ids[k // 2]
        start = now - timedelta(days=60) + timedelta(minutes=(k * 7919) % span)
        start = start.replace(minute=start.minute - start.minute % 15)
        clinicians_only = k % 8 == 0
        hidden += clinicians_only
        status = ("cancelled" if k % 10 == 3 else "completed" if start < now else "scheduled")
        vid = new_id()
        visits.append({
            "id": vid, "kind": "teleconsult" if clinicians_only else "televisit",
            "patient_id": pid, "scheduled_start": start, "duration_minutes": 30,
            "status": status, "started_at": start if status == "completed" else None,
            "ended_at": start + timedelta(minutes=25) if status == "completed" else None,
            "created_by": seeded.doctor_id, "created_at": start - timedelta(days=7),
            "patient_invited": not clinicians_only})
        if clinicians_only:
            people = [seeded.doctor_id, str(staff[k % len(staff)]["id"])]
        else:
            people = [seeded.doctor_id if k % 2 == 0 else seeded.nurse_id]
        invited += [{"visit_id": vid, "user_id": u, "scheduled_start": start} for u in people]
    await _bulk(engine, _table(Visit), visits)
    await _bulk(engine, _table(VisitParticipant), invited)
    return f"{len(visits):,} visits ({hidden:,} clinicians-only)"


async def seed_records(url: str, seeded: Seeded) -> str:
    """For the FHIR searches (group ``fhir``): a questionnaire response of every other patient
    and a signed document of every fourth, over the last 60 days."""
    now = datetime.now(UTC)
    pids = seeded.patient_ids
    answers = {"breathlessness": 1, "orthopnoea": 0, "ankle_swelling": 1, "fatigue": 1}
    responses = [QuestionnaireResponse(
        patient_id=pid, questionnaire="hf_diary", answers=answers, score=3, band="watch",
        entered_by=seeded.nurse_id, authored_at=now - timedelta(minutes=(n * 7919) % 86_400),
    ).model_dump() for n, pid in enumerate(pids) if n % 2 == 0]
    documents = []
    for n, pid in enumerate(pids):
        if n % 4 == 0:
            signed = now - timedelta(minutes=(n * 6007) % 86_400)
            documents.append(Document(
                patient_id=pid, kind="televisit_report", title="Referto di televisita",
                status="signed", author_id=seeded.doctor_id, created_at=signed,
                updated_at=signed, signed_at=signed, signed_by=seeded.doctor_id,
                bundle="{}").model_dump())
    engine = make_engine(url)
    try:
        await _bulk(engine, _table(QuestionnaireResponse), responses)
        await _bulk(engine, _table(Document), documents)
    finally:
        await engine.dispose()
    if url.startswith("postgresql"):
        await analyze(url)
    return f"{len(responses):,} questionnaire responses, {len(documents):,} signed documents"


# --- the running app ---------------------------------------------------------------------


def settings_for(tmp: Path, url: str, port: int) -> Settings:
    return load_settings(env="test", data_dir=tmp, database_url=url, secret_key=SECRET,
                         http_host="127.0.0.1", http_port=port,
                         public_url=f"http://127.0.0.1:{port}", language="en",
                         api_rate_per_minute=1_000_000, scheduler_interval=0)


class CpuMeter:
    """CPU seconds of this process (every thread: the handler and SQLite's) spent inside the
    app's request handlers, added up: a ``process_time`` around each request, the first
    middleware. Wall times on a shared machine measure its load as much as the code; this
    measures the code (not the PostgreSQL server's work: another process)."""

    def __init__(self, app: web.Application) -> None:
        self.seconds = 0.0
        self.requests = 0
        app.middlewares.insert(0, self._middleware)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.endswith("/stream"):  # lives on: its time is the whole process's
            stream: web.StreamResponse = await handler(request)
            return stream
        started = time.process_time()
        try:
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            self.seconds += time.process_time() - started
            self.requests += 1


class StatementCounter:
    """SQL statements the app's engine sent, via ``before_cursor_execute``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        self.count += 1


async def cookie_session(base: str, username: str) -> aiohttp.ClientSession:
    """A browser-like session logged in through the login form."""
    # An IP-address host: the default cookie jar would refuse the session cookie.
    http = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get("/login") as resp:
        page = await resp.text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    form = {"username": username, "password": PASSWORD}
    if found:
        form["csrf_token"] = found.group(1)
    async with http.post("/login", data=form, allow_redirects=False) as resp:
        if resp.status != 303:
            raise RuntimeError(f"login of {username}: HTTP {resp.status}")
    return http


async def bearer(base: str, username: str) -> dict[str, str]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{base}/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    ) as resp:
        data = await resp.json()
    return {"Authorization": f"Bearer {data['access_token']}"}


# --- measuring ---------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table."""

    label: str
    times: list[float] = field(default_factory=list)  # seconds
    statements: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # seconds inside the handlers
    note: str = ""
    cut: bool = False  # fewer samples than asked, the budget ran out

    def cells(self) -> tuple[str, str, str]:
        if not self.times:
            return "–", "–", "–"
        p50 = statistics.median(self.times)
        p95 = percentile(self.times, 95)
        stmts = max(self.statements) if self.statements else 0
        return _secs(p50), _secs(p95) + ("*" if self.cut else ""), f"{stmts:,}"

    def cpu_cell(self) -> str:
        """The median CPU time in the app per request ("–" where not measured)."""
        return f"{statistics.median(self.cpu) * 1000:.0f} ms" if self.cpu else "–"


def _secs(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


class Bench:
    """Times requests against the running app within an overall budget."""

    def __init__(self, counter: StatementCounter, cpu: CpuMeter, samples: int,
                 budget: float) -> None:
        self.counter = counter
        self.cpu = cpu
        self.samples = samples
        self.deadline = time.monotonic() + budget
        self.rows: list[Row] = []

    @property
    def over_budget(self) -> bool:
        return time.monotonic() > self.deadline

    async def measure(self, label: str, call: Callable[[], Awaitable[str]],
                      samples: int | None = None) -> Row:
        """Run ``call`` a few times: fewer when it is slow (> 2 s: 2, > 10 s: 1)."""
        row = Row(label)
        wanted = samples or self.samples
        while len(row.times) < wanted:
            before, cpu, requests = self.counter.count, self.cpu.seconds, self.cpu.requests
            started, process = time.perf_counter(), time.process_time()
            row.note = await call()
            row.times.append(time.perf_counter() - started)
            row.statements.append(self.counter.count - before)
            # Not a request (the scheduler's pass): the CPU of the call itself.
            row.cpu.append(self.cpu.seconds - cpu if self.cpu.requests > requests
                           else time.process_time() - process)
            slowest = max(row.times)
            if (slowest > 10 or (slowest > 2 and len(row.times) >= 2)
                    or self.over_budget) and len(row.times) < wanted:
                row.cut = True
                break
        self.rows.append(row)
        print(f"  {label}: {' / '.join(row.cells())}, CPU {row.cpu_cell()} {row.note}",
              flush=True)
        return row


async def fetch_text(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, str]:
    async with http.get(url, **kwargs) as resp:
        return resp.status, await resp.text()


def _check(status: int, what: str) -> None:
    if status != 200:
        raise RuntimeError(f"{what}: HTTP {status}")


def probe(http: aiohttp.ClientSession, url: str, said: Callable[[str], str], *,
          what: str | None = None, **kwargs: Any) -> Callable[[], Awaitable[str]]:
    """A measured step: GET `url` (``kwargs``: params, headers), refuse anything but 200
    (naming `what`, default the url), and say the body with `said`."""
    async def step() -> str:
        status, body = await fetch_text(http, url, **kwargs)
        _check(status, what or url)
        return said(body)
    return step


def _rows(body: str) -> int:
    return body.count("<tr") - 1


def _kb(body: str) -> str:
    return f"{len(body) / 1024:.0f} KB"


def _reports(body: str) -> int:
    """The visit reports a page links to."""
    return body.count('/report">')


def _items(body: str) -> str:
    return f"({len(json.loads(body)['items'])} items)"


async def page_to_end(http: aiohttp.ClientSession, headers: dict[str, str], size: int,
                      budget: float) -> tuple[float, int, bool, int]:
    """Page /api/v1/patients?limit=200 to the end within ``budget`` seconds.

    Returns (seconds, pages, extrapolated, items seen): past the budget the time of the
    remaining pages is extrapolated from the mean of the pages fetched.
    """
    started = time.perf_counter()
    cursor: str | None = None
    pages = items = 0
    expected = max(1, math.ceil(size / 200))
    while True:
        params = {"limit": "200"} | ({"cursor": cursor} if cursor else {})
        async with http.get("/api/v1/patients", params=params, headers=headers) as resp:
            _check(resp.status, "patients page")
            body = await resp.json()
        pages += 1
        items += len(body["items"])
        cursor = body.get("next_cursor")
        elapsed = time.perf_counter() - started
        if not cursor:
            return elapsed, pages, False, items
        if elapsed > budget:
            total_pages = max(expected, pages + 1)
            return elapsed / pages * total_pages, total_pages, True, items


async def stream_first_byte(base: str, headers: dict[str, str], quiet: float = 1.5,
                            limit: float = 120.0) -> tuple[float, int, int]:
    """(seconds to the first event, distinct alerts replayed, bytes) of one alert stream.

    The replay ends when the stream has been quiet for ``quiet`` seconds after an event.
    """
    started = time.perf_counter()
    first: float | None = None
    ids: set[str] = set()
    size = 0
    data: list[str] = []
    timeout = aiohttp.ClientTimeout(total=limit + quiet + 5)
    async with aiohttp.ClientSession(timeout=timeout) as http, http.get(
            f"{base}/api/v1/alerts/stream", headers=headers) as resp:
        _check(resp.status, "alert stream")
        while True:
            wait = limit if first is None else quiet
            try:
                raw = await asyncio.wait_for(resp.content.readline(), wait)
            except TimeoutError:
                break
            if not raw:
                break
            size += len(raw)
            line = raw.decode().rstrip("\r\n")
            if line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                if first is None:
                    first = time.perf_counter() - started
                with contextlib.suppress(ValueError):
                    payload = json.loads("".join(data))
                    if isinstance(payload, dict) and payload.get("status") != "resolved":
                        ids.add(str(payload.get("id")))
                data = []
    return (first if first is not None else time.perf_counter() - started), len(ids), size


async def chart_data(http: aiohttp.ClientSession, headers: dict[str, str], patient: str,
                     span: timedelta) -> tuple[int, float, str]:
    """What the vitals chart script loads for one period: (points, hours covered, how).

    The server-side series (``/observations/series``) when the app has it, otherwise the raw
    readings the script used to page through: 200 at a time, newest first, at most 1,000.
    """
    now = datetime.now(UTC)
    since = (now - span).isoformat()
    points = 0
    covered = 0.0
    base = f"/api/v1/patients/{patient}/observations"
    async with http.get(f"{base}/series", headers=headers,
                        params={"metric": "spo2,heart_rate", "since": since,
                                "until": now.isoformat()}) as resp:
        if resp.status == 200:
            body = await resp.json()
            for series in body["series"]:
                buckets = series["buckets"]
                points = max(points, len(buckets))
                if buckets:
                    first = datetime.fromisoformat(buckets[0]["t"])
                    last = datetime.fromisoformat(buckets[-1]["t"])
                    width = float(body["bucket_seconds"]) / 3600
                    covered = max(covered, (last - first).total_seconds() / 3600 + width)
            return points, covered, "server series"
        if resp.status != 404:
            raise RuntimeError(f"series: HTTP {resp.status} {await resp.text()}")
    for metric in ("spo2", "heart_rate"):
        times: list[datetime] = []
        cursor: str | None = None
        while True:
            params = {"metric": metric, "since": since, "limit": "200"} | (
                {"cursor": cursor} if cursor else {})
            async with http.get(base, headers=headers, params=params) as resp:
                _check(resp.status, "observations")
                body = await resp.json()
            times += [datetime.fromisoformat(item["time"]) for item in body["items"]]
            cursor = body.get("next_cursor")
            if not cursor or len(times) >= 1000:
                break
        points = max(points, len(times))
        if times:
            covered = max(covered, (max(times) - min(times)).total_seconds() / 3600)
    return points, covered, "raw readings, 200 a page, at most 1,000"


async def measure_size(args: argparse.Namespace, tmp: Path, size: int) -> list[Row]:
    engine_name = "PostgreSQL" if args.postgres else "SQLite"
    only = set(args.only.split(",")) if args.only else set()

    def wanted(group: str) -> bool:
        return not only or group in only

    async with fresh_database(tmp, args.postgres, size) as url:
        print(f"\n== {size:,} patients on {engine_name}: seeding ...", flush=True)
        seeded = await seed(url, size)
        print(f"  seeded in {seeded.seconds:.1f} s: {size:,} patients, {seeded.open_alerts:,} "
              f"open alerts, {seeded.readings:,} readings of one patient", flush=True)
        if wanted("fhir"):
            print(f"  and {await seed_records(url, seeded)}", flush=True)
        if wanted("digest") or wanted("visits"):
            await seed_extras(url, seeded, wanted("digest"), wanted("visits"))
            if url.startswith("postgresql"):
                await analyze(url)
            print(f"  and {seeded.extras}", flush=True)
        gc.collect()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        app = create_app(settings_for(tmp / f"data-{size}", url, port), "web")
        cpu = CpuMeter(app)
        async with running(app, port):
            bench = Bench(StatementCounter(app[keys.ENGINE]), cpu, args.samples, args.budget)
            doctor = await cookie_session(base, seeded.doctor)
            nurse = await cookie_session(base, seeded.nurse)
            api = aiohttp.ClientSession(base_url=base)
            try:
                doc_h = await bearer(base, seeded.doctor)
                nurse_h = await bearer(base, seeded.nurse)
                if wanted("patients"):
                    await run_patients(bench, doctor, api, doc_h, seeded, args)
                if wanted("alerts"):
                    await run_alerts(bench, nurse, api, nurse_h, seeded, base)
                if wanted("fhir"):
                    await run_fhir(bench, api, doc_h, app if args.plans else None)
                if wanted("vitals"):
                    await run_vitals(bench, doctor, api, doc_h, seeded)
                if wanted("scheduler"):
                    sessions, bus = app[keys.SESSIONS], app[keys.BUS]

                    async def scheduler_pass() -> str:
                        changes = await run_once(sessions, bus)
                        return f"({changes} alert changes)"
                    await bench.measure("scheduler pass (run_once)", scheduler_pass,
                                        samples=min(args.samples, 3))
                if wanted("visits"):
                    await run_visits(bench, doctor, api, doc_h, seeded, base)
                if wanted("digest"):
                    await run_digests(bench, app)
            finally:
                for http in (doctor, nurse, api):
                    await http.close()
        if bench.over_budget:
            print(f"  NOTE: the {args.budget:.0f} s budget ran out; rows marked * have "
                  "fewer samples than asked", flush=True)
        return bench.rows


async def run_patients(bench: Bench, doctor: aiohttp.ClientSession, api: aiohttp.ClientSession,
                       headers: dict[str, str], seeded: Seeded, args: argparse.Namespace) -> None:
    await bench.measure("/patients page (50 rows)", probe(
        doctor, "/patients", lambda body: f"({_rows(body)} rows, {_kb(body)})"))
    await bench.measure("/patients?q= search", probe(
        doctor, "/patients", lambda body: f"(q={seeded.search}: {_rows(body)} rows)",
        what="/patients?q=", params={"q": seeded.search}))
    await bench.measure("GET /api/v1/patients?limit=200", probe(
        api, "/api/v1/patients", _items, params={"limit": "200"}, headers=headers))
    seconds, pages, extrapolated, items = await page_to_end(api, headers, seeded.size,
                                                            args.paging_budget)
    row = Row("  paging to the end", [seconds], [], cut=extrapolated)
    row.note = (f"({pages} pages" + (f", extrapolated from {items // 200} pages)"
                                     if extrapolated else f", {items:,} patients)"))
    bench.rows.append(row)
    print(f"  {row.label.strip()}: {_secs(seconds)} {row.note}", flush=True)


async def run_alerts(bench: Bench, nurse: aiohttp.ClientSession, api: aiohttp.ClientSession,
                     headers: dict[str, str], seeded: Seeded, base: str) -> None:
    await bench.measure("nurse's /alerts board", probe(
        nurse, "/alerts", lambda body: f"({_kb(body)})"))
    await bench.measure("/alerts/rows?id= (one row)", probe(
        nurse, "/alerts/rows", lambda body: f"({len(body) / 1024:.1f} KB)",
        params={"id": seeded.alert_id}))
    await bench.measure("GET /api/v1/alerts?limit=200", probe(
        api, "/api/v1/alerts", _items, params={"limit": "200"}, headers=headers))
    # Timed to the first event; the replay is read to its end (outside the time).
    row = Row("GET /api/v1/alerts/stream first event")
    for _ in range(min(bench.samples, 3)):
        before = bench.counter.count
        started = time.perf_counter()
        first, count, size = await stream_first_byte(base, headers)
        row.statements.append(bench.counter.count - before)
        row.times.append(first)
        row.note = (f"(replayed {count:,} of {seeded.open_alerts:,} open alerts, "
                    f"{size / 1024:.0f} KB; whole replay {time.perf_counter() - started:.1f} s"
                    f", statements include the replay)")
        if first > 2 or bench.over_budget:
            row.cut = True
            break
    bench.rows.append(row)
    print(f"  {row.label}: {' / '.join(row.cells())} {row.note}", flush=True)


FHIR_SEARCHES = ("Patient", "Observation", "Flag", "CarePlan", "DocumentReference",
                 "QuestionnaireResponse")


async def run_fhir(bench: Bench, api: aiohttp.ClientSession, headers: dict[str, str],
                   app: web.Application | None) -> None:
    """The doctor's FHIR searches without ``patient=`` (every patient it may see), 100 a
    page; with `app` (``--plans``, PostgreSQL) each one's statements run again under
    ``EXPLAIN ANALYZE``: the rows each read of every table, and its time."""
    def entries(body: str) -> str:
        found = json.loads(body)
        total = f", total {found['total']:,}" if "total" in found else ""
        return f"({len(found.get('entry', []))} entries{total})"

    for kind in FHIR_SEARCHES:
        search = probe(api, f"/fhir/R4/{kind}", entries, what=f"FHIR {kind} search",
                       params={"_count": "100"}, headers=headers)
        await bench.measure(f"GET /fhir/R4/{kind}?_count=100", search)
        if app is not None:
            await print_plans(app, search)


async def print_plans(app: web.Application, call: Callable[[], Awaitable[str]]) -> None:
    """Run `call` once more, then each SELECT it ran under ``EXPLAIN ANALYZE`` (PostgreSQL):
    rows read of every table (kept and filtered out, every loop) and the statement's time."""
    with captured(app) as seen:
        await call()
    if app[keys.ENGINE].dialect.name != "postgresql":
        return
    for k, (_, nodes) in enumerate(await analyzed(app, seen), start=1):
        tables = sorted({str(n["Relation Name"]) for n in nodes if "Relation Name" in n})
        read = ", ".join(f"{t} {rows_read(nodes, t):,}" for t in tables) or "no table"
        print(f"    statement {k}: {read} ({nodes[0]['Actual Total Time']:.1f} ms)",
              flush=True)


async def run_vitals(bench: Bench, doctor: aiohttp.ClientSession, api: aiohttp.ClientSession,
                     headers: dict[str, str], seeded: Seeded) -> None:
    for key, span in (("24h", timedelta(hours=24)), ("7d", timedelta(days=7)),
                      ("30d", timedelta(days=30))):
        page = probe(doctor, f"/patients/{seeded.wearer}", lambda body: f"({_kb(body)})",
                     what="patient page", params={"vitals": key})

        async def chart(span: timedelta = span) -> str:
            points, hours, how = await chart_data(api, headers, seeded.wearer, span)
            return f"({how}: {points:,} points per series covering {hours:.1f} h)"

        await bench.measure(f"patient page, vitals {key}", page)
        await bench.measure(f"  chart data {key}", chart)


async def run_visits(bench: Bench, doctor: aiohttp.ClientSession, api: aiohttp.ClientSession,
                     headers: dict[str, str], seeded: Seeded, base: str) -> None:
    """The lists the clinicians-only filter narrows: the staff's agenda, reports to write and
    visit list, the FHIR Appointment search without ``patient=``; and the patient side's,
    where it hides."""
    def entries(body: str) -> str:
        return f"({len(json.loads(body).get('entry', []))} entries)"

    now = datetime.now(UTC).isoformat()
    await bench.measure("doctor's /visits agenda", probe(
        doctor, "/visits", lambda body: f"({_kb(body)})"))
    await bench.measure("doctor's /visits/reports", probe(
        doctor, "/visits/reports", lambda body: f"({_reports(body)} to write, {_kb(body)})"))
    await bench.measure("GET /api/v1/visits?limit=200", probe(
        api, "/api/v1/visits", _items, params={"limit": "200"}, headers=headers))
    await bench.measure("GET /api/v1/visits?from=now&limit=200", probe(
        api, "/api/v1/visits", _items, params={"limit": "200", "from": now}, headers=headers))
    await bench.measure("GET /fhir/R4/Appointment?_count=100", probe(
        api, "/fhir/R4/Appointment", entries, what="FHIR Appointment search",
        params={"_count": "100"}, headers=headers))
    portal = await bearer(base, seeded.portal)
    await bench.measure("patient's GET /api/v1/visits", probe(
        api, "/api/v1/visits", _items, params={"limit": "200"}, headers=portal))
    await bench.measure("patient's GET /fhir/R4/Appointment", probe(
        api, "/fhir/R4/Appointment", entries, what="patient's FHIR Appointment search",
        params={"_count": "100"}, headers=portal))


async def run_digests(bench: Bench, app: web.Application) -> None:
    """The delivery worker's digest pass (`digests.make_due`) at three instants of
    yesterday's clock, after the day before's notifications were held: 06:00 (before every
    digest time: nothing due, the pass of every 5 s), 07:00 (a fifth of the staff), 07:30
    (the default: doctor, nurse, a fifth of the staff, half the portal users who chose it).
    Then one delivery pass of the summaries' emails (no mail server: composed, retried)."""
    worker = app[NOTIFIER]
    sessions = app[keys.SESSIONS]

    def at(hour: int, minute: int) -> Callable[[], Awaitable[str]]:
        async def step() -> str:
            made = await digests.make_due(sessions, yesterday(hour, minute),
                                          worker.channels.mail_from)
            return f"({made:,} summaries made)"
        return step

    await bench.measure("digest pass, none due (06:00)", at(6, 0))
    await bench.measure("digest pass at 07:00", at(7, 0), samples=1)
    await bench.measure("digest pass at 07:30", at(7, 30), samples=1)

    async def deliver() -> str:
        return f"({await worker.deliver()} emails attempted)"
    # Each retry is logged as a warning: not what is measured.
    logging.getLogger("telemed.notify").setLevel(logging.ERROR)
    await bench.measure("  delivery pass (digest emails)", deliver, samples=1)


def print_table(results: dict[int, list[Row]], engine: str) -> None:
    sizes = sorted(results)
    print(f"\n## {engine}: p50 / p95 / SQL statements / app CPU per request")
    header = "| request | " + " | ".join(f"{s:,} patients" for s in sizes) + " |"
    print(header)
    print("|---|" + "---|" * len(sizes))
    labels: list[str] = []
    for size in sizes:
        for row in results[size]:
            if row.label not in labels:
                labels.append(row.label)
    for label in labels:
        cells = []
        for size in sizes:
            found = next((r for r in results[size] if r.label == label), None)
            if found is None:
                cells.append("–")
                continue
            p50, p95, stmts = found.cells()
            if label.strip().startswith("paging"):
                cells.append(f"{p50}{'*' if found.cut else ''} {found.note}")
            else:
                cells.append(f"{p50} / {p95} / {stmts} stmts / CPU {found.cpu_cell()} "
                             f"{found.note}".strip())
        print(f"| {label.strip()} | " + " | ".join(cells) + " |")
    print("\n* fewer samples than asked (slow request or budget), or an extrapolated total.")


async def main(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    engine = "PostgreSQL" if args.postgres else "SQLite"
    load = os.getloadavg()
    print(f"Telemed population benchmark — {engine}, {os.cpu_count()} CPUs, load average "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at start")
    results: dict[int, list[Row]] = {}
    with tempfile.TemporaryDirectory(prefix="telemed-population-") as raw:
        for size in sizes:
            results[size] = await measure_size(args, Path(raw), size)
    print_table(results, engine)
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="10,20000",
                        help="comma-separated patient counts, each in a fresh database")
    parser.add_argument("--postgres", action="store_true",
                        help="fresh PostgreSQL databases on the local server")
    parser.add_argument("--samples", type=int, default=5, help="samples per request (at most)")
    parser.add_argument("--budget", type=float, default=900.0,
                        help="seconds per size; past it every request gets one sample")
    parser.add_argument("--paging-budget", type=float, default=60.0,
                        help="seconds for paging the patient list to the end, then extrapolate")
    parser.add_argument("--only", default="",
                        help="comma-separated groups: patients, alerts, fhir, vitals, scheduler, "
                             "visits, digest")
    parser.add_argument("--plans", action="store_true",
                        help="with --postgres: the rows each FHIR search's statements read "
                             "(EXPLAIN ANALYZE) and their times")
    return parser.parse_args(argv)


if __name__ == "__main__":
    try:
        asyncio.run(main(parse_args()))
    except KeyboardInterrupt:
        sys.exit(130)
