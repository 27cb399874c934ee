"""Signing in and changing one's own password, with the guessing guard of both.

Password attempts are counted before argon2 runs: per client address and per address and
username in memory (`LoginGuard`), per account in the database (`services.users`). The
JSON API and the pages call the same functions; they pass the guard, the client's address
(resolved by the request pipeline) and the session factory.
"""

from __future__ import annotations

from telemed.db.engine import SessionFactory
from telemed.db.models import User
from telemed.domain.audit_reasons import because
from telemed.errors import N_, ApiError, FieldError, invalid
from telemed.principal import Principal
from telemed.security import LoginGuard
from telemed.services import audit
from telemed.services.users import LoginError, authenticate, change_password


def too_many_attempts(wait: float) -> ApiError:
    """429 with Retry-After for a refused (not evaluated) attempt."""
    seconds = int(wait) + 1
    return ApiError(429, "too_many_attempts", "Too many attempts. Try again in {seconds} seconds.",
                    params={"seconds": seconds}, headers={"Retry-After": str(seconds)})


def wrong_credentials() -> ApiError:
    return ApiError(401, "invalid_credentials", N_("Wrong username or password."))


async def login(sessions: SessionFactory, guard: LoginGuard, address: str, username: str,
                password: str) -> User:
    """Check credentials with per-address, per-pair and per-account backoff; raise the right
    ApiError when refused."""
    wait = guard.reserve(address, username)  # counted now: parallel attempts see it
    if wait > 0:
        raise too_many_attempts(wait)
    async with sessions() as session:
        try:
            user = await authenticate(session, username, password)
        except LoginError as exc:
            if exc.retry_after is not None:  # not evaluated: the account is backing off
                guard.release(address, username)
                raise too_many_attempts(exc.retry_after) from None
            raise wrong_credentials() from None
        except BaseException:  # the database failed us, not the caller
            guard.release(address, username)
            raise
    guard.succeeded(address, username)
    return user


async def change_own_password(sessions: SessionFactory, guard: LoginGuard, address: str,
                              who: Principal, current: str, new: str) -> None:
    """Change the caller's password; the current one is guessed no faster than at login.

    Every other session and token of the caller ends (and the channels they opened); the
    one making the change stays open. 422 names `current_password` or `new_password`.
    """
    wait = guard.reserve(address, who.username)
    if wait > 0:
        raise too_many_attempts(wait)
    async with sessions() as session:
        try:
            await change_password(session, who.user_id, current=current, new=new,
                                  keep_session=who.session_id)
        except LoginError:
            raise invalid({"current_password": FieldError(
                "current_password", "wrong_password",
                N_("The current password is wrong."))}) from None
        except BaseException:
            guard.release(address, who.username)  # the current password was right
            raise
        audit.record(session, actor=who, action="update", resource="user",
                     resource_id=who.user_id, reason=because("password_changed"))
        await session.commit()
    guard.succeeded(address, who.username)
