"""Who sees a visit from the patient's side (docs/visits.md, "Clinicians-only visits").

A visit that does not invite the patient (`patient_invited` False: a live teleconsult the
requester asked without them) is a meeting of clinicians *about* the patient, not an
appointment *of* the patient. The patient's side — the patient's own portal user and their
delegates (caregivers, a minor's parents), every user of role ``patient`` — sees none of its
scheduling: not in lists, the agenda or the next visit, not by id (it does not exist for
them: 404, never 403), not its join details, check-in or waiting room, not as a calendar
event or a FHIR Appointment, and no reminder or ``visit_changed`` notice of it.

What the patient keeps (GDPR art. 15, as for every processing of their data): the access
log, where the clinicians' reads and changes of their record for the consult stay listed
with their reasons, and the consult's signed report among their documents. Their data
export (the access log's CSV, FHIR AuditEvent) discloses that the processing took place the
same way, never the meeting's time or participants.

Clinicians are not narrowed here: their access to a visit is the record's access or the
visit's invitation (`telemed.services.visits.authorize_visit`).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

# What the patient's side could learn of a visit.
Facet = Literal[
    "meeting",  # the visit itself: lists, agenda, next visit, detail, join, calendar, FHIR
    "notice",  # reminders and visit_changed notifications
    "access_log",  # the audit events of the clinicians' accesses for it
    "document",  # a signed report written for it (documents list, once signed)
]
FACETS: Final[tuple[Facet, ...]] = get_args(Facet)
# What the patient's side keeps of a clinicians-only visit.
KEPT: Final[frozenset[Facet]] = frozenset({"access_log", "document"})
PORTAL_ROLE: Final = "patient"  # the patient and their delegates sign in with this role


def portal_sees(patient_invited: bool, facet: Facet = "meeting") -> bool:
    """Whether the patient's side (the patient or a delegate) learns `facet` of a visit."""
    return patient_invited or facet in KEPT


def sees_visit(role: str, patient_invited: bool) -> bool:
    """Whether a user of `role` may see the visit at all (before any record access check):
    the patient's side only visits that invite the patient; clinicians, by their access."""
    return role != PORTAL_ROLE or portal_sees(patient_invited)
