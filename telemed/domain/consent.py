"""The patient's consent to the consultation of their record: which decision is in force.

A decision is a grant or a refusal, either *blanket* (``grantee_id`` None: the whole care
staff) or *personal* (one clinician). The rule, after the FSE's "the patient's latest
decision wins":

- no decision that concerns the clinician: refused;
- a personal grant stands unless a blanket refusal was made *after* it (a blanket withdrawal
  revokes every personal grant made before it; a personal grant made after it stands);
- a personal refusal stands until the patient grants that clinician again personally: a later
  blanket grant does not lift it (turning the general consent off and on again must not
  silently re-admit a clinician the patient shut out by name);
- otherwise the latest blanket decision applies.

Pure functions over a list of decisions, so a caller loads the decisions once (one query)
and asks as many questions as it likes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Decision:
    """One consent decision of a patient."""

    granted: bool
    grantee_id: str | None
    recorded_at: datetime


def _latest(decisions: Iterable[Decision]) -> Decision | None:
    latest: Decision | None = None
    for decision in decisions:  # ties: the later one in the list wins
        if latest is None or decision.recorded_at >= latest.recorded_at:
            latest = decision
    return latest


def may_consult(decisions: Sequence[Decision], clinician_id: str) -> bool:
    """Whether the decisions in force let this clinician open the patient's record."""
    personal = _latest(d for d in decisions if d.grantee_id == clinician_id)
    blanket = _latest(d for d in decisions if d.grantee_id is None)
    if personal is not None:
        if not personal.granted:
            return False
        withdrawn_later = (blanket is not None and not blanket.granted
                           and blanket.recorded_at >= personal.recorded_at)
        return not withdrawn_later
    return blanket is not None and blanket.granted


@dataclass(frozen=True, slots=True)
class ConsentState:
    """What is in force, for the patient's privacy page and the care team's lists."""

    blanket: bool  # the whole care staff may consult the record
    withdrawn_at: datetime | None  # when the blanket consent was withdrawn, if it is
    allowed: tuple[str, ...]  # clinicians let in by a personal grant still in force
    refused: tuple[str, ...]  # clinicians shut out by a personal refusal still in force


def consent_state(decisions: Sequence[Decision]) -> ConsentState:
    """The blanket decision in force and the personal exceptions that still stand."""
    blanket = _latest(d for d in decisions if d.grantee_id is None)
    granted = blanket is not None and blanket.granted
    people = sorted({d.grantee_id for d in decisions if d.grantee_id is not None})
    allowed = tuple(p for p in people if may_consult(decisions, p))
    refused = tuple(p for p in people if not may_consult(decisions, p))
    return ConsentState(
        blanket=granted,
        withdrawn_at=blanket.recorded_at if blanket is not None and not granted else None,
        allowed=tuple(p for p in allowed if not granted),
        refused=tuple(p for p in refused if granted),
    )
