"""/api/v1/patients/{id}/delegates: caregivers and parents with access to a patient's portal."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telemed.api.common import Body, body, call, listing, ok
from telemed.api.shapes import iso
from telemed.db.models import Delegation, User
from telemed.principal import requires
from telemed.services import delegates as service

routes = web.RouteTableDef()


class DelegateCreate(Body):
    delegate_username: str
    relationship: str
    scope: str = "read"  # "act": also book, answer, enter readings, join visits
    request_note: str | None = None  # required of administrators: the written request


def delegation_out(delegation: Delegation, user: User | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": delegation.id,
        "patient_id": delegation.patient_id,
        "delegate_id": delegation.delegate_id,
        "relationship": delegation.relationship,
        "scope": delegation.scope,
        "valid_until": delegation.valid_until.isoformat() if delegation.valid_until else None,
        "granted_by": delegation.granted_by,
        "request_note": delegation.request_note,
        "granted_at": iso(delegation.granted_at),
        "revoked_at": iso(delegation.revoked_at),
        "active": delegation.revoked_at is None,
    }
    if user is not None:
        out["delegate_name"] = user.display_name
        out["delegate_username"] = user.username
    return out


@routes.get("/api/v1/patients/{patient_id}/delegates")
@requires("patient", "admin")
async def delegates_list(request: web.Request) -> web.Response:
    rows = await call(request, service.list_delegations, request.match_info["patient_id"])
    return listing([delegation_out(d, u) for d, u in rows], None)


@routes.post("/api/v1/patients/{patient_id}/delegates")
@requires("patient", "admin")
async def delegates_grant(request: web.Request) -> web.Response:
    data = await body(request, DelegateCreate)
    delegation = await call(request, service.grant, request.match_info["patient_id"],
                            delegate_username=data.delegate_username,
                            relationship=data.relationship, scope=data.scope,
                            request_note=data.request_note)
    return ok(delegation_out(delegation), status=201)


@routes.delete("/api/v1/patients/{patient_id}/delegates/{delegation_id}")
@requires("patient", "admin")
async def delegates_revoke(request: web.Request) -> web.Response:
    delegation = await call(request, service.revoke, request.match_info["patient_id"],
                            request.match_info["delegation_id"])
    return ok(delegation_out(delegation))
