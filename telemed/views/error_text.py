"""Errors and notices of services and the domain, said in the page's language.

A service's `ApiError` and a domain rule's `FieldError` carry a code, an English template and
its parameters. A page says them here: the message named by the code (`BY_CODE`, the catalogue
msgid) when the code names one message, else the error's own template; then the parameters,
each translated in its own context when it is a known word (`VALUES`: ``pgettext("status",
"draft")``). A service may reword its English message: the code keeps its translation.
"""

from __future__ import annotations

from collections.abc import Mapping

from telemed.domain.errors import FieldError, render_template
from telemed.domain.units import METRICS
from telemed.errors import ApiError
from telemed.i18n import translations


def N_(message: str) -> str:
    """Mark a msgid for extraction."""
    return message


def NC_(context: str, message: str) -> tuple[str, str]:
    """Mark a msgid with a context for extraction."""
    return context, message


# The message of each error code that names one message (translation key → catalogue msgid).
BY_CODE: dict[str, str] = {
    # access, consent, emergency access
    "no_access": N_("You have no access to this patient's record."),
    "consent_withdrawn": N_("The patient withdrew consent to the consultation of their record."),
    "emergency_access_read_only": N_(
        "Emergency access lets you read the record and handle its alerts, not change it."),
    "already_reviewed": N_("This emergency access was already reviewed."),
    "already_delegate": N_("This person is already a delegate."),
    "csrf_failed": N_("The form has expired or did not come from this site. Reload and retry."),
    "internal_error": N_("Something went wrong on our side."),
    "invalid_credentials": N_("Wrong username or password."),
    "invalid_cursor": N_("cursor is not valid."),
    "invalid_limit": N_("limit must be a whole number from 1 to {max}."),
    # users
    "cannot_deactivate_self": N_("You cannot deactivate your own account."),
    "invalid_role": N_("Unknown role."),
    "username_taken": N_("That username is taken."),
    "patient_has_user": N_("That patient already has a user."),
    # patients and care plans
    "fiscal_code_taken": N_("A patient with this fiscal code already exists."),
    "not_care_staff": N_("{user_id} is not an active doctor or nurse."),
    "careplan_completed": N_("A completed care plan cannot be changed."),
    "careplan_not_draft": N_("Only a draft can be activated; this plan is {status}."),
    "careplan_not_active": N_("Only an active plan can be completed; this plan is {status}."),
    # alerts
    "alert_acknowledged": N_("This alert is already acknowledged."),
    "alert_resolved": N_("This alert is already resolved."),
    # visits, guests, reports
    "too_early": N_("The visit opens 15 minutes before its start time."),
    "too_late": N_("The time to join this visit is over."),
    "visit_cancelled": N_("This visit was cancelled."),
    "visit_completed": N_("This visit has ended."),
    "visit_not_cancellable": N_("This visit can no longer be cancelled."),
    "visit_not_held": N_("A report can be written only for a visit that took place."),
    "report_signed": N_("The report of this visit is already signed and cannot change."),
    "guest_limit": N_("This visit already has as many guests as it allows."),
    "guest_revoked": N_("This invitation was withdrawn."),
    "invalid_link": N_("This invitation link is not valid or has expired."),
    "link_used": N_("This invitation link was already used."),
    # notifications
    "delivery_not_failed": N_("Only failed or dead deliveries can be retried."),
    "shift_overlaps": N_("This shift overlaps another shift of the same person."),
}

# aiohttp's own reasons of an HTTP error (its words, said on the error page).
HTTP_REASONS: tuple[str, ...] = (N_("Bad Request"), N_("Forbidden"),
                                 N_("Request body is too large."))

# "{what} not found." as said of each kind of record (`errors.not_found(what)`): a page says
# the whole sentence when the catalogue has it, so that it agrees with the noun.
NOT_FOUND: tuple[str, ...] = (
    N_("Patient not found."), N_("Care plan not found."), N_("Care plan version not found."),
    N_("User not found."), N_("Resource not found."), N_("Visit not found."),
)

# Placeholder values that are words (translated in the placeholder's context).
VALUES: tuple[tuple[str, str], ...] = (
    NC_("relation", "above"),
    NC_("relation", "at or above"),
    NC_("lower", "critical_low"),
    NC_("lower", "warning_low"),
    NC_("lower", "warning_high"),
    NC_("upper", "warning_low"),
    NC_("upper", "warning_high"),
    NC_("upper", "critical_high"),
    NC_("expected", "a number"),
    NC_("expected", "a whole number"),
    NC_("expected", "a text"),
    NC_("expected", "an object"),
    NC_("expected", "true or false"),
    NC_("expected", "a metric name"),
    NC_("expected", "true (or leave it out and give times)"),
    NC_("expected", "a list of texts"),
    NC_("expected", "a list of user ids"),
    NC_("expected", "a list of monitoring entries"),
    NC_("expected", "a list of trend rules"),
    NC_("expected", "a list of times (HH:MM)"),
    NC_("metric", "heart_rate"),
    NC_("metric", "resp_rate"),
    NC_("metric", "spo2"),
    NC_("metric", "body_temp"),
    NC_("metric", "bp_systolic"),
    NC_("metric", "bp_diastolic"),
    NC_("metric", "body_weight"),
    NC_("metric", "blood_glucose"),
    NC_("metric", "battery"),
    NC_("status", "draft"),
    NC_("status", "active"),
    NC_("status", "completed"),
    NC_("what", "Patient"),
    NC_("what", "Care plan"),
    NC_("what", "User"),
)

# How English pages word the placeholder values that are identifiers.
_LIMITS = {"critical_low": "critical low", "warning_low": "warning low",
           "warning_high": "warning high", "critical_high": "critical high"}
ENGLISH_VALUES: dict[tuple[str, str], str] = {
    **{("lower", key): f"The {words} limit" for key, words in _LIMITS.items()},
    **{("upper", key): f"the {words} limit" for key, words in _LIMITS.items()},
}


def translate_value(language: str, name: str, value: object) -> object:
    """A placeholder's value in `language`, when the catalogue knows it in context `name`.

    In English, identifiers become words (``warning_low`` → ``the warning low limit``)."""
    if not isinstance(value, str):
        return value
    if language == "en":
        if name == "metric" and value in METRICS:
            return METRICS[value].display_name.lower()
        return ENGLISH_VALUES.get((name, value), value)
    translated = translations(language).pgettext(name, value)
    return translated if isinstance(translated, str) else value


def say(language: str, message: FieldError | str) -> str:
    """`message` (a code with an English template and parameters, or plain English) in
    `language`: by its code when the code names one message, else by its text."""
    if isinstance(message, str):
        message = FieldError("", "", message)
    params: Mapping[str, object] = {name: translate_value(language, name, value)
                                    for name, value in message.params.items()}
    if language == "en":
        return render_template(message.message, params)
    trans = translations(language)
    msgid = BY_CODE.get(message.code)
    if msgid is None:
        rendered = message.render()
        direct = trans.gettext(rendered)
        if direct != rendered:
            return direct
        msgid = message.message
    return render_template(trans.gettext(msgid), params)


def say_all(language: str, error: ApiError) -> list[tuple[str, str]]:
    """(field path, or "" for the whole request; text) of every problem of `error`."""
    return [(problem.path, say(language, problem)) for problem in error.messages()]
