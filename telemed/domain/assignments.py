"""Which patient a device's reading belongs to: the one it was assigned to at the reading's time.

A device's assignment history is a list of half-open intervals ``[start, end)``, one per
patient who had it, never overlapping (``end`` None: the current, open one). A reading timed
exactly at a reassignment belongs to the new patient. A reading timed before the device's
first assignment is refused (``before_assignment``), and so is one timed while the device was
assigned to nobody (``no_patient``): no reading is ever filed by the device's *current* patient
alone, so a device's offline buffer replayed after a reassignment lands in the record of the
patient who took those readings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeGuard

Unattributed = Literal["before_assignment", "no_patient"]

MESSAGES: dict[Unattributed, str] = {
    "before_assignment": "Record {record_index} was taken at {time}, before this device was "
                         "assigned to a patient; it is not stored.",
    "no_patient": "Record {record_index} was taken at {time}, while this device was not "
                  "assigned to a patient; it is not stored.",
}


def is_refusal(owner: str) -> TypeGuard[Unattributed]:
    """True when `attribute` found no patient (its answer is then a rejection code)."""
    return owner in MESSAGES


@dataclass(frozen=True, slots=True, order=True)
class Assignment:
    """A device held by ``patient_id`` from ``start`` (inclusive) to ``end`` (exclusive)."""

    start: datetime
    end: datetime | None
    patient_id: str

    def covers(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


@dataclass(frozen=True, slots=True)
class History:
    """A device's assignments in time order, for many lookups (one per reading)."""

    assignments: tuple[Assignment, ...]

    @classmethod
    def of(cls, assignments: Iterable[Assignment]) -> History:
        ordered = tuple(sorted(assignments, key=lambda a: a.start))
        check_history(ordered)
        return cls(ordered)

    @property
    def current(self) -> str | None:
        """The patient holding the device now (its open interval), else None."""
        last = self.assignments[-1] if self.assignments else None
        return last.patient_id if last is not None and last.end is None else None

    def patient_at(self, at: datetime) -> str | Unattributed:
        """The patient who had the device at ``at``, else why nobody did."""
        return attribute(self.assignments, at)


def check_history(ordered: Sequence[Assignment]) -> None:
    """Raise ValueError unless the intervals are ordered, non-empty and do not overlap."""
    for i, current in enumerate(ordered):
        if current.end is not None and current.end <= current.start:
            raise ValueError(f"assignment of {current.patient_id} ends before it starts")
        if i + 1 < len(ordered):
            following = ordered[i + 1]
            if current.end is None or current.end > following.start:
                raise ValueError("a device's assignments overlap")


def attribute(ordered: Sequence[Assignment], at: datetime) -> str | Unattributed:
    """The patient whose interval holds ``at`` in time-ordered, non-overlapping ``ordered``.

    ``before_assignment`` when ``at`` precedes every interval (or there is none),
    ``no_patient`` when it falls between two intervals or after the last one ended.
    """
    if not ordered or at < ordered[0].start:
        return "before_assignment"
    for assignment in reversed(ordered):  # a device has few; the newest is the likeliest
        if assignment.start <= at:
            return assignment.patient_id if assignment.covers(at) else "no_patient"
    return "before_assignment"  # pragma: no cover - excluded by the first test


def reassign(ordered: Sequence[Assignment], patient_id: str | None,
             at: datetime) -> list[Assignment]:
    """The history after giving the device to ``patient_id`` (None: to nobody) at ``at``.

    The open interval, if any, ends at ``at``; a new one opens for ``patient_id``. Giving it to
    the patient who has it changes nothing. ``at`` must not precede the open interval's start.
    """
    history = list(ordered)
    current = history[-1] if history and history[-1].end is None else None
    if current is not None and current.patient_id == patient_id:
        return history
    if history:
        last = history[-1]
        if at <= last.start or (last.end is not None and at < last.end):
            raise ValueError("a reassignment cannot precede the device's last change")
    if current is not None:
        history[-1] = Assignment(current.start, at, current.patient_id)
    if patient_id is not None:
        history.append(Assignment(at, None, patient_id))
    return history
