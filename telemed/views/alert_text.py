"""An alert's detail as a sentence in the reader's language, with the patient's local times.

`alert_sentence` turns an alert's ``detail_code`` and ``detail_args`` (see
``telemed.domain.alert_detail``) into, for example, "Frequenza cardiaca 150 bpm (sopra la
soglia critica) alle 14:32 del 29 mar" or "Heart rate 150 bpm (critical high) at 14:32 on
29 Mar". It is pure: no request, no database. Metric names and units come from the metric
catalogue (``telemed.domain.units``) and are translated with the gettext catalogue, numbers
and dates are written the locale's way, and times are shown in the given (patient's) IANA
zone, so the same instant reads 13:32 in winter and 14:32 in summer in Europe/Rome.

An alert stored before the structured detail existed, or one whose code or values cannot be
read, falls back to its English ``detail``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from telemed.domain.questionnaires import CATALOGUE as QUESTIONNAIRES
from telemed.domain.units import METRICS
from telemed.i18n import decimal_text, locale_of, translations
from telemed.views.error_text import N_, NC_
from telemed.views.times import zone_of
from telemed.views.vitals.devices import DEVICE_KINDS

Args = Mapping[str, Any]

# The sentence of each code (English msgids; Italian in the catalogue).
THRESHOLD = N_("{metric} {value} ({zone}) at {time}")
THRESHOLD_RECOVERED = N_("{metric} back to {value} at {time}")
TREND = N_("{metric} changed by {change} in {hours} h ({start} at {start_time} → {end} at "
           "{end_time}; rule: {delta} in {window} h)")
NEWS2 = N_("NEWS2 {total} (highest single parameter {max_single}, risk {risk}) at {time}")
NEWS2_RECOVERED = N_("NEWS2 {total} at {time}")
MISSED_OFFLINE = N_("{metric} due at {time} was not received: the device was offline.")
MISSED_SKIPPED = N_("{metric} due at {time} was not received: the device was online, the "
                    "patient did not measure.")
DEVICE_SILENT = N_("Device {serial} ({kind}) silent since {time} (more than {hours} h)")
DEVICE_HEARD_AGAIN = N_("Device {serial} ({kind}) heard again at {time}")
QUESTIONNAIRE = N_("{questionnaire}: score {score} of {max_score} ({band}) at {time}")
QUESTIONNAIRE_FLAGS = N_("{sentence}; needs attention: {flags}")
QUESTIONNAIRE_RECOVERED = N_("{questionnaire}: score {score} of {max_score} at {time}")
# A time with its day ("14:32 on 29 Mar"): boards stay open for days.
WHEN = N_("{time} on {date}")

ZONES: dict[str, tuple[str, str]] = {
    "critical_low": NC_("alert zone", "critical low"),
    "warning_low": NC_("alert zone", "warning low"),
    "warning_high": NC_("alert zone", "warning high"),
    "critical_high": NC_("alert zone", "critical high"),
}
RISKS: dict[str, tuple[str, str]] = {
    "low": NC_("NEWS2 risk", "low"),
    "low_medium": NC_("NEWS2 risk", "low-medium"),
    "medium": NC_("NEWS2 risk", "medium"),
    "high": NC_("NEWS2 risk", "high"),
}
# The bands and flags of `telemed.domain.questionnaires`, in words.
QUESTIONNAIRE_BANDS: dict[str, str] = {
    "minimal": N_("minimal"), "mild": N_("mild"), "moderate": N_("moderate"),
    "moderately_severe": N_("moderately severe"), "severe": N_("severe"),
    "stable": N_("stable"), "watch": N_("to watch"), "worse": N_("worse"),
    "none": N_("no exacerbation"), "type1": N_("Anthonisen type 1"),
    "type2": N_("Anthonisen type 2"), "type3": N_("Anthonisen type 3"),
    "some": N_("some symptoms"), "many": N_("many symptoms"),
}
QUESTIONNAIRE_FLAGS_WORDS: dict[str, str] = {
    "item9": N_("thoughts of self-harm (item 9)"),
    "breathless_at_rest": N_("breathless at rest"),
    "orthopnoea": N_("cannot lie flat"),
    "severe_hypo": N_("severe low blood sugar (needed help)"),
}
MISS_REASONS: dict[str, str] = {
    "device_offline": MISSED_OFFLINE,
    "patient_skipped": MISSED_SKIPPED,
}


class _Writer:
    """Words, numbers and times in one language and one time zone."""

    def __init__(self, lang: str, timezone: str | None, name_zone: bool) -> None:
        self.language = lang
        self.lang = locale_of(lang)
        self.zone: ZoneInfo = zone_of(timezone)
        self.zone_suffix = f" ({self.zone.key})" if name_zone else ""
        self._catalogue = translations(lang)

    def word(self, msgid: str) -> str:
        """A msgid of the catalogue (marked elsewhere) in this language."""
        return self._catalogue.gettext(msgid)

    def choice(self, marked: tuple[str, str]) -> str:
        """A ``NC_`` (context, msgid) pair in this language."""
        context, msgid = marked
        text = self._catalogue.pgettext(context, msgid)
        return text if isinstance(text, str) else msgid

    def say(self, template: str, **params: str) -> str:
        return self.word(template).format(**params)

    def metric(self, args: Args) -> str:
        return self.word(METRICS[str(args["metric"])].display_name)

    def number(self, value: object, decimals: int, signed: bool = False,
               exact: bool = True) -> str:
        """``value`` in the locale's way: ``decimals`` digits (at most, unless ``exact``)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"not a number: {value!r}")
        body = "#,##0" + ("." + ("0" if exact else "#") * decimals if decimals else "")
        pattern = f"+{body};-{body}" if signed else body
        return decimal_text(float(value), pattern, self.language)

    def quantity(self, args: Args, key: str, signed: bool = False) -> str:
        """``args[key]`` in the metric's unit, with the metric's decimals."""
        info = METRICS[str(args["metric"])]
        return f"{self.number(args[key], info.decimals, signed)} {self.word(info.display_unit)}"

    def time(self, value: object) -> str:
        """An ISO 8601 time (with offset) in the zone, with its day."""
        if not isinstance(value, str):
            raise TypeError(f"not a time: {value!r}")
        at = datetime.fromisoformat(value)
        if at.tzinfo is None:
            raise ValueError(f"a time without offset: {value!r}")
        return self.say(
            WHEN, time=format_datetime(at, "HH:mm", tzinfo=self.zone, locale=self.lang),
            date=format_datetime(at, "d MMM", tzinfo=self.zone, locale=self.lang),
        ) + self.zone_suffix


