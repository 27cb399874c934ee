import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemed.domain.senml import (
    RELATIVE_TIME_LIMIT,
    DecodedPack,
    Reading,
    Rejection,
    decode_pack,
    encode_pack,
    metric_of,
)
from telemed.domain.units import METRICS
from tests.helpers.senml_strategies import NOW, NOW_TS, RECORDS, senml_like


def decode(records: Any, **kwargs: Any) -> DecodedPack:
    return decode_pack(json.dumps(records).encode(), NOW, **kwargs)


def pack_error(payload: bytes, **kwargs: Any) -> str:
    result = decode_pack(payload, NOW, **kwargs)
    assert result.readings == []
    assert result.pack_error is not None
    assert len(result.rejections) == 1
    return result.pack_error.code


def record_codes(records: Any, **kwargs: Any) -> list[tuple[int | None, str]]:
    return [(r.record_index, r.code) for r in decode(records, **kwargs).rejections]


def only_reading(records: Any, **kwargs: Any) -> Reading:
    result = decode(records, **kwargs)
    assert result.rejections == [], [r.render() for r in result.rejections]
    assert len(result.readings) == 1
    return result.readings[0]


# --- resolution ----------------------------------------------------------------------

def test_rfc_style_pack_with_urn_base_name() -> None:
    records = [
        {"bn": "urn:dev:mac:0024befffe804ff1:", "bt": NOW_TS - 120, "bu": "%", "n": "spo2",
         "v": 97},
        {"n": "heart_rate", "u": "/min", "v": 72, "t": 60},
    ]
    result = decode(records)
    assert result.rejections == []
    assert result.readings == [
        Reading("spo2", 97.0, "%", NOW - timedelta(seconds=120), 0, late=False),
        Reading("heart_rate", 72.0, "/min", NOW - timedelta(seconds=60), 1, late=False),
    ]
    assert result.pack_error is None
    assert all(r.time.tzinfo is UTC for r in result.readings)


@pytest.mark.parametrize(
    ("bn", "n", "metric"),
    [("urn:dev:mac:0024befffe804ff1:", "spo2", "spo2"), ("device123/", "heart_rate",
                                                          "heart_rate"),
     ("", "body_temp", "body_temp"), ("urn:dev:ow:10e2073a01080063:", "body_temp",
                                      "body_temp"),
     ("urn:dev:imei:123/", "bp_systolic", "bp_systolic"), ("a/b:c/", "spo2", "spo2"),
     ("urn:dev:mac:00:", "x:spo2", "spo2")],
)
def test_name_prefix_stripped_to_last_segment(bn: str, n: str, metric: str) -> None:
    assert metric_of(bn + n) == metric
    unit = METRICS[metric].canonical_unit
    value = {"spo2": 97, "heart_rate": 70, "body_temp": 37, "bp_systolic": 120}[metric]
    assert only_reading([{"bn": bn, "n": n, "u": unit, "v": value}]).metric == metric


def test_base_fields_carry_forward_and_are_replaced() -> None:
    records = [
        {"bn": "dev/", "bt": NOW_TS - 100, "bu": "/min", "bv": 60, "n": "heart_rate", "v": 10},
        {"n": "resp_rate", "v": -44, "t": 10},
        {"bu": "Cel", "bv": 0, "bt": NOW_TS - 50, "n": "body_temp", "v": 37.2},
        {"bn": "other:", "n": "body_temp", "v": 37.3, "t": 1},
    ]
    result = decode(records)
    assert result.rejections == []
    assert [(r.metric, r.value, r.unit, r.time) for r in result.readings] == [
        ("heart_rate", 70.0, "/min", NOW - timedelta(seconds=100)),
        ("resp_rate", 16.0, "/min", NOW - timedelta(seconds=90)),
        ("body_temp", 37.2, "Cel", NOW - timedelta(seconds=50)),
        ("body_temp", 37.3, "Cel", NOW - timedelta(seconds=49)),
    ]


def test_record_unit_overrides_base_unit_for_that_record_only() -> None:
    records = [{"bu": "Cel", "n": "body_temp", "v": 98.6, "u": "[degF]", "t": -20},
               {"n": "body_temp", "v": 37.1, "t": -10}]
    result = decode(records)
    assert [(r.value, r.unit) for r in result.readings] == [(37.0, "Cel"), (37.1, "Cel")]


