"""The imaging client's lifetime: one HTTP session to the PACS, owned by a cleanup_ctx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from telemed import keys
from telemed.imaging.cache import StudyAccessCache
from telemed.imaging.dicomweb import DicomWebClient

# The PACS client of this process; None when TELEMED_DICOMWEB_URL is unset.
IMAGING: web.AppKey[DicomWebClient | None] = web.AppKey("imaging")
# Authorized study reads of this process (frames ride on them for a short while).
STUDY_ACCESS: web.AppKey[StudyAccessCache] = web.AppKey("study_access", StudyAccessCache)


async def _imaging_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    if not settings.dicomweb_url:
        app[IMAGING] = None
        yield
        return
    async with aiohttp.ClientSession() as http:
        app[IMAGING] = DicomWebClient(settings.dicomweb_url, http,
                                      user=settings.dicomweb_user,
                                      password=settings.dicomweb_password)
        yield


def setup_imaging(app: web.Application) -> None:
    """Own the PACS client for the app's lifetime."""
    app[STUDY_ACCESS] = StudyAccessCache()
    app.cleanup_ctx.append(_imaging_ctx)
