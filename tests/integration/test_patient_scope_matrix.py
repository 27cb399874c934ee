"""Generated from the route table: the patient dimension of every route's policy.

test_route_policies.py checks that anonymous callers and roles outside a route's policy are
refused. This module checks, for every non-public route with path parameters and every role
INSIDE its policy, that the caller

(a) reaches the resources of a patient of its own care team (its own record, for a patient):
    never 401/403 — a 2xx, or a 4xx about the body or the state, is fine;
(b) is refused the resources of another team's patient with 403 or 404, never a 2xx.

By-design departures are listed, each with its reason, in OTHER_PATIENT_ALLOWED (b) and
OWN_PATIENT_REFUSED (a). A new route whose path parameter has no factory here fails
test_every_path_parameter_has_a_fixture with "no fixture for path parameter X".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from telemed.principal import PUBLIC, policy_of
from telemed.settings import Settings
from tests.conftest import World, fresh_settings
from tests.helpers.routes import all_routes
from tests.helpers.scope_sides import (
    FACTORIES,
    FHIR_TYPES,
    PARAM,
    Side,
    patient_scoped,
    valid_body,
)
from tests.helpers.seeded import Seed, seed

Route = tuple[str, str]

# An administrator belongs to no care team: every patient is "another team's" patient to it.
# What it may do is fixed by services.access.ADMIN_RESOURCES (demographics, consents, access
# log — never clinical data), by services.delegates (admins manage delegations) and by
# services.devices._authorize (admins manage every device).
ADMIN_DEMOGRAPHICS = "admin sees and corrects the demographics of every patient (ADMIN_RESOURCES)"
ADMIN_PRIVACY = ("admin handles consents, delegations, the access log and the review of "
                 "emergency accesses of every patient (privacy desk; ADMIN_RESOURCES, "
                 "services.delegates, services.consent.review_emergency)")
ADMIN_DEVICES = "admin manages every device (services.devices._authorize skips the patient check)"
NOT_INVITED = ("care-team membership opens the visit record, not the call: only clinicians "
               "invited as participants may join (the team nurse is not invited here)")

# (b) The caller MAY act on another team's patient here, by design.
OTHER_PATIENT_ALLOWED: dict[tuple[str, str, str], str] = {
    ("POST", "/api/v1/patients/{patient_id}/emergency-access", "doctor"):
        "break-glass access is open to any clinician (time-limited, reason required, audited)",
    ("POST", "/api/v1/patients/{patient_id}/emergency-access", "nurse"):
        "break-glass access is open to any clinician (time-limited, reason required, audited)",
    ("GET", "/api/v1/users/{user_id}", "admin"):
        "administrators manage every user account; users are not patient data",
    ("PATCH", "/api/v1/users/{user_id}", "admin"):
        "administrators deactivate and reactivate every user account (no patient data)",
    ("POST", "/api/v1/users/{user_id}/second-factor/reset", "admin"):
        "administrators reset any user's lost second factor, with a reason (no patient data)",
    ("GET", "/users/{user_id}", "admin"):
        "the administrator's page of one user account: name, role, status (no patient data)",
    ("GET", "/users/{user_id}/second-factor/reset", "admin"):
        "administrators reset any user's lost second factor, with a reason (no patient data)",
    ("PUT", "/api/v1/users/{user_id}/fiscal-code", "admin"):
        "administrators correct a staff member's fiscal code; a patient's account is refused "
        "(409: its code is the record's, edited on the patient's page)",
    **{(m, p, "admin"): ADMIN_DEMOGRAPHICS for m, p in (
        ("GET", "/api/v1/patients/{patient_id}"),
        ("PATCH", "/api/v1/patients/{patient_id}"),
        ("GET", "/fhir/R4/Patient/{id}"),
        ("GET", "/patients/{patient_id}"),
    )},
    **{(m, p, "admin"): ADMIN_PRIVACY for m, p in (
        ("GET", "/api/v1/patients/{patient_id}/consents"),
        ("POST", "/api/v1/patients/{patient_id}/consents"),
        ("GET", "/api/v1/patients/{patient_id}/access-log"),
        ("GET", "/fhir/R4/AuditEvent/{id}"),
        ("GET", "/patients/{patient_id}/privacy"),
        ("GET", "/patients/{patient_id}/privacy/withdraw"),
        ("GET", "/api/v1/patients/{patient_id}/delegates"),
        ("POST", "/api/v1/patients/{patient_id}/delegates"),
        ("DELETE", "/api/v1/patients/{patient_id}/delegates/{delegation_id}"),
        ("POST", "/api/v1/emergency-accesses/{access_id}/review"),
    )},
    **{(m, p, "admin"): ADMIN_DEVICES for m, p in (
        ("GET", "/api/v1/devices/{device_id}"),
        ("PATCH", "/api/v1/devices/{device_id}"),
        ("DELETE", "/api/v1/devices/{device_id}"),
        ("POST", "/api/v1/devices/{device_id}/credentials"),
        ("GET", "/devices/{device_id}"),
    )},
}

TELECONSULT_PEOPLE = ("the care team reads a teleconsult request; only its requester (the "
                      "team doctor here) and the specialist act on it (docs/teleconsult.md)")

# (a) The caller may NOT act on its own team's patient here, by design.
OWN_PATIENT_REFUSED: dict[tuple[str, str, str], str] = {
    ("GET", "/api/v1/visits/{visit_id}/join", "nurse"): NOT_INVITED,
    ("GET", "/visits/{visit_id}/room", "nurse"): NOT_INVITED,
    **{("POST", f"/api/v1/teleconsults/{{teleconsult_id}}/{action}", "nurse"):
       TELECONSULT_PEOPLE for action in ("accept", "decline", "more-info", "add-info",
                                         "cancel", "schedule", "answer", "attachments")},
}

# Routes whose handler needs the MQTT broker after authorization (not started here): a 503
# "broker_unavailable" on the caller's own patient means authorization let the call through.
NEEDS_BROKER = {
    ("DELETE", "/api/v1/devices/{device_id}"),
    ("POST", "/api/v1/devices/{device_id}/credentials"),
}

# Routes that need the PACS after authorization: without one configured (no Orthanc on a
# developer's machine), a 503 "pacs_unavailable" on the caller's own patient means
# authorization let the call through. The module uses a PACS when one can be started.
NEEDS_PACS_PREFIXES = ("/api/v1/studies/", "/api/v1/patients/{patient_id}/studies")
NEEDS_PACS_ROUTES = {("POST", "/api/v1/teleconsults/{teleconsult_id}/attachments"),
                     ("POST", "/api/v1/visits/{visit_id}/attachments")}


def _pacs_down(method: str, path: str, status: int, text: str) -> bool:
    needs = path.startswith(NEEDS_PACS_PREFIXES) or (method, path) in NEEDS_PACS_ROUTES
    return needs and status == 503 and "pacs_unavailable" in text


async def _people(world: World) -> dict[str, Any]:
    """Both teams and an administrator, with their tokens."""
    mine = await Side(world, "mine").build()
    other = await Side(world, "other").build()
    admin = await world.user("admin")
    for who in (mine.doctor, mine.nurse, mine.patient_user, admin):
        await mine.headers(who)
    return {"mine": mine, "other": other, "admin": admin}


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Seed[dict[str, Any]]:
    """Made once; each case has its own copy of the database."""
    return seed(tmp_path_factory, _people)


@pytest.fixture
def sides(people: Seed[dict[str, Any]], world: World) -> tuple[Side, Side]:
    """(mine, other): the two teams, in this test's copy of the database."""
    return people.data["mine"].copy_to(world), people.data["other"].copy_to(world)


