"""Consent, emergency access (and its review queue) and the access log of a patient."""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web

from telemed.api.common import Body, body, call, listing, ok, query_int
from telemed.api.shapes import iso
from telemed.db.models import Consent, EmergencyAccess
from telemed.domain.text import spreadsheet_safe
from telemed.principal import CLINICIANS, ROLES, requires
from telemed.services import consent as service

routes = web.RouteTableDef()


class ConsentDecision(Body):
    granted: bool
    grantee_id: str | None = None
    note: str | None = None


class EmergencyRequest(Body):
    reason: str
    # One of telemed.domain.emergency.REASON_CODES; a request with `reason` alone (the
    # contract's shape) is filed under `other`, which reviewers look at first.
    reason_code: str | None = None


class EmergencyReview(Body):
    outcome: str
    note: str | None = None


def consent_out(consent: Consent) -> dict[str, Any]:
    return {
        "id": consent.id,
        "patient_id": consent.patient_id,
        "granted": consent.granted,
        "grantee_id": consent.grantee_id,
        "scope": "all_care_staff" if consent.grantee_id is None else "one_clinician",
        "recorded_by": consent.recorded_by,
        "recorded_at": iso(consent.recorded_at),
        "note": consent.note,
    }


@routes.get("/api/v1/patients/{patient_id}/consents")
@requires(*ROLES)
async def consents_list(request: web.Request) -> web.Response:
    items = await call(request, service.list_consents, request.match_info["patient_id"])
    return listing([consent_out(c) for c in items], None)


@routes.post("/api/v1/patients/{patient_id}/consents")
@requires("patient", "admin")
async def consents_decide(request: web.Request) -> web.Response:
    data = await body(request, ConsentDecision)
    consent = await call(request, service.decide_consent, request.match_info["patient_id"],
                         granted=data.granted, grantee_id=data.grantee_id, note=data.note)
    return ok(consent_out(consent), status=201)


def emergency_out(grant: EmergencyAccess) -> dict[str, Any]:
    return {"id": grant.id, "patient_id": grant.patient_id, "user_id": grant.user_id,
            "reason_code": grant.reason_code, "reason": grant.reason,
            "granted_at": iso(grant.granted_at), "expires_at": iso(grant.expires_at),
            "reviewed_by": grant.reviewed_by, "reviewed_at": iso(grant.reviewed_at),
            "review_outcome": grant.review_outcome, "review_note": grant.review_note}


@routes.post("/api/v1/patients/{patient_id}/emergency-access")
@requires(*CLINICIANS)
async def emergency_access(request: web.Request) -> web.Response:
    data = await body(request, EmergencyRequest)
    grant = await call(request, service.break_glass, request.match_info["patient_id"], data.reason,
                       data.reason_code)
    return ok(emergency_out(grant), status=201)


@routes.get("/api/v1/emergency-accesses")
@requires("admin", "doctor")
async def emergency_queue(request: web.Request) -> web.Response:
    """The review queue: an administrator sees every emergency access (who, when, the reason
    code, the patient's name — no free text), a doctor those to patients it is responsible
    for. ``?pending=true``: only those still to review."""
    pending = request.query.get("pending", "") in ("1", "true")
    items = await call(request, service.review_queue, pending_only=pending)
    out = []
    for item in items:
        row = emergency_out(item.grant)
        row["reason"] = item.reason
        row["review_note"] = item.grant.review_note if item.reason is not None else None
        row.update({"clinician_name": item.clinician_name, "patient_name": item.patient_name,
                    "reviewer_name": item.reviewer_name})
        out.append(row)
    return ok({"items": out, "next_cursor": None})


@routes.post("/api/v1/emergency-accesses/{access_id}/review")
@requires("admin", "doctor")
async def emergency_review(request: web.Request) -> web.Response:
    data = await body(request, EmergencyReview)
    grant = await call(request, service.review_emergency, request.match_info["access_id"],
                       outcome=data.outcome, note=data.note)
    return ok(emergency_out(grant))


LOG_FIELDS = ("at", "actor_name", "actor_role", "action", "resource", "resource_id", "reason",
              "reason_code", "emergency", "outcome")


@routes.get("/api/v1/patients/{patient_id}/access-log")
@requires("patient", "admin")
async def access_log(request: web.Request) -> web.StreamResponse:
    cursor = query_int(request.query, "cursor", low=1, high=2**63 - 1)
    limit = query_int(request.query, "limit", low=1, high=1000, default=200)
    assert limit is not None
    entries, next_cursor = await call(request, service.access_log, request.match_info["patient_id"],
                                      limit=limit, before_id=cursor)
    rows = [
        {"at": iso(e.at), "actor_id": e.actor_id, "actor_name": e.actor_name,
         "actor_role": e.actor_role, "action": e.action, "resource": e.resource,
         "resource_id": e.resource_id, "reason": e.reason.text() if e.reason else None,
         "reason_code": e.reason.code if e.reason else None,
         "reason_params": dict(e.reason.params) if e.reason else None, "emergency": e.emergency,
         "outcome": e.outcome}
        for e in entries
    ]
    if request.query.get("format") == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=LOG_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
        return web.Response(
            text=buffer.getvalue(), content_type="text/csv", charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="access-log.csv"'},
        )
    return ok({"items": rows, "next_cursor": str(next_cursor) if next_cursor else None})
