"""Identity rules: the fiscal number an identity provider asserts, levels of assurance, TOTP steps.

Pure functions of their arguments (the time is an argument).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# SPID's fiscalNumber is "TINIT-" + the codice fiscale (a tax id of Italy); CIE gateways and
# most regional OIDC gateways send the bare code. Both forms are accepted.
_TIN_PREFIX = re.compile(r"^TINIT-", re.IGNORECASE)
_FISCAL_CODE = re.compile(r"^[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z]"
                          r"[0-9LMNPQRSTUV]{3}[A-Z]$")

# Levels of assurance in increasing order: SPID levels 1-3 (the acr values of the SPID/CIE
# OIDC federation and of AgID's SAML profile) and the eIDAS levels CIE maps to.
ACR_LEVELS: dict[str, int] = {
    "https://www.spid.gov.it/SpidL1": 1,
    "https://www.spid.gov.it/SpidL2": 2,
    "https://www.spid.gov.it/SpidL3": 3,
    "http://eidas.europa.eu/LoA/low": 1,
    "http://eidas.europa.eu/LoA/substantial": 2,
    "http://eidas.europa.eu/LoA/high": 3,
}


def fiscal_number(claim: object) -> str | None:
    """The codice fiscale of a `fiscal_number` claim ("TINIT-" stripped), or None if malformed."""
    if not isinstance(claim, str):
        return None
    code = _TIN_PREFIX.sub("", "".join(claim.split())).upper()
    return code if _FISCAL_CODE.match(code) else None


def acr_level(acr: object) -> int:
    """The level of an acr value (0 when absent or unknown)."""
    return ACR_LEVELS.get(acr, 0) if isinstance(acr, str) else 0


def acr_satisfies(asserted: object, minimum: str) -> bool:
    """True when the asserted acr is at least `minimum` (never when `minimum` is unset)."""
    if not minimum:
        return False
    if asserted == minimum:
        return True
    needed = acr_level(minimum)
    return needed > 0 and acr_level(asserted) >= needed


@dataclass(frozen=True)
class Candidate:
    """An account a fiscal number leads to."""

    user_id: str
    role: str
    label: str  # what the person sees when asked to choose ("patient", "doctor", ...)


def choose_account(candidates: list[Candidate], chosen: str | None) -> Candidate | None:
    """The account to open: the only candidate, or the chosen one among several; else None."""
    if len(candidates) == 1 and chosen in (None, candidates[0].user_id):
        return candidates[0]
    return next((c for c in candidates if c.user_id == chosen), None) if chosen else None


def totp_step_acceptable(step: int, last_step: int | None) -> bool:
    """A TOTP code's time step is accepted once: only steps after the last accepted one."""
    return last_step is None or step > last_step


def needs_second_factor(role: str, require: str, *, acr: object = None,
                        min_acr: str = "") -> bool:
    """Whether a login of `role` must pass a second factor under `TELEMED_REQUIRE_2FA`."""
    if require != "staff" or role not in ("admin", "doctor", "nurse"):
        return False
    return not acr_satisfies(acr, min_acr)


def second_factor_step(role: str, require: str, *, enrolled: bool, acr: object = None,
                       min_acr: str = "") -> str:
    """What a login needs after its first factor: "verify" (a code of the factor the user
    has), "enrol" (required but none yet) or "none". A user who set up a factor is always
    asked for it, required or not; an identity provider's level of assurance at or above
    `min_acr` counts as the second factor."""
    if acr_satisfies(acr, min_acr):
        return "none"
    if enrolled:
        return "verify"
    return "enrol" if needs_second_factor(role, require) else "none"
