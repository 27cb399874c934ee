"""People: creating users, authenticating them (with a bounded per-account backoff),
changing passwords, deactivating them."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Patient, User
from telemed.db.types import utcnow
from telemed.domain.audit_reasons import because
from telemed.domain.errors import DomainValidationError, FieldError
from telemed.domain.fiscal_code import validate_fiscal_code
from telemed.domain.local_time import zone
from telemed.domain.phone import PHONE_PROBLEM, normalize_phone
from telemed.errors import N_, ApiError, conflict, invalid, not_found
from telemed.identity.activation import unusable_password
from telemed.notify import digests, kinds
from telemed.principal import ROLES, Principal
from telemed.security import hash_password, password_problem, verify_password
from telemed.services import audit, free_text
from telemed.services.pagination import Page
from telemed.services.sessions import revoke_user_sessions

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
# The account's own backoff, shared by every address: after ACCOUNT_FREE_FAILURES failures in
# a row each attempt waits 1, 2, 4... seconds after the last failure, never more than
# ACCOUNT_BACKOFF_CAP. It slows a distributed guesser without letting anyone lock the owner
# out: the per-address and per-(address, account) limits (telemed.security.LoginGuard) are
# the ones that grow long, and they never touch other addresses.
ACCOUNT_FREE_FAILURES = 5
ACCOUNT_BACKOFF_CAP = 30.0
ACCOUNT_FORGET = timedelta(minutes=15)  # failures this long after the backoff ended are dropped
_CAS_TRIES = 8
# A pragmatic address check: one @, no spaces or controls, a dotted domain; at most 254.
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_DUMMY_HASH = hash_password("telemed-dummy-password")
# A unique index of users as each engine names it when it refuses a row (SQLite: the
# column, "users.x"; PostgreSQL: the index, "ix_users_x").
_FISCAL_CODE_INDEX = ("ix_users_fiscal_code", "users.fiscal_code")
_USERNAME_INDEX = ("ix_users_username", "users.username")


PATIENT_SETS_PASSWORD = ("A patient sets their own password: leave this empty and give them "
                         "the activation link.")


def check_new_user(
    *, username: str, password: str | None, role: str, display_name: str,
    patient_id: str | None, by_admin: bool = False,
) -> dict[str, str]:
    """Field errors of a new user's data (English msgids), empty when valid. `password` None:
    a portal account whose owner sets it (activation link); `by_admin`: an administrator
    creates it, who may not choose a portal account's password (docs/identity.md)."""
    errors: dict[str, str] = {}
    if not USERNAME_RE.match(username):
        errors["username"] = N_(
            "Username must be 3-64 characters: lowercase letters, digits, dot, dash, underscore."
        )
    if by_admin and role == "patient" and password:
        errors["password"] = PATIENT_SETS_PASSWORD
    elif password is None and role != "patient":
        errors["password"] = "Password must be at least 12 characters long."
    elif password is not None:
        problem = password_problem(password, username=username, context=(display_name,))
        if problem:
            errors["password"] = problem
    if role not in ROLES:
        errors["role"] = N_("Role must be one of admin, doctor, nurse, patient.")
    if not display_name.strip() or len(display_name) > 128:
        errors["display_name"] = N_("Display name is required (at most 128 characters).")
    elif (bad := free_text.problem(display_name)) is not None:
        errors["display_name"] = bad
    if role != "patient" and patient_id:
        errors["patient_id"] = N_("Only patient users are linked to a patient record.")
    return errors


def email_problem(email: str) -> str | None:
    """Why an email address is refused (English), or None."""
    if len(email) > 254 or not EMAIL_RE.match(email) or ".." in email:
        return "Enter a valid email address, like name@example.org."
    return None


def clean_email(email: str | None) -> str | None:
    """An address as stored: trimmed, None when empty."""
    return email.strip() or None if email is not None else None


def clean_phone(phone: str | None, errors: dict[str, str]) -> str | None:
    """A phone number as stored (E.164), None when empty; a bad one goes into `errors`."""
    if phone is None or not phone.strip():
        return None
    normal = normalize_phone(phone)
    if normal is None:
        errors["phone"] = PHONE_PROBLEM
    return normal


