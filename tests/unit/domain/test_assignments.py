"""Attribution of a reading to the patient who had the device at its time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemed.domain.assignments import (
    Assignment,
    History,
    attribute,
    check_history,
    is_refusal,
    reassign,
)

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)


def _a_then_b_then_a() -> list[Assignment]:
    return [Assignment(T0, T0 + H, "A"), Assignment(T0 + H, T0 + 2 * H, "B"),
            Assignment(T0 + 2 * H, None, "A")]


def test_a_reading_belongs_to_whoever_had_the_device_then() -> None:
    history = History.of(reversed(_a_then_b_then_a()))  # any order in, time order kept
    assert history.patient_at(T0) == "A"
    assert history.patient_at(T0 + H - timedelta(microseconds=1)) == "A"
    assert history.patient_at(T0 + H) == "B"  # the reassignment moment: the new patient
    assert history.patient_at(T0 + 90 * timedelta(minutes=1)) == "B"
    assert history.patient_at(T0 + 2 * H) == "A"  # given back to the earlier patient
    assert history.patient_at(T0 + 1000 * H) == "A"  # the open interval


def test_before_any_assignment_and_while_unassigned_are_refused() -> None:
    history = [Assignment(T0, T0 + H, "A"), Assignment(T0 + 3 * H, None, "B")]
    assert attribute(history, T0 - timedelta(seconds=1)) == "before_assignment"
    assert attribute([], T0) == "before_assignment"
    assert attribute(history, T0 + 2 * H) == "no_patient"  # the gap: nobody had it
    closed = [Assignment(T0, T0 + H, "A")]  # unassigned (or revoked) since T0 + H
    assert attribute(closed, T0 + H) == "no_patient"
    assert is_refusal("no_patient") and is_refusal("before_assignment")
    assert not is_refusal("A")


def test_reassign_closes_the_open_interval_and_opens_the_next() -> None:
    first = [Assignment(T0, None, "A")]
    moved = reassign(first, "B", T0 + H)
    assert moved == [Assignment(T0, T0 + H, "A"), Assignment(T0 + H, None, "B")]
    assert reassign(moved, "B", T0 + 2 * H) == moved  # to the same patient: nothing
    unassigned = reassign(moved, None, T0 + 2 * H)
    assert unassigned[-1] == Assignment(T0 + H, T0 + 2 * H, "B")
    back = reassign(unassigned, "A", T0 + 3 * H)
    assert back[-1] == Assignment(T0 + 3 * H, None, "A")
    check_history(back)
    assert attribute(back, T0 + 2.5 * H) == "no_patient"


def test_reassign_never_rewrites_the_past() -> None:
    history = [Assignment(T0, T0 + H, "A"), Assignment(T0 + H, None, "B")]
    with pytest.raises(ValueError):
        reassign(history, "C", T0 + H)  # not at or before the open interval's start
    with pytest.raises(ValueError):
        reassign([Assignment(T0, T0 + H, "A")], "B", T0 + timedelta(minutes=30))


def test_overlapping_or_inverted_histories_are_refused() -> None:
    with pytest.raises(ValueError):
        History.of([Assignment(T0, None, "A"), Assignment(T0 + H, None, "B")])
    with pytest.raises(ValueError):
        History.of([Assignment(T0, T0 + 2 * H, "A"), Assignment(T0 + H, None, "B")])
    with pytest.raises(ValueError):
        History.of([Assignment(T0 + H, T0, "A")])


@given(st.lists(st.tuples(st.integers(1, 500), st.sampled_from(["A", "B", "C", None])),
                min_size=1, max_size=8),
       st.integers(-100, 5000))
def test_every_time_has_exactly_the_owner_of_its_interval(
        moves: list[tuple[int, str | None]], probe: int) -> None:
    history: list[Assignment] = [Assignment(T0, None, "A")]
    at = T0
    owners: list[tuple[datetime, str | None]] = [(T0, "A")]
    for gap, patient in moves:
        at += timedelta(minutes=gap)
        before = history
        history = reassign(history, patient, at)
        if history != before:
            owners.append((at, patient))
    check_history(history)
    when = T0 + timedelta(minutes=probe)
    expected: str | None = None
    for start, patient in owners:  # the last change at or before `when` decides
        if start <= when:
            expected = patient
    got = attribute(history, when)
    if when < T0:
        assert got == "before_assignment"
    elif expected is None:
        assert got == "no_patient"
    else:
        assert got == expected
