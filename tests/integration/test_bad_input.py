"""Bad input gets a clear 4xx (or is neutralised), never a 500: bodies, query strings, text."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.db.models import User
from telemed.errors import ApiError
from telemed.services import alerts as alert_service
from telemed.services.users import create_user, to_principal
from telemed.settings import Settings
from tests.conftest import PASSWORD, World, fresh_settings
from tests.helpers.pages import logged_in
from tests.helpers.seeded import Seed, seed
from tests.integration.monitoring import add_device, basic, now_s, pack
from tests.integration.visit_helpers import soon

JSON = {"Content-Type": "application/json"}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Team:
    """A doctor and their patient (with an open alert), the patient's user, and an admin."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def build(self) -> Team:
        w = self.world
        self.doctor = await w.user("doctor")
        self.patient = await w.patient(team=[self.doctor["id"]])
        self.patient_user = await w.user("patient", patient_id=self.patient.id)
        self.admin = await w.user("admin")
        self.h = await w.token(self.doctor["username"])
        device = await add_device(w.app, self.patient.id)
        resp = await w.client.post(f"/api/v1/devices/{device}/readings",
                                   data=pack(("spo2", 93, "%", now_s())), headers=basic(device))
        assert resp.status == 200, await resp.text()
        alerts = await w.client.get("/api/v1/alerts", headers=self.h)
        self.alert_id = (await alerts.json())["items"][0]["id"]
        return self

    def copy_to(self, world: World) -> Team:
        """The same people, alert and tokens in `world`, on a copy of the database they were
        made in (tests/helpers/seeded.py)."""
        copy = Team(world)
        copy.doctor, copy.patient, copy.patient_user = self.doctor, self.patient, self.patient_user
        copy.admin, copy.h, copy.alert_id = self.admin, self.h, self.alert_id
        return copy

    async def plan(self) -> str:
        resp = await self.world.client.post(
            f"/api/v1/patients/{self.patient.id}/careplans", headers=self.h,
            json={"title": "Piano", "period_start": "2026-11-01"})
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["id"])


async def _build(world: World) -> Team:
    return await Team(world).build()


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Seed[Team]:
    """The team, made once; each test that uses it has its own copy of the database."""
    return seed(tmp_path_factory, _build)


@pytest.fixture
def settings(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
             request: pytest.FixtureRequest) -> Settings:
    """A copy of the team's database for a test that uses the team, else an empty one."""
    if "team" not in request.fixturenames:
        return fresh_settings(tmp_path, tmp_path_factory)
    scene: Seed[Team] = request.getfixturevalue("scene")
    return fresh_settings(tmp_path, tmp_path_factory, template=scene.database)


@pytest.fixture
def team(scene: Seed[Team], world: World) -> Team:
    return scene.data.copy_to(world)


async def error_of(resp: Any) -> dict[str, Any]:
    assert resp.status < 500, await resp.text()
    return dict((await resp.json())["error"])


# --- JSON bodies ------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "status", "code"), [
    (b"[" * 100_000 + b"]" * 100_000, 400, "too_deep"),
    (b'{"note": ' + b"[" * 40 + b"]" * 40 + b"}", 400, "too_deep"),
    (b'{"note": "\\ud800"}', 400, "invalid_json"),
    (b'{"\\udc00": "x"}', 400, "invalid_json"),
    (b'{"note": "a", "note": "b"}', 400, "duplicate_key"),
    (b'{"note": NaN}', 400, "invalid_json"),
    (b"\xff\xfe{}", 400, "invalid_json"),
    (b'["note"]', 400, "invalid_body"),
    (b'"note"', 400, "invalid_body"),
    (b"null", 400, "invalid_body"),
])
async def test_hostile_json_bodies(client: TestClient[Any, Any], team: Team, raw: bytes,
                                   status: int, code: str) -> None:
    resp = await client.post(f"/api/v1/alerts/{team.alert_id}/ack", data=raw,
                             headers={**team.h, **JSON})
    assert resp.status == status
    assert (await error_of(resp))["code"] == code


