"""The DICOMweb client against a real Orthanc: QIDO-RS, WADO-RS rendered frames, STOW-RS."""

from __future__ import annotations

import aiohttp
import pytest

from telemed.imaging import dicomweb as dw
from telemed.imaging.samples import series
from tests.orthanc_fixture import TestPacs, down_pacs_url

PNG = b"\x89PNG\r\n\x1a\n"


async def test_search_render_and_metadata(orthanc: TestPacs) -> None:
    sample = series("RSSMRA50A01H501U", count=3)
    orthanc.upload(sample.files)
    async with aiohttp.ClientSession() as http:
        client = dw.DicomWebClient(orthanc.dicomweb_url, http)
        studies = await client.search_studies("RSSMRA50A01H501U")
        assert [dw.value(s, dw.TAG_STUDY_UID) for s in studies] == [sample.study_uid]
        assert await client.search_studies("NOBODY0000000000") == []
        found = await client.find_study(sample.study_uid)
        assert found is not None and dw.value(found, dw.TAG_PATIENT_ID) == "RSSMRA50A01H501U"
        series_list = await client.search_series(sample.study_uid)
        assert [dw.value(s, dw.TAG_SERIES_UID) for s in series_list] == [sample.series_uid]
        instances = await client.search_instances(sample.study_uid, sample.series_uid)
        assert len(instances) == 3
        sop = dw.value(instances[0], dw.TAG_SOP_UID)
        meta = await client.metadata(sample.study_uid, sample.series_uid, sop)
        assert dw.value(meta, dw.TAG_MODALITY) == "CT"
        plain = await client.rendered_frame(sample.study_uid, sample.series_uid, sop, 1)
        assert plain.body.startswith(PNG)
        lung = await client.rendered_frame(sample.study_uid, sample.series_uid, sop, 1,
                                           window=(-600, 1500))
        bone = await client.rendered_frame(sample.study_uid, sample.series_uid, sop, 1,
                                           window=(400, 1800))
        assert lung.body.startswith(PNG) and lung.body != bone.body  # the window is applied
        with pytest.raises(dw.PacsNotFound):
            await client.rendered_frame(sample.study_uid, sample.series_uid, "1.2.3.4", 1)


async def test_store_by_stow(orthanc: TestPacs) -> None:
    sample = series("VRDLGU60B02F205Z", modality="MR")
    async with aiohttp.ClientSession() as http:
        client = dw.DicomWebClient(orthanc.dicomweb_url, http)
        await client.store(sample.files[0])
        studies = await client.search_studies("VRDLGU60B02F205Z")
        assert [dw.value(s, dw.TAG_STUDY_UID) for s in studies] == [sample.study_uid]
        with pytest.raises(dw.PacsError):
            await client.store(b"not a dicom file at all" * 10)


async def test_down_pacs_is_unavailable() -> None:
    async with aiohttp.ClientSession() as http:
        client = dw.DicomWebClient(down_pacs_url(), http, timeout=2)
        with pytest.raises(dw.PacsUnavailable):
            await client.search_studies("RSSMRA50A01H501U")
        assert await client.ping() is False


async def test_a_kept_alive_connection_closed_under_a_request_is_tried_again() -> None:
    """A PACS (or a proxy before it) that drops a kept-alive connection when the next
    request arrives: the client asks again on a new connection, once."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    served: dict[int, int] = {}

    async def studies(request: web.Request) -> web.Response:
        transport = request.transport
        assert transport is not None
        served[id(transport)] = served.get(id(transport), 0) + 1
        if served[id(transport)] > 1:  # the second request of a connection: dropped
            transport.close()
        return web.json_response([])

    app = web.Application()
    app.router.add_get("/dicom-web/studies", studies)
    async with TestServer(app) as server, aiohttp.ClientSession() as http:
        client = dw.DicomWebClient(str(server.make_url("/dicom-web")), http)
        for _ in range(3):
            assert await client.search_studies("RSSMRA50A01H501U") == []
        assert len(served) == 3 and sum(served.values()) == 5  # two requests dropped