def test_unit_conversions_applied() -> None:
    records = [
        {"n": "spo2", "u": "/", "v": 0.96, "t": -1},
        {"n": "bp_systolic", "u": "kPa", "v": 16, "t": -1},
        {"n": "body_weight", "u": "[lb_av]", "v": 176, "t": -1},
        {"n": "blood_glucose", "u": "mmol/L", "v": 5.5, "t": -1},
        {"n": "body_temp", "u": "K", "v": 310.15, "t": -1},
    ]
    values = {r.metric: r.value for r in decode(records).readings}
    assert values == {"spo2": 96.0, "bp_systolic": 120.009852, "body_weight": 79.832257,
                      "blood_glucose": 99.088, "body_temp": 37.0}


def test_missing_time_means_now() -> None:
    assert only_reading([{"n": "spo2", "u": "%", "v": 97}]).time == NOW


def test_fractional_times_keep_microseconds() -> None:
    reading = only_reading([{"bt": NOW_TS, "n": "spo2", "u": "%", "v": 97, "t": -1.234567}])
    assert reading.time == NOW - timedelta(seconds=1.234567)


def test_received_at_in_other_zone_gives_utc() -> None:
    rome = NOW.astimezone(timezone(timedelta(hours=1)))
    result = decode_pack(b'[{"n":"spo2","u":"%","v":97,"t":-5}]', rome)
    assert result.readings[0].time == NOW - timedelta(seconds=5)
    assert result.readings[0].time.utcoffset() == timedelta(0)


def test_naive_received_at_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        decode_pack(b"[]", datetime(2025, 1, 1))


def test_str_payload_accepted() -> None:
    assert decode_pack('[{"n":"spo2","u":"%","v":97}]', NOW).readings[0].value == 97


# --- time rules ----------------------------------------------------------------------

def test_relative_time_boundary() -> None:
    # just below 2**28: relative (8.5 years ahead → future); at 2**28: absolute (1978 → old)
    assert record_codes([{"n": "spo2", "u": "%", "v": 97, "t": RELATIVE_TIME_LIMIT - 1}]) == [
        (0, "future_time")]
    assert record_codes([{"n": "spo2", "u": "%", "v": 97, "t": RELATIVE_TIME_LIMIT}]) == [
        (0, "too_old")]
    # the sum bt + t decides
    reading = only_reading([{"bt": RELATIVE_TIME_LIMIT, "n": "spo2", "u": "%", "v": 97,
                             "t": NOW_TS - RELATIVE_TIME_LIMIT - 30}])
    assert reading.time == NOW - timedelta(seconds=30)
    reading = only_reading([{"bt": NOW_TS, "n": "spo2", "u": "%", "v": 97,
                             "t": -NOW_TS - 30}])
    assert reading.time == NOW - timedelta(seconds=30)  # sum -30 → relative


def test_future_limit() -> None:
    assert only_reading([{"n": "spo2", "u": "%", "v": 97, "t": 300}]).time == (
        NOW + timedelta(minutes=5))
    assert only_reading([{"bt": NOW_TS + 300, "n": "spo2", "u": "%", "v": 97}])
    assert record_codes([{"n": "spo2", "u": "%", "v": 97, "t": 300.5}]) == [(0, "future_time")]
    assert record_codes([{"bt": NOW_TS + 301, "n": "spo2", "u": "%", "v": 97}]) == [
        (0, "future_time")]
    assert only_reading([{"n": "spo2", "u": "%", "v": 97, "t": 600}],
                        max_future=timedelta(minutes=10))


def test_age_limit() -> None:
    thirty_days = 30 * 86400
    reading = only_reading([{"n": "spo2", "u": "%", "v": 97, "t": -thirty_days}])
    assert reading.late
    assert record_codes([{"n": "spo2", "u": "%", "v": 97, "t": -thirty_days - 1}]) == [
        (0, "too_old")]
    assert record_codes([{"bt": NOW_TS - thirty_days - 1, "n": "spo2", "u": "%", "v": 97}]) \
        == [(0, "too_old")]
    assert record_codes([{"n": "spo2", "u": "%", "v": 97, "t": -86400 * 2}],
                        max_age=timedelta(days=1)) == [(0, "too_old")]


