import copy
from datetime import time
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemed.domain.bands import Bands
from telemed.domain.careplans import (
    DEFAULT_ESCALATE_AFTER_MINUTES,
    DEFAULT_SILENCE_HOURS,
    CarePlanContent,
    ContinuousSchedule,
    MonitoringEntry,
    News2Settings,
    TimedSchedule,
    TrendRule,
    effective_bands,
    measurement_schedule,
    parse_careplan_content,
)
from telemed.domain.errors import DomainValidationError
from telemed.domain.schedule import format_time, parse_time
from telemed.domain.units import default_bands


def heart_failure() -> dict[str, Any]:
    return {
        "goals": ["Keep weight stable", "  Recognise decompensation early  "],
        "care_team": ["u-doctor", "u-nurse"],
        "monitoring": [
            {"metric": "body_weight", "schedule": {"times": ["07:30"], "tolerance_minutes": 90}},
            {
                "metric": "bp_systolic",
                "schedule": {"times": ["20:00", "08:00"], "tolerance_minutes": 60},
                "bands": {"critical_low": 85, "warning_low": 95, "warning_high": 160,
                          "critical_high": 190},
                "confirm_count": 2,
                "hysteresis": 5,
            },
            {"metric": "spo2", "schedule": {"continuous": True},
             "bands": {"warning_low": 92, "critical_low": 88}},
        ],
        "trends": [{"metric": "body_weight", "delta": 2, "window_hours": 72,
                    "severity": "warning"}],
        "news2": {"enabled": True, "spo2_scale": 1, "on_oxygen": False},
        "silence_hours": 36,
        "escalate_after_minutes": 20,
    }


def errors_of(data: Any) -> dict[str, str]:
    with pytest.raises(DomainValidationError) as info:
        parse_careplan_content(data)
    result: dict[str, str] = {}
    for error in info.value.errors:
        assert error.render()  # every message renders
        result.setdefault(error.path, error.code)
    return result


def with_change(path: list[str | int], value: Any) -> dict[str, Any]:
    data = heart_failure()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


DELETE = object()


def test_parse_full_plan() -> None:
    content = parse_careplan_content(heart_failure())
    assert content.goals == ("Keep weight stable", "Recognise decompensation early")
    assert content.care_team == ("u-doctor", "u-nurse")
    weight, bp, spo2 = content.monitoring
    assert weight == MonitoringEntry("body_weight", TimedSchedule((time(7, 30),), 90))
    assert bp.schedule == TimedSchedule((time(8, 0), time(20, 0)), 60)  # sorted
    assert bp.bands == Bands(85, 95, 160, 190)
    assert (bp.confirm_count, bp.hysteresis) == (2, 5.0)
    assert spo2.schedule == ContinuousSchedule()
    assert spo2.bands == Bands(critical_low=88, warning_low=92)
    assert content.trends == (TrendRule("body_weight", 2.0, 72, "warning"),)
    assert content.news2 == News2Settings(True, 1, False)
    assert content.silence_hours == 36 and content.escalate_after_minutes == 20
    assert content.effective_silence_hours == 36
    assert content.effective_escalate_after_minutes == 20


def test_empty_plan_gets_defaults() -> None:
    content = parse_careplan_content({})
    assert content == CarePlanContent()
    assert content.news2 == News2Settings(enabled=False, spo2_scale=1, on_oxygen=False)
    assert content.effective_silence_hours == DEFAULT_SILENCE_HOURS == 24
    assert content.effective_escalate_after_minutes == DEFAULT_ESCALATE_AFTER_MINUTES == 15
    assert content.to_dict() == {"goals": [], "care_team": [], "monitoring": [], "trends": [],
                                 "news2": {"enabled": False, "spo2_scale": 1,
                                           "on_oxygen": False}}


def test_none_values_are_absent() -> None:
    content = parse_careplan_content({"goals": None, "silence_hours": None, "news2": None})
    assert content == CarePlanContent()


