"""Shared fixtures: settings on a fresh database, the real app, users and patients."""

from __future__ import annotations

import asyncio
import functools
import gc
import itertools
import os
import zoneinfo
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
import jinja2.bccache
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.app import create_app
from telemed.db import migrate
from telemed.db.models import CareTeamMember, Consent, Patient
from telemed.domain.fiscal_code import build_fiscal_code
from telemed.settings import Settings, load_settings

pytest_plugins = ["tests.broker_fixture", "tests.turn_fixture", "tests.smtp_fixture",
                  "tests.orthanc_fixture", "tests.identity_fixture"]

IN_CI = os.environ.get("CI", "").lower() == "true"
PASSWORD = "correct-horse-battery-9"
_counter = itertools.count(1)

_TEMPLATE_DB: dict[str, Path] = {}


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> None:
    """Argon2 with its cheapest parameters: tests hash hundreds of passwords."""
    from argon2 import PasswordHasher
    from argon2.profiles import CHEAPEST

    import telemed.security

    telemed.security._hasher = PasswordHasher.from_parameters(CHEAPEST)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The collector leaves what exists once the tests are collected (modules, the test items)
    to itself, and runs less often: a test makes an app of tens of thousands of objects, and
    the default thresholds walk them, and every object that outlived its test, again and
    again (a tenth of the suite's CPU time)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


@pytest.fixture(autouse=True)
def _apps_released() -> Iterator[None]:
    """Each test's app is garbage once the test ends. aiohttp keeps the middleware chain it
    built for a handler in an LRU cache (1024 entries) keyed by the handler and the app, so
    without this the apps of the last thousand tests, with their template environments,
    engines and routers, stay alive: millions of objects that every full garbage collection
    walks again (a sixth of the run's time, growing as the suite goes on)."""
    yield
    from aiohttp import web_app

    cached = getattr(web_app, "_cached_build_middleware", None)
    if cached is not None:
        cached.cache_clear()


class _TemplateBytecode(jinja2.BytecodeCache):
    """Compiled templates kept in memory for the session (jinja checks each against its
    source's checksum, so an edited template is compiled again)."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


@pytest.fixture(autouse=True, scope="session")
def _templates_compiled_once() -> None:
    """Every test's app shares the compiled templates (each page parsed and compiled once)."""
    import telemed.views.render

    telemed.views.render.TEMPLATE_BYTECODE = _TemplateBytecode()


@pytest.fixture(autouse=True, scope="session")
def _time_zones_listed_once() -> None:
    """Settings check their time zone against the zones installed; listing them reads the
    disk (tens of milliseconds), and every test loads settings at least once."""
    import telemed.settings

    telemed.settings.available_timezones = functools.cache(zoneinfo.available_timezones)


# Patients' names and birth dates repeat every 676 patients (no test makes that many in one
# database), so each fiscal code is computed once: the library takes tens of milliseconds.
PATIENT_CYCLE = 26 * 26
_fiscal_code = functools.cache(build_fiscal_code)
_patients = itertools.count(1)


def _migrated_template(tmp_root: Path) -> Path:
    """Migrate one SQLite database per test session and copy it for each test."""
    if "path" not in _TEMPLATE_DB:
        path = tmp_root / "template.db"
        migrate.upgrade(f"sqlite+aiosqlite:///{path}")
        _TEMPLATE_DB["path"] = path
    return _TEMPLATE_DB["path"]


def fresh_settings(data_dir: Path, tmp_path_factory: pytest.TempPathFactory, *,
                   template: Path | None = None) -> Settings:
    """Test settings on a copy in `data_dir` of the migrated SQLite database (or of
    `template`, a database seeded for a module: tests/helpers/seeded.py)."""
    template = template or _migrated_template(tmp_path_factory.getbasetemp())
    db = data_dir / "telemed.db"
    db.write_bytes(template.read_bytes())
    return load_settings(
        env="test",
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{db}",
        secret_key="test-secret-key-0123456789-abcdefghij",
        public_url="http://127.0.0.1:8080",
        language="en",
        api_rate_per_minute=1_000_000,
        scheduler_interval=0,  # tests drive the rules scheduler explicitly
    )


@pytest.fixture
def settings(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Test settings on a fresh, migrated SQLite database."""
    return fresh_settings(tmp_path, tmp_path_factory)


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
async def client(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
    app: web.Application,
) -> TestClient[Any, Any]:
    return await aiohttp_client(app)


class World:
    """Helpers to create people and patients directly through the services."""

    def __init__(self, app: web.Application, client: TestClient[Any, Any]) -> None:
        self.app = app
        self.client = client

    async def user(self, role: str, *, patient_id: str | None = None,
                   name: str | None = None) -> dict[str, str]:
        from telemed.services.users import create_user

        username = name or f"{role}{next(_counter)}"
        async with self.app[keys.SESSIONS]() as session:
            user = await create_user(session, username=username, password=PASSWORD, role=role,
                                     display_name=username.title(), patient_id=patient_id)
            await session.commit()
        return {"id": user.id, "username": username, "role": role}

    async def patient(self, *, team: list[str] = ()) -> Patient:  # type: ignore[assignment]
        n = next(_patients) % PATIENT_CYCLE
        given, family = f"Mario{chr(65 + n % 26)}", f"Rossi{chr(65 + (n // 26) % 26)}"
        birth = date(1950, 1 + n % 12, 1 + n % 28)
        code = _fiscal_code(given, family, birth, "M", "Roma")
        async with self.app[keys.SESSIONS]() as session:
            patient = Patient(fiscal_code=code, given_name=given, family_name=family,
                              birth_date=birth, sex="M")
            session.add(patient)
            await session.flush()
            for user_id in team:
                session.add(CareTeamMember(patient_id=patient.id, user_id=user_id))
            if team:
                session.add(Consent(patient_id=patient.id, granted=True, recorded_by=team[0]))
            await session.commit()
        return patient

    async def token(self, username: str) -> dict[str, str]:
        """Authorization headers for a bearer token of `username`."""
        resp = await self.client.post("/api/v1/auth/token",
                                      json={"username": username, "password": PASSWORD})
        assert resp.status == 200, await resp.text()
        return {"Authorization": f"Bearer {(await resp.json())['access_token']}"}


@pytest.fixture
def world(app: web.Application, client: TestClient[Any, Any]) -> World:
    return World(app, client)



PG_ADMIN_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def service_missing(what: str) -> None:
    """Fail under CI (a missing service is a broken setup), skip on a developer's machine."""
    if IN_CI:
        pytest.fail(f"{what} is not available, and CI=true requires it")
    pytest.skip(f"{what} is not available")


async def _pg_admin() -> Any:
    import asyncpg

    try:
        return await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        service_missing(f"PostgreSQL ({exc})")


def _pg_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


async def _pg_database(template: str | None = None) -> str:
    """A new database (empty, or a copy of `template`); its name."""
    name = f"telemed_test_{os.getpid()}_{next(_counter)}"
    admin = await _pg_admin()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        copy = f' TEMPLATE "{template}"' if template else ""
        await admin.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await admin.close()
    return name


async def _pg_drop(name: str) -> None:
    admin = await _pg_admin()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


_PG_TEMPLATE: dict[str, str] = {}


@pytest.fixture(scope="session")
def _pg_template_dropped() -> Iterator[None]:
    """Drops the migrated PostgreSQL template at the end of the session, if one was made."""
    yield
    if "name" in _PG_TEMPLATE:
        with ThreadPoolExecutor(1) as pool:  # no event loop runs between sessions' fixtures
            pool.submit(asyncio.run, _pg_drop(_PG_TEMPLATE["name"])).result()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = await _pg_database()
    yield _pg_url(name)
    await _pg_drop(name)


@pytest.fixture
async def migrated_postgres_url(_pg_template_dropped: None) -> AsyncIterator[str]:
    """A fresh PostgreSQL database with the current schema, dropped afterwards: a copy
    (CREATE DATABASE ... TEMPLATE) of one database migrated once per session."""
    if "name" not in _PG_TEMPLATE:
        template = await _pg_database()
        await asyncio.to_thread(migrate.upgrade, _pg_url(template))
        _PG_TEMPLATE["name"] = template
    name = await _pg_database(template=_PG_TEMPLATE["name"])
    yield _pg_url(name)
    await _pg_drop(name)
