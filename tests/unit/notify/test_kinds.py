"""Notification kinds and the opt-out rules of docs/notifications.md."""

from __future__ import annotations

from telemed.notify import kinds


def test_defaults_follow_the_contract() -> None:
    assert kinds.effective(None) == {
        "alert_escalated": True, "alert_critical": False, "emergency_access": True,
        "document_available": True, "visit_reminder": True, "visit_changed": True,
        "account_security": True, "teleconsult_request": True, "teleconsult_urgent": True,
        "teleconsult_update": True, "document_cosign": True}


def test_an_urgent_teleconsult_request_cannot_be_turned_off() -> None:
    assert kinds.preference_errors({"teleconsult_urgent": False}) == {
        "notify.teleconsult_urgent": "This notification cannot be turned off."}
    assert kinds.preference_errors({"teleconsult_request": False,
                                    "teleconsult_update": False}) == {}
    assert kinds.wants({"teleconsult_urgent": False}, "teleconsult_urgent")
    assert not kinds.wants({"teleconsult_request": False}, "teleconsult_request")


def test_a_pending_co_signature_is_told_unless_turned_off() -> None:
    assert kinds.wants(None, "document_cosign")
    assert kinds.preference_errors({"document_cosign": False}) == {}
    assert not kinds.wants({"document_cosign": False}, "document_cosign")


def test_opting_in_and_out() -> None:
    stored = kinds.merged(None, {"alert_critical": True, "visit_changed": False})
    assert kinds.wants(stored, "alert_critical")
    assert not kinds.wants(stored, "visit_changed")
    assert kinds.wants(stored, "document_available")  # untouched: its default


def test_mandatory_kinds_cannot_be_turned_off_even_if_stored() -> None:
    assert kinds.wants({"alert_escalated": False, "emergency_access": False}, "alert_escalated")
    assert kinds.wants({"emergency_access": False}, "emergency_access")


def test_preference_errors() -> None:
    assert kinds.preference_errors({"alert_critical": True, "emergency_access": True}) == {}
    errors = kinds.preference_errors({"sms_spam": True, "alert_escalated": False,
                                      "visit_changed": "yes"})
    assert set(errors) == {"notify.sms_spam", "notify.alert_escalated", "notify.visit_changed"}


def test_merged_drops_unknown_stored_kinds() -> None:
    assert kinds.merged({"old_kind": True}, {"visit_reminder": False}) == {
        "visit_reminder": False}
