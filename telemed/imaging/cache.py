"""A short memory of authorized study reads, so the frames of a study being scrolled do not
each write an audit line: the first read of a study by a person (its series, a frame) is
authorized and audited in full; the frames that follow within `ttl` seconds ride on it.
The series a person opened are remembered for `series_window` seconds (a session window):
the first frame of a series audits it once ("series"), the next frames of that series in
the window do not. Also the PatientID of each study (it does not change), so frames need
no QIDO round trip. Per process: several processes may each write a series' line once.
"""

from __future__ import annotations

import time
from collections import OrderedDict


class StudyAccessCache:
    """(credential, study) → until when frames are allowed; study → patient id."""

    def __init__(self, ttl: float = 120.0, size: int = 10_000,
                 series_window: float = 1800.0) -> None:
        self.ttl = ttl
        self.size = size
        self.series_window = series_window
        self._granted: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._series: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._patients: OrderedDict[str, str] = OrderedDict()
        self._members: OrderedDict[str, set[tuple[str, str]]] = OrderedDict()

    def allowed(self, credential: str, study_uid: str, now: float | None = None) -> bool:
        return _live(self._granted, (credential, study_uid), now)

    def grant(self, credential: str, study_uid: str, now: float | None = None) -> None:
        _until(self._granted, (credential, study_uid), self.ttl, self.size, now)

    def series_audited(self, credential: str, series_uid: str,
                       now: float | None = None) -> bool:
        """Whether this credential's opening of the series was audited within the window."""
        return _live(self._series, (credential, series_uid), now)

    def audit_series(self, credential: str, series_uid: str, now: float | None = None) -> None:
        """Remember that the series' opening was audited (for `series_window` seconds)."""
        _until(self._series, (credential, series_uid), self.series_window, self.size, now)

    def unaudit_series(self, credential: str, series_uid: str) -> None:
        """Undo `audit_series` (the access it claimed was refused, or failed)."""
        self._series.pop((credential, series_uid), None)

    def forget(self, credential: str) -> None:
        for key in [k for k in self._granted if k[0] == credential]:
            del self._granted[key]
        for key in [k for k in self._series if k[0] == credential]:
            del self._series[key]

    def has_member(self, study_uid: str, series_uid: str, sop_uid: str) -> bool:
        return (series_uid, sop_uid) in self._members.get(study_uid, ())

    def remember_members(self, study_uid: str, pairs: set[tuple[str, str]]) -> None:
        """Instances (series, SOP) known to be in the study (the proxy checks every frame's
        path against them, whatever the PACS checks)."""
        self._members.setdefault(study_uid, set()).update(pairs)
        self._members.move_to_end(study_uid)
        while len(self._members) > self.size // 10:
            self._members.popitem(last=False)

    def patient_of(self, study_uid: str) -> str | None:
        return self._patients.get(study_uid)

    def remember_patient(self, study_uid: str, patient_id: str) -> None:
        self._patients[study_uid] = patient_id
        self._patients.move_to_end(study_uid)
        while len(self._patients) > self.size:
            self._patients.popitem(last=False)


def _live(expiries: OrderedDict[tuple[str, str], float], key: tuple[str, str],
          now: float | None) -> bool:
    until = expiries.get(key)
    return until is not None and until > (now if now is not None else time.monotonic())


def _until(expiries: OrderedDict[tuple[str, str], float], key: tuple[str, str], seconds: float,
           size: int, now: float | None) -> None:
    """`key` lives `seconds` from now (the newest; the oldest go beyond `size`)."""
    expiries[key] = (now if now is not None else time.monotonic()) + seconds
    expiries.move_to_end(key)
    while len(expiries) > size:
        expiries.popitem(last=False)
