"""What a notification says outside the platform: translated, and nothing clinical."""

from __future__ import annotations

from telemed.notify.messages import email_message, initials, message_id, title


def test_titles_are_translated_with_initials_only() -> None:
    params = {"initials": initials("Mario", "Rossi"), "step": 2}
    assert title("en", "alert_escalated", params) == \
        "Critical alert not acknowledged (patient M. R.)"
    assert title("it", "alert_escalated", params) == \
        "Allerta critica non presa in carico (paziente M. R.)"


def test_unknown_code_or_missing_params_fall_back() -> None:
    assert title("en", "no_such_code", {}) == "You have a new notification"
    assert title("en", "alert_critical", {}) == "You have a new notification"


def test_message_id_is_stable_and_uses_the_senders_domain() -> None:
    a = message_id("abc123", "Telemed <telemed@asl.example.org>")
    assert a == message_id("abc123", "Telemed <telemed@asl.example.org>")
    assert a == "<abc123@asl.example.org>"


def test_email_carries_language_link_and_message_id() -> None:
    msg = email_message(lang="it", heading="Titolo", url="https://t.example/alerts/x/acknowledge",
                        sender="telemed@t.example", recipient="a@b.example",
                        message_id="<n1@t.example>")
    assert msg["Content-Language"] == "it"
    assert msg["Message-ID"] == "<n1@t.example>"
    body = msg.get_content()
    assert "https://t.example/alerts/x/acknowledge" in body
    assert "dati clinici" in body
