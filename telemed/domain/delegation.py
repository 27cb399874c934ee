"""Delegates: what a delegation lets its holder do, and when a parent's delegation ends.

A delegation has a scope: ``read`` (see the patient's portal) or ``act`` (also book, move
and cancel visits, answer questionnaires, enter readings and join the patient's
televisits). A parent's delegation for a minor ends on the minor's 18th birthday: the
adult decides afresh (a delegation they grant then has no end). Pure functions; today's
date is an argument.
"""

from __future__ import annotations

from datetime import date

ADULT_AGE = 18
SCOPES = ("read", "act")
READ_ACTIONS = ("read", "export")
ACT_ACTIONS = ("create", "update")
# What a patient (or a delegate who acts) may create or change in their own record.
ACTING_RESOURCES = frozenset({"visit", "observation", "questionnaire_response"})


def adulthood(birth_date: date) -> date:
    """The 18th birthday (1 March for someone born on 29 February)."""
    try:
        return birth_date.replace(year=birth_date.year + ADULT_AGE)
    except ValueError:  # 29 February in a year that has none
        return date(birth_date.year + ADULT_AGE, 3, 1)


def ends_on(relationship: str, birth_date: date, granted_on: date) -> date | None:
    """The day a new delegation stops being in force, or None when it does not end by
    itself: a parent's delegation granted for a minor ends on the 18th birthday."""
    if relationship == "parent" and granted_on < adulthood(birth_date):
        return adulthood(birth_date)
    return None


def in_force(valid_until: date | None, today: date) -> bool:
    """Whether an unrevoked delegation ending on `valid_until` still holds `today`."""
    return valid_until is None or today < valid_until


def allows(scope: str, action: str, resource: str) -> bool:
    """Whether a delegation of `scope` lets its holder do `action` on `resource`."""
    if action in READ_ACTIONS:
        return True
    return scope == "act" and action in ACT_ACTIONS and resource in ACTING_RESOURCES


def owner_allows(action: str, resource: str) -> bool:
    """What patients may do in their own record: read it, and act where a delegate may."""
    return allows("act", action, resource)