def delivery_choices(
    held: list[str] | None, delivery: dict[str, Any] | None, digest_time: str | None,
) -> tuple[list[str] | None, str | None, dict[str, FieldError]]:
    """A user's notification delivery choices after a change (docs/notifications.md, "Daily
    digest"): the kinds held for the digest (`held`, the stored ones, with `delivery` -
    ``{"KIND": "immediate"|"digest"}`` - applied), the digest time ("HH:MM"; None: the
    default), and what the rules refuse about them (``notify_delivery.KIND``,
    ``digest_time``; empty when valid). Creating a user and changing one's own choices
    both go through here."""
    problems = kinds.delivery_errors(delivery or {}, digest_time,
                                     time_given=digest_time is not None)
    if delivery:
        held = kinds.digest_kinds(held, delivery)
    return held, digest_time, problems


def fiscal_code_of(code: str | None) -> tuple[str | None, dict[str, FieldError]]:
    """A user's fiscal code as stored (normalized; None when empty), and what the
    fiscal-code rules refuse about it (``{"fiscal_code": problem}``, else empty)."""
    if code is None or not code.strip():
        return None, {}
    try:
        return validate_fiscal_code(code), {}
    except DomainValidationError as exc:
        return None, {"fiscal_code": exc.errors[0]}


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str | None,
    role: str,
    display_name: str,
    patient_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    notify: dict[str, Any] | None = None,
    notify_delivery: dict[str, Any] | None = None,
    digest_time: str | None = None,
    by_admin: bool = False,
    fiscal_code: str | None = None,
) -> User:
    """Create a user after validating everything; 422/409 change nothing. Without a password
    (portal accounts only) the owner sets one with an activation link. `notify_delivery`
    and `digest_time`: the daily digest's choices, as `update_me` takes them."""
    username = username.strip().lower()
    email = clean_email(email)
    errors = check_new_user(
        username=username,
        password=password,
        role=role,
        display_name=display_name,
        patient_id=patient_id,
        by_admin=by_admin,
    )
    if email is not None and (problem := email_problem(email)):
        errors["email"] = problem
    phone = clean_phone(phone, errors)
    # for single sign-on (telemed/identity); portal accounts use the patient's
    fiscal_code, fiscal_problem = fiscal_code_of(fiscal_code)
    errors.update(kinds.preference_errors(notify or {}))
    held, digest_time, delivery_problems = delivery_choices(None, notify_delivery, digest_time)
    if errors or fiscal_problem or delivery_problems:
        raise invalid({**errors, **fiscal_problem, **delivery_problems})
    if patient_id and await session.get(Patient, patient_id) is None:
        raise invalid({"patient_id": N_("No such patient.")})
    existing = await session.exec(select(User).where(User.username == username))
    if existing.first() is not None:
        raise username_taken()
    if fiscal_code:
        await refuse_taken_fiscal_code(session, fiscal_code)
    if patient_id:
        linked = await session.exec(select(User).where(User.patient_id == patient_id))
        if linked.first() is not None:
            raise conflict("That patient already has a user.", "patient_has_user")
    user = User(
        username=username,
        password_hash=hash_password(password) if password is not None else unusable_password(),
        role=role,
        display_name=display_name.strip(),
        patient_id=patient_id,
        email=email,
        phone=phone,
        notify_prefs=kinds.merged(None, notify) if notify else None,
        digest_kinds=held,
        digest_time=digest_time,
        fiscal_code=fiscal_code or None,
    )
    session.add(user)
    async with unique_user_fields(session):
        await session.flush()
    return user


async def refuse_taken_fiscal_code(session: AsyncSession, code: str,
                                   own_id: str | None = None) -> None:
    """409 `user_fiscal_code_taken` when a user other than `own_id` carries `code` (single
    sign-on must find one account per person and role, docs/identity.md)."""
    query = select(User.id).where(col(User.fiscal_code) == code)
    if own_id is not None:
        query = query.where(col(User.id) != own_id)
    if (await session.exec(query)).first() is not None:
        raise fiscal_code_taken()


def username_taken() -> ApiError:
    """409 `username_taken`."""
    return conflict("That username is taken.", "username_taken")


def fiscal_code_taken() -> ApiError:
    """409 `user_fiscal_code_taken`."""
    return conflict("Another user already has this fiscal code.", "user_fiscal_code_taken")


@contextlib.asynccontextmanager
async def unique_user_fields(session: AsyncSession) -> AsyncIterator[None]:
    """Write a user's username or fiscal code inside: when a unique index refuses it (another
    request took it after the check looked), the session is rolled back and the caller gets
    the check's own 409 (`username_taken`, `user_fiscal_code_taken`)."""
    try:
        yield
    except IntegrityError as exc:
        refused = str(exc.orig)
        if any(name in refused for name in _FISCAL_CODE_INDEX):
            error = fiscal_code_taken()
        elif any(name in refused for name in _USERNAME_INDEX):
            error = username_taken()
        else:
            raise
        await session.rollback()
        raise error from None


