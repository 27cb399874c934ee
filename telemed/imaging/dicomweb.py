"""A small DICOMweb client: QIDO-RS searches, WADO-RS metadata and rendered frames, STOW-RS.

Every call raises `PacsUnavailable` when the PACS cannot be reached or answers with a server
error, so callers can say "images are unavailable" and carry on; a 404 is `PacsNotFound`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

DICOM_JSON = "application/dicom+json"
# Attributes asked for in searches (tags as DICOM JSON keys).
TAG_STUDY_UID = "0020000D"
TAG_SERIES_UID = "0020000E"
TAG_SOP_UID = "00080018"
TAG_PATIENT_ID = "00100020"
TAG_PATIENT_NAME = "00100010"
TAG_STUDY_DATE = "00080020"
TAG_STUDY_DESCRIPTION = "00081030"
TAG_MODALITIES = "00080061"
TAG_MODALITY = "00080060"
TAG_SERIES_DESCRIPTION = "0008103E"
TAG_SERIES_NUMBER = "00200011"
TAG_INSTANCE_NUMBER = "00200013"
TAG_FRAMES = "00280008"
TAG_SLICE_LOCATION = "00201041"
TAG_FAILED_SOP = "00081198"
TAG_REFERENCED_SOP = "00081199"


class PacsError(Exception):
    """The PACS refused or failed a request."""


class PacsUnavailable(PacsError):
    """The PACS cannot be reached, timed out, or answered with a server error."""


class PacsNotFound(PacsError):
    """The PACS has no such study, series, instance or frame."""


@dataclass(frozen=True)
class Rendered:
    """A rendered frame: the image bytes and their media type."""

    body: bytes
    content_type: str


def value(item: Mapping[str, Any], tag: str) -> Any:
    """The first value of `tag` in a DICOM JSON object (None when absent)."""
    element = item.get(tag)
    if not isinstance(element, Mapping):
        return None
    values = element.get("Value")
    if not isinstance(values, list) or not values:
        return None
    first = values[0]
    if isinstance(first, Mapping) and "Alphabetic" in first:  # a person name
        return first["Alphabetic"]
    return first


def values(item: Mapping[str, Any], tag: str) -> list[Any]:
    element = item.get(tag)
    if not isinstance(element, Mapping) or not isinstance(element.get("Value"), list):
        return []
    return list(element["Value"])


class DicomWebClient:
    """DICOMweb calls against one PACS root (e.g. Orthanc's `/dicom-web`)."""

    def __init__(self, root: str, http: aiohttp.ClientSession, *,
                 user: str = "", password: str = "", timeout: float = 10.0) -> None:
        self.root = root.rstrip("/")
        self.http = http
        self.auth = aiohttp.BasicAuth(user, password) if user else None
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def _get(self, path: str, *, accept: str, params: Mapping[str, str] | None = None
                   ) -> tuple[bytes, str]:
        body, status, content_type = await self._send(
            "GET", f"{self.root}{path}", params=params or {}, headers={"Accept": accept})
        if status == 404:
            raise PacsNotFound(path)
        if status == 204:
            return b"", content_type
        if status >= 400:
            raise PacsUnavailable(f"PACS answered {status} to {path}")
        return body, content_type

    async def _send(self, method: str, url: str, **options: Any) -> tuple[bytes, int, str]:
        """(body, status, content type) of one request. A kept-alive connection the PACS (or
        a proxy) closed while the request went out is tried once more on a new one: nothing
        was answered, and a search, a frame or a store of the same instance can be repeated."""
        for attempt in (1, 2):
            try:
                async with self.http.request(method, url, auth=self.auth,
                                             timeout=self.timeout, **options) as resp:
                    return await resp.read(), resp.status, resp.content_type
            except aiohttp.ServerDisconnectedError:
                if attempt == 2:
                    raise PacsUnavailable("PACS unreachable: ServerDisconnectedError") from None
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise PacsUnavailable(f"PACS unreachable: {exc.__class__.__name__}") from None
        raise AssertionError("unreachable")

    async def _json(self, path: str, params: Mapping[str, str] | None = None
                    ) -> list[dict[str, Any]]:
        body, _type = await self._get(path, accept=DICOM_JSON, params=params)
        if not body.strip():
            return []
        try:
            data = json.loads(body)
        except ValueError:
            raise PacsUnavailable(f"PACS answered {path} with invalid JSON") from None
        if not isinstance(data, list):
            raise PacsUnavailable(f"PACS answered {path} with something else than a list")
        return [item for item in data if isinstance(item, dict)]

    # QIDO-RS -------------------------------------------------------------------

    async def search_studies(self, patient_id: str, *, limit: int = 100
                             ) -> list[dict[str, Any]]:
        """The studies whose PatientID is exactly `patient_id`."""
        return await self._json("/studies", {
            TAG_PATIENT_ID: patient_id, "limit": str(limit),
            "includefield": f"{TAG_STUDY_DESCRIPTION},{TAG_MODALITIES},{TAG_STUDY_DATE}"})

    async def find_study(self, study_uid: str) -> dict[str, Any] | None:
        """The study with this StudyInstanceUID (with its PatientID), or None."""
        found = await self._json("/studies", {
            TAG_STUDY_UID: study_uid,
            "includefield": f"{TAG_PATIENT_ID},{TAG_STUDY_DESCRIPTION},{TAG_MODALITIES}"})
        return found[0] if found else None

    async def search_series(self, study_uid: str) -> list[dict[str, Any]]:
        return await self._json(f"/studies/{study_uid}/series", {
            "includefield": f"{TAG_SERIES_DESCRIPTION},{TAG_SERIES_NUMBER},{TAG_MODALITY}"})

    async def search_instances(self, study_uid: str, series_uid: str) -> list[dict[str, Any]]:
        return await self._json(f"/studies/{study_uid}/series/{series_uid}/instances", {
            "includefield": f"{TAG_INSTANCE_NUMBER},{TAG_FRAMES}"})

    # WADO-RS -------------------------------------------------------------------

    async def metadata(self, study_uid: str, series_uid: str, sop_uid: str
                       ) -> dict[str, Any]:
        """The DICOM JSON metadata of one instance (no bulk data)."""
        found = await self._json(
            f"/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/metadata")
        if not found:
            raise PacsNotFound(sop_uid)
        return found[0]

    async def rendered_frame(self, study_uid: str, series_uid: str, sop_uid: str, frame: int,
                             *, window: tuple[float, float] | None = None,
                             accept: str = "image/png") -> Rendered:
        """One frame rendered by the PACS (`window`: center and width)."""
        params: dict[str, str] = {}
        if window is not None:
            params["window"] = f"{window[0]:g},{window[1]:g},linear"
        body, content_type = await self._get(
            f"/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/frames/{frame}"
            "/rendered", accept=accept, params=params)
        return Rendered(body, content_type or accept)

    # STOW-RS -------------------------------------------------------------------

    async def store(self, part10: bytes) -> str:
        """Store one DICOM Part 10 file; its SOPInstanceUID-bearing reference URL is returned."""
        boundary = f"telemed-{secrets.token_hex(12)}"
        body = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
                + part10 + f"\r\n--{boundary}--\r\n".encode())
        headers = {"Content-Type":
                   f'multipart/related; type="application/dicom"; boundary={boundary}',
                   "Accept": DICOM_JSON}
        raw, status, _type = await self._send("POST", f"{self.root}/studies", data=body,
                                              headers=headers)
        try:
            answer = json.loads(raw) if raw.strip() else {}
        except ValueError:
            answer = {}
        if status >= 500 or status in (401, 403):
            raise PacsUnavailable(f"PACS answered {status} to a store")
        if not isinstance(answer, dict) or values(answer, TAG_FAILED_SOP) or status >= 400:
            raise PacsError(f"the PACS refused the instance ({status})")
        return str(status)

    async def ping(self) -> bool:
        """Whether the PACS answers a trivial search."""
        try:
            await self._json("/studies", {"limit": "1"})
        except PacsError:
            return False
        return True
