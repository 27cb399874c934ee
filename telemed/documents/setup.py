"""`setup_documents(app)`: load and check the seal at start, own the FSE publisher."""

from __future__ import annotations

import logging

from aiohttp import web

from telemed import keys
from telemed.documents.publish import publisher_ctx
from telemed.documents.seal import load_seal
from telemed.services.documents import Signing

log = logging.getLogger("telemed.documents")

SIGNING: web.AppKey[Signing] = web.AppKey("document_signing", Signing)


def setup_documents(app: web.Application) -> None:
    """Check the seal now (a bad one stops the process with a SettingsError naming the
    setting) and keep what signing needs under `SIGNING`."""
    settings = app[keys.SETTINGS]
    seal = load_seal(settings)
    if seal is None:
        log.warning("no seal configured (TELEMED_SEAL_KEY, TELEMED_SEAL_CERT, "
                    "TELEMED_SEAL_TRUST_ANCHOR): documents can be drafted, not signed")
    app[SIGNING] = Signing(seal=seal, service_name=settings.service_name,
                           publish=bool(settings.fse_url), timezone=settings.timezone)
    if settings.fse_url:
        app.cleanup_ctx.append(publisher_ctx)
