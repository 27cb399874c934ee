"""Metrics, their UCUM units, unit conversion and physiological plausibility
(docs/devices.md, "Send readings").

Every reading is stored in its metric's canonical UCUM unit. Units are case-sensitive, as
in UCUM and SenML (``Cel``, not ``cel``). Converted values are rounded to 6 decimals, far
below any instrument's resolution, so that e.g. 98.6 [degF] becomes exactly 37.0 Cel.

Plausibility ranges (canonical units, inclusive) reject readings no living patient at home
can have; they are deliberately wide (they catch unit mix-ups and broken sensors, not
illness): heart_rate 20–300, resp_rate 2–80, spo2 50–100 (pulse oximeters are not
calibrated below ~70 %, and a value under 50 % at home is a sensor fault, not a reading),
body_temp 25–45, bp_systolic 40–300, bp_diastolic 20–200, body_weight 1–400,
blood_glucose 10–1000, battery 0–100.

Platform default bands (used when a care plan has no entry for a metric) follow the
semantics of :mod:`telemed.domain.bands` (a reading alerts only when strictly beyond a
limit). Where NEWS2 charts the metric, they reproduce its zones at the chart's resolution
(whole numbers; 0.1 °C): **critical exactly where that single NEWS2 parameter scores 3,
warning where it scores 2**; where the chart jumps from 1 straight to 3 (low pulse, low
respiration rate, low temperature) the score-1 zone is a warning, so there is an amber step
before red. Elsewhere they follow common guidelines:

=============  ============  ===========  ============  =============  =====================
metric         critical_low  warning_low  warning_high  critical_high  basis
=============  ============  ===========  ============  =============  =====================
heart_rate     41            51           110           130            NEWS2 (≤40 / ≤50 /
                                                                       111–130 / ≥131)
resp_rate      9             12           20            24             NEWS2 (≤8 / 9–11 /
                                                                       21–24 / ≥25)
spo2           92            94           —             —              NEWS2 scale 1 (≤91 /
                                                                       92–93)
body_temp      35.1          36.1         39.0          39.9           NEWS2 (≤35.0 / 35.1–
                                                                       36.0 / ≥39.1); ≥40.0
                                                                       hyperpyrexia
bp_systolic    91            101          179           219            NEWS2 (≤90 / 91–100 /
                                                                       ≥220); ≥180
                                                                       hypertensive crisis
bp_diastolic   40            50           109           119            ESC/ESH grade 3 ≥110,
                                                                       crisis ≥120
body_weight    —             —            —             —              individual: use trends
blood_glucose  54            70           250           400            ADA hypoglycaemia
                                                                       levels 1 (<70) and 2
                                                                       (<54); ketone check
                                                                       >250
battery        —             —            —             —              device health only
=============  ============  ===========  ============  =============  =====================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from telemed.domain.bands import Bands
from telemed.domain.errors import N_, DomainValidationError, FieldError

Category = Literal["vital-signs", "laboratory", "device"]

MMHG_IN_PA = 133.322387415
LB_IN_KG = 0.45359237
GLUCOSE_MMOL_TO_MGDL = 18.016
CONVERTED_DECIMALS = 6


@dataclass(frozen=True, slots=True)
class Conversion:
    """``canonical = (value + offset) * multiply / divide``."""

    offset: float = 0.0
    multiply: float = 1.0
    divide: float = 1.0

    @property
    def is_identity(self) -> bool:
        return self.offset == 0.0 and self.multiply == 1.0 and self.divide == 1.0

    def to_canonical(self, value: float) -> float:
        if self.is_identity:
            return value
        return round((value + self.offset) * self.multiply / self.divide, CONVERTED_DECIMALS)

    def from_canonical(self, value: float) -> float:
        if self.is_identity:
            return value
        return round(value * self.divide / self.multiply - self.offset, CONVERTED_DECIMALS)


IDENTITY = Conversion()


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What Telemed knows about one metric."""

    name: str
    display_name: str
    canonical_unit: str
    display_unit: str
    loinc: str | None
    category: Category
    plausible_min: float
    plausible_max: float
    decimals: int
    units: Mapping[str, Conversion]
    default_bands: Bands = field(default_factory=Bands)
    extra_loinc: tuple[str, ...] = ()
    panel_loinc: str | None = None

    @property
    def is_vital(self) -> bool:
        """In the FHIR vital-signs profile (glucose and battery are not)."""
        return self.category == "vital-signs"

    @property
    def is_clinical(self) -> bool:
        """A measurement of the patient (everything but device health)."""
        return self.category != "device"

    @property
    def accepted_units(self) -> tuple[str, ...]:
        """Units accepted on the wire, canonical first."""
        return tuple(self.units)

    def is_plausible(self, value: float) -> bool:
        """True when ``value`` (canonical unit) is a physiologically plausible reading."""
        return math.isfinite(value) and self.plausible_min <= value <= self.plausible_max


