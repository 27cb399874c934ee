"""What emergency access allows: reading and handling alerts, nothing that lasts."""

from __future__ import annotations

from typing import get_args

import pytest

from telemed.domain.emergency import REASON_CODES, allows
from telemed.services.audit import Action, Resource
from telemed.views.privacy import EMERGENCY_REASONS


@pytest.mark.parametrize("resource", get_args(Resource))
def test_reading_anything_is_allowed(resource: str) -> None:
    assert allows("read", resource)


@pytest.mark.parametrize("action", [a for a in get_args(Action) if a != "read"])
@pytest.mark.parametrize("resource", [r for r in get_args(Resource) if r != "alert"])
def test_no_change_outside_alerts(action: str, resource: str) -> None:
    assert not allows(action, resource)


def test_alerts_can_be_handled_not_created() -> None:
    assert allows("update", "alert")
    assert not allows("create", "alert") and not allows("delete", "alert")


def test_every_reason_code_has_a_label() -> None:
    assert set(EMERGENCY_REASONS) == set(REASON_CODES)
