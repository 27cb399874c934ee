"""Hypothesis strategies of SenML packs, shared by the decoder's and the ingest wire's tests."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NOW_TS = int(NOW.timestamp())

senml_keys = st.sampled_from(["bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs",
                              "vb", "vd", "s", "t", "ut", "x", "x_"])
json_leaf = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
             | st.floats(allow_nan=False, allow_infinity=False)
             | st.sampled_from(["spo2", "heart_rate", "%", "/min", "urn:dev:x:", "dev/", ""])
             | st.text(max_size=5))
json_value = st.recursive(json_leaf, lambda c: st.lists(c, max_size=3)
                          | st.dictionaries(st.text(max_size=3), c, max_size=3), max_leaves=8)
senml_like = st.lists(st.dictionaries(senml_keys, json_value, max_size=6) | json_value,
                      max_size=8) | json_value

NUMBERS = st.one_of(st.sampled_from([0, 1, 97, 70.5, 140, -3, 2**28, 1e308, 10**400, True]),
                    st.integers(-10**20, 10**20), st.floats(allow_nan=True))
RECORDS = st.fixed_dictionaries(
    {"n": st.one_of(st.sampled_from(["heart_rate", "spo2", "temperature", "bogus", "",
                                     "dev/spo2", "bad name"]), st.integers()),
     "v": NUMBERS},
    optional={
        "u": st.one_of(st.sampled_from(["/min", "%", "Cel", "[degF]", "km"]), st.none(),
                       st.integers()),
        "t": st.one_of(st.sampled_from([0, -5.5, 1, NOW_TS, NOW_TS - 60.25, NOW_TS - 3600,
                                        NOW_TS + 600, 40 * 86_400.0]), NUMBERS),
        "bv": st.sampled_from([0, 1.5]),
        "bu": st.sampled_from(["/min", "%"]),
        "bn": st.sampled_from(["urn:dev:mac:0024befffe804ff1:", "x/"]),
        "bt": st.sampled_from([NOW_TS - 10, 0, -30, 1e300]),
        "vs": st.just("text"),
        "s": st.just(1),
        "x_": st.just(1),
    })