def test_late_flag() -> None:
    assert not only_reading([{"n": "spo2", "u": "%", "v": 97, "t": -600}]).late
    assert only_reading([{"n": "spo2", "u": "%", "v": 97, "t": -600.5}]).late
    assert not only_reading([{"n": "spo2", "u": "%", "v": 97, "t": -600.5}],
                            late_after=timedelta(hours=1)).late
    assert not only_reading([{"n": "spo2", "u": "%", "v": 97, "t": 100}]).late


def test_time_overflow_rejected_not_raised() -> None:
    assert record_codes([{"bt": 1e300, "n": "spo2", "u": "%", "v": 97, "t": -1e300}]) == [
        (0, "invalid_time")]
    raw = decode_pack(b'[{"n":"spo2","u":"%","v":97,"t":1e400}]', NOW)
    assert [(r.record_index, r.code) for r in raw.rejections] == [(0, "invalid_time")]
    assert record_codes([{"n": "spo2", "u": "%", "v": 97, "t": -(10**400)}]) == [
        (0, "invalid_time")]


# --- record rules ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("record", "code"),
    [
        ({"n": "spo2", "u": "%", "vs": "97"}, "non_numeric_value"),
        ({"n": "spo2", "u": "%", "vb": True}, "non_numeric_value"),
        ({"n": "spo2", "u": "%", "vd": "AQID"}, "non_numeric_value"),
        ({"n": "spo2", "u": "%"}, "missing_value"),
        ({"n": "spo2", "u": "%", "s": 97}, "missing_value"),
        ({"n": "spo2", "u": "%", "v": 97, "vs": "97"}, "multiple_values"),
        ({"n": "spo2", "u": "%", "v": "97"}, "invalid_field"),
        ({"n": "spo2", "u": "%", "v": True}, "invalid_field"),
        ({"n": "spo2", "u": "%", "v": None}, "invalid_field"),
        ({"n": 5, "u": "%", "v": 97}, "invalid_field"),
        ({"n": "spo2", "u": 1, "v": 97}, "invalid_field"),
        ({"n": "spo2", "u": "%", "v": 97, "t": "now"}, "invalid_field"),
        ({"n": "spo2", "u": "%", "v": 97, "ut": "x"}, "invalid_field"),
        ({"n": "spo2", "u": "%", "vb": "yes"}, "invalid_field"),
        ({"n": "spo2", "u": "%", "v": 10**400}, "not_finite"),
        ({"bv": 1, "n": "spo2", "u": "%", "v": 10**400}, "not_finite"),
        ({"n": "spo2", "u": "%", "v": 101}, "implausible"),
        ({"n": "spo2", "u": "%", "v": 49}, "implausible"),
        ({"n": "spo2", "v": 97}, "missing_unit"),
        ({"n": "spo2", "u": "percent", "v": 97}, "unknown_unit"),
        ({"n": "pulse", "u": "/min", "v": 70}, "unknown_metric"),
        ({"n": "Spo2", "u": "%", "v": 97}, "unknown_metric"),
        ({"n": "heart rate", "u": "/min", "v": 70}, "invalid_name"),
        ({"n": "-spo2", "u": "%", "v": 97}, "invalid_name"),
        ({"n": "", "u": "%", "v": 97}, "invalid_name"),
        ({"u": "%", "v": 97}, "invalid_name"),
        ({"n": "spo2é", "u": "%", "v": 97}, "invalid_name"),
        ({"bn": "dev:", "u": "%", "v": 97}, "unknown_metric"),
    ],
)
def test_record_rejections(record: dict[str, Any], code: str) -> None:
    records = [record, {"n": "heart_rate", "u": "/min", "v": 70, "t": -1}]
    result = decode(records)
    assert [(r.record_index, r.code) for r in result.rejections] == [(0, code)]
    assert [r.record_index for r in result.readings] == [1]  # the rest still counts
    assert result.pack_error is None
    assert result.rejections[0].render()


