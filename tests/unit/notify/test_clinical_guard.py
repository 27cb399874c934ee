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


def test_a_folded_count_is_not_a_value_but_other_digits_still_are() -> None:
    from telemed.notify.messages import title

    heading = title("en", "alert_critical", {"initials": "M. R."}, count=3)
    assert heading == "New critical alert (patient M. R.) (×3)"
    assert clinical_leaks(_mail(heading), []) == []  # type: ignore[arg-type]
    leaks = clinical_leaks(_mail(heading + " 92"), [])  # type: ignore[arg-type]
    assert leaks and set(leaks) == {"digit '92'"}  # subject and body


def test_a_guest_reminder_says_nothing_clinical_and_asks_for_no_login() -> None:
    from telemed.notify.messages import email_message, title

    for lang in ("it", "en"):
        msg = email_message(lang=lang, heading=title(lang, "visit_reminder_guest", {}),
                            url="https://t.example/visits/v1/guest?t=abc", sender="t@t.example",
                            recipient="g@t.example", message_id="<2@t>", guest=True)
        assert clinical_leaks(msg, []) == []
        assert "log in" not in msg.get_content() and "accedere" not in msg.get_content()
