"""Errors are said by their code and parameters, translated at the edge."""

from __future__ import annotations

from telemed.domain.careplans import parse_careplan_content
from telemed.domain.errors import DomainValidationError, FieldError
from telemed.errors import ApiError, from_domain, not_found
from telemed.views.error_text import BY_CODE, say, say_all


def test_a_reworded_service_message_keeps_its_italian_translation() -> None:
    worded = ApiError(409, "alert_acknowledged", "This alert is already acknowledged.")
    reworded = ApiError(409, "alert_acknowledged", "Someone acknowledged this alert already.")
    assert say("it", worded.said) == "Questa allerta è già stata presa in carico."
    assert say("it", reworded.said) == say("it", worded.said)
    # English pages say the service's own (new) words; the JSON API keeps them too
    assert say("en", reworded.said) == "Someone acknowledged this alert already."
    assert reworded.body() == {"error": {"code": "alert_acknowledged",
                                         "message": "Someone acknowledged this alert already."}}


def test_parameters_fill_the_translated_message_and_are_translated_themselves() -> None:
    error = ApiError(409, "invalid_status", "Only a draft can be activated; this plan is {status}.",
                     params={"status": "active"}, key="careplan_not_draft")
    assert error.message == "Only a draft can be activated; this plan is active."
    assert error.body()["error"] == {"code": "invalid_status", "message": error.message}
    italian = say("it", error.said)
    assert "{status}" not in italian and "attivo" in italian and "active" not in italian
    reworded = ApiError(409, "invalid_status", "Drafts only; this one is {status}.",
                        params={"status": "active"}, key="careplan_not_draft")
    assert say("it", reworded.said) == italian


def test_a_domain_field_error_is_said_from_its_template_and_values() -> None:
    content = {"monitoring": [{"metric": "spo2", "schedule": {"continuous": True},
                               "bands": {"warning_low": 88, "critical_low": 92}}]}
    try:
        parse_careplan_content(content)
    except DomainValidationError as exc:
        error = from_domain(exc)
    else:  # pragma: no cover - the content above is invalid
        raise AssertionError("expected a validation error")
    [(path, english)] = [(p, say("en", m)) for p, m in error.problems.items()]
    [(_, italian)] = say_all("it", error)
    assert path.startswith("monitoring[0].bands")
    assert "limit" in english and "{" not in english
    assert italian != english and "{" not in italian and "92" in italian
    assert error.fields[path] == error.problems[path].render()  # the API keeps its English


def test_plain_english_and_not_found_are_still_translated_by_their_text() -> None:
    assert say("it", not_found("Patient").said) != "Patient not found."
    assert not_found("Patient").message == "Patient not found."
    assert say("it", "Some fields are not valid.") != "Some fields are not valid."
    assert say("it", "A text no catalogue holds.") == "A text no catalogue holds."


def test_codes_name_messages_that_the_catalogue_translates() -> None:
    for code, msgid in BY_CODE.items():
        assert say("it", FieldError("", code, "reworded")) != "reworded", code
        assert say("it", FieldError("", code, msgid)) != msgid, code