def test_overflowing_float_value() -> None:
    result = decode_pack(b'[{"n":"spo2","u":"%","v":1e400}]', NOW)
    assert [(r.record_index, r.code) for r in result.rejections] == [(0, "not_finite")]


def test_sum_alongside_value_is_ignored() -> None:
    assert only_reading([{"n": "spo2", "u": "%", "v": 97, "s": 1000}]).value == 97


def test_unknown_fields_without_underscore_ignored() -> None:
    assert only_reading([{"n": "spo2", "u": "%", "v": 97, "foo": [1, 2], "l": "x"}])


def test_record_not_object() -> None:
    result = decode([1, "x", None, [], {"n": "spo2", "u": "%", "v": 97}])
    assert [(r.record_index, r.code) for r in result.rejections] == [
        (0, "record_not_object"), (1, "record_not_object"), (2, "record_not_object"),
        (3, "record_not_object")]
    assert len(result.readings) == 1


def test_duplicate_readings_keep_the_first() -> None:
    records = [{"n": "spo2", "u": "%", "v": 97, "t": -5},
               {"n": "spo2", "u": "/", "v": 0.9, "t": -5},
               {"n": "heart_rate", "u": "/min", "v": 70, "t": -5},
               {"n": "spo2", "u": "%", "v": 95, "t": -4}]
    result = decode(records)
    assert [(r.metric, r.value) for r in result.readings] == [
        ("spo2", 97.0), ("heart_rate", 70.0), ("spo2", 95.0)]
    assert [(r.record_index, r.code, dict(r.params)) for r in result.rejections] == [
        (1, "duplicate_reading", {"first_index": 0, "metric": "spo2"})]


def test_battery_is_decoded_as_device_health() -> None:
    reading = only_reading([{"n": "battery", "u": "%EL", "v": 55}])
    assert (reading.metric, reading.value, reading.unit) == ("battery", 55.0, "%EL")


def test_rejection_to_dict_is_the_errors_topic_payload() -> None:
    rejection = decode([{"n": "spo2", "u": "%", "v": 120}]).rejections[0]
    assert rejection.to_dict() == {
        "code": "implausible",
        "message": "120 % is outside the plausible range for spo2 (50–100 %).",
        "record_index": 0,
    }
    assert "{value}" in rejection.message
    whole = decode_pack(b"nope", NOW).rejections[0]
    assert whole.to_dict() == {"code": "invalid_json", "message": "The payload is not valid "
                               "JSON.", "record_index": None}


# --- whole-pack rules ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\xff\xfe[]", "not_utf8"),
        (b'[{"n":"spo2","u":"%","v":97,"x":"\xc3"}]', "not_utf8"),
        (b"", "invalid_json"),
        (b"[", "invalid_json"),
        (b'[{"n":"spo2","u":"%","v":NaN}]', "invalid_json"),
        (b'[{"n":"spo2","u":"%","v":Infinity}]', "invalid_json"),
        (b"\xef\xbb\xbf[]", "invalid_json"),  # BOM
        (b'{"n":"spo2","v":97}', "not_an_array"),
        (b'"spo2"', "not_an_array"),
        (b"97", "not_an_array"),
        (b"null", "not_an_array"),
        (b"[]", "empty_pack"),
        (b"[" * 140_000 + b"]" * 140_000, "pack_too_large"),
        (b"[" * 50_000 + b"]" * 50_000, "invalid_json"),
        (b'[{"n":"spo2","u":"%","v":97,"bver":11}]', "unsupported_version"),
        (b'[{"n":"spo2","u":"%","v":97},{"bver":12}]', "unsupported_version"),
        (b'[{"n":"spo2","u":"%","v":97,"foo_":1}]', "unknown_mandatory_field"),
        (b'[{"n":"spo2","u":"%","v":97},{"_":1}]', "unknown_mandatory_field"),
        (b'[{"bn":1,"n":"spo2","u":"%","v":97}]', "invalid_base_field"),
        (b'[{"bt":"now","n":"spo2","u":"%","v":97}]', "invalid_base_field"),
        (b'[{"bt":1e400,"n":"spo2","u":"%","v":97}]', "invalid_base_field"),
        (b'[{"bu":null,"n":"spo2","u":"%","v":97}]', "invalid_base_field"),
        (b'[{"bv":true,"n":"spo2","u":"%","v":97}]', "invalid_base_field"),
        (b'[{"bs":"1","n":"spo2","u":"%","v":97}]', "invalid_base_field"),
        (b'[{"bver":0,"n":"spo2","u":"%","v":97}]', "invalid_base_field"),
        (b'[{"bver":10.0,"n":"spo2","u":"%","v":97}]', "invalid_base_field"),
        (b'[{"bver":"10","n":"spo2","u":"%","v":97}]', "invalid_base_field"),
    ],
)
def test_pack_errors(payload: bytes, code: str) -> None:
    assert pack_error(payload) == code


