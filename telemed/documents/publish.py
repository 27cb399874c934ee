"""Publishing signed documents to the regional record (FSE): an outbox with retries.

Signing marks a document ``publication = pending`` (with ``TELEMED_FSE_URL`` set). A pass
claims due documents with a compare-and-set lease, POSTs each as a FHIR ``transaction``
(the signed document Bundle and its DocumentReference, both conditional creates on the
document's identifier, so a repeat after a lost answer stores nothing twice) and records
``sent``, or the error and the next attempt (30 s, 1 min, 2 min ... hourly; ``failed`` after
24 hours of failures, the backoff of the notification outbox).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime

import aiohttp
from aiohttp import web
from sqlalchemy import update
from sqlmodel import col, select

from telemed import keys
from telemed.db.engine import SessionFactory
from telemed.db.models import Document
from telemed.db.types import utcnow
from telemed.documents.fhir import as_transaction
from telemed.notify.backoff import LEASE, next_attempt
from telemed.tasks import cancel_and_wait

log = logging.getLogger("telemed.documents.publish")

BATCH = 20
TIMEOUT = aiohttp.ClientTimeout(total=30)


class Publisher:
    """Sends pending documents to ``fse_url`` (a FHIR base URL)."""

    def __init__(self, sessions: SessionFactory, fse_url: str) -> None:
        self.sessions = sessions
        self.fse_url = fse_url.rstrip("/")
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _claim(self, now: datetime) -> list[Document]:
        """Due documents, each leased to this pass (another worker skips them)."""
        async with self.sessions() as session:
            due = (await session.exec(
                select(Document).where(Document.publication == "pending",
                                       col(Document.publish_next_at) <= now)
                .order_by(col(Document.publish_next_at)).limit(BATCH))).all()
            mine = []
            for doc in due:
                won = await session.exec(
                    update(Document).where(col(Document.id) == doc.id,
                                           col(Document.publication) == "pending",
                                           col(Document.publish_next_at) == doc.publish_next_at)
                    .values(publish_next_at=now + LEASE))
                if won.rowcount == 1:
                    mine.append(doc)
            await session.commit()
            return mine

    async def _send(self, bundle_json: str) -> str | None:
        """None when the record took it, else why not."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=TIMEOUT)
        body = as_transaction(json.loads(bundle_json))
        try:
            async with self._http.post(self.fse_url, json=body, headers={
                    "Content-Type": "application/fhir+json",
                    "Accept": "application/fhir+json"}) as resp:
                if resp.status == 200:
                    answer = await resp.json(content_type=None)
                    statuses = [str(e.get("response", {}).get("status", ""))
                                for e in answer.get("entry", [])]
                    if answer.get("type") == "transaction-response" and all(
                            s[:1] == "2" for s in statuses):
                        return None
                    return f"unexpected answer: {statuses or answer.get('type')}"
                return f"HTTP {resp.status}: {(await resp.text())[:200]}"
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"[:300]

    async def run_once(self, now: datetime | None = None) -> int:
        """One pass: send what is due; the number sent."""
        moment = now or utcnow()
        sent = 0
        for doc in await self._claim(moment):
            if doc.bundle is None:
                continue
            error = await self._send(doc.bundle)
            async with self.sessions() as session:
                if error is None:
                    values: dict[str, object] = {"publication": "sent", "published_at": utcnow(),
                                                 "publish_error": None, "publish_next_at": None,
                                                 "publish_attempts": doc.publish_attempts + 1}
                    sent += 1
                else:
                    attempts = doc.publish_attempts + 1
                    retry = next_attempt(attempts, doc.signed_at or moment, moment)
                    values = {"publish_attempts": attempts, "publish_error": error[:500],
                              "publication": "pending" if retry else "failed",
                              "publish_next_at": retry}
                    log.warning("document %s not published (attempt %d): %s", doc.id,
                                attempts, error)
                await session.exec(update(Document).where(col(Document.id) == doc.id)
                                   .values(**values))
                await session.commit()
        return sent

    async def run(self, interval: float) -> None:
        """Passes every ``interval`` seconds until cancelled."""
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("publishing pass failed")
            await asyncio.sleep(interval)


PUBLISHER: web.AppKey[Publisher] = web.AppKey("fse_publisher", Publisher)


async def publisher_ctx(app: web.Application) -> AsyncIterator[None]:
    """Own the publisher (with TELEMED_FSE_URL); background passes unless tests drive it."""
    settings = app[keys.SETTINGS]
    publisher = Publisher(app[keys.SESSIONS], settings.fse_url)
    app[PUBLISHER] = publisher
    tasks: list[asyncio.Task[None]] = []
    if settings.scheduler_interval > 0:
        tasks.append(asyncio.get_running_loop().create_task(
            publisher.run(settings.scheduler_interval), name="fse-publisher"))
    try:
        yield
    finally:
        await cancel_and_wait(tasks)
        await publisher.close()
