"""Delegates: scopes, and a parent's delegation for a minor ending at 18."""

from __future__ import annotations

from datetime import date

import pytest

from telemed.domain import delegation as rules


def test_adulthood() -> None:
    assert rules.adulthood(date(2010, 5, 4)) == date(2028, 5, 4)
    assert rules.adulthood(date(2008, 2, 29)) == date(2026, 3, 1)


def test_parent_of_a_minor_ends_on_the_18th_birthday() -> None:
    born = date(2010, 5, 4)
    until = rules.ends_on("parent", born, date(2020, 1, 1))
    assert until == date(2028, 5, 4)
    assert rules.in_force(until, date(2028, 5, 3))
    assert not rules.in_force(until, date(2028, 5, 4))


@pytest.mark.parametrize("relationship", ["caregiver", "guardian"])
def test_other_relationships_do_not_end_by_themselves(relationship: str) -> None:
    assert rules.ends_on(relationship, date(2010, 5, 4), date(2020, 1, 1)) is None


def test_a_parent_the_adult_grants_afresh_stays() -> None:
    assert rules.ends_on("parent", date(2000, 5, 4), date(2026, 1, 1)) is None
    assert rules.in_force(None, date(2090, 1, 1))


@pytest.mark.parametrize(("scope", "action", "resource", "allowed"), [
    ("read", "read", "visit", True),
    ("read", "export", "observation", True),
    ("read", "create", "visit", False),
    ("act", "create", "visit", True),
    ("act", "update", "visit", True),
    ("act", "create", "observation", True),
    ("act", "create", "questionnaire_response", True),
    ("act", "create", "careplan", False),
    ("act", "delete", "visit", False),
    ("act", "update", "patient", False),
])
def test_scope(scope: str, action: str, resource: str, allowed: bool) -> None:
    assert rules.allows(scope, action, resource) is allowed


def test_owner_acts_like_an_acting_delegate() -> None:
    assert rules.owner_allows("create", "visit")
    assert not rules.owner_allows("update", "careplan")
