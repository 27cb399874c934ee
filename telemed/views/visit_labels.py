"""The words and route pattern the visit pages share (visits, guests, reports)."""

from __future__ import annotations

from telemed.views.labels import msgids

VISIT_ID = "{visit_id:[A-Za-z0-9_-]{1,64}}"
KIND_LABELS = msgids("visit_kind")  # the words are in telemed/views/labels.py
STATUS_LABELS = msgids("visit_status")