def test_round_trip() -> None:
    content = parse_careplan_content(heart_failure())
    as_dict = content.to_dict()
    assert parse_careplan_content(as_dict) == content
    assert as_dict["monitoring"][1]["schedule"] == {"times": ["08:00", "20:00"],
                                                    "tolerance_minutes": 60}
    assert as_dict["monitoring"][2]["schedule"] == {"continuous": True}
    assert "bands" not in as_dict["monitoring"][0]
    assert as_dict["monitoring"][0]["confirm_count"] == 1
    assert as_dict["silence_hours"] == 36


def test_to_dict_is_json_ready() -> None:
    import json

    text = json.dumps(parse_careplan_content(heart_failure()).to_dict())
    assert parse_careplan_content(json.loads(text)) == parse_careplan_content(heart_failure())


def test_reports_all_errors_at_once_with_paths() -> None:
    data = heart_failure()
    data["goals"].append("")
    data["monitoring"][1]["bands"]["warning_low"] = 200
    data["monitoring"][1]["schedule"]["times"].append("25:00")
    data["trends"][0]["window_hours"] = 0
    data["news2"]["spo2_scale"] = 3
    data["escalate_after_minutes"] = 0
    assert errors_of(data) == {
        "goals[2]": "empty_text",
        "monitoring[1].schedule.times[2]": "invalid_time",
        "monitoring[1].bands.warning_low": "band_order",
        "trends[0].window_hours": "out_of_range",
        "news2.spo2_scale": "invalid_choice",
        "escalate_after_minutes": "out_of_range",
    }


def test_not_a_mapping() -> None:
    assert errors_of([]) == {"": "invalid_type"}
    assert errors_of("plan") == {"": "invalid_type"}


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["title"], "x", {"title": "unknown_field"}),
        (["monitoring", 0, "band"], {}, {"monitoring[0].band": "unknown_field"}),
        (["monitoring", 1, "bands", "warn_low"], 90, {"monitoring[1].bands.warn_low":
                                                       "unknown_field"}),
        (["news2", "scale"], 2, {"news2.scale": "unknown_field"}),
        (["trends", 0, "hours"], 2, {"trends[0].hours": "unknown_field"}),
        (["monitoring", 0, "schedule", "every"], 2, {"monitoring[0].schedule.every":
                                                      "unknown_field"}),
    ],
)
def test_unknown_fields_rejected_at_every_level(
    path: list[str | int], value: Any, expected: dict[str, str]
) -> None:
    assert errors_of(with_change(path, value)) == expected


# --- goals and care team -------------------------------------------------------------

def test_goals() -> None:
    assert errors_of({"goals": "x"}) == {"goals": "invalid_type"}
    assert errors_of({"goals": [1]}) == {"goals[0]": "invalid_type"}
    assert errors_of({"goals": ["   "]}) == {"goals[0]": "empty_text"}
    assert errors_of({"goals": ["x" * 501]}) == {"goals[0]": "too_long"}
    assert parse_careplan_content({"goals": ["x" * 500]}).goals == ("x" * 500,)
    assert errors_of({"goals": ["g"] * 21}) == {"goals": "too_many"}
    assert len(parse_careplan_content({"goals": ["g"] * 20}).goals) == 20


def test_care_team() -> None:
    assert errors_of({"care_team": ["a", "a"]}) == {"care_team[1]": "duplicate"}
    assert errors_of({"care_team": [""]}) == {"care_team[0]": "empty_text"}
    assert errors_of({"care_team": ["x" * 65]}) == {"care_team[0]": "too_long"}
    assert errors_of({"care_team": [str(i) for i in range(51)]}) == {"care_team": "too_many"}
    assert errors_of({"care_team": {"a": 1}}) == {"care_team": "invalid_type"}


# --- monitoring ----------------------------------------------------------------------