def _units(
    canonical: str, others: Mapping[str, Conversion] | None = None
) -> Mapping[str, Conversion]:
    return MappingProxyType({canonical: IDENTITY, **(others or {})})


_MMHG = _units("mm[Hg]", {
    "mmHg": IDENTITY,
    "Pa": Conversion(divide=MMHG_IN_PA),
    "kPa": Conversion(multiply=1000.0, divide=MMHG_IN_PA),
})

_TABLE = (
    MetricInfo(
        name="heart_rate", display_name=N_("Heart rate"), canonical_unit="/min",
        display_unit=N_("bpm"), loinc="8867-4", category="vital-signs",
        plausible_min=20, plausible_max=300, decimals=0,
        units=_units("/min", {"beat/min": IDENTITY, "1/min": IDENTITY}),
        default_bands=Bands(critical_low=41, warning_low=51, warning_high=110,
                            critical_high=130),
    ),
    MetricInfo(
        name="resp_rate", display_name=N_("Respiratory rate"), canonical_unit="/min",
        display_unit=N_("breaths/min"), loinc="9279-1", category="vital-signs",
        plausible_min=2, plausible_max=80, decimals=0,
        units=_units("/min", {"1/min": IDENTITY}),
        default_bands=Bands(critical_low=9, warning_low=12, warning_high=20, critical_high=24),
    ),
    MetricInfo(
        name="spo2", display_name=N_("Oxygen saturation"), canonical_unit="%",
        display_unit="%", loinc="2708-6", extra_loinc=("59408-5",), category="vital-signs",
        plausible_min=50, plausible_max=100, decimals=0,
        units=_units("%", {"/": Conversion(multiply=100.0)}),
        default_bands=Bands(critical_low=92, warning_low=94),
    ),
    MetricInfo(
        name="body_temp", display_name=N_("Body temperature"), canonical_unit="Cel",
        display_unit="°C", loinc="8310-5", category="vital-signs",
        plausible_min=25, plausible_max=45, decimals=1,
        units=_units("Cel", {
            "K": Conversion(offset=-273.15),
            "[degF]": Conversion(offset=-32.0, multiply=5.0, divide=9.0),
        }),
        default_bands=Bands(critical_low=35.1, warning_low=36.1, warning_high=39.0,
                            critical_high=39.9),
    ),
    MetricInfo(
        name="bp_systolic", display_name=N_("Systolic blood pressure"), canonical_unit="mm[Hg]",
        display_unit="mmHg", loinc="8480-6", panel_loinc="85354-9", category="vital-signs",
        plausible_min=40, plausible_max=300, decimals=0, units=_MMHG,
        default_bands=Bands(critical_low=91, warning_low=101, warning_high=179,
                            critical_high=219),
    ),
    MetricInfo(
        name="bp_diastolic", display_name=N_("Diastolic blood pressure"), canonical_unit="mm[Hg]",
        display_unit="mmHg", loinc="8462-4", panel_loinc="85354-9", category="vital-signs",
        plausible_min=20, plausible_max=200, decimals=0, units=_MMHG,
        default_bands=Bands(critical_low=40, warning_low=50, warning_high=109,
                            critical_high=119),
    ),
    MetricInfo(
        name="body_weight", display_name=N_("Body weight"), canonical_unit="kg",
        display_unit="kg", loinc="29463-7", category="vital-signs",
        plausible_min=1, plausible_max=400, decimals=1,
        units=_units("kg", {"g": Conversion(divide=1000.0),
                            "[lb_av]": Conversion(multiply=LB_IN_KG)}),
    ),
    MetricInfo(
        name="blood_glucose", display_name=N_("Blood glucose"), canonical_unit="mg/dL",
        display_unit="mg/dL", loinc="2339-0", category="laboratory",
        plausible_min=10, plausible_max=1000, decimals=0,
        units=_units("mg/dL", {"mmol/L": Conversion(multiply=GLUCOSE_MMOL_TO_MGDL),
                               "kg/m3": Conversion(multiply=100.0)}),
        default_bands=Bands(critical_low=54, warning_low=70, warning_high=250,
                            critical_high=400),
    ),
    MetricInfo(
        name="battery", display_name=N_("Battery level"), canonical_unit="%EL",
        display_unit="%", loinc=None, category="device",
        plausible_min=0, plausible_max=100, decimals=0, units=_units("%EL"),
    ),
)

