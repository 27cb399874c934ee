from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemed.domain.bands import Bands
from telemed.domain.thresholds import (
    Decision,
    ThresholdState,
    classify,
    evaluate_run,
    evaluate_threshold,
    replay,
)

HR = Bands(critical_low=40, warning_low=50, warning_high=110, critical_high=130)


def actions(values: list[float], bands: Bands = HR, confirm: int = 1,
            hysteresis: float = 0.0) -> list[tuple[str, str | None]]:
    _, decisions = replay(values, bands, confirm, hysteresis)
    return [(d.action, d.severity) for d in decisions]


def test_classify_is_reexported() -> None:
    assert classify(120, HR) == "warning_high"


def test_normal_readings_do_nothing() -> None:
    assert actions([70, 50, 110]) == [("none", None)] * 3


def test_open_update_recover() -> None:
    assert actions([70, 115, 118, 100, 120]) == [
        ("none", None), ("open", "warning"), ("update", "warning"), ("recovered", None),
        ("open", "warning")]


def test_open_directly_critical_and_low_side() -> None:
    assert actions([135]) == [("open", "critical")]
    assert actions([39.9]) == [("open", "critical")]
    assert actions([49.9]) == [("open", "warning")]


def test_escalation_and_no_deescalation() -> None:
    assert actions([115, 135, 120, 140, 100]) == [
        ("open", "warning"), ("escalate", "critical"), ("update", "critical"),
        ("update", "critical"), ("recovered", None)]


def test_switching_sides_is_an_update() -> None:
    assert actions([45, 115]) == [("open", "warning"), ("update", "warning")]


def test_confirm_count_needs_consecutive_readings() -> None:
    assert actions([115, 70, 115, 116], confirm=2) == [
        ("none", None), ("none", None), ("none", None), ("open", "warning")]
    assert actions([115, 116, 117], confirm=3) == [
        ("none", None), ("none", None), ("open", "warning")]


def test_confirm_count_for_escalation() -> None:
    # warning + critical count as two out-of-band readings (warning confirmed);
    # critical needs its own two in a row
    assert actions([115, 135, 120, 135, 136], confirm=2) == [
        ("none", None), ("open", "warning"), ("update", "warning"), ("update", "warning"),
        ("escalate", "critical")]
    assert actions([135, 135], confirm=2) == [("none", None), ("open", "critical")]


def test_hysteresis_margin() -> None:
    # hysteresis 5: back in band only at <= 105 (and >= 55 on the low side)
    assert actions([115, 108, 105.5, 105], hysteresis=5) == [
        ("open", "warning"), ("none", "warning"), ("none", "warning"), ("recovered", None)]
    assert actions([45, 54.9, 55], hysteresis=5) == [
        ("open", "warning"), ("none", "warning"), ("recovered", None)]


def test_hysteresis_reading_breaks_the_streak() -> None:
    assert actions([115, 108, 115], confirm=2, hysteresis=5) == [
        ("none", None), ("none", None), ("none", None)]


def test_one_sided_and_critical_only_bands() -> None:
    spo2 = Bands(critical_low=88, warning_low=92)
    assert actions([91, 100, 87], spo2) == [
        ("open", "warning"), ("recovered", None), ("open", "critical")]
    only_critical = Bands(critical_high=180)
    assert actions([181, 178, 170], only_critical, hysteresis=5) == [
        ("open", "critical"), ("none", "critical"), ("recovered", None)]
    assert actions([1e6], Bands()) == [("none", None)]


def test_decision_details() -> None:
    state, decision = evaluate_threshold(ThresholdState(), 135, HR)
    assert decision == Decision("open", "critical", "critical_high", None)
    assert state.active and state.severity == "critical"
    state, decision = evaluate_threshold(state, 100, HR)
    assert decision == Decision("recovered", None, "normal", "critical")
    assert state == ThresholdState()


def test_times_must_be_in_order() -> None:
    t0 = datetime(2025, 1, 1, 8, tzinfo=UTC)
    state, _ = evaluate_threshold(ThresholdState(), 115, HR, at=t0)
    assert state.last_at == t0
    later_state, decision = evaluate_threshold(state, 100, HR, at=t0 - timedelta(minutes=1))
    assert decision.out_of_order and decision.action == "none"
    assert decision.severity == "warning"
    assert later_state is state
    same_time_state, decision = evaluate_threshold(state, 100, HR, at=t0)
    assert decision.action == "recovered" and same_time_state.last_at == t0
    # without a time the last one is kept
    no_time_state, _ = evaluate_threshold(state, 120, HR)
    assert no_time_state.last_at == t0


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        evaluate_threshold(ThresholdState(), 100, HR, confirm_count=0)
    with pytest.raises(ValueError):
        evaluate_threshold(ThresholdState(), 100, HR, hysteresis=-1)
    with pytest.raises(ValueError):
        evaluate_threshold(ThresholdState(), 100, HR, hysteresis=float("nan"))
    with pytest.raises(ValueError):
        evaluate_threshold(ThresholdState(), float("nan"), HR)


