"""Teleconsult requests (CONTRACT §9): their states, who may move them, and when the
consulted specialist has access to the patient's record.

    requested ──accept──▶ accepted ──schedule (live)──▶ scheduled ──answer──▶ answered
        │  ▲                  └──────────answer (async or live)─────────────▶ answered
        │  └─ more_info ── info_requested (the requester adds information: back to requested)
        └──decline──▶ declined          requested/info_requested ──cancel──▶ cancelled

The specialist may consult the record from acceptance until the answer (or a cancellation):
`grants_access`. Before acceptance they see the request itself (the question and what is
attached), not the record.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Status = Literal["requested", "info_requested", "accepted", "scheduled", "answered",
                 "declined", "cancelled"]
Urgency = Literal["routine", "urgent"]
Mode = Literal["live", "async"]
Action = Literal["accept", "decline", "more_info", "add_info", "schedule", "answer", "cancel"]
Actor = Literal["requester", "specialist"]

STATUSES: Final[tuple[Status, ...]] = get_args(Status)
URGENCIES: Final[tuple[Urgency, ...]] = get_args(Urgency)
MODES: Final[tuple[Mode, ...]] = get_args(Mode)
OPEN: Final[frozenset[str]] = frozenset({"requested", "info_requested", "accepted",
                                         "scheduled"})
ACCESS_STATUSES: Final[tuple[Status, ...]] = ("accepted", "scheduled")
MAX_QUESTION: Final = 4000
MAX_NOTE: Final = 2000
MAX_ANSWER: Final = 20000
SPECIALTIES: Final[tuple[str, ...]] = (
    "cardiology", "pulmonology", "diabetology", "nephrology", "neurology", "radiology",
    "geriatrics", "internal_medicine")

# (from status, action) -> (who may do it, next status)
_MOVES: Final[dict[tuple[str, str], tuple[Actor, Status]]] = {
    ("requested", "accept"): ("specialist", "accepted"),
    ("requested", "decline"): ("specialist", "declined"),
    ("requested", "more_info"): ("specialist", "info_requested"),
    ("info_requested", "add_info"): ("requester", "requested"),
    ("info_requested", "decline"): ("specialist", "declined"),
    ("accepted", "schedule"): ("specialist", "scheduled"),
    ("accepted", "answer"): ("specialist", "answered"),
    ("scheduled", "answer"): ("specialist", "answered"),
    ("requested", "cancel"): ("requester", "cancelled"),
    ("info_requested", "cancel"): ("requester", "cancelled"),
}


def next_status(status: str, action: str, actor: Actor, mode: str) -> Status | None:
    """The status after `actor` does `action`, or None when that move is not allowed."""
    move = _MOVES.get((status, action))
    if move is None or move[0] != actor:
        return None
    if action == "schedule" and mode != "live":
        return None
    return move[1]


def grants_access(status: str) -> bool:
    """Whether a consult in this status opens the record to its specialist."""
    return status in ACCESS_STATUSES


def sees_request(status: str, is_addressee: bool, is_specialty_member: bool,
                 has_specialist: bool) -> bool:
    """Whether a clinician may read a request it did not write: the named specialist
    always; a member of the asked specialty while nobody has taken it yet."""
    if is_addressee:
        return True
    return is_specialty_member and not has_specialist and status in OPEN
