"""Simulated physiology: plausible values, daily rhythm, scenarios, determinism."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from devices.profiles import (
    KIND_METRICS,
    KINDS,
    SCENARIOS,
    DeviceProfile,
    PatientModel,
)
from telemed.domain.units import METRICS, to_canonical

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday, winter time in Rome


def _hours(days: int = 10, step_hours: int = 1) -> list[datetime]:
    return [START + timedelta(hours=h) for h in range(0, days * 24, step_hours)]


def test_kinds_measure_what_the_contract_says() -> None:
    assert KIND_METRICS["bp_cuff"] == ("bp_systolic", "bp_diastolic", "heart_rate")
    assert KIND_METRICS["pulse_oximeter"] == ("spo2", "heart_rate")
    assert KIND_METRICS["scale"] == ("body_weight",)
    assert KIND_METRICS["thermometer"] == ("body_temp",)
    assert KIND_METRICS["glucometer"] == ("blood_glucose",)
    assert set(KINDS) == {"bp_cuff", "pulse_oximeter", "scale", "thermometer", "glucometer",
                          "multi"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("unit_style", ["canonical", "alternative"])
def test_every_reading_is_physiologically_plausible(kind: str, scenario: str,
                                                    unit_style: str) -> None:
    profile = DeviceProfile(kind, seed=7, scenario=scenario, start=START,
                            unit_style=unit_style)
    for at in _hours(days=20, step_hours=3):
        readings = profile.measure(at)
        assert [r.metric for r in readings[:-1]] == list(KIND_METRICS[kind])
        assert readings[-1].metric == "battery"
        for reading in readings:
            canonical = to_canonical(reading.metric, reading.value, reading.unit)  # raises
            assert METRICS[reading.metric].is_plausible(canonical)
            assert reading.time.tzinfo is not None
        values = {r.metric: r.value for r in readings}
        if "bp_systolic" in values and unit_style == "canonical":
            assert values["bp_diastolic"] < values["bp_systolic"]


def test_values_are_rounded_to_the_metric_resolution() -> None:
    profile = DeviceProfile("multi", seed=3, start=START)
    for reading in profile.measure(START + timedelta(hours=8)):
        decimals = METRICS[reading.metric].decimals
        assert round(reading.value, decimals) == reading.value


def test_blood_pressure_is_higher_in_the_morning_than_at_night() -> None:
    patient = PatientModel(seed=11, start=START)
    morning = [patient.expected("bp_systolic", START + timedelta(days=d, hours=8))
               for d in range(5)]
    night = [patient.expected("bp_systolic", START + timedelta(days=d, hours=2))
             for d in range(5)]
    assert min(morning) > max(night) + 5


def test_noise_is_realistic() -> None:
    patient = PatientModel(seed=5, start=START)
    at = START + timedelta(hours=10)
    values = [patient.measure("heart_rate", at) for _ in range(400)]
    assert 1.5 < statistics.stdev(values) < 5
    assert abs(statistics.mean(values) - patient.expected("heart_rate", at)) < 1


def test_heart_failure_gains_about_0_7_kg_a_day() -> None:
    stable = PatientModel(seed=1, start=START)
    failing = PatientModel(seed=1, scenario="heart_failure_weight_gain", start=START)
    at = START + timedelta(days=4, hours=7)
    gained = failing.expected("body_weight", at) - stable.expected("body_weight", at)
    assert gained == pytest.approx(0.7 * (4 + 7 / 24), abs=0.01)


def test_copd_scenario_lowers_spo2_and_raises_respiration() -> None:
    copd = PatientModel(seed=2, scenario="copd_falling_spo2", start=START)
    early = START + timedelta(hours=9)
    late = START + timedelta(days=5, hours=9)
    assert copd.expected("spo2", late) < copd.expected("spo2", early) - 5
    assert copd.expected("resp_rate", late) > copd.expected("resp_rate", early) + 5


def test_hypertension_crisis_reaches_crisis_levels() -> None:
    profile = DeviceProfile("bp_cuff", seed=4, scenario="hypertension_crisis", start=START)
    late = [profile.measure(START + timedelta(days=6, hours=h)) for h in range(8, 20)]
    systolic = [r.value for pack in late for r in pack if r.metric == "bp_systolic"]
    assert max(systolic) >= 180


def test_hypoglycemia_goes_below_70() -> None:
    profile = DeviceProfile("glucometer", seed=9, scenario="hypoglycemia", start=START)
    late = [profile.measure(START + timedelta(days=5, hours=h))[0].value for h in range(24)]
    assert min(late) < 70


def test_same_seed_same_story() -> None:
    one = DeviceProfile("multi", seed=42, start=START)
    two = DeviceProfile("multi", seed=42, start=START)
    at = START + timedelta(hours=12)
    assert one.measure(at) == two.measure(at)
    assert DeviceProfile("multi", seed=43, start=START).measure(at) != one.measure(at)


def test_unknown_kind_or_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        DeviceProfile("toaster", seed=1, start=START)
    with pytest.raises(ValueError, match="scenario"):
        DeviceProfile("scale", seed=1, scenario="zombie", start=START)
    with pytest.raises(ValueError, match="aware"):
        PatientModel(seed=1, start=datetime(2026, 1, 1))