METRICS: Mapping[str, MetricInfo] = MappingProxyType({info.name: info for info in _TABLE})
CLINICAL_METRICS: tuple[str, ...] = tuple(name for name, m in METRICS.items() if m.is_clinical)


class UnitError(DomainValidationError):
    """A value that cannot be turned into a plausible canonical reading."""


def _fail(path: str, code: str, message: str, **params: object) -> UnitError:
    return UnitError([FieldError(path, code, message, params)])


def metric_info(metric: str) -> MetricInfo:
    """The metric's description; ``UnitError`` (``unknown_metric``) when unknown."""
    info = METRICS.get(metric)
    if info is None:
        raise _fail("metric", "unknown_metric", 'Unknown metric "{metric}".', metric=metric)
    return info


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def to_canonical(metric: str, value: float, unit: str | None) -> float:
    """``value`` in ``unit`` converted to the metric's canonical unit and checked.

    Raises ``UnitError`` with code ``unknown_metric``, ``missing_unit``, ``unknown_unit``,
    ``not_finite`` or ``implausible``.
    """
    info = metric_info(metric)
    if unit is None:
        raise _fail(
            "unit", "missing_unit", "A unit is required for {metric}; use one of: {accepted}.",
            metric=metric, accepted=", ".join(info.accepted_units),
        )
    conversion = info.units.get(unit)
    if conversion is None:
        raise _fail(
            "unit", "unknown_unit",
            'Unit "{unit}" is not accepted for {metric}; use one of: {accepted}.',
            unit=unit, metric=metric, accepted=", ".join(info.accepted_units),
        )
    try:
        number = float(value) if _is_number(value) else math.nan
    except OverflowError:  # an integer too large for a float
        number = math.nan
    if not math.isfinite(number):
        raise _fail("value", "not_finite", "The value must be a finite number.")
    try:
        canonical = conversion.to_canonical(number)
    except OverflowError:
        canonical = math.inf
    if not info.is_plausible(canonical):
        raise _fail(
            "value", "implausible",
            "{value} {unit} is outside the plausible range for {metric} "
            "({min}–{max} {canonical_unit}).",
            value=value, unit=unit, metric=metric, min=info.plausible_min,
            max=info.plausible_max, canonical_unit=info.canonical_unit,
        )
    return canonical


def from_canonical(metric: str, value: float, unit: str) -> float:
    """A canonical value expressed in another accepted ``unit`` (for devices and displays)."""
    info = metric_info(metric)
    conversion = info.units.get(unit)
    if conversion is None:
        raise _fail(
            "unit", "unknown_unit",
            'Unit "{unit}" is not accepted for {metric}; use one of: {accepted}.',
            unit=unit, metric=metric, accepted=", ".join(info.accepted_units),
        )
    return conversion.from_canonical(value)


def default_bands(metric: str) -> Bands:
    """Platform default bands of a metric (see the module docstring)."""
    return metric_info(metric).default_bands