def test_state_serialization() -> None:
    t0 = datetime(2025, 1, 1, 8, tzinfo=UTC)
    state = ThresholdState("critical", 3, 2, t0)
    assert ThresholdState.from_dict(state.to_dict()) == state
    assert ThresholdState.from_dict(ThresholdState().to_dict()) == ThresholdState()
    assert ThresholdState.from_dict(None) == ThresholdState()
    assert ThresholdState.from_dict({"severity": "bad", "warning_streak": "x"}) == (
        ThresholdState())
    assert ThresholdState.from_dict({"last_at": "yesterday"}) == ThresholdState()
    assert ThresholdState.from_dict({"warning_streak": -4}) == ThresholdState()


def test_replay_continues_from_state() -> None:
    state, _ = replay([115], HR)
    final, decisions = replay([116], HR, state=state)
    assert decisions[0].action == "update" and final.severity == "warning"


def reference(values: list[float], bands: Bands, n: int, h: float) -> list[str | None]:
    """Brute-force model: severity after each reading, from the whole history."""
    result: list[str | None] = []
    severity: str | None = None
    for i, value in enumerate(values):
        window = values[max(0, i - n + 1): i + 1]
        zones = [classify(v, bands) for v in window]
        full = len(window) == n
        if full and all(z.startswith("critical") for z in zones):
            confirmed: str | None = "critical"
        elif full and all(z != "normal" for z in zones):
            confirmed = "warning"
        else:
            confirmed = None
        low, high = bands.normal_low, bands.normal_high
        clear = (low is None or value >= low + h) and (high is None or value <= high - h)
        if classify(value, bands) == "normal":
            if clear:
                severity = None
        elif confirmed == "critical" or (confirmed == "warning" and severity is None):
            severity = confirmed
        result.append(severity)
    return result


@given(
    st.lists(st.floats(20, 200), max_size=30),
    st.integers(1, 4),
    st.floats(0, 20),
)
def test_matches_brute_force_model(values: list[float], n: int, h: float) -> None:
    _, decisions = replay(values, HR, n, h)
    assert [d.severity for d in decisions] == reference(values, HR, n, h)
    for before, after in zip([None, *[d.severity for d in decisions]], decisions, strict=False):
        assert after.previous_severity == before
        if after.action == "escalate":
            assert (before, after.severity) == ("warning", "critical")
        if after.action == "open":
            assert before is None and after.severity is not None
        if after.action == "recovered":
            assert before is not None and after.severity is None


_T0 = datetime(2025, 1, 1, 8, tzinfo=UTC)
_BANDS = st.sampled_from([HR, Bands(warning_high=37.5, critical_high=39),
                          Bands(critical_low=85, warning_low=90), Bands(critical_low=30),
                          Bands()])
_STATES = st.builds(
    ThresholdState, st.sampled_from([None, "warning", "critical"]), st.integers(0, 5),
    st.integers(0, 5), st.one_of(st.none(), st.integers(-5, 40).map(
        lambda m: _T0 + timedelta(minutes=m))))


@given(
    _STATES,
    # minutes after _T0 (sorted: a run is in time order, times may repeat and may precede
    # the state's last one) and values in and out of every band
    st.lists(st.tuples(st.integers(0, 30), st.floats(20, 200) | st.sampled_from(
        [40, 50, 110, 130, 37.5, 39, 85, 90])), max_size=25),
    _BANDS,
    st.integers(1, 4),
    st.floats(0, 20),
)
def test_a_run_decides_as_reading_by_reading(state: ThresholdState,
                                             readings: list[tuple[int, float]], bands: Bands,
                                             confirm: int, hysteresis: float) -> None:
    run = [(_T0 + timedelta(minutes=m), v) for m, v in sorted(readings, key=lambda r: r[0])]
    expected: list[tuple[int, Decision]] = []
    current = state
    for index, (at, value) in enumerate(run):
        current, decision = evaluate_threshold(current, value, bands, confirm, hysteresis,
                                               at=at)
        if decision.action != "none":
            expected.append((index, decision))
    assert evaluate_run(state, run, bands, confirm, hysteresis) == (current, expected)


def test_a_run_refuses_what_a_reading_refuses() -> None:
    run = [(_T0, 70.0)]
    with pytest.raises(ValueError):
        evaluate_run(ThresholdState(), run, HR, confirm_count=0)
    with pytest.raises(ValueError):
        evaluate_run(ThresholdState(), run, HR, hysteresis=float("nan"))
    with pytest.raises(ValueError):
        evaluate_run(ThresholdState(), [(_T0, float("nan"))], HR)
    assert evaluate_run(ThresholdState(), [], HR, confirm_count=0) == (ThresholdState(), [])