class LoginError(Exception):
    """Login refused: wrong credentials, or (`retry_after` set) not evaluated, try later."""

    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("login refused")
        self.retry_after = retry_after


def account_delay(failures: int) -> float:
    """Seconds an account with `failures` failures in a row waits after the last one."""
    if failures < ACCOUNT_FREE_FAILURES:
        return 0.0
    return min(ACCOUNT_BACKOFF_CAP, 2.0 ** min(failures - ACCOUNT_FREE_FAILURES, 30))


async def _reserve_attempt(session: AsyncSession, user_id: str) -> float:
    """Count one attempt on the account before the password is checked; 0 when it may go on,
    else the seconds to wait. Compare-and-set on the counter, so parallel attempts (in this
    process or another) are each counted and see each other's counts."""
    for _ in range(_CAS_TRIES):
        row = (await session.exec(select(User.failed_logins, User.locked_until)
                                  .where(col(User.id) == user_id))).one()
        failures, until = int(row[0]), row[1]
        now = utcnow()
        if until is not None and until > now:
            await session.rollback()
            return (until - now).total_seconds()
        base = 0 if until is not None and now - until > ACCOUNT_FORGET else failures
        delay = account_delay(base + 1)
        next_until: datetime | None = now + timedelta(seconds=delay) if delay else None
        result = await session.exec(
            update(User).where(col(User.id) == user_id, col(User.failed_logins) == failures)
            .values(failed_logins=base + 1, locked_until=next_until))
        await session.commit()
        if result.rowcount == 1:
            return 0.0
    return 1.0  # heavily contended: let the caller retry in a second


async def authenticate(session: AsyncSession, username: str, password: str) -> User:
    """The user for these credentials, or LoginError.

    Each attempt on an existing account is counted before the (off-loop) argon2 check and the
    count is cleared on success, so a burst of parallel guesses gets no more checks than the
    backoff allows, whatever their order.
    """
    result = await session.exec(select(User).where(User.username == username.strip().lower()))
    user = result.first()
    if user is None or not user.active:
        await asyncio.to_thread(verify_password, _DUMMY_HASH, password)  # same work either way
        raise LoginError()
    user_id, password_hash = user.id, user.password_hash
    wait = await _reserve_attempt(session, user_id)
    if wait > 0:
        raise LoginError(retry_after=wait)
    if not await asyncio.to_thread(verify_password, password_hash, password):
        raise LoginError()  # already counted
    await session.exec(update(User).where(col(User.id) == user_id)
                       .values(failed_logins=0, locked_until=None))
    await session.commit()
    await session.refresh(user)
    return user


def to_principal(user: User, via: str, *, session_id: str | None = None,
                 expires_at: float | None = None) -> Principal:
    """The principal of an authenticated user (`session_id`: the session row it came with)."""
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,  # type: ignore[arg-type]
        display_name=user.display_name,
        patient_id=user.patient_id,
        via=via,  # type: ignore[arg-type]
        session_id=session_id,
        expires_at=expires_at,
    )


async def find_user(session: AsyncSession, user_id: str) -> User | None:
    """A user by id, or None."""
    return await session.get(User, user_id)


async def get_user(session: AsyncSession, user_id: str) -> User:
    """A user by id, or 404."""
    user = await find_user(session, user_id)
    if user is None:
        raise not_found("User")
    return user


async def list_users(session: AsyncSession, page: Page, role: str | None = None) -> list[User]:
    """Users ordered by username, one page."""
    query = select(User).order_by(User.username, User.id)
    if role:
        if role not in ROLES:
            raise ApiError(400, "invalid_role", "Unknown role.")
        query = query.where(User.role == role)
    if page.after:
        query = query.where(tuple_(User.username, User.id) > tuple(page.after))
    return list((await session.exec(query.limit(page.limit))).all())