async def test_lone_surrogate_title_is_refused_not_stored(client: TestClient[Any, Any],
                                                          team: Team) -> None:
    raw = b'{"title": "Piano \\ud83d", "period_start": "2026-11-01"}'
    resp = await client.post(f"/api/v1/patients/{team.patient.id}/careplans", data=raw,
                             headers={**team.h, **JSON})
    assert resp.status == 400
    listed = await client.get(f"/api/v1/patients/{team.patient.id}/careplans", headers=team.h)
    assert listed.status == 200 and (await listed.json())["items"] == []


@pytest.mark.parametrize(("body", "field"), [
    ({"minutes": True}, "minutes"),
    ({"minutes": False}, "minutes"),
    ({"minutes": "30"}, "minutes"),
    ({"minutes": 30.5}, "minutes"),
    ({"minutes": None}, "minutes"),
])
async def test_snooze_minutes_must_be_a_whole_number(client: TestClient[Any, Any], team: Team,
                                                     body: dict[str, Any], field: str) -> None:
    resp = await client.post(f"/api/v1/alerts/{team.alert_id}/snooze", json=body,
                             headers=team.h)
    assert resp.status == 422
    assert field in (await error_of(resp))["fields"]
    alert = await client.get(f"/api/v1/alerts/{team.alert_id}", headers=team.h)
    assert (await alert.json())["snoozed_until"] is None


@pytest.mark.parametrize("change", [
    {"duration_minutes": True}, {"duration_minutes": "30"}, {"patient_id": 5},
    {"participant_ids": "abc"}, {"scheduled_start": 1767225600},
])
async def test_visit_fields_keep_their_types(client: TestClient[Any, Any], team: Team,
                                             change: dict[str, Any]) -> None:
    body = {"kind": "televisit", "patient_id": team.patient.id, "participant_ids": [],
            "scheduled_start": "2030-01-01T08:00:00+01:00", "duration_minutes": 30, **change}
    resp = await client.post("/api/v1/visits", json=body, headers=team.h)
    assert resp.status == 422
    assert set((await error_of(resp))["fields"]) == set(change)


@pytest.mark.parametrize("change", [
    {"silence_hours": True}, {"escalate_after_minutes": True}, {"escalate_after_minutes": "15"},
    {"news2": {"enabled": 1}},
    {"monitoring": [{"metric": "spo2", "schedule": {"continuous": True},
                     "bands": {"warning_low": True}}]},
    {"monitoring": [{"metric": "spo2", "schedule": {"times": ["08:00"],
                                                    "tolerance_minutes": True}}]},
])
async def test_care_plan_numbers_are_never_booleans(client: TestClient[Any, Any], team: Team,
                                                    change: dict[str, Any]) -> None:
    resp = await client.post(f"/api/v1/patients/{team.patient.id}/careplans", headers=team.h,
                             json={"title": "Piano", "period_start": "2026-11-01", **change})
    assert resp.status == 422, await resp.text()


async def test_nul_anywhere_in_a_body_is_named(client: TestClient[Any, Any], team: Team) -> None:
    resp = await client.post(f"/api/v1/patients/{team.patient.id}/careplans", headers=team.h,
                             json={"title": "Piano\x00", "period_start": "2026-11-01",
                                   "goals": ["ok", "no\x00"]})
    assert resp.status == 422
    assert set((await error_of(resp))["fields"]) == {"title", "goals[1]"}


# --- free text --------------------------------------------------------------------------

BIDI = "Nota \u202egnp.exe"


@pytest.mark.parametrize("title", [BIDI, "Piano\u2066x", "Piano\x1b[31m", "riga\nriga",
                                   "Piano\x85"])
async def test_care_plan_title_refuses_control_and_bidi(client: TestClient[Any, Any],
                                                        team: Team, title: str) -> None:
    resp = await client.post(f"/api/v1/patients/{team.patient.id}/careplans", headers=team.h,
                             json={"title": title, "period_start": "2026-11-01"})
    assert resp.status == 422
    assert "title" in (await error_of(resp))["fields"]
    plan_id = await team.plan()
    edit = await client.patch(f"/api/v1/careplans/{plan_id}", headers=team.h,
                              json={"title": title})
    assert edit.status == 422 and "title" in (await error_of(edit))["fields"]


