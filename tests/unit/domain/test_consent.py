"""The consent rule: which decision is in force, across every order and scope."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from telemed.domain.consent import Decision, consent_state, may_consult

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ME, OTHER = "doc-me", "doc-other"


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def blanket(granted: bool, minute: int) -> Decision:
    return Decision(granted, None, _at(minute))


def personal(granted: bool, minute: int, who: str = ME) -> Decision:
    return Decision(granted, who, _at(minute))


def test_no_decision_refuses() -> None:
    assert may_consult([], ME) is False


@pytest.mark.parametrize("granted", [True, False])
def test_a_blanket_decision_alone_applies(granted: bool) -> None:
    assert may_consult([blanket(granted, 0)], ME) is granted


@pytest.mark.parametrize("granted", [True, False])
def test_a_personal_decision_alone_applies(granted: bool) -> None:
    assert may_consult([personal(granted, 0)], ME) is granted


# Every order of one blanket and one personal decision, each granted or refused:
# (blanket granted, personal granted, personal later than blanket) -> may consult.
EXPECTED = {
    # A personal grant made after a blanket withdrawal stands.
    (False, True, True): True,
    # A blanket withdrawal revokes every personal grant made before it (the bug of issue #10).
    (False, True, False): False,
    # Grants both ways.
    (True, True, True): True,
    (True, True, False): True,
    # A personal refusal stands whatever the blanket decision and its time.
    (True, False, True): False,
    (True, False, False): False,
    (False, False, True): False,
    (False, False, False): False,
}


@pytest.mark.parametrize(("blanket_granted", "personal_granted", "personal_later"),
                         sorted(EXPECTED))
def test_every_order_and_scope(blanket_granted: bool, personal_granted: bool,
                               personal_later: bool) -> None:
    b, p = (0, 1) if personal_later else (1, 0)
    decisions = [blanket(blanket_granted, b), personal(personal_granted, p)]
    expected = EXPECTED[(blanket_granted, personal_granted, personal_later)]
    assert may_consult(decisions, ME) is expected
    assert may_consult(list(reversed(decisions)), ME) is expected  # list order is irrelevant


def test_every_sequence_of_three_agrees_with_the_rule() -> None:
    """All sequences of blanket/personal grants and refusals (up to three decisions)."""
    kinds = [(None, True), (None, False), (ME, True), (ME, False)]
    for n in (1, 2, 3):
        for seq in itertools.product(kinds, repeat=n):
            decisions = [Decision(g, who, _at(i)) for i, (who, g) in enumerate(seq)]
            last_personal = next((g for who, g in reversed(seq) if who == ME), None)
            latest_blanket = next(((i, g) for i, (who, g) in reversed(list(enumerate(seq)))
                                   if who is None), None)
            if last_personal is False:
                expected = False
            elif last_personal is True:
                p_index = max(i for i, (who, _) in enumerate(seq) if who == ME)
                expected = not (latest_blanket is not None and not latest_blanket[1]
                                and latest_blanket[0] > p_index)
            else:
                expected = latest_blanket is not None and latest_blanket[1]
            assert may_consult(decisions, ME) is expected, seq


def test_another_clinicians_decisions_do_not_count() -> None:
    assert may_consult([personal(True, 0, OTHER)], ME) is False
    assert may_consult([blanket(True, 0), personal(False, 1, OTHER)], ME) is True


def test_the_latest_of_the_same_scope_wins() -> None:
    assert may_consult([blanket(True, 0), blanket(False, 1)], ME) is False
    assert may_consult([blanket(False, 0), blanket(True, 1)], ME) is True
    assert may_consult([personal(False, 0), personal(True, 1)], ME) is True


def test_state_after_a_withdrawal_names_later_personal_grants_only() -> None:
    state = consent_state([personal(True, 0, OTHER), blanket(False, 1), personal(True, 2)])
    assert state.blanket is False
    assert state.withdrawn_at == _at(1)
    assert state.allowed == (ME,)  # OTHER's grant is older than the withdrawal
    assert state.refused == ()


def test_state_with_consent_names_personal_refusals() -> None:
    state = consent_state([blanket(True, 0), personal(False, 1, OTHER), personal(True, 2)])
    assert state.blanket is True and state.withdrawn_at is None
    assert state.refused == (OTHER,)
    assert state.allowed == ()


def test_state_without_any_decision() -> None:
    state = consent_state([])
    assert (state.blanket, state.withdrawn_at, state.allowed, state.refused) == (
        False, None, (), ())
