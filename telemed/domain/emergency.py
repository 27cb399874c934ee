"""Emergency ("break-glass") access: the reasons a clinician may give, what it allows, and
its after-the-fact review.

Emergency access lets a clinician outside the care team (or without the patient's consent)
*read* the record for a limited time and *handle its alerts* (acknowledge, snooze, resolve:
an emergency often starts from one). It never lets them change the record or create
anything that outlives the emergency: no care plans (whose care team would make them
members), no visits (whose participants keep access to them), no guests, no devices, no
demographics. Anything lasting is done by the care team, or after the patient's consent.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

ReasonCode = Literal[
    "unable_to_consent",
    "urgent_clinical_need",
    "on_call_cover",
    "continuity_of_care",
    "other",  # the free text says it all; what a request with `reason` alone gets
]
REASON_CODES: Final[tuple[ReasonCode, ...]] = get_args(ReasonCode)

ReviewOutcome = Literal["confirmed", "flagged"]
REVIEW_OUTCOMES: Final[tuple[ReviewOutcome, ...]] = get_args(ReviewOutcome)

DEFAULT_REASON_CODE: Final[ReasonCode] = "other"
MIN_REASON_LENGTH: Final = 15
MAX_TEXT_LENGTH: Final = 1000


def allows(action: str, resource: str) -> bool:
    """Whether an emergency access permits ``action`` on ``resource`` of the patient."""
    if action == "read":
        return True
    return action == "update" and resource == "alert"
