"""Teleconsult, attachment and viewer rules (pure)."""

from __future__ import annotations

import pytest

from telemed.domain import attachments as files
from telemed.domain import imaging
from telemed.domain import teleconsults as rules


@pytest.mark.parametrize(("status", "action", "actor", "mode", "expected"), [
    ("requested", "accept", "specialist", "async", "accepted"),
    ("requested", "accept", "requester", "async", None),
    ("requested", "decline", "specialist", "live", "declined"),
    ("requested", "more_info", "specialist", "live", "info_requested"),
    ("info_requested", "add_info", "requester", "live", "requested"),
    ("info_requested", "add_info", "specialist", "live", None),
    ("accepted", "schedule", "specialist", "live", "scheduled"),
    ("accepted", "schedule", "specialist", "async", None),
    ("accepted", "answer", "specialist", "async", "answered"),
    ("scheduled", "answer", "specialist", "live", "answered"),
    ("answered", "answer", "specialist", "live", None),
    ("declined", "accept", "specialist", "live", None),
    ("accepted", "cancel", "requester", "live", None),
    ("requested", "cancel", "requester", "live", "cancelled"),
])
def test_moves(status: str, action: str, actor: rules.Actor, mode: str,
               expected: str | None) -> None:
    assert rules.next_status(status, action, actor, mode) == expected


def test_access_only_between_acceptance_and_answer() -> None:
    assert [s for s in rules.STATUSES if rules.grants_access(s)] == ["accepted", "scheduled"]


def test_who_sees_a_request() -> None:
    assert rules.sees_request("answered", True, False, True)
    assert rules.sees_request("requested", False, True, False)
    assert not rules.sees_request("requested", False, True, True)  # taken by a colleague
    assert not rules.sees_request("answered", False, True, False)
    assert not rules.sees_request("requested", False, False, False)


@pytest.mark.parametrize(("head", "expected"), [
    (b"%PDF-1.7\n", "application/pdf"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n\x00", "image/png"),
    (b"\x00" * 128 + b"DICM", "application/dicom"),
    (b"\x00" * 128 + b"DICX", None),
    (b"<html>%PDF-", None),
    (b"", None),
])
def test_sniff(head: bytes, expected: str | None) -> None:
    assert files.sniff(head) == expected


def test_complete_and_filenames() -> None:
    assert files.complete("application/pdf", b"%PDF-1.4 ... %%EOF\n")
    assert not files.complete("application/pdf", b"%PDF-1.4 ... cut")
    assert files.complete("image/jpeg", b"\xff\xd8\xff...\xff\xd9")
    assert not files.complete("image/png", b"\x89PNG\r\n\x1a\n....")
    assert files.clean_filename("../../etc/passwd", "application/pdf") == "passwd.pdf"
    assert files.clean_filename('C:\\x\\"eco".jpeg', "image/jpeg") == "eco.jpeg"
    assert files.clean_filename(None, "application/dicom") == "attachment.dcm"
    assert files.clean_filename("a\x00b\u202e.png", "image/png") == "ab.png"
    assert files.same_patient_id(" rssmra50a01h501u ", "RSSMRA50A01H501U")
    assert not files.same_patient_id(None, "RSSMRA50A01H501U")
    assert not files.same_patient_id("VRDLGU60B02F205Z", "RSSMRA50A01H501U")


def test_window_and_uids() -> None:
    assert imaging.parse_window(None, None) is None
    assert imaging.parse_window("-600", "1500") == (-600.0, 1500.0)
    for center, width in (("40", None), ("x", "1"), ("40", "0"), ("nan", "40"),
                          ("1e9", "40"), ("40", "inf")):
        with pytest.raises(ValueError):
            imaging.parse_window(center, width)
    assert imaging.valid_uid("1.2.840.10008.5.1.4.1.1.2")
    assert not imaging.valid_uid("1..2") and not imaging.valid_uid("1.2/../x")
    assert not imaging.valid_uid("1" * 65)
    assert set(imaging.PRESETS) >= {"soft_tissue", "lung", "bone"}