async def test_care_plan_goals_refuse_bidi(client: TestClient[Any, Any], team: Team) -> None:
    resp = await client.post(f"/api/v1/patients/{team.patient.id}/careplans", headers=team.h,
                             json={"title": "Piano", "period_start": "2026-11-01",
                                   "goals": ["Peso stabile", BIDI]})
    assert resp.status == 422
    fields = (await error_of(resp))["fields"]
    assert fields == {"goals[1]": "Contains a character that is not allowed here (U+202E)."}


async def test_alert_note_over_the_limit_is_refused_never_cut(client: TestClient[Any, Any],
                                                              team: Team) -> None:
    url = f"/api/v1/alerts/{team.alert_id}"
    long = await client.post(f"{url}/ack", json={"note": "x" * 1001}, headers=team.h)
    assert long.status == 422
    assert (await error_of(long))["fields"] == {"note": "At most 1000 characters."}
    assert (await (await client.get(url, headers=team.h)).json())["status"] == "open"
    bidi = await client.post(f"{url}/resolve", json={"note": BIDI}, headers=team.h)
    assert bidi.status == 422 and "note" in (await error_of(bidi))["fields"]
    exact = "Chiamato il paziente.\n" + "x" * 978
    ok = await client.post(f"{url}/ack", json={"note": exact}, headers=team.h)
    assert ok.status == 200
    assert (await ok.json())["ack_note"] == exact


async def test_alert_note_rule_holds_in_the_service_the_board_uses(
    client: TestClient[Any, Any], team: Team
) -> None:
    async with client.app[keys.SESSIONS]() as session:
        user = await session.get(User, team.doctor["id"])
        assert user is not None
        with pytest.raises(ApiError) as refused:
            await alert_service.resolve(session, to_principal(user, "session"), team.alert_id,
                                        "y" * 1001)
    assert (refused.value.status, refused.value.fields) == (
        422, {"note": "At most 1000 characters."})


async def test_consent_note_and_break_glass_reason(client: TestClient[Any, Any], world: World,
                                                   team: Team) -> None:
    me = await world.token(team.patient_user["username"])
    note = await client.post(f"/api/v1/patients/{team.patient.id}/consents", headers=me,
                             json={"granted": True, "note": "ok\x07"})
    assert note.status == 422 and "note" in (await error_of(note))["fields"]
    outsider = await world.user("doctor")
    h = await world.token(outsider["username"])
    url = f"/api/v1/patients/{team.patient.id}/emergency-access"
    for reason in ("Paziente incosciente \u202e in PS", "Paziente incosciente\x00 in PS",
                   "x" * 1001):
        resp = await client.post(url, headers=h, json={"reason": reason})
        assert resp.status == 422
        assert "reason" in (await error_of(resp))["fields"]
    multi = await client.post(url, headers=h, json={"reason": "Paziente incosciente\nin PS"})
    assert multi.status == 201  # a line break typed in the reason box is just whitespace


async def test_visit_report_and_guest_name(client: TestClient[Any, Any], team: Team) -> None:
    resp = await client.post("/api/v1/visits", headers=team.h, json={
        "kind": "televisit", "patient_id": team.patient.id, "participant_ids": [team.doctor["id"]],
        "scheduled_start": soon(60), "duration_minutes": 30})
    assert resp.status == 201, await resp.text()
    visit_id = (await resp.json())["id"]
    report = await client.post(f"/api/v1/visits/{visit_id}/report", headers=team.h,
                               json={"text": f"Referto\n{BIDI}"})
    assert report.status == 422 and "text" in (await error_of(report))["fields"]
    guest = await client.post(f"/api/v1/visits/{visit_id}/guests", headers=team.h,
                              json={"name": "Anna\u202eRossi"})
    assert guest.status == 422 and "name" in (await error_of(guest))["fields"]


