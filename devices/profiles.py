"""What simulated devices measure: per-kind metrics, a patient's physiology, daily rhythm,
noise, and scenarios that make a patient deteriorate slowly.

Every value is drawn from a seeded generator, so a device with the same seed tells the same
story. Values stay inside the platform's plausibility ranges (telemed.domain.units).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from telemed.domain.units import METRICS, from_canonical

KIND_METRICS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "bp_cuff": ("bp_systolic", "bp_diastolic", "heart_rate"),
    "pulse_oximeter": ("spo2", "heart_rate"),
    "scale": ("body_weight",),
    "thermometer": ("body_temp",),
    "glucometer": ("blood_glucose",),
    "multi": ("bp_systolic", "bp_diastolic", "heart_rate", "spo2", "resp_rate", "body_temp"),
})
KINDS: tuple[str, ...] = tuple(KIND_METRICS)

# Non-canonical units a device may report in (`unit_style="alternative"`), to exercise the
# platform's conversions.
ALTERNATIVE_UNITS: Mapping[str, str] = MappingProxyType({
    "heart_rate": "beat/min",
    "resp_rate": "1/min",
    "spo2": "/",
    "body_temp": "[degF]",
    "bp_systolic": "kPa",
    "bp_diastolic": "kPa",
    "body_weight": "[lb_av]",
    "blood_glucose": "mmol/L",
})


@dataclass(frozen=True)
class Physiology:
    """One metric's behaviour: population mean and spread, measurement noise, daily rhythm,
    and the range a living, measurable patient stays in."""

    mean: float
    spread: float
    noise: float
    amplitude: float
    peak_hour: float
    low: float
    high: float


PHYSIOLOGY: Mapping[str, Physiology] = MappingProxyType({
    # Blood pressure peaks after waking (morning surge) and dips at night.
    "bp_systolic": Physiology(128, 10, 5, 8, 9, 70, 240),
    "bp_diastolic": Physiology(79, 6, 4, 5, 9, 40, 140),
    "heart_rate": Physiology(72, 7, 3, 6, 14, 38, 180),
    "spo2": Physiology(96.5, 1.0, 0.7, 0.5, 15, 70, 100),
    "resp_rate": Physiology(15, 1.5, 1.0, 1, 14, 8, 40),
    # Core temperature is lowest before dawn and highest in the late afternoon.
    "body_temp": Physiology(36.7, 0.2, 0.1, 0.3, 17, 34.5, 41.5),
    "body_weight": Physiology(78, 12, 0.15, 0.3, 20, 35, 200),
    "blood_glucose": Physiology(112, 12, 7, 0, 0, 30, 500),
})

MEALS = (7.5, 12.5, 19.5)  # local hours: glucose rises after each meal


def _meal_effect(hour: float) -> float:
    """mg/dL above fasting from the meals of the day (peak ~45 min after eating)."""
    total = 0.0
    for meal in MEALS:
        since = (hour - meal) % 24
        if since < 4:
            total += 45 * (since / 0.75) * math.exp(1 - since / 0.75)
    return total


@dataclass(frozen=True)
class Scenario:
    """A slow deterioration: per-metric drift per day, capped, starting after `onset_days`."""

    name: str
    per_day: Mapping[str, float]
    caps: Mapping[str, float]
    onset_days: float = 0.0

    def offset(self, metric: str, days: float) -> float:
        rate = self.per_day.get(metric, 0.0)
        if not rate or days <= self.onset_days:
            return 0.0
        value = rate * (days - self.onset_days)
        cap = self.caps.get(metric)
        if cap is not None:
            value = max(-abs(cap), min(abs(cap), value))
        return value


SCENARIOS: Mapping[str, Scenario] = MappingProxyType({
    "stable": Scenario("stable", {}, {}),
    # Fluid retention: weight +0.7 kg a day, pulse up, saturation slowly down.
    "heart_failure_weight_gain": Scenario(
        "heart_failure_weight_gain",
        {"body_weight": 0.7, "heart_rate": 1.5, "spo2": -0.25, "resp_rate": 0.4},
        {"body_weight": 8.0, "heart_rate": 20, "spo2": 3, "resp_rate": 5}),
    # COPD exacerbation: SpO2 drifts down, breathing and pulse speed up.
    "copd_falling_spo2": Scenario(
        "copd_falling_spo2",
        {"spo2": -1.2, "resp_rate": 1.5, "heart_rate": 2.5, "body_temp": 0.15},
        {"spo2": 12, "resp_rate": 12, "heart_rate": 30, "body_temp": 1.2}),
    "hypertension_crisis": Scenario(
        "hypertension_crisis",
        {"bp_systolic": 18, "bp_diastolic": 9, "heart_rate": 2},
        {"bp_systolic": 80, "bp_diastolic": 42, "heart_rate": 15}),
    # Insulin overtreatment: glucose falls day by day into hypoglycaemia.
    "hypoglycemia": Scenario(
        "hypoglycemia",
        {"blood_glucose": -22, "heart_rate": 2},
        {"blood_glucose": 75, "heart_rate": 15}),
})


@dataclass(frozen=True)
class Reading:
    """One measured value, in `unit`, taken at `time` (aware)."""

    metric: str
    value: float
    unit: str
    time: datetime

    def as_tuple(self) -> tuple[str, float, str, datetime]:
        return (self.metric, self.value, self.unit, self.time)


class PatientModel:
    """A simulated patient: personal baselines, their daily rhythm, noise and a scenario."""

    def __init__(self, *, seed: int, scenario: str = "stable", start: datetime,
                 timezone: str = "Europe/Rome") -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.random = random.Random(seed)
        self.scenario = SCENARIOS[scenario]
        self.start = start
        self.zone = ZoneInfo(timezone)
        self.baseline = {metric: p.mean + self.random.gauss(0, p.spread)
                         for metric, p in PHYSIOLOGY.items()}
        self.baseline["spo2"] = min(self.baseline["spo2"], 99.0)

    def expected(self, metric: str, at: datetime) -> float:
        """The noiseless value at `at`: baseline + daily rhythm + scenario drift."""
        physiology = PHYSIOLOGY[metric]
        local = at.astimezone(self.zone)
        hour = local.hour + local.minute / 60 + local.second / 3600
        value = self.baseline[metric]
        if physiology.amplitude:
            value += physiology.amplitude * math.cos(2 * math.pi * (hour - physiology.peak_hour)
                                                     / 24)
        if metric == "blood_glucose":
            value += _meal_effect(hour)
        days = (at - self.start) / timedelta(days=1)
        return value + self.scenario.offset(metric, days)

    def measure(self, metric: str, at: datetime) -> float:
        """A noisy, rounded, plausible reading in the metric's canonical unit."""
        physiology = PHYSIOLOGY[metric]
        value = self.expected(metric, at) + self.random.gauss(0, physiology.noise)
        value = max(physiology.low, min(physiology.high, value))
        info = METRICS[metric]
        value = max(info.plausible_min, min(info.plausible_max, value))
        return round(value, info.decimals)


