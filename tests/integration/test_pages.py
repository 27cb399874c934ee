"""HTML pages through the real app: login, CSRF, patients, the care-plan editor, languages."""

from __future__ import annotations

import re

import pytest

from telemed import keys
from telemed.db.models import CarePlan, Patient
from tests.conftest import PASSWORD, World
from tests.helpers.pages import Client, csrf_of, field_error, log_in, post_form, text_of


def plan_form(**overrides: str) -> dict[str, str]:
    """A valid editor submission: blood pressure twice a day and a weight trend."""
    form = {
        "title": "Heart failure – home monitoring",
        "period_start": "2026-01-01",
        "period_end": "",
        "goals": "Weight stable\nNo admissions",
        "m-bp_systolic-monitor": "on",
        "m-bp_systolic-schedule": "times",
        "m-bp_systolic-times": "08:00, 20:00",
        "m-bp_systolic-tolerance": "60",
        "m-bp_systolic-critical_low": "85",
        "m-bp_systolic-warning_low": "95",
        "m-bp_systolic-warning_high": "150",
        "m-bp_systolic-critical_high": "180",
        "m-bp_systolic-confirm_count": "2",
        "m-bp_systolic-hysteresis": "3",
        "m-body_weight-monitor": "on",
        "m-body_weight-schedule": "times",
        "m-body_weight-times": "07:30",
        "m-body_weight-tolerance": "60",
        "m-body_weight-confirm_count": "1",
        "m-body_weight-hysteresis": "0",
        "trend-0-metric": "body_weight",
        "trend-0-delta": "2",
        "trend-0-window_hours": "72",
        "trend-0-severity": "warning",
        "trend-1-metric": "",
        "trend-1-delta": "",
        "trend-1-window_hours": "",
        "trend-1-severity": "warning",
        "news2-spo2_scale": "1",
        "silence_hours": "",
        "escalate_after_minutes": "20",
    }
    form.update(overrides)
    return form


async def plans_of(world: World, patient_id: str) -> list[CarePlan]:
    from sqlmodel import select

    async with world.app[keys.SESSIONS]() as session:
        result = await session.exec(select(CarePlan).where(CarePlan.patient_id == patient_id))
        return list(result.all())


# --- login, logout, CSRF, language -----------------------------------------------------


async def doctor_in(client: Client, world: World) -> tuple[dict[str, str], Patient]:
    """A doctor logged in to the pages, and a patient of the doctor's team."""
    doctor = await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    assert (await log_in(client, doctor["username"])).status == 303
    return doctor, patient


async def test_login_page_is_a_form_with_csrf(client: Client) -> None:
    resp = await client.get("/login")
    page = await resp.text()
    assert resp.status == 200
    assert 'name="csrf_token"' in page and 'name="password"' in page
    assert 'lang="en"' in page
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "<script>" not in page and "style=" not in page


