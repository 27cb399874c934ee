"""The escalation chain: who is notified at each step (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telemed.notify.escalation import step_due, step_targets

ONCALL, DOCTOR, NURSE, OTHER = "oncall", "doctor", "nurse", "other-doctor"


def test_on_call_then_responsible_doctor_then_the_team_then_everyone_again() -> None:
    levels = [[ONCALL], [DOCTOR], [DOCTOR, NURSE, OTHER]]
    assert step_targets(0, levels) == [ONCALL]
    assert step_targets(1, levels) == [DOCTOR]
    assert step_targets(2, levels) == [NURSE, OTHER]  # the doctor was already told
    assert step_targets(3, levels) == [ONCALL, DOCTOR, NURSE, OTHER]
    assert step_targets(9, levels) == [ONCALL, DOCTOR, NURSE, OTHER]


def test_nobody_on_call_starts_with_the_responsible_doctor() -> None:
    levels: list[list[str]] = [[], [DOCTOR], [DOCTOR, NURSE]]
    assert step_targets(0, levels) == [DOCTOR]
    assert step_targets(1, levels) == [NURSE]


def test_on_call_doctor_who_is_also_responsible_is_not_a_step_of_its_own() -> None:
    levels = [[DOCTOR], [DOCTOR], [DOCTOR, NURSE]]
    assert step_targets(0, levels) == [DOCTOR]
    assert step_targets(1, levels) == [NURSE]


def test_empty_chain_notifies_nobody() -> None:
    assert step_targets(0, [[], [], []]) == []


def test_a_step_is_due_a_period_after_the_opening_or_the_last_step() -> None:
    opened = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
    assert not step_due(opened, None, 15, opened + timedelta(minutes=14))
    assert step_due(opened, None, 15, opened + timedelta(minutes=15))
    last = opened + timedelta(minutes=15)
    assert not step_due(opened, last, 15, last + timedelta(minutes=10))
    assert step_due(opened, last, 15, last + timedelta(minutes=15))
