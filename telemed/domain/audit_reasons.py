"""Why an audit row was written: a stable code and its parameters, never finished English.

An audit row stores ``reason_code`` and ``reason_params`` (JSON). The English template of
each code (`TEMPLATES`, the catalogue msgid) is said at the edge: the patient's access log in
the page's language, the API and FHIR AuditEvent as the code plus its English text. Rewording a
template keeps its Italian (the code names the message, as errors' codes do).

A parameter named ``for`` holds the code of an inner reason (its own parameters alongside):
``because("latest_vitals").within("oncall_access_for")`` says "On-call access: Latest vitals".
A parameter listed in `WORDS` is a code said as a word ("on_call_cover" → "On-call cover").
Rows written before codes keep their text as the ``legacy`` code's ``text`` parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, get_args

from telemed.domain.errors import N_, render_template

ReasonCode = Literal[
    "legacy", "list", "search", "alert_stream", "alert_board", "alert_board_vitals",
    "latest_vitals", "vitals_charts", "vitals_series", "population_view", "alarm_burden",
    "consent_withdrawn_notice", "visit_participant", "booking_agenda", "rescheduled",
    "acknowledge_page", "alert_notifications", "password_changed", "logout_everywhere",
    "second_factor_reset", "fiscal_code_set", "fiscal_code_changed", "fiscal_code_removed",
    "alert_opened", "alert_updated", "alert_escalated",
    "alert_escalated_to", "alert_escalated_nobody", "alert_recovered", "alert_acknowledge",
    "alert_resolve", "alert_snooze", "consent_granted", "consent_revoked", "review_confirmed",
    "review_flagged", "emergency", "command_line", "command_line_for", "telemonitoring",
    "teleconsult_access", "teleconsult_access_for", "oncall_access", "oncall_access_for",
    "dicom_reconciliation", "careplan_version", "careplan_activate", "careplan_complete",
    "careplan_superseded", "manual_reading", "manual_reading_form", "my_record",
    "questionnaires_due", "oncall_shift", "user_activated", "user_deactivated",
    "guest_invited", "guest_revoked", "delegation_granted", "delegation_requested",
    "device_unchanged", "device_taken", "device_given",
    "document_sign", "document_signed", "document_cosigned", "document_signed_awaiting",
    "signature_too_many_attempts", "signature_wrong_password", "signature_wrong_code",
    "teleconsult_report", "teleconsult_report_for", "teleconsult_request",
    "teleconsult_accept", "teleconsult_decline", "teleconsult_more_info",
    "teleconsult_add_info", "teleconsult_cancel", "teleconsult_schedule",
    "teleconsult_answer",
]

# The English template of every code (the catalogue msgid; a unit test checks every code has one).
TEMPLATES: dict[str, str] = {
    "legacy": "{text}",  # a row written before codes: its text as it was stored
    "list": N_("In a list"),
    "search": N_("In a search"),
    "alert_stream": N_("Live alert board"),
    "alert_board": N_("Alert board"),
    "alert_board_vitals": N_("Alert board: latest vitals"),
    "latest_vitals": N_("Latest vitals"),
    "vitals_charts": N_("Vital-sign charts"),
    "vitals_series": N_("Vital-sign charts"),
    "population_view": N_("Patients by need"),
    "alarm_burden": N_("Alarm burden"),
    "consent_withdrawn_notice": N_("Notice of withdrawn consent"),
    "visit_participant": N_("Invited to a visit"),
    "booking_agenda": N_("Agenda of booked visits"),
    "rescheduled": N_("Visit moved"),
    "acknowledge_page": N_("Alert acknowledgement page"),
    "alert_notifications": N_("Who was told of an alert"),
    "password_changed": N_("Password changed"),
    "logout_everywhere": N_("Logged out everywhere"),
    "second_factor_reset": N_("Second factor reset"),
    "fiscal_code_set": N_("Fiscal code set: {new}"),
    "fiscal_code_changed": N_("Fiscal code changed: {old} → {new}"),
    "fiscal_code_removed": N_("Fiscal code removed: {old}"),
    "alert_opened": N_("Opened"),
    "alert_updated": N_("Alert updated"),
    "alert_escalated": N_("Alert escalated"),
    "alert_escalated_to": N_("Alert escalated to {user}"),
    "alert_escalated_nobody": N_("Alert escalated to nobody (no clinician in the chain)"),
    "alert_recovered": N_("Back in range"),
    "alert_acknowledge": N_("Alert acknowledged"),
    "alert_resolve": N_("Alert resolved"),
    "alert_snooze": N_("Alert snoozed for {minutes} min"),
    "consent_granted": N_("Granted"),
    "consent_revoked": N_("Withdrawn"),
    "review_confirmed": N_("Review: confirmed"),
    "review_flagged": N_("Review: flagged"),
    "emergency": "{grounds}",  # one word: the grounds of the emergency access (`WORDS`)
    "command_line": N_("Command line"),
    "command_line_for": N_("Command line: {for}"),
    "telemonitoring": N_("Telemonitoring without consent to the record"),
    "teleconsult_access": N_("Consulted specialist (teleconsult)"),
    "teleconsult_access_for": N_("Consulted specialist (teleconsult): {for}"),
    "oncall_access": N_("On-call access"),
    "oncall_access_for": N_("On-call access: {for}"),
    "dicom_reconciliation": N_("Images of another patient ID attached after a check"),
    "careplan_version": N_("Care plan version {version}"),
    "careplan_activate": N_("Care plan activated"),
    "careplan_complete": N_("Care plan completed"),
    "careplan_superseded": N_("Completed: superseded by a newly activated plan"),
    "manual_reading": N_("Reading entered by hand"),
    "manual_reading_form": N_("Form of a reading entered by hand"),
    "my_record": N_("My record"),
    "questionnaires_due": N_("Questionnaires due"),
    "oncall_shift": N_("On-call shift {shift}"),
    "user_activated": N_("Account activated"),
    "user_deactivated": N_("Account deactivated"),
    "guest_invited": N_("Guest invited to visit {visit}"),
    "guest_revoked": N_("Guest invitation withdrawn"),
    "delegation_granted": N_("{relationship} ({scope}): {delegate}"),
    "delegation_requested": N_("{relationship} ({scope}): {delegate} (written request: {note})"),
    "device_unchanged": N_("Device reassigned: no change"),
    "device_taken": N_("Device {serial} taken from this patient at {at}"),
    "device_given": N_("Device {serial} given to this patient at {at}"),
    "document_sign": N_("Signing"),
    "document_signed": N_("Signed by {user}"),
    "document_cosigned": N_("Co-signed by {user}"),
    "document_signed_awaiting": N_("Signed by {user}, awaiting co-signature"),
    "signature_too_many_attempts": N_("Signature not confirmed: too many attempts"),
    "signature_wrong_password": N_("Signature not confirmed: wrong password"),
    "signature_wrong_code": N_("Signature not confirmed: wrong code"),
    "teleconsult_report": N_("Teleconsult report"),
    "teleconsult_report_for": N_("Teleconsult report: {for}"),
    "teleconsult_request": N_("Teleconsult request"),
    "teleconsult_accept": N_("Teleconsult accepted"),
    "teleconsult_decline": N_("Teleconsult declined"),
    "teleconsult_more_info": N_("Teleconsult: more information asked"),
    "teleconsult_add_info": N_("Teleconsult: information added"),
    "teleconsult_cancel": N_("Teleconsult withdrawn"),
    "teleconsult_schedule": N_("Teleconsult scheduled"),
    "teleconsult_answer": N_("Teleconsult answered"),
}

# Parameters whose value is a code said as a word: (parameter, value) → English word (msgid).
WORDS: dict[tuple[str, str], str] = {  # every domain.emergency.ReasonCode (a unit test checks)
    ("grounds", "unable_to_consent"): N_("Patient unconscious or unable to consent"),
    ("grounds", "urgent_clinical_need"): N_("Urgent clinical need"),
    ("grounds", "on_call_cover"): N_("On-call cover"),
    ("grounds", "continuity_of_care"): N_("Continuity of care"),
    ("grounds", "other"): N_("Other (see the reason)"),
}

MAX_PARAM = 1000  # a longer parameter (a written request) ends with an ellipsis


def _fit(value: str) -> str:
    return value if len(value) <= MAX_PARAM else value[:MAX_PARAM - 1] + "…"


@dataclass(frozen=True, slots=True)
class Reason:
    """An audit reason: a code of `TEMPLATES` and the text parameters of its template."""

    code: ReasonCode
    params: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(
            {name: _fit(str(value)) for name, value in self.params.items()}))

    def within(self, code: ReasonCode) -> Reason:
        """This reason inside `code`'s (a ``…_for`` code: "On-call access: <this>")."""
        return Reason(code, {**self.params, "for": self.code})

    def text(self) -> str:
        """The English text (the API's and FHIR's, next to the code)."""
        return say(self.code, self.params)


def because(code: ReasonCode, **params: object) -> Reason:
    """`Reason(code, params)`, the parameters said as text."""
    return Reason(code, {name: str(value) for name, value in params.items()})


def legacy(text: str) -> Reason:
    """A reason written as free text (a row from before codes)."""
    return Reason("legacy", {"text": text})


def _same(message: str) -> str:
    return message


def say(code: str, params: Mapping[str, object] | None,
        gettext: Callable[[str], str] = _same) -> str:
    """The reason `code` with `params` said through `gettext` (English when left out).

    An unknown code (a newer version's row) is said as its code."""
    values: dict[str, object] = dict(params or {})
    inner = values.pop("for", None)
    if isinstance(inner, str):
        values["for"] = say(inner, values, gettext)
    for name, value in values.items():
        word = WORDS.get((name, value)) if isinstance(value, str) else None
        if word is not None:
            values[name] = gettext(word)
    template = TEMPLATES.get(code)
    if template is None:
        return code.replace("_", " ")
    return render_template(gettext(template) if code in _MSGIDS else template, values)


_MSGIDS = frozenset(get_args(ReasonCode)) - {"legacy", "emergency"}