def entry(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"metric": "heart_rate", "schedule": {"continuous": True}}
    base.update(fields)
    return {"monitoring": [{k: v for k, v in base.items() if v is not DELETE}]}


def test_entry_metric() -> None:
    assert errors_of(entry(metric="pulse")) == {"monitoring[0].metric": "unknown_metric"}
    assert errors_of(entry(metric="battery")) == {"monitoring[0].metric": "metric_not_allowed"}
    assert errors_of(entry(metric=3)) == {"monitoring[0].metric": "invalid_type"}
    assert errors_of(entry(metric=DELETE)) == {"monitoring[0].metric": "required"}
    assert errors_of({"monitoring": [{}]}) == {"monitoring[0].metric": "required",
                                               "monitoring[0].schedule": "required"}
    assert errors_of({"monitoring": ["heart_rate"]}) == {"monitoring[0]": "invalid_type"}


def test_one_entry_per_metric() -> None:
    data = entry()
    data["monitoring"].append(data["monitoring"][0])
    assert errors_of(data) == {"monitoring[1].metric": "duplicate_metric"}


def test_every_clinical_metric_can_be_monitored() -> None:
    from telemed.domain.units import CLINICAL_METRICS

    data = {"monitoring": [{"metric": m, "schedule": {"continuous": True}}
                           for m in CLINICAL_METRICS]}
    assert len(parse_careplan_content(data).monitoring) == 8
    data["monitoring"].append(data["monitoring"][0])
    assert errors_of(data) == {"monitoring": "too_many"}


def test_schedule_forms() -> None:
    assert errors_of(entry(schedule=DELETE)) == {"monitoring[0].schedule": "required"}
    assert errors_of(entry(schedule={})) == {"monitoring[0].schedule": "invalid_schedule"}
    assert errors_of(entry(schedule=[])) == {"monitoring[0].schedule": "invalid_type"}
    assert errors_of(entry(schedule={"continuous": False})) == {
        "monitoring[0].schedule.continuous": "invalid_type"}
    assert errors_of(entry(schedule={"continuous": True, "times": ["08:00"]})) == {
        "monitoring[0].schedule": "invalid_schedule"}
    assert errors_of(entry(schedule={"tolerance_minutes": 30})) == {
        "monitoring[0].schedule.times": "required"}
    assert errors_of(entry(schedule={"times": []})) == {
        "monitoring[0].schedule.times": "empty_schedule"}
    assert errors_of(entry(schedule={"times": "08:00"})) == {
        "monitoring[0].schedule.times": "invalid_type"}
    default = parse_careplan_content(entry(schedule={"times": ["08:00"]}))
    assert default.monitoring[0].schedule == TimedSchedule((time(8, 0),), 60)


@pytest.mark.parametrize("text", ["00:00", "23:59", "08:00", "12:30", "19:05"])
def test_valid_times(text: str) -> None:
    content = parse_careplan_content(entry(schedule={"times": [text]}))
    schedule = content.monitoring[0].schedule
    assert isinstance(schedule, TimedSchedule)
    assert format_time(schedule.times[0]) == text


@pytest.mark.parametrize("text", ["24:00", "8:00", "08:60", "08:00:00", "0800", "", " 08:00",
                                  "08:5", "ab:cd", "-1:00", "08:00 "])
def test_invalid_times(text: str) -> None:
    assert errors_of(entry(schedule={"times": [text]})) == {
        "monitoring[0].schedule.times[0]": "invalid_time"}


def test_non_string_time() -> None:
    assert errors_of(entry(schedule={"times": [800]})) == {
        "monitoring[0].schedule.times[0]": "invalid_time"}


def test_duplicate_times() -> None:
    assert errors_of(entry(schedule={"times": ["08:00", "20:00", "08:00"],
                                     "tolerance_minutes": 30})) == {
        "monitoring[0].schedule.times[2]": "duplicate_time"}


