"""Shared page rendering: language, translations, CSRF token and the current user."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import get_session

from telemed import keys
from telemed.i18n import gettext, negotiate, translations
from telemed.principal import CSRF_TOKEN, PRINCIPAL
from telemed.webroot import web_root

LANGUAGE: web.RequestKey[str] = web.RequestKey("language")


def setup_templates(app: web.Application) -> None:
    """A jinja2 environment over web/templates with gettext and autoescape."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(web_root() / "templates")),
        autoescape=jinja2.select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        context_processors=[_context],
    )
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]


async def language_of(request: web.Request) -> str:
    """The page language: explicit choice in the session, else the browser's, else default."""
    if LANGUAGE in request:
        return request[LANGUAGE]
    default = request.app[keys.SETTINGS].language
    try:
        chosen = (await get_session(request)).get("lang")
    except RuntimeError:
        chosen = None
    lang = chosen if chosen in ("it", "en") else negotiate(
        request.headers.get("Accept-Language", ""), default
    )
    request[LANGUAGE] = lang
    return lang


def t(request: web.Request, message: str, **params: Any) -> str:
    """Translate an English msgid for this request (language must be resolved)."""
    text = gettext(request.get(LANGUAGE, request.app[keys.SETTINGS].language), message)
    return text.format(**params) if params else text


async def _context(request: web.Request) -> dict[str, Any]:
    lang = await language_of(request)
    return {
        "lang": lang,
        "user": request.get(PRINCIPAL),
        "csrf_token": request.get(CSRF_TOKEN, ""),
        "request_path": request.path_qs,
    }


async def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """Render a page in the request's language."""
    lang = await language_of(request)
    env = aiohttp_jinja2.get_env(request.app)
    trans = translations(lang)
    env.install_gettext_translations(trans, newstyle=True)  # type: ignore[attr-defined]
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.headers["Content-Language"] = lang
    return response


async def error_page(request: web.Request, status: int, message: str) -> web.Response:
    """A plain error page in the user's language."""
    if status == 401:
        raise web.HTTPFound(f"/login?next={request.path_qs}")
    return await render(request, "error.html", {"status": status, "message": message},
                        status=status)
