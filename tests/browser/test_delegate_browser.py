"""A parent answers her child's questionnaire on a phone (390 × 844) in real Chromium
(#12 item 5): the answer is stored for the child, entered by the mother, and the team sees
it through the API. A delegate who may only read is offered no form, and a post of theirs
is refused (403) with nothing stored."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, expect
from sqlmodel import select

from telemed import keys
from telemed.db.models import CareTeamMember, Consent, Patient, QuestionnaireResponse
from telemed.domain.fiscal_code import build_fiscal_code
from tests.conftest import World
from tests.helpers.axe import assert_accessible
from tests.helpers.browser import log_in, phone
from tests.helpers.plans import DIARY_PLAN
from tests.integration.monitoring import add_plan

pytestmark = pytest.mark.browser

Client = TestClient[Any, Any]


async def _person(world: World, given: str, birth: date, team: list[str]) -> Patient:
    async with world.app[keys.SESSIONS]() as session:
        person = Patient(fiscal_code=build_fiscal_code(given, "Rinaldi", birth, "F", "Roma"),
                         given_name=given, family_name="Rinaldi", birth_date=birth, sex="F")
        session.add(person)
        await session.flush()
        for user_id in team:
            session.add(CareTeamMember(patient_id=person.id, user_id=user_id))
            session.add(Consent(patient_id=person.id, granted=True, recorded_by=user_id))
        await session.commit()
        return person


async def _delegate(client: Client, world: World, child: Patient, given: str, birth: date,
                    scope: str) -> dict[str, str]:
    """A portal user with a record of her own, delegated for the child by an administrator."""
    own = await _person(world, given, birth, [])
    user = await world.user("patient", patient_id=own.id)
    user["patient_id"] = own.id
    admin = await world.user("admin")
    resp = await client.post(f"/api/v1/patients/{child.id}/delegates",
                             headers=await world.token(admin["username"]),
                             json={"delegate_username": user["username"],
                                   "relationship": "parent", "scope": scope,
                                   "request_note": "Modulo firmato prot. 12/2026"})
    assert resp.status == 201, await resp.text()
    return user


async def _stored(world: World) -> list[QuestionnaireResponse]:
    async with world.app[keys.SESSIONS]() as session:
        return list((await session.exec(select(QuestionnaireResponse))).all())


@pytest.fixture
async def family(client: Client, world: World) -> dict[str, Any]:
    """Sofia (11, heart-failure diary daily in her plan), her mother who acts for her and
    her father who may only read."""
    doctor = await world.user("doctor")
    today = datetime.now(UTC).date()
    child = await _person(world, "Sofia", today.replace(year=today.year - 11) - timedelta(1),
                          [doctor["id"]])
    await add_plan(world.app, child.id, doctor["id"], DIARY_PLAN)
    mother = await _delegate(client, world, child, "Elena", date(1984, 2, 11), "act")
    father = await _delegate(client, world, child, "Marta", date(1983, 5, 3), "read")
    return {"doctor": doctor, "child": child, "mother": mother, "father": father}


async def _childs_record(browser: Browser, base_url: str, delegate: dict[str, str],
                         child: Patient) -> Page:
    """The delegate, logged in on a phone, on the child's record."""
    mobile = await phone(browser, base_url)
    await log_in(mobile, delegate["username"])
    await mobile.goto(f"/my-record?patient={child.id}")
    await expect(mobile.locator("main")).to_contain_text("Sofia")
    return mobile


async def _answer_diary(page: Page) -> None:
    for group, label in (("1. Breathlessness", "More than usual when I move"),
                         ("2. Breathing when lying down", "As usual"),
                         ("3. Swollen ankles or legs", "No"),
                         ("4. Tiredness", "More tired than usual")):
        await page.get_by_role("group", name=group).get_by_label(label, exact=True).check()


async def test_a_mother_answers_her_daughters_diary_on_a_phone(
    browser: Browser, base_url: str, client: Client, world: World, family: dict[str, Any],
) -> None:
    child, mother = family["child"], family["mother"]
    mobile = await _childs_record(browser, base_url, mother, child)
    due = mobile.locator('[data-questionnaire-due="hf_diary"] a')
    await expect(due).to_be_visible()
    await due.click()
    await expect(mobile.get_by_role("heading", level=1)).to_have_text("Heart failure diary")
    await expect(mobile).to_have_url(
        f"{base_url}/my-record/questionnaires/hf_diary?patient={child.id}")
    await assert_accessible(mobile)
    await _answer_diary(mobile)
    await mobile.get_by_role("button", name="Send my answers").click()
    await expect(mobile.locator(".notice")).to_contain_text("your answers reached")
    await expect(mobile).to_have_url(f"{base_url}/my-record?patient={child.id}")
    await expect(mobile.locator('[data-questionnaire-due="hf_diary"]')).to_have_count(0)
    await mobile.context.close()

    # stored for the child, entered by the mother; nothing on the mother's own record
    [row] = await _stored(world)
    assert (row.patient_id, row.entered_by) == (child.id, mother["id"])
    # the care team reads it through the API
    resp = await client.get(f"/api/v1/patients/{child.id}/questionnaire-responses",
                            headers=await world.token(family["doctor"]["username"]))
    assert resp.status == 200, await resp.text()
    [item] = (await resp.json())["items"]
    assert item["questionnaire"] == "hf_diary" and item["entered_by"] == mother["id"]
    assert {a["link_id"]: a["value"] for a in item["answers"]}["ankle_swelling"] == 0


async def test_a_delegate_who_only_reads_gets_no_form_and_a_post_is_refused(
    browser: Browser, base_url: str, world: World, family: dict[str, Any],
) -> None:
    child, father = family["child"], family["father"]
    mobile = await _childs_record(browser, base_url, father, child)
    await expect(mobile.locator("[data-questionnaire-due]")).to_have_count(0)
    await expect(mobile.locator(f'main a[href="/my-record/readings?patient={child.id}"]')
                 ).to_have_count(0)
    # the list of questionnaires offers nothing to answer
    await mobile.goto(f"/my-record/questionnaires?patient={child.id}")
    await expect(mobile.locator('[data-questionnaire="hf_diary"]')).to_be_visible()
    await expect(mobile.locator('a[href^="/my-record/questionnaires/hf_diary"]')).to_have_count(0)
    await assert_accessible(mobile)
    token = await mobile.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert token
    # typing the form's address shows no form
    shown = await mobile.goto(f"/my-record/questionnaires/hf_diary?patient={child.id}")
    assert shown is not None and shown.status == 403
    await expect(mobile.locator("form.questionnaire-form")).to_have_count(0)
    # a post with a valid session and token is refused, and nothing is stored
    resp = await mobile.request.post(
        f"/my-record/questionnaires/hf_diary?patient={child.id}", max_redirects=0,
        form={"csrf_token": token, "breathlessness": "0", "orthopnoea": "0",
              "ankle_swelling": "0", "fatigue": "0"})
    assert resp.status == 403, await resp.text()
    assert await _stored(world) == []
    await mobile.context.close()
