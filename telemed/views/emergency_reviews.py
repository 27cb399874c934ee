"""The review queue of emergency accesses (``/emergency-reviews``): the patient's responsible
doctor or an administrator confirms or flags each one after the fact.

Administrators see who, when, the reason chosen from the list and the patient's name, never
the free-text reason (it may carry clinical facts); the responsible doctor sees it too.
"""

from __future__ import annotations

from aiohttp import web

from telemed import keys
from telemed.errors import ApiError
from telemed.principal import principal, requires
from telemed.services import consent as service
from telemed.views.forms import read_form
from telemed.views.privacy import REVIEW_OUTCOMES, reason_label
from telemed.views.render import N_, flash, flash_problems, language_of, render, see_other, t

routes = web.RouteTableDef()

ACCESS_ID = "{access_id:[A-Za-z0-9_-]{1,64}}"


@routes.get("/emergency-reviews", name="emergency_reviews")
@requires("admin", "doctor")
async def review_page(request: web.Request) -> web.Response:
    who = principal(request)
    await language_of(request)
    async with request.app[keys.SESSIONS]() as session:
        items = await service.review_queue(session, who)
    rows = [{
        "item": item,
        "reason_label": reason_label(request, item.grant.reason_code),
        "outcome": t(request, REVIEW_OUTCOMES[item.grant.review_outcome])
        if item.grant.review_outcome in REVIEW_OUTCOMES else None,
    } for item in items]
    return await render(request, "emergency_reviews.html", {
        "rows": rows,
        "pending": sum(1 for item in items if item.grant.reviewed_at is None),
        "is_admin": who.role == "admin",
    })


@routes.post(f"/emergency-reviews/{ACCESS_ID}")
@requires("admin", "doctor")
async def review_submit(request: web.Request) -> web.Response:
    await language_of(request)
    form = await read_form(request)
    try:
        async with request.app[keys.SESSIONS]() as session:
            await service.review_emergency(session, principal(request),
                                           request.match_info["access_id"],
                                           outcome=form.get("outcome", ""),
                                           note=form.get("note") or None)
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        raise await flash_problems(request, exc, "/emergency-reviews") from None
    await flash(request, N_("Review recorded."))
    raise see_other("/emergency-reviews")
