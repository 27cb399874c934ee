"""The access log says each audit reason from its code: the patient's page in their language,
the API with the stable code and its English text."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.domain.audit_reasons import because
from telemed.services import audit
from tests.conftest import World
from tests.helpers.pages import log_in


async def test_the_log_says_coded_reasons_in_italian_and_english(
    client: TestClient[Any, Any], world: World
) -> None:
    patient = await world.patient()
    me = await world.user("patient", patient_id=patient.id)
    er_headers = await world.token((await world.user("doctor"))["username"])
    opened = await client.post(f"/api/v1/patients/{patient.id}/emergency-access",
                               headers=er_headers,
                               json={"reason": "Ricovero urgente", "reason_code": "on_call_cover"})
    assert opened.status == 201, await opened.text()
    async with world.app[keys.SESSIONS]() as session:
        audit.record(session, actor=None, action="update", resource="careplan",
                     patient_id=patient.id, reason=because("careplan_version", version=3))
        audit.record(session, actor=None, action="create", resource="delegation",
                     patient_id=patient.id, reason=because(
                         "delegation_granted", relationship="parent", scope="read",
                         delegate="Anna Bianchi"))
        await session.commit()
    assert (await log_in(client, me["username"])).status in (302, 303)
    english = await (await client.get(f"/patients/{patient.id}/privacy")).text()
    assert "Care plan version 3" in english and "parent (read): Anna Bianchi" in english
    italian = await (await client.get(f"/patients/{patient.id}/privacy",
                                      headers={"Accept-Language": "it"})).text()
    assert "Piano di cura, versione 3" in italian and "Care plan version" not in italian
    assert "genitore (read): Anna Bianchi" in italian  # the relationship as a word
    log = await (await client.get(f"/api/v1/patients/{patient.id}/access-log",
                                  headers={"Accept-Language": "it"})).json()
    lines = {(e["reason_code"], e["reason"]) for e in log["items"]}
    assert ("careplan_version", "Care plan version 3") in lines
    assert ("emergency", "On-call cover") in lines
    version = next(e for e in log["items"] if e["reason_code"] == "careplan_version")
    assert version["reason_params"] == {"version": "3"}