class DeviceProfile:
    """A device of one kind attached to a simulated patient."""

    def __init__(self, kind: str, *, seed: int, scenario: str = "stable",
                 start: datetime, timezone: str = "Europe/Rome",
                 unit_style: str = "canonical") -> None:
        if kind not in KIND_METRICS:
            raise ValueError(f"unknown device kind {kind!r}; choose from {', '.join(KINDS)}")
        if unit_style not in ("canonical", "alternative"):
            raise ValueError("unit_style must be 'canonical' or 'alternative'")
        self.kind = kind
        self.metrics = KIND_METRICS[kind]
        self.patient = PatientModel(seed=seed, scenario=scenario, start=start,
                                    timezone=timezone)
        self.unit_style = unit_style
        self.battery = 60 + self.patient.random.random() * 40

    def reading(self, metric: str, at: datetime, value: float | None = None) -> Reading:
        """One reading of `metric` at `at` (or of a canonical `value`) in the unit style."""
        if value is None:
            value = self.patient.measure(metric, at)
        unit = METRICS[metric].canonical_unit
        if self.unit_style == "alternative" and metric in ALTERNATIVE_UNITS:
            unit = ALTERNATIVE_UNITS[metric]
            value = round(from_canonical(metric, value, unit), 4)
        return Reading(metric, value, unit, at)

    def measure(self, at: datetime, metrics: tuple[str, ...] | None = None) -> list[Reading]:
        """One measurement session ending at `at`: each metric a second apart, then battery."""
        chosen = [m for m in (metrics or self.metrics) if m in self.metrics] or list(self.metrics)
        times = {metric: at - timedelta(seconds=len(chosen) - 1 - index)
                 for index, metric in enumerate(chosen)}
        values = {metric: self.patient.measure(metric, times[metric]) for metric in chosen}
        if "bp_systolic" in values and "bp_diastolic" in values:
            values["bp_diastolic"] = min(values["bp_diastolic"], values["bp_systolic"] - 10)
        readings = [self.reading(metric, times[metric], values[metric]) for metric in chosen]
        self.battery -= 0.05 + self.patient.random.random() * 0.05
        if self.battery < 15:
            self.battery = 100.0  # the patient charged it
        readings.append(Reading("battery", round(self.battery), "%EL", at))
        return readings
