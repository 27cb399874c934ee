"""Every audit action and resource has a name on the patient's privacy page."""

from __future__ import annotations

from typing import get_args

from telemed.services.audit import Action, Resource
from telemed.views.privacy import ACTIONS, RESOURCES


def test_every_audit_action_is_named() -> None:
    assert set(ACTIONS) == set(get_args(Action))


def test_every_audit_resource_is_named() -> None:
    assert set(RESOURCES) == set(get_args(Resource))