async def update_me(session: AsyncSession, user_id: str, *, changes: dict[str, Any],
                    timezone: str) -> User:
    """The user's own contact details and notification choices (``email``, ``phone``,
    ``notify``, ``notify_delivery``, ``digest_time``, ``language``); 422 changes nothing.
    A change of the digest's choices dates the user's held notifications again in the same
    transaction (the digest time read in ``timezone``, the service's)."""
    user = await get_user(session, user_id)
    dated_by = digests.choices(user)
    errors: dict[str, str] = {}
    email = clean_email(changes["email"]) if "email" in changes else user.email
    if "email" in changes and email is not None and (problem := email_problem(email)):
        errors["email"] = problem
    phone = clean_phone(changes["phone"], errors) if "phone" in changes else user.phone
    notify = changes.get("notify") or {}
    errors.update(kinds.preference_errors(notify))
    language = changes.get("language", user.language)
    if language is not None and language not in ("it", "en"):
        errors["language"] = N_("Language must be it or en.")
    held, digest_time, delivery_problems = delivery_choices(
        user.digest_kinds, changes.get("notify_delivery"),
        changes.get("digest_time", user.digest_time))
    problems: dict[str, str | FieldError] = {**errors, **delivery_problems}
    if problems:
        raise invalid(problems)
    user.email = email
    user.phone = phone
    user.language = language
    if notify:
        user.notify_prefs = kinds.merged(user.notify_prefs, notify)
    user.digest_kinds = held
    user.digest_time = digest_time
    session.add(user)
    if digests.choices(user) != dated_by:  # what waits goes by the new choices
        await session.flush()  # the user's row first (digests.redate)
        await digests.redate(session, user, zone(timezone), utcnow())
    await session.commit()
    return user


async def end_all_sessions_of(session: AsyncSession, user_id: str) -> None:
    """`end_all_sessions` of the user `user_id` (an existing user: the caller)."""
    user = await session.get(User, user_id)
    assert user is not None
    await end_all_sessions(session, user)


async def end_all_sessions(session: AsyncSession, user: User,
                           reason: str = "logout_everywhere") -> None:
    """Revoke every session and token of the user (committed; their live channels end)."""
    user.sessions_valid_after = utcnow()
    session.add(user)
    await revoke_user_sessions(session, user.id, reason)
    await session.commit()


async def change_password(session: AsyncSession, user_id: str, *, current: str, new: str,
                          keep_session: str | None) -> User:
    """Set a new password (not committed: the caller commits it with its audit row):
    LoginError when `current` is wrong, 422 when `new` breaks the policy. Every other
    session and token of the user is revoked; the one that made the change (`keep_session`)
    stays open."""
    user = await get_user(session, user_id)
    if not await asyncio.to_thread(verify_password, user.password_hash, current):
        raise LoginError()
    problem = password_problem(new, username=user.username, context=(user.display_name,))
    if problem is None and new == current:
        problem = N_("The new password must differ from the current one.")
    if problem:
        raise invalid({"new_password": problem})
    user.password_hash = await asyncio.to_thread(hash_password, new)
    user.sessions_valid_after = utcnow()
    session.add(user)
    await revoke_user_sessions(session, user.id, "password_changed", keep=keep_session)
    return user


async def set_active(session: AsyncSession, actor: Principal, user_id: str,
                     active: bool) -> User:
    """Activate or deactivate a user (not oneself), audited; deactivating revokes every
    session and token and ends their live channels (`CredentialsRevoked`). Committed."""
    user = await get_user(session, user_id)
    if user.id == actor.user_id and not active:
        raise conflict("You cannot deactivate your own account.", "cannot_deactivate_self")
    user.active = active
    if not active:
        user.sessions_valid_after = utcnow()
        await revoke_user_sessions(session, user.id, "deactivated")
    session.add(user)
    audit.record(session, actor=actor, action="update", resource="user", resource_id=user.id,
                 patient_id=user.patient_id,
                 reason=because("user_activated" if active else "user_deactivated"))
    await session.commit()
    return user


async def count_users(session: AsyncSession) -> int:
    """How many users exist."""
    return int((await session.exec(select(func.count()).select_from(User))).one())


async def users_by_id(session: AsyncSession, user_ids: set[str]) -> dict[str, User]:
    """The users of `user_ids` that exist, by id, in one query."""
    if not user_ids:
        return {}
    found = await session.exec(select(User).where(col(User.id).in_(sorted(user_ids))))
    return {u.id: u for u in found.all()}


async def display_names(session: AsyncSession, user_ids: Iterable[str]) -> dict[str, str]:
    """The display names of the users of `user_ids` that exist, by id, in one query."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    rows = (await session.exec(
        select(User.id, User.display_name).where(col(User.id).in_(wanted)))).all()
    return {user_id: name for user_id, name in rows}
