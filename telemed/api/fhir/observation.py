"""Observation: readings in the vital-signs profile (LOINC + UCUM), blood pressure as a panel.

Ids: a reading is ``<row id>``; a blood-pressure panel is ``bp-<systolic row id>`` (systolic and
diastolic of the same device and time), or ``bpd-<diastolic row id>`` for a diastolic reading
without its systolic. A component reading missing from a panel carries a dataAbsentReason.
Battery levels are device health, not observations of the patient: never exported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from telemed.api.fhir.common import (
    DATA_ABSENT_REASON,
    LOINC,
    OBSERVATION_CATEGORY,
    UCUM,
    coding,
    instant,
    reference,
)
from telemed.api.fhir.search import SearchParam, SearchQuery, Token, date_bounds, parse_token
from telemed.api.fhir.spec import Entry, record_spec
from telemed.db.models import Observation
from telemed.domain.units import METRICS, MetricInfo
from telemed.services.fhir_rows import (
    DIASTOLIC,
    EXPORTED_METRICS,
    NOT_EXPORTED,
    OBSERVATIONS,
    SYSTOLIC,
    by_id,
    diastolic_partners,
    has_systolic_partner,
    observation_conditions,
    pair_key,
)

BP_METRICS = frozenset({SYSTOLIC, DIASTOLIC})
BP_PANEL = "85354-9"

LOINC_DISPLAY = {
    "8867-4": "Heart rate",
    "9279-1": "Respiratory rate",
    "2708-6": "Oxygen saturation in Arterial blood",
    "59408-5": "Oxygen saturation in Arterial blood by Pulse oximetry",
    "8310-5": "Body temperature",
    "8480-6": "Systolic blood pressure",
    "8462-4": "Diastolic blood pressure",
    "29463-7": "Body weight",
    "2339-0": "Glucose [Mass/volume] in Blood",
    BP_PANEL: "Blood pressure panel with all children optional",
}
CATEGORY_DISPLAY = {"vital-signs": "Vital Signs", "laboratory": "Laboratory"}
PROFILE = "http://hl7.org/fhir/StructureDefinition/"
VITALSIGNS_PROFILE = PROFILE + "vitalsigns"
PROFILES = {
    "heart_rate": "heartrate", "resp_rate": "resprate", "spo2": "oxygensat",
    "body_temp": "bodytemp", "body_weight": "bodyweight", SYSTOLIC: "bp", DIASTOLIC: "bp",
}

ObservationKind = Literal["single", "bp", "bpd"]
_ID = re.compile(r"^(?:(?P<kind>bp|bpd)-)?(?P<row>[1-9][0-9]{0,17})$")


def observation_id(row: Observation) -> str:
    """The FHIR id of the Observation a row is exported as (its panel's for BP)."""
    if row.metric == SYSTOLIC:
        return f"bp-{row.id}"
    if row.metric == DIASTOLIC:
        return f"bpd-{row.id}"
    return str(row.id)


def parse_observation_id(ident: str) -> tuple[ObservationKind, int] | None:
    """(kind, row id) of an Observation id, or None when it cannot be one of ours."""
    match = _ID.match(ident)
    if match is None:
        return None
    kind: ObservationKind = "bp" if match["kind"] == "bp" else (
        "bpd" if match["kind"] == "bpd" else "single")
    return kind, int(match["row"])


def loinc_codes(metric: str) -> tuple[str, ...]:
    """The LOINC codes of an exported Observation of ``metric`` (the panel's for BP)."""
    if metric in BP_METRICS:
        return (BP_PANEL,)
    info = METRICS[metric]
    return tuple(c for c in (info.loinc, *info.extra_loinc) if c)


def metrics_for_codes(tokens: Iterable[Token]) -> set[str]:
    """Stored metrics whose Observations match any of the ``code`` tokens."""
    tokens = list(tokens)
    return {m for m in EXPORTED_METRICS for t in tokens
            if any(t.matches(LOINC, c) for c in loinc_codes(m))}


def metrics_for_categories(tokens: Iterable[Token]) -> set[str]:
    """Stored metrics whose Observations match any of the ``category`` tokens."""
    tokens = list(tokens)
    return {m for m in EXPORTED_METRICS for t in tokens
            if t.matches(OBSERVATION_CATEGORY, METRICS[m].category)}


def _code(codes: Iterable[str], text: str) -> dict[str, Any]:
    return {"coding": [coding(LOINC, c, LOINC_DISPLAY.get(c)) for c in codes], "text": text}


def _quantity(info: MetricInfo, value: float) -> dict[str, Any]:
    return {"value": value, "unit": info.display_unit, "system": UCUM,
            "code": info.canonical_unit}


def _base(row: Observation, ident: str, metric: str) -> dict[str, Any]:
    info = METRICS[metric]
    meta: dict[str, Any] = {"lastUpdated": instant(row.received_at)}
    if info.is_vital:
        meta["profile"] = [VITALSIGNS_PROFILE, PROFILE + PROFILES[metric]]
    return {
        "resourceType": "Observation",
        "id": ident,
        "meta": meta,
        "status": "final",
        "category": [{
            "coding": [coding(OBSERVATION_CATEGORY, info.category,
                              CATEGORY_DISPLAY.get(info.category))],
            "text": CATEGORY_DISPLAY.get(info.category, info.category),
        }],
    }


def _context(row: Observation) -> dict[str, Any]:
    return {
        "subject": reference("Patient", row.patient_id),
        "effectiveDateTime": instant(row.time),
        "issued": instant(row.received_at),
        "device": reference("Device", row.device_id),
    }


def single_observation(row: Observation) -> dict[str, Any]:
    """A reading of any exported metric but blood pressure."""
    info = METRICS[row.metric]
    if row.metric in BP_METRICS or row.metric in NOT_EXPORTED:
        raise ValueError(f"{row.metric} is not exported as a single Observation")
    return {
        **_base(row, str(row.id), row.metric),
        "code": _code(loinc_codes(row.metric), info.display_name),
        **_context(row),
        "valueQuantity": _quantity(info, row.value),
    }


def _component(metric: str, row: Observation | None) -> dict[str, Any]:
    info = METRICS[metric]
    assert info.loinc is not None
    component: dict[str, Any] = {"code": _code((info.loinc,), info.display_name)}
    if row is None:
        component["dataAbsentReason"] = {
            "coding": [coding(DATA_ABSENT_REASON, "unknown", "Unknown")], "text": "Not received",
        }
    else:
        component["valueQuantity"] = _quantity(info, row.value)
    return component


def blood_pressure_panel(
    systolic: Observation | None, diastolic: Observation | None
) -> dict[str, Any]:
    """One 85354-9 panel from the systolic and diastolic readings of one measurement."""
    anchor = systolic or diastolic
    if anchor is None:
        raise ValueError("a blood pressure panel needs at least one reading")
    latest = max((r for r in (systolic, diastolic) if r is not None),
                 key=lambda r: r.received_at)
    resource = {
        **_base(latest, observation_id(anchor), anchor.metric),
        "code": _code((BP_PANEL,), "Blood pressure"),
        **_context(anchor),
        "component": [_component(SYSTOLIC, systolic), _component(DIASTOLIC, diastolic)],
    }
    resource["issued"] = instant(latest.received_at)
    return resource


def observation_resource(row: Observation, partner: Observation | None = None) -> dict[str, Any]:
    """The Observation of a row (with its BP partner, the other half of the panel, if any)."""
    if row.metric == SYSTOLIC:
        return blood_pressure_panel(row, partner)
    if row.metric == DIASTOLIC:
        return blood_pressure_panel(partner, row)
    return single_observation(row)


# --- search and read ----------------------------------------------------------------------

def _conditions(query: SearchQuery) -> list[Any]:
    metric_sets = [metrics_for_codes(parse_token(v) for v in alts)
                   for alts in query.all_of("code")]
    metric_sets += [metrics_for_categories(parse_token(v) for v in alts)
                    for alts in query.all_of("category")]
    return observation_conditions(metric_sets, date_bounds(query))


async def _render(session: AsyncSession, rows: Sequence[Any]) -> list[Entry]:
    partners = await diastolic_partners(session, [r for r in rows if r.metric == SYSTOLIC])
    return [Entry(r.patient_id, observation_resource(r, partners.get(pair_key(r))), r)
            for r in rows]


async def _load(session: AsyncSession, ident: str) -> Entry | None:
    parsed = parse_observation_id(ident)
    if parsed is None:
        return None
    kind, row_id = parsed
    row = await by_id(session, Observation, row_id)
    if row is None or row.metric in NOT_EXPORTED:
        return None
    if kind == "single" and row.metric not in BP_METRICS:
        return Entry(row.patient_id, single_observation(row), row)
    if kind == "bp" and row.metric == SYSTOLIC:
        partner = (await diastolic_partners(session, [row])).get(pair_key(row))
        return Entry(row.patient_id, blood_pressure_panel(row, partner), row)
    if kind == "bpd" and row.metric == DIASTOLIC:
        if await has_systolic_partner(session, row):
            return None
        return Entry(row.patient_id, blood_pressure_panel(None, row), row)
    return None


SPEC = record_spec(
    type="Observation",
    audit_resource="fhir_observation",
    table=OBSERVATIONS,
    key_types=("datetime", "int"),
    render=_render,
    load=_load,
    subject="Same as patient (only Patient subjects).",
    params=(
        SearchParam("code", "token", "LOINC code, optionally as http://loinc.org|CODE; "
                    "blood pressure is the panel 85354-9."),
        SearchParam("category", "token", "vital-signs or laboratory (blood glucose)."),
        SearchParam("date", "date", "Effective time, with prefixes eq ne gt ge lt le sa eb."),
    ),
    conditions=_conditions,
    profile="http://hl7.org/fhir/StructureDefinition/Observation",
    supported_profiles=(VITALSIGNS_PROFILE, *sorted({PROFILE + p for p in PROFILES.values()})),
    documentation="Readings in canonical UCUM units, newest first; battery is not exported.",
)
