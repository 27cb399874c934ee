"""Shared page rendering: language, translations, CSRF token and the current user."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import get_session
from babel.core import Locale
from babel.dates import format_date, format_time, get_datetime_format
from markupsafe import Markup
from yarl import URL

from telemed import keys
from telemed.errors import ApiError, FieldError
from telemed.i18n import LANGUAGES, gettext, locale_of, negotiate, translations
from telemed.principal import PRINCIPAL, Principal, ensure_csrf_token, principal
from telemed.static_files import STATIC_FILES
from telemed.views.bell import unread_for_header
from telemed.views.error_text import say
from telemed.views.labels import label_global
from telemed.webroot import web_root

LANGUAGE: web.RequestKey[str] = web.RequestKey("language")

# Compiled templates shared by the environments of every app this process makes (None: each
# app compiles its own). The test suite sets one: it makes thousands of apps, each of which
# would otherwise parse and compile again every page it renders.
TEMPLATE_BYTECODE: jinja2.BytecodeCache | None = None


def N_(message: str) -> str:
    """Mark an English msgid for extraction; it is translated later, where it is shown."""
    return message


def setup_templates(app: web.Application) -> None:
    """A jinja2 environment over web/templates with gettext, autoescape and date filters."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(web_root() / "templates")),
        autoescape=jinja2.select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=TEMPLATE_BYTECODE,
    )
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    env.globals["label"] = label_global
    env.globals["static"] = _static_url
    env.globals["import_map"] = _import_map
    env.filters["date"] = _date_filter
    env.filters["datetime"] = _datetime_filter


@jinja2.pass_context
def _static_url(context: jinja2.runtime.Context, name: str) -> str:
    """``static('app.css')`` in a page: the file's versioned URL."""
    app: web.Application = context["app"]
    return app[STATIC_FILES].url(name)


@jinja2.pass_context
def _import_map(context: jinja2.runtime.Context) -> Markup:
    """The text of the pages' ``<script type="importmap">`` (its hash is in the CSP)."""
    app: web.Application = context["app"]
    return Markup(app[STATIC_FILES].import_map())  # our JSON, "<" escaped


@jinja2.pass_context
def _date_filter(context: jinja2.runtime.Context, value: date | None) -> str:
    if value is None:
        return ""
    return format_date(value, "long", locale=context["lang"])


@jinja2.pass_context
def _datetime_filter(context: jinja2.runtime.Context, value: datetime | None) -> str:
    """A date and time as people read them: "7 dic 2026, 18:55" (no seconds)."""
    if value is None:
        return ""
    zone = ZoneInfo(context["timezone"])
    lang = context["lang"]
    local = value.astimezone(zone) if value.tzinfo else value.replace(tzinfo=UTC).astimezone(zone)
    return str(get_datetime_format("medium", locale=lang)).replace(
        "{1}", format_date(local, "medium", locale=lang)).replace(
        "{0}", format_time(local, "short", locale=lang))


async def language_of(request: web.Request) -> str:
    """The page language: explicit choice in the session, else the browser's, else default."""
    if LANGUAGE in request:
        return request[LANGUAGE]
    default = request.app[keys.SETTINGS].language
    try:
        chosen = (await get_session(request)).get("lang")
    except RuntimeError:
        chosen = None
    lang = chosen if chosen in LANGUAGES else negotiate(
        request.headers.get("Accept-Language", ""), default
    )
    request[LANGUAGE] = lang
    return lang


async def page_user(request: web.Request) -> Principal:
    """The signed-in caller of a page, with the page's language resolved (for `t`)."""
    await language_of(request)
    return principal(request)


def page_language(request: web.Request) -> str:
    return request.get(LANGUAGE) or request.app[keys.SETTINGS].language


def page_locale(request: web.Request) -> Locale:
    """Babel's locale of the page's language (parsed once, see `telemed.i18n.locale_of`)."""
    return locale_of(page_language(request))


def current_user(request: web.Request) -> Principal | None:
    """The logged-in user, or None for an anonymous visitor."""
    return request.get(PRINCIPAL)


def t(request: web.Request, message: str, /, **params: Any) -> str:
    """Translate an English msgid for this request (language must be resolved)."""
    text = gettext(page_language(request), message)
    return text.format(**params) if params else text


def tn(request: web.Request, singular: str, plural: str, n: int, /, **params: Any) -> str:
    """Translate a message with a plural form; `{n}` and `params` are filled in."""
    text = translations(page_language(request)).ngettext(singular, plural, n)
    return text.format(n=n, **params)


def t_error(request: web.Request, message: ApiError | FieldError | str) -> str:
    """Say an error of a service or the domain (its code, template and parameters), or a
    plain English message, in the request's language."""
    if isinstance(message, ApiError):
        message = message.said
    return say(page_language(request), message)


