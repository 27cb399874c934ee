"""OpenAPI 3.1 description of /api/v1, built from the route table and one operation table.

Every /api/v1 route must have an entry in OPERATIONS (a test compares both ways), so the
description cannot drift from what the server answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from aiohttp import web
from pydantic import BaseModel

from telemed import __version__
from telemed.api import (
    alerts,
    auth,
    booking,
    careplans,
    consents,
    delegates,
    devices,
    documents,
    identity,
    oncall,
    patients,
    precall,
    questionnaires,
    teleconsults,
    users,
    visits,
)
from telemed.domain.alert_detail import DETAIL_CODES
from telemed.principal import public
from telemed.services.alerts import SEVERITIES, STATUSES, AlertKind

Security = Literal["bearer", "basic", "none"]
ERROR_STATUSES = ("400", "401", "403", "404", "409", "413", "415", "422", "429", "503")
PAGE = ("limit", "cursor")


@dataclass(frozen=True)
class Operation:
    """What the description says of one method and path."""

    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: tuple[str, ...] = ()
    success: int = 200
    security: Security = "bearer"
    media: str = "application/json"
    extra: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] | None = None  # schema of the success body (JSON)
    description: str = ""


def _nullable(kind: str, **more: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **more}


def _ref(name: str) -> dict[str, Any]:
    """A reference to the component schema `name`."""
    return {"$ref": f"#/components/schemas/{name}"}


def _page(items: dict[str, Any]) -> dict[str, Any]:
    """A page of a list endpoint whose items are `items`."""
    return {"type": "object", "required": ["items", "next_cursor"], "properties": {
        "items": {"type": "array", "items": items}, "next_cursor": _nullable("string")}}


_TIME = {"type": "string", "format": "date-time"}
DEVICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "serial", "kind", "patient_id", "status", "assignments"],
    "properties": {
        "id": {"type": "string"},
        "serial": {"type": "string"},
        "kind": {"type": "string"},
        "patient_id": _nullable("string"),
        "status": {"type": "string", "enum": ["online", "offline", "revoked"]},
        "last_seen": _nullable("string", format="date-time"),
        "battery": _nullable("number"),
        "created_at": _TIME,
        "revoked_at": _nullable("string", format="date-time"),
        "assignments": {
            "type": "array",
            "description": "Who had the device when, oldest first: a reading belongs to the "
                           "patient whose interval [from, until) holds its time. patient_id "
                           "is null for a patient the caller may not see; until is null for "
                           "the current assignment.",
            "items": {"type": "object", "required": ["patient_id", "from", "until"],
                      "properties": {"patient_id": _nullable("string"), "from": _TIME,
                                     "until": _nullable("string", format="date-time")}},
        },
    },
}
ALERT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "patient_id", "kind", "metric", "severity", "status", "recovered",
                 "value", "detail", "detail_code", "detail_args", "opened_at", "updated_at",
                 "rule_key", "seq"],
    "properties": {
        "id": {"type": "string"},
        "patient_id": {"type": "string"},
        "kind": {"type": "string", "enum": list(get_args(AlertKind))},
        "metric": _nullable("string"),
        "severity": {"type": "string", "enum": list(SEVERITIES)},
        "status": {"type": "string", "enum": list(STATUSES)},
        "recovered": {"type": "boolean"},
        "value": _nullable("number"),
        "detail": {"type": "string", "description": "What the rule found, in English with "
                   "UTC times (for people, pages use detail_code and detail_args)."},
        "detail_code": _nullable("string", enum=[*DETAIL_CODES, None], description=(
            "What the rule found, as a stable code; null on alerts stored before codes "
            "existed (then only detail says it).")),
        "detail_args": _nullable("object", description=(
            "The values of detail_code: metric, value and unit (canonical UCUM), zone, "
            "times as ISO 8601 with offset, NEWS2 total/max_single/risk, device "
            "id/serial/kind, missed-measurement reason (device_offline or patient_skipped) "
            "... (docs/api.md lists them per code).")),
        "opened_at": _TIME,
        "updated_at": _TIME,
        "careplan_id": _nullable("string"),
        "careplan_version": _nullable("integer"),
        "escalated": {"type": "boolean"},
        "rule_key": {"type": "string"},
        "acknowledged_by": _nullable("string"),
        "acknowledged_at": _nullable("string", format="date-time"),
        "ack_note": _nullable("string"),
        "resolved_by": _nullable("string"),
        "resolved_at": _nullable("string", format="date-time"),
        "resolve_note": _nullable("string"),
        "snoozed_until": _nullable("string", format="date-time"),
        "seq": {"type": "integer"},
        "patient": {"type": "object", "properties": {
            "id": {"type": "string"}, "given_name": {"type": "string"},
            "family_name": {"type": "string"}}},
    },
}
ALERT_REF = _ref("Alert")
ALERT_PAGE = _page(ALERT_REF)

PATIENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "fiscal_code", "given_name", "family_name", "birth_date", "sex",
                 "timezone"],
    "properties": {
        "id": {"type": "string"},
        "fiscal_code": {"type": "string"},
        "given_name": {"type": "string"},
        "family_name": {"type": "string"},
        "birth_date": {"type": "string", "format": "date"},
        "sex": {"type": "string", "enum": patients.SEX_OUT,
                "description": "M (male), F (female), O (other), U (unknown); FHIR "
                               "Patient.gender maps them to male, female, other, unknown."},
        "phone": _nullable("string"),
        "timezone": {"type": "string"},
    },
}
PATIENT_REF = _ref("Patient")
PATIENT_PAGE = _page(PATIENT_REF)
# An attachment: a raw file, or a PACS study named in JSON.
ATTACHMENT = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _ref("StudyRef")},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/api/v1/auth/token"): Operation(
        "Exchange username and password for a bearer token", "auth", auth.TokenRequest,
        security="none"),
    ("POST", "/api/v1/auth/logout-everywhere"): Operation(
        "End every session and token of the caller", "auth"),
    ("POST", "/api/v1/auth/logout"): Operation(
        "End the session of this token (or cookie)", "auth"),
    ("GET", "/api/v1/users"): Operation("List users (admin)", "users", query=(*PAGE, "role")),
    ("POST", "/api/v1/users"): Operation(
        "Create a user (admin)", "users", users.UserCreate, success=201,
        description="notify_delivery ({KIND: immediate|digest}) and digest_time (HH:MM) are "
                    "the daily digest's choices, validated as PATCH /users/me validates them "
                    "(422 unknown_kind, invalid_choice, not_digestible, invalid_time). 409 "
                    "user_fiscal_code_taken when another user has the fiscal code."),
    ("GET", "/api/v1/users/me"): Operation("The caller", "users"),
    ("GET", "/api/v1/users/{user_id}"): Operation("One user (admin)", "users"),
    ("POST", "/api/v1/users/me/password"): Operation(
        "Change the caller's password (ends the caller's other sessions)", "users",
        users.PasswordChange),
    ("PATCH", "/api/v1/users/{user_id}"): Operation(
        "Deactivate or reactivate a user (admin)", "users", users.UserActivation),
    ("GET", "/api/v1/users/me/sessions"): Operation(
        "The caller's open sessions: device, address, last use (docs/identity.md)", "users"),
    ("DELETE", "/api/v1/users/me/sessions/{session}"): Operation(
        "End one of the caller's sessions", "users"),
    ("POST", "/api/v1/users/{user_id}/second-factor/reset"): Operation(
        "Reset a user's lost second factor, with the reason (admin)", "users",
        identity.FactorReset),
    ("PUT", "/api/v1/users/{user_id}/fiscal-code"): Operation(
        "Set, correct or remove the fiscal code single sign-on (SPID / CIE) matches a staff "
        "or family-member account by (admin)", "users", users.FiscalCode,
        description="The old code stops opening the account at once and the account's "
                    "sessions opened through single sign-on end; audited with both codes "
                    "masked. 409 user_fiscal_code_taken when another user has the code, 409 "
                    "fiscal_code_on_patient_record for a patient's own account (its record's "
                    "code is the one used)."),
    ("POST", "/api/v1/auth/activate"): Operation(
        "Set the first password of a portal account with its activation token", "auth",
        identity.Activation, security="none"),
    ("GET", "/api/v1/patients"): Operation("Patients the caller may see", "patients",
                                           query=(*PAGE, "q"), response=PATIENT_PAGE),
    ("POST", "/api/v1/patients"): Operation("Register a patient", "patients",
                                            patients.PatientCreate, success=201,
                                            response=PATIENT_REF),
    ("GET", "/api/v1/patients/{patient_id}"): Operation("A patient's demographics", "patients",
                                                        response=PATIENT_REF),
    ("PATCH", "/api/v1/patients/{patient_id}"): Operation("Change demographics", "patients",
                                                          patients.PatientUpdate,
                                                          response=PATIENT_REF),
    ("GET", "/api/v1/patients/{patient_id}/care-team"): Operation("The care team", "patients"),
    ("GET", "/api/v1/patients/{patient_id}/careplans"): Operation(
        "A patient's care plans", "careplans"),
    ("POST", "/api/v1/patients/{patient_id}/careplans"): Operation(
        "Create a draft care plan", "careplans", careplans.CarePlanCreate, success=201),
    ("GET", "/api/v1/careplans/{plan_id}"): Operation(
        "A care plan (current or ?version=N)", "careplans", query=("version",)),
    ("GET", "/api/v1/careplans/{plan_id}/versions"): Operation(
        "Every version of a care plan", "careplans"),
    ("PATCH", "/api/v1/careplans/{plan_id}"): Operation(
        "Edit a care plan (an active plan gets a new version)", "careplans",
        careplans.CarePlanUpdate),
    ("POST", "/api/v1/careplans/{plan_id}/activate"): Operation("Activate a draft", "careplans"),
    ("POST", "/api/v1/careplans/{plan_id}/complete"): Operation(
        "Complete an active plan", "careplans"),
    ("GET", "/api/v1/patients/{patient_id}/consents"): Operation(
        "The patient's consent decisions", "privacy"),
    ("POST", "/api/v1/patients/{patient_id}/consents"): Operation(
        "Grant or revoke consent (patient, or admin)", "privacy", consents.ConsentDecision,
        success=201),
    ("POST", "/api/v1/patients/{patient_id}/emergency-access"): Operation(
        "Emergency (break-glass) access: a reason_code from the list and a written reason "
        "(read-only, time-limited, reviewed afterwards)", "privacy",
        consents.EmergencyRequest, success=201),
    ("GET", "/api/v1/emergency-accesses"): Operation(
        "Emergency accesses to review (responsible doctor, or admin)", "privacy",
        query=("pending",)),
    ("POST", "/api/v1/emergency-accesses/{access_id}/review"): Operation(
        "Confirm or flag an emergency access after the fact", "privacy",
        consents.EmergencyReview),
    ("GET", "/api/v1/patients/{patient_id}/access-log"): Operation(
        "Who read or changed what of this patient (JSON, or CSV with format=csv)", "privacy",
        query=("limit", "cursor", "format")),
    ("GET", "/api/v1/patients/{patient_id}/delegates"): Operation(
        "Caregivers and parents with access to the patient's portal", "privacy"),
    ("POST", "/api/v1/patients/{patient_id}/delegates"): Operation(
        "Give a portal user access to this patient's portal (patient, or admin)", "privacy",
        delegates.DelegateCreate, success=201),
    ("DELETE", "/api/v1/patients/{patient_id}/delegates/{delegation_id}"): Operation(
        "Revoke a delegation", "privacy"),
    ("POST", "/api/v1/devices"): Operation(
        "Register a device; the MQTT password is returned once", "devices",
        devices.DeviceCreate, success=201),
    ("GET", "/api/v1/devices"): Operation("Devices the caller may see", "devices",
                                          query=(*PAGE, "patient")),
    ("GET", "/api/v1/devices/{device_id}"): Operation(
        "One device, with who had it when", "devices", response=DEVICE_SCHEMA),
    ("PATCH", "/api/v1/devices/{device_id}"): Operation(
        "Give a device to another patient (patient_id null: to nobody)", "devices",
        devices.DeviceUpdate, response=DEVICE_SCHEMA,
        description="Readings the device took before the change (its offline buffer) stay "
                    "with the patient who had it then; the change is audited for both."),
    ("DELETE", "/api/v1/devices/{device_id}"): Operation("Revoke a device", "devices"),
    ("POST", "/api/v1/devices/{device_id}/credentials"): Operation(
        "Rotate a device's MQTT password", "devices", success=200),
    ("POST", "/api/v1/devices/{device_id}/readings"): Operation(
        "A SenML pack over HTTP (device credentials, HTTP Basic)", "devices",
        security="basic", extra={"requestBody": {"required": True, "content": {
            "application/senml+json": {"schema": {"type": "array", "items": {"type": "object"}}},
        }}}),
    ("POST", "/api/v1/patients/{patient_id}/readings"): Operation(
        "Manual readings: a SenML pack typed in by the patient, a delegate who may act or a "
        "clinician", "observations",
        extra={"requestBody": {"required": True, "content": {
            "application/senml+json": {"schema": {"type": "array", "items": {"type": "object"}}},
        }}},
        description="The devices' validation, rules and idempotency; the readings carry "
                    "`source: manual` and `entered_by`. Answers `{accepted, duplicates, "
                    "rejected}` (422 when nothing was accepted)."),
    ("GET", "/api/v1/questionnaires"): Operation(
        "The catalogue of questionnaires (FHIR Questionnaire shapes)", "questionnaires"),
    ("POST", "/api/v1/patients/{patient_id}/questionnaire-responses"): Operation(
        "Answer a questionnaire; scored, and alerting past the care plan's threshold",
        "questionnaires", questionnaires.ResponseIn, success=201),
    ("GET", "/api/v1/patients/{patient_id}/questionnaire-responses"): Operation(
        "A patient's questionnaire responses, newest first", "questionnaires"),
    ("GET", "/api/v1/patients/{patient_id}/observations"): Operation(
        "Stored readings in canonical units", "observations",
        query=(*PAGE, "metric", "since", "until")),
    ("GET", "/api/v1/patients/{patient_id}/vitals/latest"): Operation(
        "The latest reading of each metric", "observations"),
    ("GET", "/api/v1/patients/{patient_id}/observations/series"): Operation(
        "Readings downsampled for a chart: per time bucket count, min, max, mean",
        "observations", query=("metric", "since", "until", "points"),
        description="`metric`: one or more, comma-separated (at most 8; default: every "
                    "clinical metric); `since`/`until`: ISO "
                    "8601 with offset (default: the last 24 hours, at most 400 days); `points`: "
                    "about how many buckets (10-1000, default 300). Answers `{patient_id, since, "
                    "until, bucket_seconds, series: [{metric, unit, count, min, max, buckets: "
                    "[{t, first, last, count, min, max, mean}]}]}`; empty buckets are left out."),
    ("GET", "/api/v1/alerts"): Operation(
        "Alerts of the caller's patients, critical first", "alerts",
        query=(*PAGE, "status", "severity", "patient"), response=ALERT_PAGE),
    ("GET", "/api/v1/population"): Operation(
        "The caller's patients ranked by need, with the count of each need", "alerts",
        query=("need", "days"),
        description="`need`: one of critical, warning, trend, missed, silent, stale, news2 "
                    "(default: any); `days`: how long without a device heard from counts as "
                    "`stale` (1-30, default 3). Answers `{items: [{patient, critical, warnings, "
                    "trend, missed, silent, news2, last_heard, needs}], counts, truncated, need, "
                    "days}`, at most 100 patients, most in need first."),
    ("GET", "/api/v1/alerts/{alert_id}"): Operation(
        "One alert (the list's access rules; the read is audited)", "alerts",
        response=ALERT_REF),
    ("POST", "/api/v1/alerts/{alert_id}/ack"): Operation("Acknowledge an alert", "alerts",
                                                         alerts.AckIn, response=ALERT_REF),
    ("POST", "/api/v1/alerts/{alert_id}/resolve"): Operation("Resolve an alert", "alerts",
                                                             alerts.ResolveIn,
                                                             response=ALERT_REF),
    ("POST", "/api/v1/alerts/{alert_id}/snooze"): Operation("Snooze an alert's notifications",
                                                            "alerts", alerts.SnoozeIn,
                                                            response=ALERT_REF),
    ("GET", "/api/v1/alerts/stream"): Operation(
        "Server-Sent Events of alert changes (resumable with Last-Event-ID)", "alerts",
        media="text/event-stream",
        description="Each event is `event: alert` with `id` = the alert's `seq` and JSON data "
                    "= an Alert (components/schemas/Alert) plus `change` and `notify`."),
    ("POST", "/api/v1/visits"): Operation(
        "Book a free slot ({slot_id, reason}) or schedule a visit (clinicians)", "visits",
        success=201, extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": {"oneOf": [visits.BookingCreate.model_json_schema(),
                                 visits.VisitCreate.model_json_schema()]}}}}}),
    ("POST", "/api/v1/visits/{visit_id}/reschedule"): Operation(
        "Move a booked visit to another free slot of the same clinician", "visits",
        visits.Reschedule),
    ("GET", "/api/v1/availability"): Operation(
        "Weekly hours and days off of the caller (or of clinician=)", "booking",
        query=("clinician",)),
    ("POST", "/api/v1/availability"): Operation(
        "Publish weekly hours (local time of the service)", "booking",
        booking.AvailabilityCreate, success=201),
    ("DELETE", "/api/v1/availability/{rule_id}"): Operation(
        "Withdraw weekly hours", "booking", success=204),
    ("GET", "/api/v1/availability/exceptions"): Operation("The caller's days off", "booking"),
    ("POST", "/api/v1/availability/exceptions"): Operation(
        "Take days off (no slots)", "booking", booking.DayOffCreate, success=201),
    ("DELETE", "/api/v1/availability/exceptions/{exception_id}"): Operation(
        "Withdraw days off", "booking", success=204),
    ("GET", "/api/v1/slots"): Operation(
        "Free slots (default: the next 14 days)", "booking",
        query=("clinician", "kind", "from", "to")),
    ("GET", "/api/v1/visits"): Operation(
        "Visits of the caller, or of a patient with patient=", "visits",
        query=(*PAGE, "from", "to", "patient", "status")),
    ("GET", "/api/v1/visits/{visit_id}"): Operation("A visit", "visits"),
    ("POST", "/api/v1/visits/{visit_id}/cancel"): Operation(
        "Cancel a visit that has not started", "visits"),
    ("GET", "/api/v1/visits/{visit_id}/join"): Operation(
        "Join details: ws_url, token, ice_servers, ice_transport_policy, role", "visits"),
    ("POST", "/api/v1/visits/{visit_id}/report"): Operation(
        "Start the visit's report: a draft televisit_report document", "documents",
        documents.VisitReportBody, success=201),
    ("GET", "/api/v1/visits/{visit_id}/report"): Operation(
        "The visit's report (a document; drafts only for the care team)", "documents"),
    ("GET", "/api/v1/patients/{patient_id}/documents"): Operation(
        "The patient's documents, newest first", "documents", query=("limit",)),
    ("POST", "/api/v1/patients/{patient_id}/documents"): Operation(
        "Draft a telemonitoring document from a care plan's data", "documents",
        documents.MonitoringBody, success=201),
    ("GET", "/api/v1/patients/{patient_id}/documents/index.pdf"): Operation(
        "The index of the patient's documents", "documents", media="application/pdf"),
    ("GET", "/api/v1/documents/{document_id}"): Operation("A document", "documents"),
    ("PATCH", "/api/v1/documents/{document_id}"): Operation(
        "Edit a draft's sections (its author only)", "documents", documents.SectionsBody),
    ("POST", "/api/v1/documents/{document_id}/sign"): Operation(
        "Sign (password or second-factor code again): the author, then a co-signer where "
        "the kind needs two; the last signature seals the PDF and FHIR Bundle",
        "documents", documents.SignBody),
    ("POST", "/api/v1/documents/{document_id}/replace"): Operation(
        "Start a draft that replaces a signed document", "documents", success=201),
    ("GET", "/api/v1/documents/{document_id}/pdf"): Operation(
        "The document's PDF (PAdES-sealed once signed)", "documents", media="application/pdf"),
    ("GET", "/api/v1/documents/{document_id}/fhir"): Operation(
        "The signed FHIR document Bundle", "documents", media="application/fhir+json"),
    ("POST", "/api/v1/documents/{document_id}/verify"): Operation(
        "Verify the stored document, or the PDF or Bundle sent as the body", "documents"),
    ("GET", "/api/v1/visits/{visit_id}/guests"): Operation(
        "The visit's guests (clinicians)", "visits"),
    ("POST", "/api/v1/visits/{visit_id}/guests"): Operation(
        "Invite a guest: a one-time link, valid until the join window closes", "visits",
        visits.GuestCreate, success=201),
    ("DELETE", "/api/v1/visits/{visit_id}/guests/{guest_id}"): Operation(
        "Withdraw a guest's invitation and disconnect the guest", "visits"),
    ("GET", "/api/v1/visits/{visit_id}/calendar.ics"): Operation(
        "The visit as an iCalendar event", "visits", media="text/calendar"),
    # Teleconsult (docs/teleconsult.md) -------------------------------------------------
    ("POST", "/api/v1/teleconsults"): Operation(
        "Ask a specialist (specialist_id) or a specialty a question about a patient",
        "teleconsults", teleconsults.TeleconsultCreate, success=201),
    ("GET", "/api/v1/teleconsults"): Operation(
        "Your teleconsult inbox (box=inbox) or your requests (box=sent)", "teleconsults",
        query=("box",)),
    ("GET", "/api/v1/teleconsults/{teleconsult_id}"): Operation(
        "A teleconsult request with its notes and answer", "teleconsults"),
    ("POST", "/api/v1/teleconsults/{teleconsult_id}/accept"): Operation(
        "Accept a request (the specialist; opens the record for the consult)", "teleconsults",
        teleconsults.NoteIn),
    ("POST", "/api/v1/teleconsults/{teleconsult_id}/decline"): Operation(
        "Decline a request, saying why", "teleconsults", teleconsults.NoteIn),
    ("POST", "/api/v1/teleconsults/{teleconsult_id}/more-info"): Operation(
        "Ask the requester for more information", "teleconsults", teleconsults.NoteIn),
    ("POST", "/api/v1/teleconsults/{teleconsult_id}/add-info"): Operation(
        "Give the information asked for (the requester)", "teleconsults", teleconsults.NoteIn),
    ("POST", "/api/v1/teleconsults/{teleconsult_id}/cancel"): Operation(
        "Withdraw a request not yet accepted (the requester)", "teleconsults",
        teleconsults.NoteIn),
    ("POST", "/api/v1/teleconsults/{teleconsult_id}/schedule"): Operation(
        "Schedule the teleconsult visit of an accepted live request", "teleconsults",
        teleconsults.ScheduleIn),
    ("POST", "/api/v1/teleconsults/{teleconsult_id}/answer"): Operation(
        "Sign the written answer (ends the consult and its record access)", "teleconsults",
        teleconsults.AnswerIn, success=201),
    ("GET", "/api/v1/teleconsults/{teleconsult_id}/attachments"): Operation(
        "The request's attachments", "teleconsults"),
    ("POST", "/api/v1/teleconsults/{teleconsult_id}/attachments"): Operation(
        "Attach a file (PDF, JPEG, PNG, DICOM; raw body, ?filename=, ?reconcile=confirm) or "
        "a PACS study ({study_instance_uid})", "teleconsults", success=201,
        query=("filename", "reconcile"), extra=ATTACHMENT),
    ("GET", "/api/v1/visits/{visit_id}/attachments"): Operation(
        "The visit's attachments", "teleconsults"),
    ("POST", "/api/v1/visits/{visit_id}/attachments"): Operation(
        "Attach a file or a PACS study to a visit (as for a teleconsult)", "teleconsults",
        success=201, query=("filename", "reconcile"), extra=ATTACHMENT),
    ("GET", "/api/v1/attachments/{attachment_id}"): Operation(
        "An attached file, inline", "teleconsults", media="application/octet-stream"),
    ("GET", "/api/v1/patients/{patient_id}/studies"): Operation(
        "The patient's studies in the PACS (PatientID = fiscal code)", "images"),
    ("GET", "/api/v1/studies/{study_uid}"): Operation(
        "A study's series and their ordered slices", "images"),
    ("GET", "/api/v1/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/summary"):
        Operation("A slice's DICOM header summary", "images"),
    ("GET", "/api/v1/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/frames/"
            "{frame}/rendered"): Operation(
        "A frame rendered as PNG (center=, width=: the window)", "images", media="image/png",
        query=("center", "width", "v")),
    ("POST", "/api/v1/precall/offer"): Operation(
        "Pre-call test: the echo peer answers an SDP offer", "visits", precall.Offer),
    ("GET", "/api/v1/openapi.json"): Operation("This description", "meta", security="none"),
    ("PATCH", "/api/v1/users/me"): Operation(
        "Change your email, language and notification choices", "users", users.UserUpdate),
    ("GET", "/api/v1/notifications"): Operation(
        "Your notifications, newest first, and the unread count", "notifications",
        query=(*PAGE, "unread")),
    ("POST", "/api/v1/notifications/{notification_id}/read"): Operation(
        "Mark one of your notifications read", "notifications", success=200),
    ("POST", "/api/v1/notifications/read-all"): Operation(
        "Mark all your notifications read", "notifications", success=200),
    ("GET", "/api/v1/notifications/stream"): Operation(
        "Server-Sent Events of your new notifications", "notifications",
        media="text/event-stream",
        description="`event: unread` once (`{unread}`), then `event: notification` with "
                    "`{unread, notification}` for each new notification of the caller."),
    ("GET", "/api/v1/notifications/failed"): Operation(
        "Deliveries that failed, died or are retrying (admins)", "notifications",
        query=PAGE),
    ("POST", "/api/v1/notifications/deliveries/{delivery_id}/retry"): Operation(
        "Send a failed or dead delivery again (admins)", "notifications", success=200),
    ("GET", "/api/v1/alerts/{alert_id}/notifications"): Operation(
        "Who was notified of an alert, when, by which channel, whether it arrived", "alerts"),
    ("POST", "/api/v1/oncall"): Operation("Add an on-call shift (admins, doctors)", "oncall",
                                          oncall.ShiftCreate, success=201),
    ("GET", "/api/v1/oncall"): Operation(
        "Who is on call at a time (at=), or the shifts of a span (from=, to=)", "oncall",
        query=("at", "from", "to")),
    ("GET", "/api/v1/alarm-burden"): Operation(
        "Alarm burden of your care team and its patients (doctors, nurses)", "notifications",
        query=("days",),
        description="Over the alerts opened in the last `days` days (1–92, default 7): alerts "
                    "per patient-week, share recovered before anyone looked, median and p90 "
                    "(nearest rank) time to acknowledge and to resolve in seconds, escalations, "
                    "notifications per nurse per 8-hour shift; `team` and `patients` (the 200 "
                    "most burdened first). See docs/notifications.md."),
}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "pattern": "^[a-z0-9_]+$"},
            "message": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }},
}


def _parameters(path: str, op: Operation) -> list[dict[str, Any]]:
    params = [
        {"name": part[1:-1], "in": "path", "required": True,
         "schema": {"type": "string", "minLength": 1, "maxLength": 64,
                    "pattern": "^[A-Za-z0-9._-]+$"}}
        for part in path.split("/") if part.startswith("{")
    ]
    for name in op.query:
        schema: dict[str, Any] = {"type": "string"}
        if name == "limit":
            schema = {"type": "integer", "minimum": 1, "maximum": 200}
        params.append({"name": name, "in": "query", "required": False, "schema": schema})
    return params


def _body(op: Operation, components: dict[str, Any]) -> dict[str, Any] | None:
    if "requestBody" in op.extra:
        return dict(op.extra["requestBody"])
    if op.body is None:
        return None
    schema = op.body.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[op.body.__name__] = schema
    return {"required": True, "content": {
        "application/json": {"schema": _ref(op.body.__name__)}}}


SSE_EVENT = {"type": "object", "properties": {"event": {"type": "string"},
                                              "data": {"type": "string"},
                                              "id": {"type": "string"}}}


def _responses(op: Operation) -> dict[str, Any]:
    if op.media == "text/event-stream":  # each event: its name and its JSON data as text
        ok_content: dict[str, Any] = {op.media: {"schema": SSE_EVENT}}
    elif op.media != "application/json":
        ok_content = {op.media: {"schema": {"type": "string"}}}
    else:
        ok_content = {"application/json": {"schema": op.response or {"type": "object"}}}
        if "format" in op.query:
            ok_content["text/csv"] = {"schema": {"type": "string"}}
    responses: dict[str, Any] = {str(op.success): {"description": "Success",
                                                   "content": ok_content}}
    for status in ERROR_STATUSES:
        responses[status] = {"$ref": "#/components/responses/Error"}
    return responses


def build_spec(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document for the routes registered on `app`."""
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {"Error": ERROR_SCHEMA, "Alert": ALERT_SCHEMA,
                                  "Patient": PATIENT_SCHEMA,
                                  "StudyRef": teleconsults.StudyRef.model_json_schema()}
    for method, path in sorted(api_routes(app)):
        op = OPERATIONS[(method, path)]
        operation: dict[str, Any] = {
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": f"{method.lower()}_{path.strip('/').replace('/', '_')}"
                           .replace("{", "").replace("}", "").replace(".", "_"),
            "parameters": _parameters(path, op),
            "responses": _responses(op),
        }
        if op.description:
            operation["description"] = op.description
        body = _body(op, components)
        if body is not None:
            operation["requestBody"] = body
        operation["security"] = [] if op.security == "none" else [{op.security: []}]
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Telemed API", "version": __version__,
                 "description": "Telemedicine platform: patients, care plans, devices, "
                                "observations, alerts, visits."},
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {"Error": {"description": "Error", "content": {
                "application/json": {"schema": _ref("Error")}}}},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
    }


def api_routes(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path) of every /api/v1 route on `app`."""
    found = set()
    for resource in app.router.resources():
        if not resource.canonical.startswith("/api/v1/"):
            continue
        for route in resource:
            if route.method not in ("HEAD", "OPTIONS", "*"):
                found.add((route.method, resource.canonical))
    return found


routes = web.RouteTableDef()


@routes.get("/api/v1/openapi.json")
@public
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(build_spec(request.app))