async def test_user_display_name(client: TestClient[Any, Any], team: Team) -> None:
    h = await team.world.token(team.admin["username"])
    resp = await client.post("/api/v1/users", headers=h, json={
        "username": "newnurse", "password": PASSWORD, "role": "nurse",
        "display_name": "Infermiera \u2067Rossi"})
    assert resp.status == 422 and "display_name" in (await error_of(resp))["fields"]


# --- CSV export of the access log ---------------------------------------------------------


async def test_access_log_csv_neutralises_formulas(client: TestClient[Any, Any], world: World,
                                                   team: Team) -> None:
    names = ["=HYPERLINK(\"http://evil\")", "+SUM(1,2)", "-2+3", "@cmd"]
    for name in names:
        async with world.app[keys.SESSIONS]() as session:
            user = await create_user(session, username=f"er{len(name)}{ord(name[0])}",
                                     password=PASSWORD, role="doctor", display_name=name,
                                     patient_id=None)
            await session.commit()
        h = await world.token(user.username)
        resp = await client.post(f"/api/v1/patients/{team.patient.id}/emergency-access",
                                 headers=h, json={"reason": f"{name[0]}cmd|' /C calc'!A0 urgente"})
        assert resp.status == 201, await resp.text()
    me = await world.token(team.patient_user["username"])
    resp = await client.get(f"/api/v1/patients/{team.patient.id}/access-log?format=csv",
                            headers=me)
    assert resp.status == 200
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    cells = [v for row in rows for v in row.values() if v]
    assert not [c for c in cells if c[0] in "=+-@\t\r"], "a cell would run as a formula"
    for name in names:
        assert any(row["actor_name"] == "'" + name for row in rows)
    # The emergency's free text stays out of the audit (no clinical text there): the log
    # names the reason code only.
    assert not any("cmd|" in (row["reason"] or "") for row in rows)
    # JSON keeps the text as typed: only the spreadsheet export is escaped
    data = await (await client.get(f"/api/v1/patients/{team.patient.id}/access-log",
                                   headers=me)).json()
    assert any(e["actor_name"] == names[0] for e in data["items"])


# --- query strings ------------------------------------------------------------------------

CURSORS = [  # malformed for every list endpoint
    "x", "!!!", b64(b"[" * 500 + b"]" * 500), b64(b"[1,2,3]"), b64(b"[true,false,null]"),
    b64(b'[[1],{"a":1},"c"]'), b64(b'["critical","2026-01-01T00:00:00+00:00","\\u0000"]'),
    b64(b'["critical","2026-01-01T00:00:00+00:00","\\ud800"]'), b64(b"\xff\xfe\xfd"),
    b64(b'"abc"'), b64(b'{"a": 1}'), "a" * 5000,
]
LISTS = ["/api/v1/alerts", "/api/v1/patients", "/api/v1/visits", "/api/v1/devices",
         "/api/v1/patients/{patient}/observations"]


@pytest.mark.parametrize("cursor", CURSORS)
async def test_malformed_cursors_are_400(client: TestClient[Any, Any], team: Team,
                                         cursor: str) -> None:
    for path in LISTS:
        resp = await client.get(path.format(patient=team.patient.id), headers=team.h,
                                params={"cursor": cursor})
        assert resp.status == 400, (path, await resp.text())
        assert (await error_of(resp))["code"] == "invalid_cursor"
    admin = await team.world.token(team.admin["username"])
    resp = await client.get("/api/v1/users", headers=admin, params={"cursor": cursor})
    assert resp.status == 400