async def test_anonymous_home_goes_to_login(client: Client) -> None:
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/login"
    resp = await client.get("/patients", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/login?next=")


async def test_wrong_password_is_said_plainly(client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    resp = await log_in(client, doctor["username"], "not-the-password")
    assert resp.status == 401
    page = await resp.text()
    assert "Wrong username or password." in page
    assert f'value="{doctor["username"]}"' in page  # the username is kept


async def test_repeated_failures_back_off(client: Client, world: World) -> None:
    import asyncio

    doctor = await world.user("doctor")
    for _ in range(5):
        assert (await log_in(client, doctor["username"], "wrong-password-1")).status == 401
    resp = await log_in(client, doctor["username"], "wrong-password-1")
    assert resp.status == 429
    assert "Too many attempts. Try again in" in await resp.text()
    await asyncio.sleep(int(resp.headers["Retry-After"]))
    resp = await log_in(client, doctor["username"])
    assert resp.status == 303  # no lock: the right password works after a short wait


async def test_login_redirects_home_or_to_next(client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    resp = await log_in(client, doctor["username"])
    assert resp.status == 303 and resp.headers["Location"] == "/patients"
    page = await (await client.get("/patients")).text()
    assert doctor["username"].title() in page  # the display name in the header
    assert 'action="/logout"' in page


async def test_login_follows_only_local_next(client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    token = await csrf_of(client)
    resp = await client.post("/login", data={"username": doctor["username"], "password": PASSWORD,
                                             "csrf_token": token, "next": "//evil.example/x"},
                             allow_redirects=False)
    assert resp.headers["Location"] == "/patients"
    await post_form(client, "/logout", {})
    token = await csrf_of(client)
    resp = await client.post("/login", data={"username": doctor["username"], "password": PASSWORD,
                                             "csrf_token": token, "next": "/patients?q=x"},
                             allow_redirects=False)
    assert resp.headers["Location"] == "/patients?q=x"


async def test_login_rotates_the_csrf_token(client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    before = await csrf_of(client)
    await log_in(client, doctor["username"])
    assert await csrf_of(client, "/patients") != before


async def test_logout_ends_the_session(client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    await log_in(client, doctor["username"])
    resp = await post_form(client, "/logout", {}, page="/patients")
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    resp = await client.get("/patients", allow_redirects=False)
    assert resp.status == 302


async def test_post_without_csrf_token_is_refused(client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    await log_in(client, doctor["username"])
    resp = await client.post("/patients/new", data={"given_name": "Anna"},
                             allow_redirects=False)
    assert resp.status == 403
    assert "did not come from this site" in await resp.text()
    resp = await client.post("/login", data={"username": "x", "password": "y"})
    assert resp.status == 403


async def test_language_switch_renders_italian(client: Client) -> None:
    resp = await post_form(client, "/language", {"lang": "it", "next": "/login"})
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    page = await (await client.get("/login")).text()
    assert 'lang="it"' in page
    assert "Accedi" in page and "Nome utente" in page
    assert "Vai al contenuto principale" in page
    resp = await post_form(client, "/language", {"lang": "en", "next": "https://evil.example/"})
    assert resp.headers["Location"] == "/"
    assert 'lang="en"' in await (await client.get("/login")).text()


async def test_italian_errors_from_the_service(client: Client, world: World) -> None:
    _, patient = await doctor_in(client, world)
    await post_form(client, "/language", {"lang": "it", "next": "/"})
    resp = await post_form(client, f"/patients/{patient.id}/careplans/new",
                           plan_form(**{"m-bp_systolic-warning_low": "160"}))
    page = await resp.text()
    assert resp.status == 422
    assert field_error(page, "m-bp_systolic-warning_low") == (
        "Errore: La soglia di allerta bassa (160) non deve essere maggiore della "
        "soglia di allerta alta (150).")
    assert "Pressione arteriosa sistolica – Allerta bassa" in text_of(page)
    resp = await post_form(client, f"/patients/{patient.id}/careplans/new", plan_form())
    await post_form(client, resp.headers["Location"] + "/activate", {})
    page = text_of(await (await client.get(resp.headers["Location"])).text())
    assert "Piano di assistenza attivato." in page and "Attivo" in page
    assert "Peso corporeo: +2 kg entro 72 ore → Allerta" in page


# --- patients ---------------------------------------------------------------------------


async def test_doctor_lists_only_their_care_teams_patients(client: Client, world: World) -> None:
    doctor, other = await world.user("doctor"), await world.user("doctor")
    mine = await world.patient(team=[doctor["id"]])
    theirs = await world.patient(team=[other["id"]])
    await log_in(client, doctor["username"])
    page = await (await client.get("/patients")).text()
    assert f"/patients/{mine.id}" in page
    assert f"/patients/{theirs.id}" not in page
    found = await (await client.get("/patients", params={"q": mine.family_name})).text()
    assert mine.fiscal_code in found


async def test_another_teams_patient_page_is_forbidden(client: Client, world: World) -> None:
    doctor, other = await world.user("doctor"), await world.user("doctor")
    theirs = await world.patient(team=[other["id"]])
    await log_in(client, doctor["username"])
    resp = await client.get(f"/patients/{theirs.id}")
    assert resp.status == 403
    page = await resp.text()
    assert "You have no access to this patient&#39;s record." in page
    assert theirs.family_name not in page


async def test_patient_page_shows_team_and_plans(client: Client, world: World) -> None:
    doctor, patient = await doctor_in(client, world)
    page = text_of(await (await client.get(f"/patients/{patient.id}")).text())
    assert patient.fiscal_code in page
    assert doctor["username"].title() in page  # care team
    assert "New care plan" in page


@pytest.mark.parametrize("role", ["doctor", "nurse", "admin"])
async def test_new_patient_form_errors_next_to_fields(
    client: Client, world: World, role: str
) -> None:
    user = await world.user(role)
    await log_in(client, user["username"])
    form = {"given_name": "Anna", "family_name": "", "birth_date": "1950-02-30", "sex": "F",
            "fiscal_code": "NOTACODE", "phone": "12", "timezone": "Europe/Rome"}
    resp = await post_form(client, "/patients/new", form)
    assert resp.status == 422
    page = await resp.text()
    assert field_error(page, "family_name") == "Error: Must not be empty."
    assert "16 letters and digits" in field_error(page, "fiscal_code")
    assert "YYYY-MM-DD" in field_error(page, "birth_date")
    assert "international phone number" in field_error(page, "phone")
    assert 'value="Anna"' in page and 'value="NOTACODE"' in page  # values kept
    assert 'href="#family_name"' in page  # the summary links to the field


async def test_new_patient_is_registered(client: Client, world: World) -> None:
    from datetime import date

    from telemed.domain.fiscal_code import build_fiscal_code

    nurse = await world.user("nurse")
    await log_in(client, nurse["username"])
    code = build_fiscal_code("Giulia", "Verdi", date(1948, 5, 17), "F", "Milano")
    resp = await post_form(client, "/patients/new", {
        "given_name": "Giulia", "family_name": "Verdi", "birth_date": "17/05/1948", "sex": "F",
        "fiscal_code": code.lower(), "phone": "+39 333 123 4567", "timezone": "Europe/Rome"})
    assert resp.status == 303
    page = await (await client.get(resp.headers["Location"])).text()
    assert "Patient registered." in page and code in page
    again = await post_form(client, "/patients/new", {
        "given_name": "Giulia", "family_name": "Verdi", "birth_date": "1948-05-17", "sex": "F",
        "fiscal_code": code, "phone": "", "timezone": ""})
    assert again.status == 409
    assert "already exists" in field_error(await again.text(), "fiscal_code")


# --- care plans -------------------------------------------------------------------------


async def test_bad_band_order_is_shown_next_to_the_field_and_saves_nothing(
    client: Client, world: World
) -> None:
    _, patient = await doctor_in(client, world)
    resp = await post_form(client, f"/patients/{patient.id}/careplans/new",
                           plan_form(**{"m-body_weight-monitor": "",
                                        "trend-0-metric": "", "trend-0-delta": "",
                                        "trend-0-window_hours": "",
                                        "m-bp_systolic-warning_low": "160"}))
    assert resp.status == 422
    page = await resp.text()
    # monitoring[0] is blood pressure here (weight unticked): the error still lands on bp
    assert field_error(page, "m-bp_systolic-warning_low") == (
        "Error: The warning low limit (160) must not be above the warning high limit (150).")
    assert 'aria-invalid="true"' in page
    assert 'href="#m-bp_systolic-warning_low"' in page
    assert 'value="160"' in page and "Weight stable" in page  # values kept
    assert await plans_of(world, patient.id) == []


async def test_several_errors_each_at_their_field(client: Client, world: World) -> None:
    _, patient = await doctor_in(client, world)
    resp = await post_form(client, f"/patients/{patient.id}/careplans/new", plan_form(**{
        "title": "",
        "m-body_weight-times": "7",
        "m-bp_systolic-hysteresis": "abc",
        "trend-0-delta": "0",
        "escalate_after_minutes": "0",
    }))
    assert resp.status == 422
    page = await resp.text()
    assert "Title is required" in field_error(page, "title")
    assert 'got "7"' in field_error(page, "m-body_weight-times")
    assert "Expected a number." in field_error(page, "m-bp_systolic-hysteresis")
    assert "must not be zero" in field_error(page, "trend-0-delta")
    assert "between 1 and 1440" in field_error(page, "escalate_after_minutes")
    assert await plans_of(world, patient.id) == []


async def test_unreadable_date_is_reported_with_the_content_errors(
    client: Client, world: World
) -> None:
    _, patient = await doctor_in(client, world)
    resp = await post_form(client, f"/patients/{patient.id}/careplans/new",
                           plan_form(period_start="soon", **{"m-bp_systolic-times": "25:00"}))
    page = await resp.text()
    assert resp.status == 422
    assert "DD/MM/YYYY" in field_error(page, "period_start")
    assert "HH:MM" in field_error(page, "m-bp_systolic-times")
    assert await plans_of(world, patient.id) == []


async def test_care_plan_lifecycle_through_the_pages(client: Client, world: World) -> None:
    doctor, patient = await doctor_in(client, world)

    resp = await post_form(client, f"/patients/{patient.id}/careplans/new", plan_form())
    assert resp.status == 303, await resp.text()
    plan_url = resp.headers["Location"]
    page = await (await client.get(plan_url)).text()
    assert "Care plan saved as a draft." in page
    assert "08:00, 20:00" in page and "+2 kg within 72 hours" in text_of(page)
    [stored] = await plans_of(world, patient.id)
    assert stored.content["monitoring"][0]["bands"] == {
        "critical_low": 85, "warning_low": 95, "warning_high": 150, "critical_high": 180}
    assert stored.content["escalate_after_minutes"] == 20
    assert doctor["id"] in stored.content["care_team"]

    resp = await post_form(client, f"{plan_url}/activate", {})
    assert resp.status == 303
    page = await (await client.get(plan_url)).text()
    assert '<span class="badge badge--active">Active</span>' in page
    assert "Care plan activated." in page and 'action="' + plan_url + '/complete"' in page

    edit = await (await client.get(f"{plan_url}/edit")).text()
    assert "Saving creates version 2." in edit
    assert 'value="08:00, 20:00"' in edit and 'name="base_version" value="1"' in edit
    form = plan_form(**{"m-bp_systolic-warning_high": "145", "base_version": "1"})
    resp = await post_form(client, f"{plan_url}/edit", form)
    assert resp.status == 303
    page = await (await client.get(plan_url)).text()
    assert "Saved as version 2." in page and "Version 2" in page

    old = await (await client.get(f"{plan_url}?version=1")).text()
    assert "which has been replaced" in old
    assert ">150<" in old and ">145<" not in old
    current = await (await client.get(plan_url)).text()
    assert ">145<" in current
    assert f"{plan_url}?version=1" in current

    stale = await post_form(client, f"{plan_url}/edit", form)  # still based on version 1
    assert stale.status == 409
    assert "now version 2" in await stale.text()

    resp = await post_form(client, f"{plan_url}/complete", {})
    assert resp.status == 303
    assert (await client.get(f"{plan_url}/edit")).status == 409


async def test_editing_a_draft_keeps_version_one(client: Client, world: World) -> None:
    _, patient = await doctor_in(client, world)
    resp = await post_form(client, f"/patients/{patient.id}/careplans/new", plan_form())
    plan_url = resp.headers["Location"]
    edit = await (await client.get(f"{plan_url}/edit")).text()
    assert "saving changes it in place" in edit
    resp = await post_form(client, f"{plan_url}/edit",
                           plan_form(title="Changed", escalate_after_minutes="",
                                     base_version="1"))
    assert resp.status == 303
    [stored] = await plans_of(world, patient.id)
    assert stored.version == 1 and stored.title == "Changed"
    assert "escalate_after_minutes" not in stored.content  # emptied field clears the value


async def test_no_threshold_alerts_is_kept_through_an_edit(client: Client, world: World) -> None:
    _, patient = await doctor_in(client, world)
    form = plan_form(**{"m-body_weight-no_bands": "on", "m-body_weight-warning_high": "90"})
    resp = await post_form(client, f"/patients/{patient.id}/careplans/new", form)
    [stored] = await plans_of(world, patient.id)
    weight = stored.content["monitoring"][1]
    assert weight["metric"] == "body_weight" and weight["bands"] == {}
    edit = await (await client.get(resp.headers["Location"] + "/edit")).text()
    assert re.search(r'id="m-body_weight-no_bands" name="m-body_weight-no_bands" value="on"'
                     r' checked', edit)


async def test_nurse_of_another_team_cannot_open_the_editor(client: Client, world: World) -> None:
    nurse, doctor = await world.user("nurse"), await world.user("doctor")
    patient = await world.patient(team=[doctor["id"]])
    await log_in(client, nurse["username"])
    assert (await client.get(f"/patients/{patient.id}/careplans/new")).status == 403
    resp = await post_form(client, f"/patients/{patient.id}/careplans/new", plan_form())
    assert resp.status == 403
    assert await plans_of(world, patient.id) == []


# --- the patient's own record, administrators -----------------------------------------


async def test_patient_sees_their_own_record_only(client: Client, world: World) -> None:
    doctor = await world.user("doctor")
    own = await world.patient(team=[doctor["id"]])
    other = await world.patient(team=[doctor["id"]])
    person = await world.user("patient", patient_id=own.id)
    await log_in(client, doctor["username"])
    resp = await post_form(client, f"/patients/{own.id}/careplans/new", plan_form())
    await post_form(client, resp.headers["Location"] + "/activate", {})
    await post_form(client, "/logout", {})

    resp = await log_in(client, person["username"])
    assert resp.headers["Location"] == "/my-record"
    page = text_of(await (await client.get("/my-record")).text())
    assert own.given_name in page
    assert "Every day at 08:00 and 20:00." in page
    assert "Usual range for you: 95 to 150 mmHg." in page
    assert (await client.get(f"/patients/{other.id}")).status == 403
    assert (await client.get("/patients", allow_redirects=False)).status == 403


async def test_admin_creates_users_with_errors_next_to_fields(
    client: Client, world: World
) -> None:
    admin = await world.user("admin")
    patient = await world.patient()
    await log_in(client, admin["username"])
    resp = await post_form(client, "/users/new", {
        "username": "A", "display_name": "", "role": "patient", "password": "short",
        "patient_fiscal_code": ""})
    assert resp.status == 422
    page = await resp.text()
    assert "3-64 characters" in field_error(page, "username")
    assert "sets their own password" in field_error(page, "password")  # never the admin
    # Without a fiscal code a patient-portal account is a caregiver's: no error for it.
    assert field_error(page, "patient_fiscal_code") == ""
    assert 'value="short"' not in page  # passwords are never sent back
    resp = await post_form(client, "/users/new", {
        "username": "A", "display_name": "Mario Rossi", "role": "patient",
        "password": "", "patient_fiscal_code": "RSSMRA80A01H501U"})
    page = await resp.text()
    assert "No patient has this fiscal code." in field_error(page, "patient_fiscal_code")
    assert "3-64 characters" in field_error(page, "username")  # every problem at once
    form = await (await client.get(f"/patients/{patient.id}")).text()
    assert f"/users/new?fiscal_code={patient.fiscal_code}" in form
    prefilled = await (await client.get(f"/users/new?fiscal_code={patient.fiscal_code}")).text()
    assert f'value="{patient.fiscal_code}"' in prefilled
    resp = await post_form(client, "/users/new", {
        "username": "mario.rossi", "display_name": "Mario Rossi", "role": "patient",
        "password": "", "patient_fiscal_code": patient.fiscal_code.lower()})
    assert resp.status == 303
    page = await (await client.get("/users")).text()
    assert "User mario.rossi created." in page and f"/patients/{patient.id}" in page
    again = await post_form(client, "/users/new", {
        "username": "mario.rossi", "display_name": "M", "role": "doctor",
        "password": "una-password-lunga-7"})
    assert again.status == 409
    assert "taken" in field_error(await again.text(), "username")


async def test_admin_sees_demographics_but_no_care_plans(client: Client, world: World) -> None:
    admin = await world.user("admin")
    patient = await world.patient()
    await log_in(client, admin["username"])
    assert (await log_in(client, admin["username"])).headers["Location"] == "/users"
    page = await (await client.get(f"/patients/{patient.id}")).text()
    assert patient.fiscal_code in page and "New care plan" not in page


@pytest.mark.parametrize(("role", "path", "status"), [
    ("patient", "/users", 403),
    ("nurse", "/users/new", 403),
    ("doctor", "/users", 403),
    ("admin", "/my-record", 403),
    ("patient", "/patients/new", 403),
])
async def test_role_matrix(client: Client, world: World, role: str, path: str,
                           status: int) -> None:
    patient_id = (await world.patient()).id if role == "patient" else None
    user = await world.user(role, patient_id=patient_id)
    await log_in(client, user["username"])
    assert (await client.get(path, allow_redirects=False)).status == status


# --- translations -------------------------------------------------------------------------


def test_every_page_message_has_an_italian_translation() -> None:
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg
    from babel.messages.pofile import read_po

    from telemed.i18n import CATALOGUE_DIR
    from tests.helpers.paths import ROOT

    with (CATALOGUE_DIR / "it" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    with (CATALOGUE_DIR / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options = parse_mapping_cfg(handle)
    # the messages of pages, and those of services and domain rules where they are raised
    keywords = {**DEFAULT_KEYWORDS, "t": (2,), "tn": (2, 3), "N_": None,
                "NC_": ((1, "c"), 2), "flash": (2,), "add": (3,), "_fail": (3,),
                "FieldError": (3,), "single": (3,), "ApiError": (3,), "conflict": (1,),
                "forbidden": (1,), "bad_request": (1,)}
    missing = []
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options, keywords=keywords
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        entry = catalog.get(msgid, context=context)
        if entry is None or not entry.string or (
            isinstance(entry.string, tuple) and not all(entry.string)
        ):
            missing.append((context, msgid))
    assert missing == []


def test_the_italian_catalogue_has_each_message_once() -> None:
    """Branches merged with union keep both sides of a .po: a message written twice would keep
    one of its translations silently (msgfmt refuses such a file)."""
    import re
    from collections import Counter

    from telemed.i18n import CATALOGUE_DIR

    text = (CATALOGUE_DIR / "it" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    entries = Counter(
        (found.group(1), found.group(2)) for found in re.finditer(
            r'^(?:msgctxt (".*")\n)?msgid ((?:".*"\n)+)msgstr', text, re.M))
    assert [entry for entry, times in entries.items() if times > 1] == []
