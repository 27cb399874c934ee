"""Attachments and the images proxy on a real Orthanc: files checked by content, DICOM to
the PACS by STOW-RS with the PatientID check (and an audited reconciliation), PACS studies
attached, a study of a patient one may not see (403, audited), a PACS that is down."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telemed import keys
from telemed.app import create_app
from telemed.db.teleconsults import Attachment
from telemed.imaging.samples import series
from telemed.imaging.setup import STUDY_ACCESS
from telemed.settings import Settings
from tests.conftest import World
from tests.helpers.teleconsults import specialist
from tests.orthanc_fixture import TestPacs, down_pacs_url

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture
def app(pacs_settings: Settings) -> web.Application:
    return create_app(pacs_settings.model_copy(update={"attachment_max_bytes": 200_000}))


async def _consult(client: TestClient[Any, Any], world: World) -> dict[str, Any]:
    gp, cardio, other = (await world.user("doctor"), await specialist(world),
                         await world.user("doctor"))
    patient = await world.patient(team=[gp["id"]])
    stranger = await world.patient(team=[other["id"]])
    h = {"gp": await world.token(gp["username"]), "cardio": await world.token(cardio["username"]),
         "other": await world.token(other["username"])}
    resp = await client.post("/api/v1/teleconsults", json={
        "patient_id": patient.id, "specialist_id": cardio["id"], "question": "Ecocardio?",
        "urgency": "routine", "mode": "live"}, headers=h["gp"])
    assert resp.status == 201
    return {"id": (await resp.json())["id"], "patient": patient, "stranger": stranger, "h": h,
            "cardio": cardio}


async def orthanc_sops(pacs: TestPacs, study: str, series_uid: str) -> list[str]:
    import aiohttp

    from telemed.imaging import dicomweb as dw

    async with aiohttp.ClientSession() as http:
        found = await dw.DicomWebClient(pacs.dicomweb_url, http).search_instances(study,
                                                                                  series_uid)
    return [str(dw.value(i, dw.TAG_SOP_UID)) for i in found]


async def _audit_rows(world: World, resource: str) -> list[Any]:
    from sqlmodel import select

    from telemed.db.models import AuditEvent

    async with world.app[keys.SESSIONS]() as session:
        return list((await session.exec(select(AuditEvent).where(
            AuditEvent.resource == resource))).all())


async def test_files_checked_by_content(client: TestClient[Any, Any], world: World) -> None:
    c = await _consult(client, world)
    url = f"/api/v1/teleconsults/{c['id']}/attachments"
    gp = c["h"]["gp"]
    resp = await client.post(f"{url}?filename=referto.pdf", data=PDF,
                             headers={**gp, "Content-Type": "application/pdf"})
    assert resp.status == 201, await resp.text()
    pdf = await resp.json()
    assert pdf["media_type"] == "application/pdf" and pdf["filename"] == "referto.pdf"
    # A "PDF" that is a PNG, a text that claims to be a PDF, a truncated PDF, too large.
    for data, name, code in ((PNG, "referto.pdf", "content_mismatch"),
                             (b"hello, I am a PDF" * 20, "x.pdf", "unsupported_file"),
                             (PDF[:-8], "cut.pdf", "truncated_file")):
        resp = await client.post(f"{url}?filename={name}", data=data,
                                 headers={**gp, "Content-Type": "application/pdf"})
        assert resp.status == 415, await resp.text()
        assert (await resp.json())["error"]["code"] == code
    resp = await client.post(f"{url}?filename=big.pdf", data=PDF + b"0" * 300_000,
                             headers={**gp, "Content-Type": "application/pdf"})
    assert resp.status == 413
    resp = await client.post(f"{url}?filename=%C3%A8co%22%0D%0Ax.png", data=PNG,
                             headers={**gp, "Content-Type": "application/octet-stream"})
    assert resp.status == 201
    png = await resp.json()
    got = await client.get(png["url"], headers=gp)  # a name with è, a quote, CR LF
    assert got.status == 200 and await got.read() == PNG
    assert got.headers["Content-Disposition"] == (
        "inline; filename=\"_cox.png\"; filename*=UTF-8''%C3%A8cox.png")
    listed = await (await client.get(url, headers=c["h"]["cardio"])).json()
    assert [a["media_type"] for a in listed["items"]] == ["application/pdf", "image/png"]
    got = await client.get(pdf["url"], headers=c["h"]["cardio"])
    assert got.status == 200 and await got.read() == PDF
    assert got.headers["Content-Type"] == "application/pdf"
    # Another doctor: neither the list nor the file.
    assert (await client.get(url, headers=c["h"]["other"])).status == 403
    assert (await client.get(pdf["url"], headers=c["h"]["other"])).status == 403


async def test_dicom_upload_patient_id_check_and_reconciliation(
        client: TestClient[Any, Any], world: World, orthanc: TestPacs) -> None:
    c = await _consult(client, world)
    url = f"/api/v1/teleconsults/{c['id']}/attachments"
    gp = c["h"]["gp"]
    mine = series(c["patient"].fiscal_code, modality="MR")
    resp = await client.post(f"{url}?filename=mr.dcm", data=mine.files[0],
                             headers={**gp, "Content-Type": "application/dicom"})
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["study_instance_uid"] == mine.study_uid
    studies = await (await client.get(f"/api/v1/patients/{c['patient'].id}/studies",
                                      headers=gp)).json()
    assert mine.study_uid in [s["study_instance_uid"] for s in studies["items"]]
    # Another patient's ID: refused, nothing stored in the PACS or here.
    foreign = series(c["stranger"].fiscal_code, modality="MR")
    resp = await client.post(f"{url}?filename=other.dcm", data=foreign.files[0],
                             headers={**gp, "Content-Type": "application/dicom"})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "patient_id_mismatch"
    stranger_studies = await (await client.get(
        f"/api/v1/patients/{c['stranger'].id}/studies", headers=c["h"]["other"])).json()
    assert foreign.study_uid not in [s["study_instance_uid"] for s in stranger_studies["items"]]
    # Confirmed: stored under this patient's fiscal code, audited as a reconciliation.
    resp = await client.post(f"{url}?filename=other.dcm&reconcile=confirm",
                             data=foreign.files[0],
                             headers={**gp, "Content-Type": "application/dicom"})
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["reconciled"] is True
    studies = await (await client.get(f"/api/v1/patients/{c['patient'].id}/studies",
                                      headers=gp)).json()
    assert foreign.study_uid in [s["study_instance_uid"] for s in studies["items"]]
    rows = await _audit_rows(world, "attachment")
    assert [r.reason_code for r in rows if r.reason_code] == ["dicom_reconciliation"]
    async with world.app[keys.SESSIONS]() as session:
        from sqlmodel import select
        found = (await session.exec(select(Attachment).where(
            Attachment.study_uid == foreign.study_uid))).one()
    assert found.reconciled_from == c["stranger"].fiscal_code


async def test_attach_pacs_study_and_view_it(client: TestClient[Any, Any], world: World,
                                             orthanc: TestPacs) -> None:
    c = await _consult(client, world)
    world.app[STUDY_ACCESS].ttl = 0.0  # every request checks access again
    ct = series(c["patient"].fiscal_code, count=3)
    orthanc.upload(ct.files)
    theirs = series(c["stranger"].fiscal_code)
    orthanc.upload(theirs.files)
    url = f"/api/v1/teleconsults/{c['id']}/attachments"
    gp = c["h"]["gp"]
    resp = await client.post(url, json={"study_instance_uid": theirs.study_uid}, headers=gp)
    assert resp.status == 403  # not this patient's study
    resp = await client.post(url, json={"study_instance_uid": "1.2.3.999"}, headers=gp)
    assert resp.status == 404
    resp = await client.post(url, json={"study_instance_uid": "not a uid"}, headers=gp)
    assert resp.status == 400
    resp = await client.post(url, json={"study_instance_uid": ct.study_uid}, headers=gp)
    assert resp.status == 201
    # The specialist has not accepted yet: the study stays closed to them.
    study_url = f"/api/v1/studies/{ct.study_uid}"
    assert (await client.get(study_url, headers=c["h"]["cardio"])).status == 403
    await client.post(f"/api/v1/teleconsults/{c['id']}/accept", json={},
                      headers=c["h"]["cardio"])
    study = await (await client.get(study_url, headers=c["h"]["cardio"])).json()
    [only] = study["series"]
    assert only["series_instance_uid"] == ct.series_uid and len(only["instances"]) == 3
    sop = only["instances"][1]["sop_instance_uid"]
    frame = f"{study_url}/series/{ct.series_uid}/instances/{sop}/frames/1/rendered"
    # The viewer asks for a series' frames together (thumbnail, slice, neighbours).
    together = await asyncio.gather(*(client.get(f"{frame}?center={n}&width=400",
                                                 headers=c["h"]["cardio"]) for n in range(4)))
    assert [r.status for r in together] == [200] * 4
    resp = await client.get(f"{frame}?center=-600&width=1500", headers=c["h"]["cardio"])
    assert resp.status == 200 and resp.content_type == "image/png"
    assert (await resp.read()).startswith(b"\x89PNG")
    for bad in ("?center=40", "?center=x&width=400", "?center=40&width=0"):
        assert (await client.get(frame + bad, headers=c["h"]["cardio"])).status == 400
    summary = await (await client.get(
        f"{study_url}/series/{ct.series_uid}/instances/{sop}/summary",
        headers=c["h"]["cardio"])).json()
    assert summary["modality"] == "CT" and summary["patient_id"] == c["patient"].fiscal_code
    # A study of a patient one may not see: 403, and the refusal is audited.
    denied = await client.get(f"/api/v1/studies/{theirs.study_uid}", headers=gp)
    assert denied.status == 403
    rows = await _audit_rows(world, "study")
    assert any(r.outcome == "denied" and r.patient_id == c["stranger"].id for r in rows)
    theirs_frame = (f"/api/v1/studies/{theirs.study_uid}/series/{theirs.series_uid}/instances/"
                    f"1.2.3/frames/1/rendered")
    assert (await client.get(theirs_frame, headers=gp)).status == 403
    # Their slice under our study's path: not found (the proxy checks the path itself).
    [their_sop] = await orthanc_sops(orthanc, theirs.study_uid, theirs.series_uid)
    for series_uid in (ct.series_uid, theirs.series_uid):
        mixed = (f"{study_url}/series/{series_uid}/instances/{their_sop}/frames/1/rendered")
        assert (await client.get(mixed, headers=c["h"]["cardio"])).status == 404
    # Frames of an opened study do not write one audit line each, though each checks access.
    before = len(await _audit_rows(world, "study"))
    for _ in range(3):
        assert (await client.get(frame, headers=c["h"]["cardio"])).status == 200
    assert len(await _audit_rows(world, "study")) == before
    # The series opened is audited once for this login and window, with the reason of the
    # access, and shows on the patient's access log; their series under our path, never.
    rows = await _audit_rows(world, "series")
    assert [(r.actor_id, r.resource_id, r.reason_code, r.patient_id) for r in rows
            if r.outcome == "success"] == [
        (c["cardio"]["id"], ct.series_uid, "teleconsult_access", c["patient"].id)]
    assert [r.patient_id for r in rows if r.outcome == "denied"] == [c["stranger"].id]
    admin = await world.token((await world.user("admin"))["username"])
    log = await (await client.get(f"/api/v1/patients/{c['patient'].id}/access-log",
                                  headers=admin)).json()
    assert [e["resource_id"] for e in log["items"] if e["resource"] == "series"] == [
        ct.series_uid]


async def test_pacs_down_says_unavailable_and_the_consult_goes_on(
        aiohttp_client: Any, settings: Settings) -> None:
    down = create_app(settings.model_copy(update={"dicomweb_url": down_pacs_url()}))
    client = await aiohttp_client(down)
    world = World(down, client)
    c = await _consult(client, world)
    resp = await client.get(f"/api/v1/patients/{c['patient'].id}/studies", headers=c["h"]["gp"])
    assert resp.status == 503 and (await resp.json())["error"]["code"] == "pacs_unavailable"
    resp = await client.get("/api/v1/studies/1.2.3.4", headers=c["h"]["gp"])
    assert resp.status == 503
    resp = await client.post(f"/api/v1/teleconsults/{c['id']}/attachments?filename=a.pdf",
                             data=PDF, headers={**c["h"]["gp"], "Content-Type": "application/pdf"})
    assert resp.status == 201  # files still attach, the request still moves
    resp = await client.post(f"/api/v1/teleconsults/{c['id']}/accept", json={},
                             headers=c["h"]["cardio"])
    assert resp.status == 200


@pytest.mark.parametrize(("path", "code"), [
    ("/api/v1/studies/1.2.3/series/1.2/instances/%C3%97%C3%B8/summary", "invalid_instance_uid"),
    ("/api/v1/studies/0/series/1.2.x/instances/1.2.3/summary", "invalid_series_uid"),
    ("/api/v1/studies/0/series/1.2/instances/1..3/frames/1/rendered", "invalid_instance_uid"),
    ("/api/v1/studies/1.2.%C2%9B/series/1.2/instances/1.3/summary", "invalid_study_uid"),
])
async def test_a_malformed_uid_is_refused_before_the_pacs_is_asked(
        aiohttp_client: Any, settings: Settings, path: str, code: str) -> None:
    """Bad input is a 400 whether the PACS is up, down or not there (it was a 503 when the
    archive could not be reached, found by the API fuzzer)."""
    down = create_app(settings.model_copy(update={"dicomweb_url": down_pacs_url()}))
    client = await aiohttp_client(down)
    world = World(down, client)
    headers = await world.token((await world.user("doctor"))["username"])
    resp = await client.get(path, headers=headers)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == code

async def test_a_file_larger_than_a_json_body_streams_in(aiohttp_client: Any,
                                                          settings: Settings) -> None:
    """Uploads are read as a stream with their own limit, not the JSON body limit."""
    app = create_app(settings.model_copy(update={"max_body_bytes": 64 * 1024}))
    client = await aiohttp_client(app)
    c = await _consult(client, World(app, client))
    big = b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024) + b"\n%%EOF\n"
    resp = await client.post(f"/api/v1/teleconsults/{c['id']}/attachments?filename=tac.pdf",
                             data=io.BytesIO(big), headers={**c["h"]["gp"],
                                                "Content-Type": "application/pdf"})
    assert resp.status == 201, await resp.text()
    got = await client.get((await resp.json())["url"], headers=c["h"]["gp"])
    assert len(await got.read()) == len(big)