@pytest.mark.parametrize(("tolerance", "ok"), [(0, False), (1, True), (720, True),
                                                (721, False), (30.0, True), (30.5, False),
                                                (True, False), ("30", False)])
def test_tolerance_range(tolerance: Any, ok: bool) -> None:
    data = entry(schedule={"times": ["12:00"], "tolerance_minutes": tolerance})
    if ok:
        schedule = parse_careplan_content(data).monitoring[0].schedule
        assert isinstance(schedule, TimedSchedule)
        assert schedule.tolerance_minutes == int(tolerance)
    else:
        assert list(errors_of(data)) == ["monitoring[0].schedule.tolerance_minutes"]


def test_windows_must_not_overlap() -> None:
    # 60 min tolerance: times 120 min apart touch but do not overlap
    ok = entry(schedule={"times": ["08:00", "10:00"], "tolerance_minutes": 60})
    assert parse_careplan_content(ok)
    bad = entry(schedule={"times": ["08:00", "09:59"], "tolerance_minutes": 60})
    assert errors_of(bad) == {"monitoring[0].schedule.times": "overlapping_windows"}


def test_windows_must_not_overlap_across_midnight() -> None:
    ok = entry(schedule={"times": ["23:00", "01:00"], "tolerance_minutes": 60})
    assert parse_careplan_content(ok)
    bad = entry(schedule={"times": ["23:30", "01:00"], "tolerance_minutes": 60})
    assert errors_of(bad) == {"monitoring[0].schedule.times": "overlapping_windows"}
    # a single time may take the whole day
    assert parse_careplan_content(entry(schedule={"times": ["08:00"],
                                                  "tolerance_minutes": 720}))
    # two times 12 h apart with a 6 h tolerance exactly tile the day
    assert parse_careplan_content(entry(schedule={"times": ["08:00", "20:00"],
                                                  "tolerance_minutes": 360}))
    assert errors_of(entry(schedule={"times": ["08:00", "20:00"], "tolerance_minutes": 361}))


def test_too_many_times() -> None:
    times = [f"{h:02d}:00" for h in range(24)]
    assert parse_careplan_content(entry(schedule={"times": times, "tolerance_minutes": 30}))
    assert errors_of(entry(schedule={"times": [*times, "00:30"], "tolerance_minutes": 1})) == {
        "monitoring[0].schedule.times": "too_many"}


# --- bands ---------------------------------------------------------------------------

def test_bands_ordering_each_pair() -> None:
    def codes(**bands: float) -> dict[str, str]:
        return errors_of(entry(bands=bands))

    assert codes(critical_low=60, warning_low=60) == {
        "monitoring[0].bands.critical_low": "band_order"}
    assert codes(warning_low=100, warning_high=99) == {
        "monitoring[0].bands.warning_low": "band_order"}
    assert codes(warning_high=120, critical_high=120) == {
        "monitoring[0].bands.warning_high": "band_order"}
    assert codes(critical_low=100, critical_high=100) == {
        "monitoring[0].bands.critical_low": "band_order"}
    assert codes(critical_low=100, warning_high=90) == {
        "monitoring[0].bands.critical_low": "band_order"}
    assert codes(warning_low=150, critical_high=140) == {
        "monitoring[0].bands.warning_low": "band_order"}


def test_bands_valid_variants() -> None:
    for bands in ({}, {"warning_low": 60, "warning_high": 60}, {"critical_high": 150},
                  {"critical_low": 40, "warning_high": 100},
                  {"critical_low": 40, "warning_low": 50, "warning_high": 110,
                   "critical_high": 130},
                  {"critical_low": None, "warning_low": 50}):
        content = parse_careplan_content(entry(bands=bands))
        assert content.monitoring[0].bands == Bands(**{k: v for k, v in bands.items()
                                                       if v is not None})