def _caller(role: str, mine: Side, people: Seed[dict[str, Any]]) -> dict[str, str]:
    return {"doctor": mine.doctor, "nurse": mine.nurse, "patient": mine.patient_user,
            "admin": people.data["admin"]}[role]


@pytest.fixture
def settings(people: Seed[dict[str, Any]], tmp_path: Path,
             tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
             ) -> Settings:
    """A copy of the people's database, with the test PACS when Orthanc is there (required
    under CI)."""
    settings = fresh_settings(tmp_path, tmp_path_factory, template=people.database)
    try:
        pacs = request.getfixturevalue("orthanc")
    except pytest.skip.Exception:
        return settings
    return settings.model_copy(update={"dicomweb_url": pacs.dicomweb_url})


# Page POST routes are HTML form posts guarded by a CSRF token bound to a browser session;
# a bearer-token call would be refused by the CSRF check, not by the patient rule. Their
# patient scoping is the same service call as the matching API route checked here.
SKIPPED_PAGE_POSTS = "page form post (CSRF + session): covered by the matching API route"


def _is_page(path: str) -> bool:
    return not path.startswith(("/api/", "/fhir/"))


def _cases(settings: Settings) -> list[Any]:
    from telemed.app import create_app

    cases = []
    for method, path, handler in all_routes(create_app(settings)):
        policy = policy_of(handler)
        if policy == PUBLIC or not PARAM.search(path) or not patient_scoped(path):
            continue
        assert isinstance(policy, frozenset)
        for role in sorted(policy):
            marks = []
            if _is_page(path) and method != "GET":
                marks.append(pytest.mark.skip(reason=SKIPPED_PAGE_POSTS))
            cases.append(pytest.param((method, path, role), id=f"{method} {path} as {role}",
                                      marks=marks))
    return cases


