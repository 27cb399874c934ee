"""The images proxy (CONTRACT §9): the patient's studies, a study's series and slices, a
slice's header summary and its rendered frames, each with the patient's access rules
(`telemed.services.imaging`). The browser never talks to the PACS."""

from __future__ import annotations

from aiohttp import web

from telemed.api.common import call, listing, ok, query_int, request_id
from telemed.domain.imaging import MAX_FRAME, parse_window
from telemed.errors import ApiError
from telemed.imaging.dicomweb import DicomWebClient
from telemed.imaging.setup import IMAGING, STUDY_ACCESS
from telemed.principal import Role, requires
from telemed.services import imaging as service

routes = web.RouteTableDef()
IMAGE_ROLES: tuple[Role, ...] = ("doctor", "nurse", "patient")  # administrators: never
STUDY = "/api/v1/studies/{study_uid}"
INSTANCE = STUDY + "/series/{series_uid}/instances/{sop_uid}"


def _instance(request: web.Request) -> tuple[str, str]:
    return request.match_info["series_uid"], request.match_info["sop_uid"]


async def _authorized(request: web.Request, *, frames: bool = False) -> str:
    study_uid = request.match_info["study_uid"]
    await call(request, service.authorize_study, study_uid, request.app[IMAGING],
               request.app[STUDY_ACCESS], frames=frames,
               instance=_instance(request) if frames else None, request_id=request_id(request))
    return study_uid


async def _member(request: web.Request, study_uid: str) -> DicomWebClient:
    """The PACS client, once the path's instance is known to be in the study."""
    client = service.client_or_503(request.app[IMAGING])
    await service.check_member(client, request.app[STUDY_ACCESS], study_uid, *_instance(request))
    return client


@routes.get("/api/v1/patients/{patient_id}/studies")
@requires(*IMAGE_ROLES)
async def patient_studies(request: web.Request) -> web.Response:
    """The patient's studies found in the PACS by their fiscal code as PatientID."""
    found = await call(request, service.patient_studies, request.match_info["patient_id"],
                       request.app[IMAGING], request_id=request_id(request))
    return listing([s.to_dict() for s in found], None)


@routes.get(STUDY)
@requires(*IMAGE_ROLES)
async def study_get(request: web.Request) -> web.Response:
    """The study's series with their ordered slices."""
    study_uid = await _authorized(request)
    client = service.client_or_503(request.app[IMAGING])
    return ok({"study_instance_uid": study_uid,
               "series": await service.study_series(client, study_uid,
                                                    request.app[STUDY_ACCESS])})


@routes.get(INSTANCE + "/summary")
@requires(*IMAGE_ROLES)
async def instance_summary(request: web.Request) -> web.Response:
    """A few header fields of one slice (the viewer's DICOM summary)."""
    study_uid = await _authorized(request, frames=True)
    client = await _member(request, study_uid)
    return ok(await service.header_summary(client, study_uid, request.match_info["series_uid"],
                                           request.match_info["sop_uid"]))


@routes.get(INSTANCE + "/frames/{frame}/rendered")
@requires(*IMAGE_ROLES)
async def frame_rendered(request: web.Request) -> web.Response:
    """One frame rendered by the PACS as PNG, with `?center=&width=` as the window."""
    raw_frame = request.match_info["frame"]
    if not raw_frame.isascii() or not raw_frame.isdigit() or not 1 <= int(raw_frame) <= MAX_FRAME:
        raise ApiError(400, "invalid_frame", f"frame must be a number from 1 to {MAX_FRAME}.")
    try:
        window = parse_window(request.query.get("center"), request.query.get("width"))
    except ValueError as exc:
        raise ApiError(400, "invalid_window", str(exc).capitalize() + ".") from None
    query_int(request.query, "v", low=0, high=10**9)  # a cache-buster the viewer may add
    study_uid = await _authorized(request, frames=True)
    client = await _member(request, study_uid)
    image = await service.rendered(client, study_uid, request.match_info["series_uid"],
                                   request.match_info["sop_uid"], int(raw_frame), window)
    return web.Response(body=image.body, content_type=image.content_type.split(";")[0],
                        headers={"Cache-Control": "private, max-age=300"})
