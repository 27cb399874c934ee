"""People: creating users, authenticating them, lockout after repeated failures."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, tuple_
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import Patient, User
from telemed.db.types import utcnow
from telemed.errors import ApiError, conflict, invalid, not_found
from telemed.principal import ROLES, Principal
from telemed.security import hash_password, password_problem, verify_password
from telemed.services import free_text
from telemed.services.pagination import Page

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
LOCK_AFTER_FAILURES = 5
LOCK_MINUTES = 15
_DUMMY_HASH = hash_password("telemed-dummy-password")


def check_new_user(
    *, username: str, password: str, role: str, display_name: str, patient_id: str | None
) -> dict[str, str]:
    """Field errors of a new user's data (English msgids), empty when valid."""
    errors: dict[str, str] = {}
    if not USERNAME_RE.match(username):
        errors["username"] = (
            "Username must be 3-64 characters: lowercase letters, digits, dot, dash, underscore."
        )
    problem = password_problem(password, username=username)
    if problem:
        errors["password"] = problem
    if role not in ROLES:
        errors["role"] = "Role must be one of admin, doctor, nurse, patient."
    if not display_name.strip() or len(display_name) > 128:
        errors["display_name"] = "Display name is required (at most 128 characters)."
    elif (bad := free_text.problem(display_name)) is not None:
        errors["display_name"] = bad
    if role != "patient" and patient_id:
        errors["patient_id"] = "Only patient users are linked to a patient record."
    return errors


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str,
    patient_id: str | None = None,
) -> User:
    """Create a user after validating everything; 422/409 change nothing."""
    username = username.strip().lower()
    errors = check_new_user(
        username=username,
        password=password,
        role=role,
        display_name=display_name,
        patient_id=patient_id,
    )
    if errors:
        raise invalid(errors)
    if patient_id and await session.get(Patient, patient_id) is None:
        raise invalid({"patient_id": "No such patient."})
    existing = await session.exec(select(User).where(User.username == username))
    if existing.first() is not None:
        raise conflict("That username is taken.", "username_taken")
    if patient_id:
        linked = await session.exec(select(User).where(User.patient_id == patient_id))
        if linked.first() is not None:
            raise conflict("That patient already has a user.", "patient_has_user")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        display_name=display_name.strip(),
        patient_id=patient_id,
    )
    session.add(user)
    await session.flush()
    return user


class LoginError(Exception):
    """Login refused; `locked_minutes` is set when the account is locked."""

    def __init__(self, locked_minutes: int | None = None) -> None:
        super().__init__("login refused")
        self.locked_minutes = locked_minutes


async def authenticate(session: AsyncSession, username: str, password: str) -> User:
    """The user for these credentials; counts failures and locks the account after 5."""
    result = await session.exec(select(User).where(User.username == username.strip().lower()))
    user = result.first()
    now = utcnow()
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password)  # same work whether or not the user exists
        raise LoginError()
    if user.locked_until and user.locked_until > now:
        minutes = int((user.locked_until - now).total_seconds() // 60) + 1
        raise LoginError(locked_minutes=minutes)
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        locked = None
        if user.failed_logins >= LOCK_AFTER_FAILURES:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
            locked = LOCK_MINUTES
        session.add(user)
        await session.commit()
        raise LoginError(locked_minutes=locked)
    if user.failed_logins or user.locked_until:
        user.failed_logins = 0
        user.locked_until = None
        session.add(user)
        await session.commit()
    return user


def to_principal(user: User, via: str) -> Principal:
    """The principal of an authenticated user."""
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,  # type: ignore[arg-type]
        display_name=user.display_name,
        patient_id=user.patient_id,
        via=via,  # type: ignore[arg-type]
    )


async def get_user(session: AsyncSession, user_id: str) -> User:
    """A user by id, or 404."""
    user = await session.get(User, user_id)
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


async def end_all_sessions(session: AsyncSession, user: User) -> None:
    """Invalidate every session and token issued to the user until now."""
    user.sessions_valid_after = utcnow()
    session.add(user)
    await session.commit()


async def count_users(session: AsyncSession) -> int:
    """How many users exist."""
    return int((await session.exec(select(func.count()).select_from(User))).one())