def _test_settings() -> Settings:
    from telemed.settings import load_settings

    return load_settings(env="test", secret_key="x" * 40, database_url="sqlite+aiosqlite://",
                         data_dir=".")


def test_every_path_parameter_has_a_fixture(settings: Settings) -> None:
    from telemed.app import create_app

    for _method, path, handler in all_routes(create_app(settings)):
        if policy_of(handler) == PUBLIC or not patient_scoped(path):
            continue
        for param in PARAM.findall(path):
            if param == "id" and path.startswith("/fhir/R4/"):
                fhir_type = path.split("/")[3]
                assert fhir_type in FHIR_TYPES, \
                    f"no fixture for path parameter id of FHIR type {fhir_type} ({path})"
            else:
                assert param in FACTORIES, f"no fixture for path parameter {param} ({path})"


def test_exception_lists_name_real_routes(settings: Settings) -> None:
    from telemed.app import create_app

    known = {(m, p, r) for m, p, h in all_routes(create_app(settings))
             if isinstance(policy_of(h), frozenset) for r in policy_of(h)}  # type: ignore[union-attr]
    for key in (*OTHER_PATIENT_ALLOWED, *OWN_PATIENT_REFUSED):
        assert key in known, f"exception for a route/role that does not exist: {key}"


async def _call(client: TestClient[Any, Any], method: str, path: str, side: Side,
                headers: dict[str, str], *, rest: Side | None = None) -> tuple[int, str, str]:
    """Call the route with ids of `side` (or: the first id of `side`, the others of `rest`)."""
    url = path
    for i, param in enumerate(PARAM.findall(path)):
        owner = side if rest is None or i == 0 else rest
        url = url.replace(f"{{{param}}}", await owner.value(param, path))
    body = await valid_body(method, path, side)
    kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": False}
    if body is not None:
        kwargs["json"] = body
    resp = await client.request(method, url, **kwargs)
    text = await resp.text(errors="replace")  # an image route answers a PNG
    return resp.status, resp.headers.get("Location", ""), text[:300]


async def test_patient_scope(client: TestClient[Any, Any], sides: tuple[Side, Side],
                             people: Seed[dict[str, Any]],
                             scope_case: tuple[str, str, str]) -> None:
    method, path, role = scope_case
    mine, other = sides
    headers = await mine.headers(_caller(role, mine, people))

    # (b) another team's patient — called first, so (a) cannot disturb it.
    status, location, text = await _call(client, method, path, other, headers)
    if (method, path, role) in OTHER_PATIENT_ALLOWED:
        assert status not in (401, 403), ("documented as allowed", status, text)
    else:
        assert status in (403, 404), \
            f"{method} {path} as {role} on ANOTHER team's patient: {status} {text}"

    # (a) the caller's own team's patient (own record, for a patient).
    status, location, text = await _call(client, method, path, mine, headers)
    if (method, path, role) in OWN_PATIENT_REFUSED:
        assert status in (403, 404), ("documented as refused", status, text)
    else:
        assert status not in (401, 403), \
            f"{method} {path} as {role} on its OWN team's patient: {status} {text}"
        broker_down = (method, path) in NEEDS_BROKER and status == 503 \
            and "broker_unavailable" in text
        assert status < 500 or broker_down or _pacs_down(method, path, status, text), \
            f"{method} {path} as {role}: server error {status} {text}"
        if _is_page(path):
            assert "/login" not in location, (method, path, role, status, location)


def _mixed_cases(settings: Settings) -> list[Any]:
    """Routes with a parent and a child id: the child must belong to the parent."""
    return [c for c in _cases(settings) if len(PARAM.findall(c.values[0][1])) > 1]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scope_case" in metafunc.fixturenames:
        metafunc.parametrize("scope_case", _cases(_test_settings()))
    if "mixed_case" in metafunc.fixturenames:
        metafunc.parametrize("mixed_case", _mixed_cases(_test_settings()))


async def test_child_id_of_another_patient_under_own_parent(
    client: TestClient[Any, Any], sides: tuple[Side, Side], people: Seed[dict[str, Any]],
    mixed_case: tuple[str, str, str]
) -> None:
    """/parent/{own id}/child/{another patient's child id}: refused, never acted on."""
    method, path, role = mixed_case
    mine, other = sides
    status, _location, text = await _call(client, method, path, mine,
                                          await mine.headers(_caller(role, mine, people)),
                                          rest=other)
    if _pacs_down(method, path, status, text):
        pytest.skip("no PACS here: the image path is checked against the PACS")
    assert status in (403, 404), \
        f"{method} {path} as {role}, own parent + another patient's child: {status} {text}"
