"""Audit reasons are codes with parameters, said in the reader's language at the edge."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import get_args

from telemed.domain.audit_reasons import MAX_PARAM, TEMPLATES, ReasonCode, because, legacy, say
from telemed.i18n import translations
from tests.helpers.paths import ROOT


def _italian(msgid: str) -> str:
    return translations("it").gettext(msgid)


def _migration() -> ModuleType:
    path = ROOT / "telemed/db/migrations/versions/0019_audit_reason_codes.py"
    spec = importlib.util.spec_from_file_location("audit_reason_codes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_code_has_an_english_template() -> None:
    assert set(get_args(ReasonCode)) == set(TEMPLATES)


def test_an_inner_reason_and_a_word_are_said_within_their_template() -> None:
    on_call = because("latest_vitals").within("oncall_access_for")
    assert on_call.text() == "On-call access: Latest vitals"
    assert say(on_call.code, on_call.params, _italian) == (
        "Accesso del reperibile: Ultimi parametri vitali")
    grounds = because("emergency", grounds="on_call_cover")
    assert grounds.text() == "On-call cover"
    assert say(grounds.code, grounds.params, _italian) == _italian("On-call cover") != (
        "On-call cover")


def test_parameters_fill_the_translated_template() -> None:
    version = because("careplan_version", version=3)
    assert version.params == {"version": "3"}
    assert version.text() == "Care plan version 3"
    assert say(version.code, version.params, _italian) == "Piano di cura, versione 3"


def test_free_text_and_unknown_codes_are_said_as_they_are() -> None:
    assert say("legacy", legacy("signed by anna").params, _italian) == "signed by anna"
    assert say("from_a_newer_version", {}, _italian) == "from a newer version"


def test_a_long_parameter_is_visibly_shortened() -> None:
    note = because("delegation_requested", relationship="parent", scope="read",
                   delegate="Anna", note="n" * (MAX_PARAM + 5)).params["note"]
    assert len(note) == MAX_PARAM and note.endswith("…")


def test_a_reworded_english_reason_keeps_its_italian() -> None:
    """Rows keep the code, not the English: the texts the old versions stored ("version 3",
    "acknowledge", now worded "Care plan version 3", "Alert acknowledged") are said in
    Italian from their code, and the migration writes back exactly the old text."""
    migration = _migration()
    for resource, old, english, italian in [
        ("careplan", "version 3", "Care plan version 3", "Piano di cura, versione 3"),
        ("alert", "acknowledge", "Alert acknowledged", "Allarme preso in carico"),
        ("alert", "on-call access: snooze 30 min", "On-call access: Alert snoozed for 30 min",
         "Accesso del reperibile: Allarme sospeso per 30 min"),
        ("device", "device SN-1 given to this patient at 2026-03-01T09:00:00+00:00",
         "Device SN-1 given to this patient at 2026-03-01T09:00:00+00:00",
         "Dispositivo SN-1 dato a questo paziente il 2026-03-01T09:00:00+00:00"),
    ]:
        code, params = migration.to_code(resource, old)
        assert (say(code, params), say(code, params, _italian)) == (english, italian)
        assert migration.to_text(code, params) == old