def _threshold(w: _Writer, args: Args) -> str:
    return w.say(THRESHOLD, metric=w.metric(args), value=w.quantity(args, "value"),
                 zone=w.choice(ZONES[str(args["zone"])]), time=w.time(args["at"]))


def _threshold_recovered(w: _Writer, args: Args) -> str:
    return w.say(THRESHOLD_RECOVERED, metric=w.metric(args), value=w.quantity(args, "value"),
                 time=w.time(args["at"]))


def _trend(w: _Writer, args: Args) -> str:
    start = datetime.fromisoformat(str(args["start_time"]))
    end = datetime.fromisoformat(str(args["end_time"]))
    hours = round((end - start).total_seconds() / 3600)
    unit = w.word(METRICS[str(args["metric"])].display_unit)
    return w.say(TREND, metric=w.metric(args), change=w.quantity(args, "change", signed=True),
                 hours=w.number(hours, 0), start=w.quantity(args, "start_value"),
                 start_time=w.time(args["start_time"]), end=w.quantity(args, "end_value"),
                 end_time=w.time(args["end_time"]),
                 delta=f"{w.number(args['delta'], 2, signed=True, exact=False)} {unit}",
                 window=w.number(args["window_hours"], 0))


def _news2(w: _Writer, args: Args) -> str:
    return w.say(NEWS2, total=w.number(args["total"], 0),
                 max_single=w.number(args["max_single"], 0),
                 risk=w.choice(RISKS[str(args["risk"])]), time=w.time(args["at"]))


def _news2_recovered(w: _Writer, args: Args) -> str:
    return w.say(NEWS2_RECOVERED, total=w.number(args["total"], 0), time=w.time(args["at"]))


def _missed(w: _Writer, args: Args) -> str:
    return w.say(MISS_REASONS[str(args["reason"])], metric=w.metric(args),
                 time=w.time(args["due"]))


def _kind(w: _Writer, args: Args) -> str:
    kind = str(args["kind"])
    return w.word(DEVICE_KINDS[kind]) if kind in DEVICE_KINDS else kind


def _device_silent(w: _Writer, args: Args) -> str:
    return w.say(DEVICE_SILENT, serial=str(args["serial"]), kind=_kind(w, args),
                 time=w.time(args["since"]), hours=w.number(args["silence_hours"], 0))


def _device_heard_again(w: _Writer, args: Args) -> str:
    return w.say(DEVICE_HEARD_AGAIN, serial=str(args["serial"]), kind=_kind(w, args),
                 time=w.time(args["at"]))


def _questionnaire_name(w: _Writer, args: Args) -> str:
    found = QUESTIONNAIRES.get(str(args["questionnaire"]))
    return w.word(found.title) if found is not None else str(args["questionnaire"])


def _questionnaire(w: _Writer, args: Args) -> str:
    band = str(args["band"])
    text = w.say(QUESTIONNAIRE, questionnaire=_questionnaire_name(w, args),
                 score=w.number(args["score"], 0), max_score=w.number(args["max_score"], 0),
                 band=w.word(QUESTIONNAIRE_BANDS.get(band, band)), time=w.time(args["at"]))
    flags = [w.word(QUESTIONNAIRE_FLAGS_WORDS.get(str(f), str(f))) for f in args["flags"]]
    return w.say(QUESTIONNAIRE_FLAGS, sentence=text, flags=", ".join(flags)) if flags else text


def _questionnaire_recovered(w: _Writer, args: Args) -> str:
    return w.say(QUESTIONNAIRE_RECOVERED, questionnaire=_questionnaire_name(w, args),
                 score=w.number(args["score"], 0), max_score=w.number(args["max_score"], 0),
                 time=w.time(args["at"]))


SENTENCES: dict[str, Callable[[_Writer, Args], str]] = {
    "questionnaire": _questionnaire,
    "questionnaire_recovered": _questionnaire_recovered,
    "threshold": _threshold,
    "threshold_recovered": _threshold_recovered,
    "trend": _trend,
    "news2": _news2,
    "news2_recovered": _news2_recovered,
    "missed_measurement": _missed,
    "device_silent": _device_silent,
    "device_heard_again": _device_heard_again,
}


def alert_sentence(code: str | None, args: Mapping[str, Any] | None, fallback: str, *,
                   lang: str, timezone: str | None, name_zone: bool = False) -> str:
    """The detail of an alert in ``lang`` with times in ``timezone`` (the patient's).

    ``fallback`` (the stored English ``detail``) is returned for an alert without a code
    (stored before codes existed), an unknown code, or values that cannot be read.
    ``name_zone`` adds the zone's name after each time (when it is not the site's own).
    """
    sentence = SENTENCES.get(code or "")
    if sentence is None or not isinstance(args, Mapping):
        return fallback
    try:
        return sentence(_Writer(lang, timezone, name_zone), args)
    except (KeyError, TypeError, ValueError, OverflowError):
        return fallback
