"""Single sign-on with the region's OpenID provider (SPID / CIE): /auth/oidc/login, the
callback, the choice between two accounts of one person, and the logout at the provider.

A person is matched by the fiscal number the provider asserts; no match is a clear page and
never a new account. A person with two accounts (a patient who is also a doctor) chooses one;
the choice is recorded on both accounts.
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp_session import get_session
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed import keys
from telemed.domain.identity import Candidate, choose_account, fiscal_number
from telemed.identity.accounts import accounts_for_fiscal_code, record_event
from telemed.identity.oidc import OidcError, PendingLogin, oidc_client
from telemed.identity.sessions import session_row
from telemed.principal import public
from telemed.services.users import find_user
from telemed.views.forms import N_, read_form
from telemed.views.render import language_of, local_or, render, t
from telemed.views.signin import complete_login

routes = web.RouteTableDef()

PENDING = "oidc_pending"
CHOICE = "oidc_choice"
CHOICE_SECONDS = 300

# What each refusal tells the person (English msgids; Italian in the catalogue).
_REFUSALS: dict[str, tuple[int, str]] = {
    "state_mismatch": (400, N_("This sign-in link is not valid any more (it was used already "
                               "or comes from another window). Start again from the login "
                               "page.")),
    "login_expired": (400, N_("The sign-in took too long. Start again from the login page.")),
    "no_login": (400, N_("There is no sign-in in progress in this browser. Start again from "
                         "the login page.")),
    "invalid_request": (400, N_("The identity provider sent an incomplete answer. Start "
                                "again from the login page.")),
    "code_refused": (400, N_("The identity provider refused this sign-in (it may have been "
                             "used already). Start again from the login page.")),
    "invalid_token": (400, N_("The identity provider's answer could not be verified, so you "
                              "were not signed in.")),
    "cancelled": (400, N_("The sign-in with SPID or CIE was cancelled.")),
    "no_fiscal_number": (403, N_("Your digital identity did not tell us your fiscal code, so "
                                 "we cannot find your account.")),
    "no_account": (403, N_("No account of this service belongs to the fiscal code of your "
                           "digital identity. Ask your health service or care team to give "
                           "you access.")),
    "bad_choice": (400, N_("Choose one of the accounts offered.")),
    "provider_unavailable": (502, N_("The identity provider cannot be reached now. Try again "
                                     "in a few minutes, or log in with your password.")),
}


async def _refusal(request: web.Request, code: str) -> web.Response:
    status, message = _REFUSALS.get(code, _REFUSALS["invalid_token"])
    await language_of(request)
    return await render(request, "sso_refused.html",
                        {"message": t(request, message), "code": code}, status=status)


@routes.get("/auth/oidc/login", name="oidc_login")
@public
async def oidc_login(request: web.Request) -> web.Response:
    client = oidc_client(request.app)
    if client is None:
        raise web.HTTPNotFound(text="single sign-on is not configured")
    try:
        url, pending = await client.begin(local_or(request.query.get("next"), ""))
    except OidcError as exc:
        return await _refusal(request, exc.code)
    (await get_session(request))[PENDING] = pending.dump()
    raise web.HTTPFound(url)


@routes.get("/auth/oidc/callback", name="oidc_callback")
@public
async def oidc_callback(request: web.Request) -> web.Response:
    client = oidc_client(request.app)
    if client is None:
        raise web.HTTPNotFound(text="single sign-on is not configured")
    session = await get_session(request)
    pending = PendingLogin.parse(session.pop(PENDING, None))  # one callback per login
    if pending is None:
        return await _refusal(request, "no_login")
    if "error" in request.query:
        return await _refusal(request, "cancelled")
    try:
        signed = await client.finish(pending, state=request.query.get("state", ""),
                                     code=request.query.get("code", ""))
    except OidcError as exc:
        return await _refusal(request, exc.code)
    code = fiscal_number(signed.claims.get("fiscal_number"))
    if code is None:
        return await _refusal(request, "no_fiscal_number")
    acr = signed.claims.get("acr") if isinstance(signed.claims.get("acr"), str) else None
    async with request.app[keys.SESSIONS]() as db:
        candidates = await accounts_for_fiscal_code(db, code)
        if len(candidates) > 1:
            for candidate in candidates:
                record_event(db, user_id=candidate.user_id, kind="sso_choice_offered",
                             detail=_others(candidates, candidate))
            await db.commit()
    if not candidates:
        return await _refusal(request, "no_account")
    if len(candidates) == 1:
        return await _sign_in(request, candidates[0], candidates, acr=acr, code=code,
                              id_token=signed.id_token, next_path=pending.next_path)
    session[CHOICE] = {"ids": [c.user_id for c in candidates], "code": code, "acr": acr,
                       "id_token": signed.id_token, "next": pending.next_path,
                       "exp": int(time.time()) + CHOICE_SECONDS}
    return await _choice_page(request, candidates)


def _others(candidates: list[Candidate], one: Candidate) -> str:
    return "other accounts: " + ", ".join(c.user_id for c in candidates if c is not one)


async def _choice_page(request: web.Request, candidates: list[Candidate],
                       status: int = 200) -> web.Response:
    await language_of(request)
    labels = {"patient": N_("as a patient"), "delegate": N_("as a family member or carer"),
              "doctor": N_("as a doctor"), "nurse": N_("as a nurse"),
              "admin": N_("as an administrator")}
    options = [{"id": c.user_id, "label": t(request, labels.get(c.label, c.label))}
               for c in candidates]
    return await render(request, "sso_choose.html", {"options": options}, status=status)


@routes.post("/auth/oidc/choose")
@public
async def oidc_choose(request: web.Request) -> web.Response:
    session = await get_session(request)
    stored = session.get(CHOICE)
    if not isinstance(stored, dict) or int(stored.get("exp", 0)) < time.time():
        session.pop(CHOICE, None)
        return await _refusal(request, "no_login")
    form = await read_form(request)
    code, offered = str(stored.get("code", "")), stored.get("ids", [])
    async with request.app[keys.SESSIONS]() as db:
        # the cookie names the offer; the database decides: still active, and still
        # carrying the fiscal code (an administrator may have corrected it meanwhile)
        candidates = [c for c in await accounts_for_fiscal_code(db, code)
                      if isinstance(offered, list) and c.user_id in offered]
    chosen = choose_account(candidates, form.get("account") or None)
    if chosen is None:
        if not candidates:
            session.pop(CHOICE, None)
            return await _refusal(request, "no_account")
        return await _choice_page(request, candidates, status=400)
    session.pop(CHOICE, None)
    return await _sign_in(request, chosen, candidates, acr=stored.get("acr"), code=code,
                          id_token=stored.get("id_token"), next_path=str(stored.get("next", "")))


async def _sign_in(request: web.Request, chosen: Candidate, candidates: list[Candidate], *,
                   acr: str | None, code: str, id_token: str | None,
                   next_path: str) -> web.Response:
    async with request.app[keys.SESSIONS]() as db:
        user = await find_user(db, chosen.user_id)
        if user is None or not user.active:
            return await _refusal(request, "no_account")
        record_event(db, user_id=user.id, actor_id=user.id, kind="sso_login",
                     detail=f"acr={acr}" if acr else None)
        for other in candidates:
            if other.user_id != chosen.user_id:
                record_event(db, user_id=other.user_id, actor_id=user.id, kind="sso_not_chosen",
                             detail=f"signed in as {chosen.user_id}")
        await db.commit()
    await complete_login(request, user, method="oidc", next_path=next_path, acr=acr,
                         id_token=id_token, fiscal_code=code)


async def provider_logout_url(request: web.Request, db: AsyncSession,
                              session_id: str) -> str | None:
    """Where to end the person's session at the provider too (RP-initiated logout), if the
    session came from single sign-on and the provider supports it."""
    client = oidc_client(request.app)
    row = await session_row(db, session_id)
    if client is None or row is None or row.method != "oidc":
        return None
    return await client.logout_url(row.id_token, f"{client.public_url}/login")
