"""The board's filters (severity, status, the patient's name) and what the name search sees."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from yarl import URL

from telemed.db.models import Alert, Patient
from telemed.services import alerts as service

ACTIVE = ("open", "acknowledged")


@dataclass(frozen=True)
class BoardFilter:
    """The board's filters, from the query string (unknown values mean "all")."""

    severity: str = ""
    status: str = ""
    q: str = ""

    @classmethod
    def of(cls, query: Any) -> BoardFilter:
        severity = query.get("severity", "")
        status = query.get("status", "")
        return cls(severity=severity if severity in service.SEVERITIES else "",
                   status=status if status in ACTIVE else "",
                   q=" ".join(str(query.get("q", "")).split())[:100])

    @classmethod
    def of_url(cls, target: str) -> BoardFilter:
        return cls.of(dict(parse_qsl(urlsplit(target).query)))

    def matches(self, alert: Alert, patient: Patient) -> bool:
        if self.severity and alert.severity != self.severity:
            return False
        if self.status and alert.status != self.status:
            return False
        return not self.q or self.q.casefold() in search_text(patient)

    @property
    def is_set(self) -> bool:
        return bool(self.severity or self.status or self.q)

    def url(self) -> str:
        query = {k: v for k, v in (("severity", self.severity), ("status", self.status),
                                   ("q", self.q)) if v}
        return str(URL("/alerts").with_query(query))


def patient_name(patient: Patient) -> str:
    return f"{patient.family_name} {patient.given_name}"


def search_text(patient: Patient) -> str:
    """What the name search looks in (either order of the names), case-folded."""
    return (f"{patient.family_name} {patient.given_name} | "
            f"{patient.given_name} {patient.family_name}").casefold()
