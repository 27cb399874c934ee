"""What an administrator changes about another person's sign-in: a reset of their lost
second factor, and the fiscal code single sign-on (SPID / CIE) matches them by.

The API and the pages call these, so both follow the same rules (docs/identity.md).
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.db.models import User
from telemed.domain.audit_reasons import ReasonCode, because
from telemed.domain.fiscal_code import mask_fiscal_code
from telemed.errors import N_, conflict, invalid
from telemed.identity.accounts import record_event
from telemed.identity.totp import reset_second_factor
from telemed.notify import outbox
from telemed.principal import Principal
from telemed.services import audit, free_text
from telemed.services.sessions import revoke_sessions_opened_by
from telemed.services.users import (
    fiscal_code_of,
    get_user,
    refuse_taken_fiscal_code,
    unique_user_fields,
)

REASON_MIN = 10
REASON_MAX = 1000
REASON_PROBLEM = N_("Give the reason in 10 to 1000 characters (for example the ticket "
                    "number and how the loss was reported).")


def reason_problem(reason: str) -> str | None:
    """Why a reset's reason is refused (English msgid), or None."""
    text = reason.strip()
    if not REASON_MIN <= len(text) <= REASON_MAX:
        return REASON_PROBLEM
    return free_text.problem(text, multiline=True)


async def reset_factor_of(session: AsyncSession, actor: Principal, user_id: str,
                          reason: str) -> User:
    """Remove every second factor of another user (TOTP, recovery codes, security keys),
    with the reason; the user is told (`account_security`) and sets a factor up again at
    the next login. Their open sessions stay open. 404 for no such user, 409
    `cannot_reset_self`, 422 for a bad reason; committed."""
    user = await get_user(session, user_id)
    if user.id == actor.user_id:
        raise conflict("Another administrator must reset your own second factor.",
                       "cannot_reset_self")
    if (problem := reason_problem(reason)) is not None:
        raise invalid({"reason": problem})
    await reset_second_factor(session, user, actor_id=actor.user_id, reason=reason.strip())
    await _tell(session, user, "account_security", "/account/second-factor")
    audit.record(session, actor=actor, action="update", resource="user", resource_id=user.id,
                 reason=because("second_factor_reset"))
    await session.commit()
    return user


async def _tell(session: AsyncSession, user: User, title_code: str, link: str) -> None:
    await outbox.record(session, user_ids=[user.id], kind="account_security", params={},
                        link=link, cause_type="user", cause_id=user.id,
                        title_code=title_code)


async def set_fiscal_code(session: AsyncSession, actor: Principal, user_id: str,
                          code: str | None) -> User:
    """Set, correct or (None / blank) remove the fiscal code of a staff or family-member
    account. Single sign-on matches by it at once: the old code stops opening the account,
    and the account's sessions opened through single sign-on (by whoever held the old
    code) end. Audited old → new, masked; the user is told. A portal account linked to a
    patient record is matched by the record's code: 409 `fiscal_code_on_patient_record`
    (edit the patient). 404, 422 and 409 change nothing; committed."""
    user = await get_user(session, user_id)
    if user.patient_id is not None:
        raise conflict("This account is matched by its patient record's fiscal code: "
                       "correct it on the patient's page.", "fiscal_code_on_patient_record")
    new, problem = fiscal_code_of(code)
    if problem:
        raise invalid(problem)
    if new is not None:
        await refuse_taken_fiscal_code(session, new, own_id=user.id)
    old = user.fiscal_code
    if new == old:
        return user
    user.fiscal_code = new
    session.add(user)
    async with unique_user_fields(session):  # a request that got there first wins: 409
        await session.flush()
    masked = {"old": mask_fiscal_code(old), "new": mask_fiscal_code(new)}
    why: ReasonCode = ("fiscal_code_set" if old is None else
           "fiscal_code_removed" if new is None else "fiscal_code_changed")
    record_event(session, user_id=user.id, actor_id=actor.user_id, kind="fiscal_code_changed",
                 detail=f"{masked['old'] or '-'} -> {masked['new'] or '-'}")
    if old is not None:
        await revoke_sessions_opened_by(session, user.id, "oidc", "fiscal_code_changed")
    await _tell(session, user, "account_fiscal_code", "/account/sessions")
    audit.record(session, actor=actor, action="update", resource="user", resource_id=user.id,
                 reason=because(why, **{k: v for k, v in masked.items() if v}))
    await session.commit()
    return user