def test_band_value_types_and_plausibility() -> None:
    assert errors_of(entry(bands={"warning_low": "50"})) == {
        "monitoring[0].bands.warning_low": "invalid_type"}
    assert errors_of(entry(bands={"warning_low": True})) == {
        "monitoring[0].bands.warning_low": "invalid_type"}
    assert errors_of(entry(bands={"warning_low": float("nan")})) == {
        "monitoring[0].bands.warning_low": "invalid_type"}
    assert errors_of(entry(bands={"warning_low": 10**400})) == {
        "monitoring[0].bands.warning_low": "invalid_type"}
    assert errors_of(trend(delta=-(10**400))) == {"trends[0].delta": "invalid_type"}
    assert errors_of(entry(bands={"critical_high": 301})) == {
        "monitoring[0].bands.critical_high": "implausible_band"}
    assert errors_of(entry(bands={"critical_low": 19.9})) == {
        "monitoring[0].bands.critical_low": "implausible_band"}
    assert parse_careplan_content(entry(bands={"critical_low": 20, "critical_high": 300}))
    assert errors_of(entry(bands=[50])) == {"monitoring[0].bands": "invalid_type"}


def test_band_error_message() -> None:
    with pytest.raises(DomainValidationError) as info:
        parse_careplan_content(entry(bands={"warning_low": 100, "warning_high": 90}))
    assert info.value.errors[0].render() == (
        "warning_low (100) must not be above warning_high (90).")


def test_confirm_count() -> None:
    for value, ok in ((1, True), (10, True), (0, False), (11, False), (2.5, False),
                      ("2", False)):
        data = entry(confirm_count=value)
        if ok:
            assert parse_careplan_content(data).monitoring[0].confirm_count == value
        else:
            assert list(errors_of(data)) == ["monitoring[0].confirm_count"]


def test_hysteresis() -> None:
    bands = {"warning_low": 50, "warning_high": 110}  # width 60 → hysteresis < 30
    assert parse_careplan_content(entry(bands=bands, hysteresis=29.9)).monitoring[0].hysteresis \
        == 29.9
    assert errors_of(entry(bands=bands, hysteresis=30)) == {
        "monitoring[0].hysteresis": "hysteresis_too_large"}
    assert errors_of(entry(hysteresis=-1)) == {"monitoring[0].hysteresis": "out_of_range"}
    assert errors_of(entry(hysteresis="1")) == {"monitoring[0].hysteresis": "invalid_type"}
    assert parse_careplan_content(entry(hysteresis=0)).monitoring[0].hysteresis == 0


def test_hysteresis_checked_even_when_other_fields_fail() -> None:
    data = entry(schedule={"times": ["8"]}, bands={"warning_low": 50, "warning_high": 60},
                 hysteresis=5)
    assert errors_of(data) == {"monitoring[0].schedule.times[0]": "invalid_time",
                               "monitoring[0].hysteresis": "hysteresis_too_large"}
    # with invalid bands there is nothing to compare against
    data = entry(bands={"warning_low": 70, "warning_high": 60}, hysteresis=50)
    assert errors_of(data) == {"monitoring[0].bands.warning_low": "band_order"}


def test_hysteresis_against_default_bands_and_one_sided_bands() -> None:
    # no bands → heart_rate defaults 51..110: width 59, limit 29.5
    assert parse_careplan_content(entry(hysteresis=29))
    assert errors_of(entry(hysteresis=29.5)) == {
        "monitoring[0].hysteresis": "hysteresis_too_large"}
    # one-sided: bounded by the plausible span (20..300 → 280)
    assert parse_careplan_content(entry(bands={"warning_high": 100}, hysteresis=50))
    assert errors_of(entry(bands={"warning_high": 100}, hysteresis=280)) == {
        "monitoring[0].hysteresis": "hysteresis_too_large"}
    # critical limits bound the normal band when warnings are absent
    assert errors_of(entry(bands={"critical_low": 40, "critical_high": 60}, hysteresis=10)) \
        == {"monitoring[0].hysteresis": "hysteresis_too_large"}


# --- trends --------------------------------------------------------------------------

