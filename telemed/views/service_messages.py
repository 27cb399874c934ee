"""English messages of services and domain rules that can reach a page.

They are msgids of the catalogue (this module is scanned by message extraction). Templates
with ``{placeholders}`` are matched against filled-in messages by `telemed.views.messages`;
values of the placeholders listed in `VALUES` are translated with the placeholder's name as
context (``pgettext(name, value)``). Keep this list in step with the messages in
``telemed/services``, ``telemed/security.py``, ``telemed/errors.py``, ``telemed/api/auth.py``
and ``telemed/domain`` (care plans and demographics).
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark a msgid for extraction."""
    return message


def NC_(context: str, message: str) -> tuple[str, str]:
    """Mark a msgid with a context for extraction."""
    return context, message


MESSAGES: tuple[str, ...] = (
    # telemed/errors.py, middlewares, HTTP reasons
    N_("Authentication required."),
    N_("You are not allowed to do this."),
    N_("Some fields are not valid."),
    N_("{what} not found."),
    N_("Patient not found."),
    N_("Care plan not found."),
    N_("Care plan version not found."),
    N_("User not found."),
    N_("Resource not found."),
    N_("The form has expired or did not come from this site. Reload and retry."),
    N_("Something went wrong on our side."),
    N_("Request body is too large."),
    N_("Bad Request"),
    N_("Forbidden"),
    N_("The version must be a positive whole number."),
    N_("limit must be a whole number from 1 to {max}."),
    N_("cursor is not valid."),
    # access and users
    N_("You have no access to this patient's record."),
    N_("Too many failed attempts: the account is locked for {minutes} minutes."),
    N_("Too many attempts. Try again in {seconds} seconds."),
    N_("Username must be 3-64 characters: lowercase letters, digits, dot, dash, underscore."),
    N_("Role must be one of admin, doctor, nurse, patient."),
    N_("Display name is required (at most 128 characters)."),
    N_("A patient user must be linked to a patient record."),
    N_("Only patient users are linked to a patient record."),
    N_("No such patient."),
    N_("That username is taken."),
    N_("That patient already has a user."),
    N_("Unknown role."),
    N_("Password must be at least 10 characters long."),
    N_("Password is too long."),
    N_("Password must not contain the username."),
    N_("Password is too simple."),
    # patients and demographics
    N_("A patient with this fiscal code already exists."),
    N_("{user_id} is not an active doctor or nurse."),
    N_("A fiscal code has 16 letters and digits, like RSSMRA80A01H501U."),
    N_("This fiscal code encodes an impossible birth date."),
    N_("The last character of this fiscal code does not match the others; check for a typo."),
    N_("This fiscal code has an unknown place of birth code ({place_code})."),
    N_("The fiscal code does not match the birth date {birth_date}."),
    N_("The fiscal code does not match the sex {sex}."),
    N_("Contains invalid characters."),
    N_("Expected a date as YYYY-MM-DD."),
    N_("The birth date is in the future."),
    N_("Must not be before {min}."),
    N_("Expected an international phone number such as +39 333 123 4567."),
    N_('Unknown time zone "{timezone}"; use a name like Europe/Rome.'),
    # care plans
    N_("Title is required (at most 200 characters)."),
    N_("The end of the period comes before its start."),
    N_("A completed care plan cannot be changed."),
    N_("Only a draft can be activated; this plan is {status}."),
    N_("Only an active plan can be completed; this plan is {status}."),
    N_("This field is required."),
    N_("This field cannot be empty."),
    N_("Expected {expected}."),
    N_("Must be between {min} and {max}."),
    N_('Unknown field "{field}". Allowed fields: {allowed}.'),
    N_("At most {max} items."),
    N_("Must not be empty."),
    N_("At most {max} characters."),
    N_('Unknown metric "{metric}"; use one of: {metrics}.'),
    N_('"{metric}" is device health, not a measurement of the patient.'),
    N_("Give either times with a tolerance, or continuous: true."),
    N_("List at least one time."),
    N_('Expected a time of day as HH:MM (00:00–23:59), got "{value}".'),
    N_("{time} is listed more than once."),
    N_("The windows of {first} and {second} overlap: with a tolerance of {tolerance} minutes "
       "the times must be at least {gap} minutes apart."),
    N_("{value} is outside the plausible range for {metric} ({min}–{max} {unit})."),
    N_("{lower} ({lower_value}) must not be {relation} {upper} ({upper_value})."),
    N_("Must not be negative."),
    N_("Must be less than {max} {unit}, or a reading could never recover."),
    N_("The change must not be zero."),
    N_("Must be one of: {choices}."),
    N_('"{value}" is listed more than once.'),
    N_("{metric} already has a monitoring entry (monitoring[{index}])."),
    N_("The same trend rule is listed more than once."),
    # metric names and display units (telemed/domain/units.py)
    N_("Heart rate"),
    N_("Respiratory rate"),
    N_("Oxygen saturation"),
    N_("Body temperature"),
    N_("Systolic blood pressure"),
    N_("Diastolic blood pressure"),
    N_("Body weight"),
    N_("Blood glucose"),
    N_("Battery level"),
    N_("bpm"),
    N_("breaths/min"),
    # telemed/domain/text.py: free text typed by people
    N_("Contains a character that is not allowed here ({character})."),
    # booking (telemed/domain/booking.py, telemed/services/booking.py)
    N_("Weekday must be from 0 (Monday) to 6 (Sunday)."),
    N_("Give the time as HH:MM."),
    N_("Slots last from 5 to 240 minutes."),
    N_("Kind must be televisit or teleassistance."),
    N_("The end must be at least one slot after the start."),
    N_("These hours overlap hours you already published for that day."),
    N_("The last day must not come before the first."),
    N_("At most a year at a time."),
    N_("These days are already past."),
    N_("At most 200 characters."),
    N_("At most 500 characters."),
    N_("Say for whom the visit is."),
    N_("Choose a slot of the same clinician."),
    N_("Not a slot."),
    # devices (telemed/services/devices.py)
    N_("Serial must be 1 to 64 characters: letters, digits, '.', '_', ':' or '-'."),
    N_("Kind must be one of: {choices}."),
    N_("A device with this serial is already registered."),
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