def is_local_path(target: str | None) -> bool:
    """True for a path on this site (`/x?y`), never another host or scheme."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    if any(ch in target for ch in "\r\n\t\\"):
        return False
    try:
        url = URL(target)
    except ValueError:
        return False
    return not url.is_absolute() and not url.scheme


def local_or(target: str | None, fallback: str) -> str:
    """`target` when it is a local path, else `fallback`."""
    return target if target is not None and is_local_path(target) else fallback


def see_other(location: str) -> web.HTTPSeeOther:
    """The redirect after a successful POST."""
    return web.HTTPSeeOther(location)


FLASH = "flash"


async def flash(request: web.Request, message: str, /, **params: str | int) -> None:
    """A one-time notice (English msgid and its params) shown on the next page."""
    (await get_session(request))[FLASH] = [message, params]


async def flash_problems(request: web.Request, error: ApiError,
                         location: str) -> web.HTTPSeeOther:
    """Flash what is wrong (`error`'s problems, said in the request's language) and give the
    redirect back to `location` for the caller to raise."""
    said = " ".join(t_error(request, p) for p in error.messages())  # already translated
    await flash(request, said)
    return see_other(location)


async def _take_flash(request: web.Request) -> str | None:
    try:
        session = await get_session(request)
    except RuntimeError:
        return None
    stored = session.pop(FLASH, None)
    if not isinstance(stored, list) or len(stored) != 2 or not isinstance(stored[0], str):
        return None
    params = stored[1] if isinstance(stored[1], dict) else {}
    return t(request, stored[0], **params)


async def base_context(request: web.Request) -> dict[str, Any]:
    """What every page template needs (the layout's navigation, language switch, CSRF)."""
    lang = await language_of(request)
    settings = request.app[keys.SETTINGS]
    who = current_user(request)
    return {
        "lang": lang,
        "user": who,
        "csrf_token": await ensure_csrf_token(request),
        "request_path": request.path_qs if request.method == "GET" else "/",
        "timezone": settings.timezone,
        "nav": _navigation(who),
        "nav_current": _nav_current(_navigation(who), request.path),
        "current_path": request.path,
        "notice": await _take_flash(request),
        "bell": await unread_for_header(request),
    }


def _nav_current(nav: list[tuple[str, str]], path: str) -> str | None:
    """The navigation entry a page belongs to: the longest one it is or lies below."""
    found = [p for p, _ in nav if path == p or path.startswith(p + "/")]
    return max(found, key=len, default=None)


def _navigation(who: Principal | None) -> list[tuple[str, str]]:
    """(path, English label) of the main navigation for a role."""
    if who is None:
        return []
    if who.role == "admin":
        return [("/users", N_("Users")), ("/patients", N_("Patients")),
                ("/devices", N_("Devices")), ("/oncall", N_("On call")),
                ("/notifications/failed", N_("Failed deliveries"))]
    if who.role == "patient":
        return [("/my-record", N_("My record")), ("/my-record/readings", N_("Enter a reading")),
                ("/my-record/questionnaires", N_("Questionnaires")), ("/visits", N_("Visits"))]
    return [("/patients", N_("Patients")), ("/alerts", N_("Alert board")),
            ("/visits", N_("Visits")), ("/teleconsults", N_("Teleconsults")),
            ("/devices", N_("Devices")), ("/oncall", N_("On call")),
            ("/alarm-burden", N_("Alarm burden"))]


async def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """Render a page in the request's language."""
    full = {**await base_context(request), **context}
    env = aiohttp_jinja2.get_env(request.app)
    env.install_gettext_translations(  # type: ignore[attr-defined]
        translations(full["lang"]), newstyle=True
    )
    response = aiohttp_jinja2.render_template(template, request, full, status=status)
    response.headers["Content-Language"] = full["lang"]
    return response


# aiohttp's reasons for routing errors, said the way a person understands them
_PLAIN_REASONS = {
    "Not Found": N_("There is no page at this address."),
    "Method Not Allowed": N_("This address cannot be used this way. Go back and try again."),
}


async def error_page(request: web.Request, error: ApiError) -> web.Response:
    """A plain error page in the user's language (anonymous callers go to the login page)."""
    status = error.status
    if status == 401:
        target = request.path_qs if request.method == "GET" else "/"
        raise web.HTTPFound(str(URL("/login").with_query(next=target)))
    plain = _PLAIN_REASONS.get(error.message)
    await language_of(request)
    return await render(request, "error.html",
                        {"status": status, "message": t_error(request, plain or error)},
                        status=status)