def trend(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"metric": "body_weight", "delta": 2, "window_hours": 72}
    base.update(fields)
    return {"trends": [{k: v for k, v in base.items() if v is not DELETE}]}


def test_trend_defaults_and_negative_delta() -> None:
    content = parse_careplan_content(trend(delta=-3))
    assert content.trends == (TrendRule("body_weight", -3.0, 72, "warning"),)
    assert parse_careplan_content(trend(severity="critical")).trends[0].severity == "critical"


def test_trend_errors() -> None:
    assert errors_of(trend(delta=0)) == {"trends[0].delta": "zero_delta"}
    assert errors_of(trend(delta=0.0)) == {"trends[0].delta": "zero_delta"}
    assert errors_of(trend(delta=400)) == {"trends[0].delta": "out_of_range"}
    assert parse_careplan_content(trend(delta=399))
    assert errors_of(trend(delta=DELETE)) == {"trends[0].delta": "required"}
    assert errors_of(trend(metric="battery")) == {"trends[0].metric": "metric_not_allowed"}
    assert errors_of(trend(metric=DELETE, window_hours=DELETE)) == {
        "trends[0].metric": "required", "trends[0].window_hours": "required"}
    assert errors_of(trend(severity="info")) == {"trends[0].severity": "invalid_choice"}
    assert errors_of({"trends": [3]}) == {"trends[0]": "invalid_type"}


@pytest.mark.parametrize(("hours", "ok"), [(0, False), (1, True), (720, True), (721, False),
                                           (1.5, False)])
def test_trend_window(hours: Any, ok: bool) -> None:
    if ok:
        assert parse_careplan_content(trend(window_hours=hours)).trends[0].window_hours == hours
    else:
        assert list(errors_of(trend(window_hours=hours))) == ["trends[0].window_hours"]


def test_duplicate_trend_and_several_per_metric() -> None:
    data = trend()
    data["trends"].append(dict(data["trends"][0]))
    assert errors_of(data) == {"trends[1]": "duplicate"}
    data["trends"][1]["window_hours"] = 24
    assert len(parse_careplan_content(data).trends) == 2
    assert errors_of({"trends": [trend()["trends"][0]] * 21}) == {"trends": "too_many"}


# --- news2 and scalars ---------------------------------------------------------------

def test_news2() -> None:
    assert parse_careplan_content({"news2": {"enabled": True, "spo2_scale": 2,
                                             "on_oxygen": True}}).news2 == News2Settings(
        True, 2, True)
    assert parse_careplan_content({"news2": {"enabled": True}}).news2 == News2Settings(True)
    assert errors_of({"news2": {"enabled": "yes"}}) == {"news2.enabled": "invalid_type"}
    assert errors_of({"news2": {"on_oxygen": 1}}) == {"news2.on_oxygen": "invalid_type"}
    for scale in (0, 3, "1", True, 1.5):
        assert errors_of({"news2": {"spo2_scale": scale}}) == {
            "news2.spo2_scale": "invalid_choice"}
    assert errors_of({"news2": True}) == {"news2": "invalid_type"}


@pytest.mark.parametrize(
    ("key", "low", "high"), [("silence_hours", 1, 720), ("escalate_after_minutes", 1, 1440)]
)
def test_scalar_ranges(key: str, low: int, high: int) -> None:
    assert errors_of({key: 10**400}) == {key: "out_of_range"}
    assert errors_of({key: float("inf")}) == {key: "invalid_type"}
    assert getattr(parse_careplan_content({key: low}), key) == low
    assert getattr(parse_careplan_content({key: high}), key) == high
    assert errors_of({key: low - 1}) == {key: "out_of_range"}
    assert errors_of({key: high + 1}) == {key: "out_of_range"}
    assert errors_of({key: "5"}) == {key: "invalid_type"}
    assert errors_of({key: False}) == {key: "invalid_type"}