@pytest.mark.parametrize(("path", "key"), [
    ("/api/v1/alerts", ["critical", "yesterday", "x"]),
    ("/api/v1/alerts", ["critical", "2026-01-01T00:00:00", "x"]),  # no offset
    ("/api/v1/alerts", ["critical", 5, "x"]),
    ("/api/v1/visits", ["not a time", "x"]),
    ("/api/v1/visits", ["2026-02-30T00:00:00+00:00", "x"]),
    ("/api/v1/patients/{patient}/observations", ["2026-01-01T00:00:00+00:00", "x"]),
    ("/api/v1/patients/{patient}/observations", ["2026-01-01T00:00:00+00:00", 1.5]),
    ("/api/v1/patients/{patient}/observations", ["2026-01-01T00:00:00+00:00", 10**30]),
    ("/api/v1/patients/{patient}/observations", ["2026-01-01T00:00:00+00:00", True]),
])
async def test_cursor_parts_of_the_wrong_type_are_400(client: TestClient[Any, Any],
                                                      team: Team, path: str,
                                                      key: list[Any]) -> None:
    resp = await client.get(path.format(patient=team.patient.id), headers=team.h,
                            params={"cursor": b64(json.dumps(key).encode())})
    assert resp.status == 400, await resp.text()
    assert (await error_of(resp))["code"] == "invalid_cursor"


@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc", "true", "1.5", "²", "٣", "9" * 30,
                                   ""])
async def test_limit_out_of_range_or_not_a_number(client: TestClient[Any, Any], team: Team,
                                                  limit: str) -> None:
    for path in LISTS:
        resp = await client.get(path.format(patient=team.patient.id), headers=team.h,
                                params={"limit": limit})
        assert resp.status == 400, (path, await resp.text())
        assert (await error_of(resp))["code"] == "invalid_limit"


