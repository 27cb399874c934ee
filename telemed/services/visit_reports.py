"""The visit reports of before documents (read-only): their unkeyed SHA-256, still checkable.

Until migration 0012 a report was one row with a SHA-256 hash of the canonical content
(`visit_id`, `author_id`, `signed_at`, `text` as sorted JSON). Those rows became signed
`televisit_report` documents "signed before seals existed" (`services.documents`), whose
``legacy_hash`` is checked here. New reports are documents (docs/documents.md).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from telemed.db.models import VisitReport

MAX_REPORT = 20_000
REPORTABLE = ("in_progress", "completed")


def content_hash_of(*, visit_id: str, author_id: str, signed_at: datetime, text: str) -> str:
    """SHA-256 (hex) of the canonical signed content."""
    canonical = json.dumps(
        {"author_id": author_id, "signed_at": signed_at.isoformat(), "text": text,
         "visit_id": visit_id},
        ensure_ascii=False, separators=(",", ":"), sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def is_intact(report: VisitReport) -> bool:
    """True when the stored report still matches its recorded hash."""
    return report.content_hash == content_hash_of(
        visit_id=report.visit_id, author_id=report.author_id, signed_at=report.signed_at,
        text=report.text,
    )