def test_supported_version_accepted() -> None:
    assert only_reading([{"bver": 10, "n": "spo2", "u": "%", "v": 97}])
    assert only_reading([{"bver": 5, "n": "spo2", "u": "%", "v": 97}])


def test_record_count_limit() -> None:
    records = [{"n": "spo2", "u": "%", "v": 97, "t": -i} for i in range(3)]
    assert len(decode(records, max_records=3).readings) == 3
    assert pack_error(json.dumps(records).encode(), max_records=2) == "too_many_records"
    big = [{"n": "spo2", "u": "%", "v": 97, "t": -i} for i in range(1001)]
    assert pack_error(json.dumps(big).encode()) == "too_many_records"
    assert len(decode(big[:1000]).readings) == 1000


def test_byte_limit() -> None:
    payload = b'[{"n":"spo2","u":"%","v":97}]'
    assert decode_pack(payload, NOW, max_bytes=len(payload)).readings
    assert pack_error(payload, max_bytes=len(payload) - 1) == "pack_too_large"


def test_pack_error_message_names_the_record() -> None:
    error = decode_pack(b'[{"n":"spo2","u":"%","v":97},{"bver":12}]', NOW).rejections[0]
    assert error.render() == "Record 1 uses SenML version 12; at most 10 is supported."


def test_pack_error_property_none_for_single_record_rejection() -> None:
    result = decode([{"n": "pulse", "u": "/min", "v": 70}])
    assert result.pack_error is None
    assert result.rejections[0].record_index == 0


# --- encoding --------------------------------------------------------------------------

def test_encode_pack_shape() -> None:
    payload = encode_pack([("heart_rate", 72, "/min", NOW),
                           ("spo2", 0.97, "/", NOW + timedelta(seconds=1.5))],
                          base_name="urn:dev:mac:0024befffe804ff1:")
    assert json.loads(payload) == [
        {"bn": "urn:dev:mac:0024befffe804ff1:", "bt": NOW_TS, "n": "heart_rate", "u": "/min",
         "v": 72},
        {"n": "spo2", "u": "/", "v": 0.97, "t": 1.5},
    ]
    assert b" " not in payload


def test_encode_errors() -> None:
    with pytest.raises(ValueError):
        encode_pack([])
    with pytest.raises(ValueError):
        encode_pack([("pulse", 70, "/min", NOW)])
    with pytest.raises(ValueError):
        encode_pack([("heart_rate", 70, "bpm", NOW)])
    with pytest.raises(ValueError):
        encode_pack([("heart_rate", 70, "/min", datetime(2025, 1, 1))])
    with pytest.raises(ValueError):
        encode_pack([("heart_rate", float("nan"), "/min", NOW)])


def _plausible(metric: str) -> st.SearchStrategy[float]:
    info = METRICS[metric]
    return st.floats(info.plausible_min, info.plausible_max)


reading_tuples = st.sampled_from(sorted(METRICS)).flatmap(
    lambda m: st.tuples(
        st.just(m), _plausible(m), st.just(METRICS[m].canonical_unit),
        st.integers(-30 * 86400 * 10**6 + 1, 300 * 10**6).map(
            lambda us: NOW + timedelta(microseconds=us)),
    )
)


