"""The guard that reads every test email refuses clinical content (so it can fail at all)."""

from __future__ import annotations

from telemed.notify.messages import email_message
from tests.smtp_fixture import clinical_leaks


def _mail(heading: str) -> object:
    return email_message(lang="en", heading=heading, url="https://t.example/alerts/a1b2/x",
                         sender="t@t.example", recipient="d@t.example", message_id="<1@t>")


def test_a_clean_message_passes() -> None:
    msg = _mail("Critical alert not acknowledged (patient M. R.)")
    assert clinical_leaks(msg, ["Rossi"]) == []  # type: ignore[arg-type]


def test_values_metric_names_units_and_named_texts_are_caught() -> None:
    msg = _mail("SpO2 85 % for Mario Rossi, heart failure")
    leaks = clinical_leaks(msg, ["Rossi", "heart failure"])  # type: ignore[arg-type]
    assert "digit '85'" in leaks
    assert "text 'SpO2'" in leaks and "text '%'" in leaks
    assert "text 'Rossi'" in leaks and "text 'heart failure'" in leaks
