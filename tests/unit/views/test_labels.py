"""Every value people see has its word, in one table, in English and Italian."""

from __future__ import annotations

from typing import get_args

import pytest

from telemed.principal import ROLES
from telemed.services.delegates import RELATIONSHIPS
from telemed.services.devices import KINDS as DEVICE_KINDS
from telemed.services.visits import KINDS as VISIT_KINDS
from telemed.services.visits import VisitStatus
from telemed.views.labels import LABELS, label

VALUES = {
    "role": ROLES,
    "relationship": RELATIONSHIPS,
    "device_kind": DEVICE_KINDS,
    "device_status": ("online", "offline", "revoked"),
    "visit_kind": VISIT_KINDS,
    "visit_status": get_args(VisitStatus),
    "careplan_status": ("draft", "active", "completed"),
    "severity": ("critical", "warning"),
}


@pytest.mark.parametrize("group", sorted(VALUES))
def test_every_value_has_a_label_in_both_languages(group: str) -> None:
    assert set(LABELS[group]) == set(VALUES[group])
    for value in VALUES[group]:
        english, italian = label("en", group, value), label("it", group, value)
        assert (english and english != value) or group == "relationship"
        assert italian, (group, value)


def test_a_context_label_agrees_with_its_noun_and_unknown_values_show_as_they_are() -> None:
    assert label("it", "careplan_status", "active") != label("en", "careplan_status", "active")
    assert label("it", "role", "doctor") == "Medico"
    assert label("it", "role", "robot") == "robot"
