"""The on-call rota page: a week at a glance and a form to add a shift (admins, doctors)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from telemed import keys
from telemed.domain.audit_reasons import because
from telemed.errors import ApiError
from telemed.notify import oncall
from telemed.principal import principal, requires
from telemed.services import audit
from telemed.services.pagination import Page
from telemed.services.users import list_users
from telemed.views.forms import N_, Form, FormErrors, read_form
from telemed.views.render import flash, language_of, render, see_other, t, t_error

routes = web.RouteTableDef()

_FIELDS = {"user_id": N_("Clinician"), "starts_at": N_("Starts"), "ends_at": N_("Ends")}


def _monday(raw: str | None, tz: ZoneInfo) -> date:
    try:
        day = date.fromisoformat(raw) if raw else datetime.now(tz).date()
    except ValueError:
        day = datetime.now(tz).date()
    return day - timedelta(days=day.weekday())


def _local(raw: str, tz: ZoneInfo) -> datetime | None:
    """A datetime-local value (YYYY-MM-DDTHH:MM) in the platform's time zone, as UTC."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


async def _page(request: web.Request, form: Form, errors: FormErrors,
                status: int = 200) -> web.Response:
    who = principal(request)
    tz = ZoneInfo(request.app[keys.SETTINGS].timezone)
    monday = _monday(request.query.get("week") or form.get("week"), tz)
    start = datetime.combine(monday, time(), tz).astimezone(UTC)
    end = datetime.combine(monday + timedelta(days=7), time(), tz).astimezone(UTC)
    async with request.app[keys.SESSIONS]() as session:
        shifts = await oncall.shifts_between(session, start, end)
        clinicians = [u for role in ("doctor", "nurse")
                      for u in await list_users(session, Page(limit=200, after=None), role)
                      if u.active]
    days: list[dict[str, Any]] = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        lo = datetime.combine(day, time(), tz)
        hi = datetime.combine(day + timedelta(days=1), time(), tz)
        days.append({"date": day, "shifts": [
            {"name": name, "starts": max(s.starts_at, lo), "ends": min(s.ends_at, hi)}
            for s, name in shifts if s.starts_at < hi and s.ends_at > lo]})
    return await render(request, "oncall.html", {
        "days": days, "week": monday.isoformat(),
        "prev": (monday - timedelta(days=7)).isoformat(),
        "next": (monday + timedelta(days=7)).isoformat(),
        "can_edit": who.role in ("admin", "doctor"),
        "clinicians": [(u.id, u.display_name) for u in clinicians],
        "form": form, "errors": errors,
        "labels": {k: t(request, v) for k, v in _FIELDS.items()},
    }, status=status)


@routes.get("/oncall", name="oncall")
@requires("admin", "doctor", "nurse")
async def oncall_page(request: web.Request) -> web.Response:
    await language_of(request)
    return await _page(request, {}, FormErrors())


@routes.post("/oncall")
@requires("admin", "doctor")
async def oncall_submit(request: web.Request) -> web.Response:
    await language_of(request)
    who = principal(request)
    form = await read_form(request)
    tz = ZoneInfo(request.app[keys.SETTINGS].timezone)
    errors = FormErrors()
    starts = _local(form.get("starts_at", ""), tz)
    ends = _local(form.get("ends_at", ""), tz)
    if starts is None:
        errors.add("starts_at", t(request, "Enter a date and time."))
    if ends is None:
        errors.add("ends_at", t(request, "Enter a date and time."))
    if errors:
        return await _page(request, form, errors, status=422)
    assert starts is not None and ends is not None
    try:
        async with request.app[keys.SESSIONS]() as session:
            shift = await oncall.add_shift(session, user_id=form.get("user_id", ""),
                                           starts_at=starts, ends_at=ends,
                                           created_by=who.user_id)
            audit.record(session, actor=who, action="create", resource="user",
                         resource_id=shift.user_id, reason=because("oncall_shift", shift=shift.id))
            await session.commit()
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        for problem in exc.messages():
            field = problem.path
            errors.add(field if field in _FIELDS else None, t_error(request, problem))
        return await _page(request, form, errors, status=exc.status)
    await flash(request, "On-call shift added.")
    week = starts.astimezone(tz).date().isoformat()
    raise see_other(f"/oncall?week={week}")
