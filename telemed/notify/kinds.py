"""Notification kinds, who may opt out, and what a preference change may say (pure rules).

docs/notifications.md, "Kinds and preferences": ``alert_escalated`` and
``emergency_access`` cannot be turned off; ``alert_critical`` is opt-in (default off); the
patient-side kinds are on unless turned off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from telemed.domain import digest
from telemed.domain.errors import FieldError

Kind = Literal["alert_escalated", "alert_critical", "emergency_access", "document_available",
               "visit_reminder", "visit_changed", "account_security", "teleconsult_request",
               "teleconsult_urgent", "teleconsult_update", "document_cosign"]

KINDS: Final[tuple[str, ...]] = ("alert_escalated", "alert_critical", "emergency_access",
                                 "document_available", "visit_reminder", "visit_changed",
                                 "account_security", "teleconsult_request",
                                 "teleconsult_urgent", "teleconsult_update",
                                 "document_cosign")
# An urgent teleconsult request reaches its specialists whatever they chose.
MANDATORY: Final[frozenset[str]] = frozenset({"alert_escalated", "emergency_access",
                                              "account_security", "teleconsult_urgent"})
DEFAULTS: Final[Mapping[str, bool]] = {
    "alert_escalated": True,
    "alert_critical": False,
    "emergency_access": True,
    "document_available": True,
    "visit_reminder": True,
    "visit_changed": True,
    "account_security": True,  # a second factor reset by an administrator (telemed/identity)
    "teleconsult_request": True,  # a new routine request (services/teleconsults.py)
    "teleconsult_urgent": True,  # a new urgent request
    "teleconsult_update": True,  # the other side of a request moved it
    # A report (or its correction) signed by the other signer waits for this one's
    # co-signature (services/documents.py). Not compulsory: the pending report is also
    # shown on the teleconsult page and in the patient's documents.
    "document_cosign": True,
}
# Kinds that also page the operators' channels (TELEMED_NOTIFY_URLS).
PAGING: Final[frozenset[str]] = frozenset({"alert_escalated"})
# Kinds whose email may wait for the daily digest (docs/notifications.md, "Daily digest"):
# routine news only. Never the mandatory kinds, a critical alert, or what loses its point
# when late (a visit reminder, a visit moved or cancelled); a new kind is sent at once until
# it is listed here.
DIGESTIBLE: Final[frozenset[str]] = frozenset({"teleconsult_request", "teleconsult_update",
                                               "document_cosign", "document_available"})


def preference_errors(changes: Mapping[str, Any]) -> dict[str, str]:
    """Field errors (English) of a ``notify`` preference change; empty when valid."""
    errors: dict[str, str] = {}
    for kind, value in changes.items():
        field = f"notify.{kind}"
        if kind not in DEFAULTS:
            errors[field] = "Unknown notification kind."
        elif not isinstance(value, bool):
            errors[field] = "Must be true or false."
        elif kind in MANDATORY and value is False:
            errors[field] = "This notification cannot be turned off."
    return errors


def merged(stored: Mapping[str, Any] | None, changes: Mapping[str, bool]) -> dict[str, bool]:
    """Stored choices with ``changes`` applied (only valid kinds are kept)."""
    out = {k: bool(v) for k, v in (stored or {}).items() if k in DEFAULTS}
    out.update(changes)
    return out


def effective(stored: Mapping[str, Any] | None) -> dict[str, bool]:
    """Every kind with the user's choice or its default (mandatory kinds always on)."""
    choices = stored or {}
    return {kind: True if kind in MANDATORY else bool(choices.get(kind, default))
            for kind, default in DEFAULTS.items()}


def wants(stored: Mapping[str, Any] | None, kind: str) -> bool:
    """Whether a user with these choices receives ``kind``."""
    return effective(stored).get(kind, False)


def delivery_errors(changes: Mapping[str, Any], digest_time: object = None,
                    time_given: bool = False) -> dict[str, FieldError]:
    """Field errors of a change of delivery choices (``notify_delivery``) and of the digest
    time (``digest_time``); empty when valid."""
    return {e.path: e for e in digest.choice_errors(changes, digest_time, kinds=DEFAULTS,
                                                   digestible=DIGESTIBLE,
                                                   time_given=time_given)}


def digest_kinds(stored: Any, changes: Mapping[str, str] | None = None) -> list[str]:
    """The kinds held for the digest: the stored ones with ``changes`` applied (valid ones)."""
    return digest.merged(stored if isinstance(stored, list) else None, changes or {},
                         DIGESTIBLE)


def deliveries(stored: Any) -> dict[str, str]:
    """Every kind with its delivery (``immediate`` or ``digest``)."""
    held = set(digest_kinds(stored))
    return {kind: digest.DIGEST if kind in held else digest.IMMEDIATE for kind in DEFAULTS}