# --- helpers -------------------------------------------------------------------------

def test_effective_bands() -> None:
    content = parse_careplan_content(heart_failure())
    assert effective_bands(content, "bp_systolic") == Bands(85, 95, 160, 190)
    assert effective_bands(content, "body_weight") == default_bands("body_weight")
    assert effective_bands(content, "heart_rate") == default_bands("heart_rate")
    assert effective_bands(None, "spo2") == default_bands("spo2")
    assert effective_bands(content, "unknown") == Bands()
    explicit_none = parse_careplan_content(entry(bands={}))
    assert effective_bands(explicit_none, "heart_rate").is_empty


def test_measurement_schedule() -> None:
    content = parse_careplan_content(heart_failure())
    assert measurement_schedule(content) == {
        "body_weight": ["07:30"],
        "bp_systolic": ["08:00", "20:00"],
    }
    assert measurement_schedule(CarePlanContent()) == {}


def test_parse_time_helper() -> None:
    assert parse_time("07:05") == time(7, 5)
    assert parse_time("7:05") is None


def test_input_not_mutated() -> None:
    data = heart_failure()
    before = copy.deepcopy(data)
    parse_careplan_content(data)
    assert data == before


# --- property: whatever comes in, the outcome is a content or a DomainValidationError ----

scalars = (st.none() | st.booleans() | st.integers(-10**4, 10**4) | st.floats()
           | st.sampled_from([10**400, -(10**400), 2**63])
           | st.sampled_from(["heart_rate", "spo2", "battery", "08:00", "25:00", "warning"]))
keys = st.sampled_from(["goals", "care_team", "monitoring", "trends", "news2", "silence_hours",
                        "escalate_after_minutes", "metric", "schedule", "bands", "times",
                        "continuous", "warning_low", "delta", "window_hours", "x"])
plan_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children,
                                                                        max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(keys, plan_like, max_size=6))
def test_never_crashes_and_round_trips(data: dict[str, Any]) -> None:
    try:
        content = parse_careplan_content(data)
    except DomainValidationError as exc:
        assert exc.errors
        for error in exc.errors:
            assert error.code and error.render()
        return
    assert parse_careplan_content(content.to_dict()) == content


@given(
    st.sampled_from(["heart_rate", "spo2", "body_temp", "blood_glucose"]),
    st.lists(st.integers(0, 1439), min_size=1, max_size=6, unique=True),
    st.integers(1, 720),
)
def test_generated_schedules_round_trip_or_report_overlap(
    metric: str, minutes: list[int], tolerance: int
) -> None:
    data = {"monitoring": [{"metric": metric, "schedule": {
        "times": [f"{m // 60:02d}:{m % 60:02d}" for m in minutes],
        "tolerance_minutes": tolerance}}]}
    ordered = sorted(minutes)
    gaps = [b - a for a, b in pairwise(ordered)]
    if len(ordered) > 1:
        gaps.append(ordered[0] + 1440 - ordered[-1])
    try:
        content = parse_careplan_content(data)
    except DomainValidationError as exc:
        assert exc.codes == ["overlapping_windows"]
        assert min(gaps) < 2 * tolerance
        return
    assert all(g >= 2 * tolerance for g in gaps)
    assert parse_careplan_content(content.to_dict()) == content


def test_page_warnings_is_one_of_three_choices_and_round_trips() -> None:
    from telemed.domain.careplans import parse_careplan_content as parse
    from telemed.domain.errors import DomainValidationError as Invalid

    assert parse({}).page_warnings is None
    for choice in ("never", "day", "day_and_night"):
        content = parse({"page_warnings": choice})
        assert content.page_warnings == choice and parse(content.to_dict()) == content
    for bad in ("night", True, 1):
        try:
            parse({"page_warnings": bad})
        except Invalid as exc:
            assert [e.path for e in exc.errors] == ["page_warnings"]
        else:
            raise AssertionError(f"{bad!r} was accepted")