async def test_real_cursors_still_page(client: TestClient[Any, Any], world: World,
                                       team: Team) -> None:
    for _ in range(2):
        await world.patient(team=[team.doctor["id"]])
    first = await (await client.get("/api/v1/patients?limit=2", headers=team.h)).json()
    second = await (await client.get("/api/v1/patients", headers=team.h,
                                     params={"limit": "2",
                                             "cursor": first["next_cursor"]})).json()
    ids = [p["id"] for p in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 3


@pytest.mark.parametrize(("path", "query"), [
    ("/api/v1/patients/{patient}/observations", {"since": "yesterday"}),
    ("/api/v1/patients/{patient}/observations", {"until": "2026-02-30T00:00:00Z"}),
    ("/api/v1/patients/{patient}/observations", {"since": "2026-01-01T00:00:00"}),
    ("/api/v1/visits", {"from": "not-a-date"}),
    ("/api/v1/visits", {"to": "2026-01-01T00:00:00+99:00"}),
    ("/api/v1/patients/{patient}/access-log", {"cursor": "²"}),
    ("/api/v1/patients/{patient}/access-log", {"cursor": "9" * 40}),
    ("/api/v1/patients/{patient}/access-log", {"limit": "٣"}),
    ("/api/v1/alerts", {"patient": "p\x00"}),
    ("/api/v1/alerts", {"status": "open\x00"}),
    ("/api/v1/alerts/stream", {"last_event_id": "²"}),
    ("/api/v1/alerts/stream", {"last_event_id": "9" * 40}),
    ("/fhir/R4/Observation", {"date": "ge9999-12-31"}),
    ("/fhir/R4/Observation", {"date": "9999"}),
    ("/fhir/R4/Observation", {"_count": "²"}),
    ("/fhir/R4/Observation", {"_cursor": b64(b"[" * 5000 + b"]" * 5000)}),
    ("/fhir/R4/Observation", {"code": "8867-4\x00"}),
])
async def test_bad_query_values_are_400(client: TestClient[Any, Any], team: Team, path: str,
                                        query: dict[str, str]) -> None:
    who = team.h
    if "access-log" in path:
        who = await team.world.token(team.patient_user["username"])
    resp = await client.get(path.format(patient=team.patient.id), headers=who, params=query)
    assert resp.status == 400, await resp.text()


async def test_careplan_version_with_unicode_digits(client: TestClient[Any, Any],
                                                    team: Team) -> None:
    plan_id = await team.plan()
    for raw in ("²", "٣", "9" * 40, "0", "-1"):
        resp = await client.get(f"/api/v1/careplans/{plan_id}", headers=team.h,
                                params={"version": raw})
        assert resp.status in (400, 404), await resp.text()


@pytest.mark.parametrize("query", [
    {"cursor": b64(b'["a",["b"],"c"]')}, {"cursor": b64(b"[" * 5000 + b"]" * 5000)},
    {"cursor": "%%%"}, {"version": "²"}, {"version": "9" * 40},
])
async def test_pages_with_malformed_query_strings(client: TestClient[Any, Any], team: Team,
                                                  query: dict[str, str]) -> None:
    await logged_in(client, team.doctor["username"])
    plan_id = await team.plan()
    for path in ("/patients", f"/careplans/{plan_id}"):
        resp = await client.get(path, params=query)
        assert resp.status < 500, (path, query, await resp.text())
    if "cursor" in query:
        assert (await client.get("/patients", params=query)).status == 400


@pytest.mark.parametrize(("url", "code"), [
    ("/api/v1/patients/%00", "invalid_path"), ("/api/v1/alerts/x%00y", "invalid_path"),
    ("/api/v1/patients?q=%00", "invalid_query"), ("/api/v1/visits?patient=a%00", "invalid_query"),
    ("/fhir/R4/Observation?code=%00", "invalid_query"),
])
async def test_nul_in_the_address_is_refused_before_any_handler(
    client: TestClient[Any, Any], team: Team, url: str, code: str
) -> None:
    resp = await client.get(url, headers=team.h)
    assert resp.status == 400
    body = json.loads(await resp.text())
    if url.startswith("/fhir/"):
        assert body["resourceType"] == "OperationOutcome"
    else:
        assert body["error"]["code"] == code
    await logged_in(client, team.doctor["username"])
    page = await client.get("/patients/%00")
    assert page.status == 400 and "text/html" in page.content_type


GARBAGE = {"cursor": "%%%", "limit": "²", "version": "٣", "patient": "\u202e", "q": "x" * 5000,
           "severity": "all,,bad", "status": "open\x7f", "vitals": "[]", "id": "a" * 100,
           "next": "//evil.example", "t": "not-a-token", "from": "yesterday", "lang": "xx"}


async def test_no_page_answers_5xx_to_garbage_query_strings(client: TestClient[Any, Any],
                                                            team: Team) -> None:
    plan_id = await team.plan()
    pages = ["/", "/alerts", "/alerts/rows", f"/careplans/{plan_id}",
             f"/careplans/{plan_id}/edit", "/my-record", "/patients", "/patients/new",
             f"/patients/{team.patient.id}", f"/patients/{team.patient.id}/careplans/new",
             f"/patients/{team.patient.id}/privacy", "/users", "/users/new", "/visits",
             "/visits/new", "/login"]
    for who in (team.doctor, team.admin, team.patient_user):
        client.session.cookie_jar.clear()
        await logged_in(client, who["username"])
        for page in pages:
            for key, value in GARBAGE.items():
                resp = await client.get(page, params={key: value})
                assert resp.status < 500, (who["role"], page, key, await resp.text())


@pytest.mark.parametrize(("raw", "code"), [
    (b'[{"n":"spo2\\ud800","u":"%","v":97}]', "invalid_unicode"),
    (b'[{"n":"spo2","u":"%","v":97,"x":' + b"[" * 50 + b"]" * 50 + b"}]", "invalid_json"),
    (b"[" * 5000 + b"]" * 5000, "invalid_json"),
    (b'[{"n":"spo2","u":"%","v":97,"v":99}]', "duplicate_key"),
])
async def test_hostile_senml_over_http_is_refused_with_a_reason(
    client: TestClient[Any, Any], team: Team, raw: bytes, code: str
) -> None:
    device = await add_device(client.app, team.patient.id)
    resp = await client.post(f"/api/v1/devices/{device}/readings", data=raw,
                             headers={**basic(device), "Content-Type": "application/senml+json"})
    assert resp.status == 422
    assert (await error_of(resp))["code"] == code
