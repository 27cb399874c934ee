"""Identity rules: fiscal number claims, levels of assurance, account choice, TOTP steps."""

from __future__ import annotations

import pytest

from telemed.domain.identity import (
    Candidate,
    acr_satisfies,
    choose_account,
    fiscal_number,
    needs_second_factor,
    second_factor_step,
    totp_step_acceptable,
)

CODE = "RSSMRA80A01H501U"


@pytest.mark.parametrize("claim", [CODE, "TINIT-" + CODE, "tinit-rssmra80a01h501u",
                                   " RSSMRA80A01H501U "])
def test_fiscal_number_accepts_spid_and_bare_forms(claim: str) -> None:
    assert fiscal_number(claim) == CODE


@pytest.mark.parametrize("claim", [None, 42, "", "TINIT-", "TINIT-RSSMRA80A01H501", "X" * 16,
                                   "VATIT-12345678901", "TINIT-TINIT-" + CODE])
def test_fiscal_number_refuses_anything_else(claim: object) -> None:
    assert fiscal_number(claim) is None


def test_acr_levels() -> None:
    l2, l3 = "https://www.spid.gov.it/SpidL2", "https://www.spid.gov.it/SpidL3"
    assert acr_satisfies(l3, l2) and acr_satisfies(l2, l2)
    assert not acr_satisfies("https://www.spid.gov.it/SpidL1", l2)
    assert not acr_satisfies(None, l2) and not acr_satisfies("urn:unknown", l2)
    assert not acr_satisfies(l3, "")  # no minimum configured: the IdP never replaces 2FA
    assert acr_satisfies("urn:custom:high", "urn:custom:high")
    assert acr_satisfies("http://eidas.europa.eu/LoA/high", l2)


def test_choose_account() -> None:
    patient, doctor = Candidate("u1", "patient", "patient"), Candidate("u2", "doctor", "doctor")
    assert choose_account([], None) is None
    assert choose_account([patient], None) == patient
    assert choose_account([patient], "u2") is None
    assert choose_account([patient, doctor], None) is None  # the person must choose
    assert choose_account([patient, doctor], "u2") == doctor
    assert choose_account([patient, doctor], "someone-else") is None


def test_totp_step_used_once() -> None:
    assert totp_step_acceptable(100, None)
    assert totp_step_acceptable(101, 100)
    assert not totp_step_acceptable(100, 100)
    assert not totp_step_acceptable(99, 100)


def test_second_factor_rule() -> None:
    l2 = "https://www.spid.gov.it/SpidL2"
    assert needs_second_factor("doctor", "staff")
    assert needs_second_factor("admin", "staff", acr="https://www.spid.gov.it/SpidL1",
                               min_acr=l2)
    assert not needs_second_factor("doctor", "staff", acr=l2, min_acr=l2)
    assert not needs_second_factor("patient", "staff")
    assert not needs_second_factor("nurse", "none")


def test_second_factor_step() -> None:
    l2 = "https://www.spid.gov.it/SpidL2"
    assert second_factor_step("doctor", "staff", enrolled=False) == "enrol"
    assert second_factor_step("doctor", "staff", enrolled=True) == "verify"
    assert second_factor_step("doctor", "none", enrolled=True) == "verify"  # set up = asked
    assert second_factor_step("doctor", "none", enrolled=False) == "none"
    assert second_factor_step("patient", "staff", enrolled=False) == "none"
    assert second_factor_step("doctor", "staff", enrolled=True, acr=l2, min_acr=l2) == "none"
    assert second_factor_step("doctor", "staff", enrolled=False,
                              acr="https://www.spid.gov.it/SpidL1", min_acr=l2) == "enrol"