@settings(max_examples=200)
@given(st.lists(reading_tuples, min_size=1, max_size=20,
                unique_by=lambda r: (r[0], r[3])),
       st.sampled_from([None, "urn:dev:mac:0024befffe804ff1:", "dev-7/"]))
def test_encode_decode_round_trip(items: list[tuple[str, float, str, datetime]],
                                  base_name: str | None) -> None:
    result = decode_pack(encode_pack(items, base_name=base_name), NOW)
    assert result.rejections == []
    assert [(r.metric, r.value, r.unit, r.time) for r in result.readings] == items
    for reading in result.readings:
        assert reading.late == (NOW - reading.time > timedelta(minutes=10))


# --- robustness: nothing but rejections, ever -------------------------------------------

@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(payload: bytes) -> None:
    result = decode_pack(payload, NOW)
    assert isinstance(result, DecodedPack)
    assert result.readings or result.rejections




@settings(max_examples=300)
@given(senml_like)
def test_arbitrary_json_never_raises(data: Any) -> None:
    result = decode_pack(json.dumps(data).encode(), NOW)
    assert result.readings or result.rejections
    indexes = [r.record_index for r in result.readings] + [
        r.record_index for r in result.rejections if r.record_index is not None]
    if result.pack_error is None:
        assert sorted(indexes) == list(range(len(data)))
    for rejection in result.rejections:
        assert rejection.code and rejection.render()
        assert isinstance(rejection, Rejection)
    for reading in result.readings:
        assert METRICS[reading.metric].is_plausible(reading.value)
        assert reading.time.tzinfo is not None


# --- hostile JSON: refused with a reason, never an exception ----------------------------


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b'[{"n":"heart_rate\\ud800","u":"/min","v":70}]', "invalid_unicode"),
        (b'[{"bn":"\\udfff","n":"heart_rate","u":"/min","v":70}]', "invalid_unicode"),
        (b'[{"n":"heart_rate","u":"/min","v":70,"\\ud800":1}]', "invalid_unicode"),
        (b'[{"n":"heart_rate","u":"/min","v":70,"x":' + b"[" * 20 + b"]" * 20 + b"}]",
         "invalid_json"),
        (b"[" * 900 + b"]" * 900, "invalid_json"),
        (b'[{"n":"heart_rate","u":"/min","v":70,"v":180}]', "duplicate_key"),
    ],
)
def test_hostile_packs_are_refused_whole_with_a_reason(payload: bytes, code: str) -> None:
    rejection = decode_pack(payload, NOW).pack_error
    assert rejection is not None
    assert rejection.code == code
    # the reason can be published (MQTT errors topic, HTTP answer) as UTF-8 JSON
    json.dumps(rejection.to_dict(), ensure_ascii=False).encode("utf-8")


# --- the common record's fast path ---------------------------------------------------



@settings(max_examples=1500, deadline=None)
@given(st.lists(RECORDS, min_size=1, max_size=4))
def test_the_fast_path_decodes_as_the_general_path(records: list[dict[str, Any]]) -> None:
    """Every record the fast path takes gives exactly the general path's reading."""
    from telemed.domain import senml

    limits = senml._Limits(NOW, senml.DEFAULT_MAX_FUTURE, senml.DEFAULT_MAX_AGE,
                           senml.DEFAULT_LATE_AFTER)
    base = senml._Base()
    for index, record in enumerate(records):
        base.update(record)
        fast = senml._decode_plain(record, base, limits, index)
        if fast is None:
            continue
        assert fast == senml._decode_general(record, base, limits, index)
        assert type(fast.value) is float


def test_the_fast_path_takes_the_common_records() -> None:
    from telemed.domain import senml

    limits = senml._Limits(NOW, senml.DEFAULT_MAX_FUTURE, senml.DEFAULT_MAX_AGE,
                           senml.DEFAULT_LATE_AFTER)
    base = senml._Base()
    for record in ({"bn": "urn:dev:mac:1:", "bt": NOW_TS, "n": "spo2", "u": "%", "v": 97},
                   {"n": "heart_rate", "u": "/min", "v": 70, "t": 1.5},
                   {"n": "heart_rate", "u": "/min", "v": 70.25}):
        base.update(record)
        assert senml._decode_plain(record, base, limits, 0) is not None
