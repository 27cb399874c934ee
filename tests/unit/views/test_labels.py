"""Every value people see has its word, in one table, in English and Italian."""

from __future__ import annotations

from typing import get_args

import pytest

from telemed.domain.alert_detail import DetailCode
from telemed.domain.units import METRICS
from telemed.i18n.labels import LABELS, label
from telemed.principal import ROLES
from telemed.services.delegates import RELATIONSHIPS
from telemed.services.devices import KINDS as DEVICE_KINDS
from telemed.services.visits import KINDS as VISIT_KINDS
from telemed.services.visits import VisitStatus

VALUES = {
    "role": ROLES,
    "relationship": RELATIONSHIPS,
    "device_kind": DEVICE_KINDS,
    "device_status": ("online", "offline", "revoked"),
    "visit_kind": VISIT_KINDS,
    "visit_status": get_args(VisitStatus),
    "careplan_status": ("draft", "active", "completed"),
    "severity": ("critical", "warning"),
    "alert_status": ("open", "acknowledged", "resolved"),
    "alert_kind": get_args(DetailCode),
    "metric": tuple(METRICS),
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


def test_the_documents_words_come_from_the_same_table_as_the_pages() -> None:
    from telemed.documents.pdf import _metric_name
    from telemed.views import labels as page_labels

    assert page_labels.LABELS is LABELS and page_labels.label is label
    assert label("it", "alert_kind", "threshold") == "Valore fuori soglia"
    assert label("it", "alert_status", "resolved") == "Risolta"
    assert _metric_name("spo2", "it") == label("it", "metric", "spo2") != "spo2"
