"""The patient's side of a visit (`telemed.domain.visit_audience`): a clinicians-only visit
shows nothing of its meeting to the patient or a delegate; the access log and signed
documents stay theirs; clinicians are not narrowed by it."""

from __future__ import annotations

import pytest

from telemed.domain.visit_audience import FACETS, KEPT, Facet, portal_sees, sees_visit

MEETING_FACETS = [f for f in FACETS if f not in KEPT]


@pytest.mark.parametrize("facet", FACETS)
def test_a_visit_that_invites_the_patient_shows_them_everything(facet: Facet) -> None:
    assert portal_sees(True, facet)


@pytest.mark.parametrize("facet", MEETING_FACETS)
def test_a_clinicians_only_visit_hides_its_meeting_and_notices(facet: Facet) -> None:
    assert not portal_sees(False, facet)


def test_what_the_patient_keeps_of_a_clinicians_only_visit() -> None:
    assert sorted(KEPT) == ["access_log", "document"]
    assert portal_sees(False, "access_log") and portal_sees(False, "document")
    assert set(MEETING_FACETS) == {"meeting", "notice"}
    assert not portal_sees(False)  # the default facet is the meeting


@pytest.mark.parametrize(("role", "invited", "seen"), [
    ("patient", True, True),  # the patient's own, or a delegate's, invited visit
    ("patient", False, False),  # a clinicians-only consult about them
    ("doctor", False, True), ("nurse", False, True),  # their access decides
    ("doctor", True, True), ("admin", False, True),  # administrators: refused elsewhere
])
def test_sees_visit_narrows_only_the_patients_side(role: str, invited: bool,
                                                   seen: bool) -> None:
    assert sees_visit(role, invited) is seen
