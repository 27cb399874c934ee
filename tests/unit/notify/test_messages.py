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


def test_a_digest_groups_by_kind_with_counts_and_links_in_the_readers_language() -> None:
    from telemed.notify.messages import DigestItem, digest_message, digest_text

    site = "https://t.example"
    items = [DigestItem("document_cosign", title("it", "document_cosign", {"initials": "A. B."}),
                        f"{site}/documents/d1"),
             *(DigestItem("teleconsult_request",
                          title("it", "teleconsult_request", {"initials": i}),
                          f"{site}/teleconsults/{n}") for n, i in (("c1", "M. R."),
                                                                   ("c2", "L. V.")))]
    text = digest_text("it", items, f"{site}/settings/notifications")
    # the groups in a fixed order, whatever the order of the items
    assert text.index("Nuove richieste di teleconsulto (×2)") < text.index(
        "Referti in attesa della tua controfirma (×1)")
    heading = title("it", "teleconsult_request", {"initials": "L. V."})
    assert f"- {heading}\n  {site}/teleconsults/c2\n" in text
    assert f"{site}/documents/d1" in text and f"{site}/settings/notifications" in text
    assert "dati clinici" in text
    msg = digest_message(lang="en", items=items[:1], settings_url=f"{site}/settings",
                         sender="telemed@t.example", recipient="a@b.example",
                         message_id="<digest-x@t.example>")
    assert msg["Subject"] == "Telemed: Your daily summary"
    assert msg["Content-Language"] == "en" and msg["Message-ID"] == "<digest-x@t.example>"
    assert "Reports awaiting your co-signature (×1)" in msg.get_content()
