"""Document rules: kinds and sections, states, replacement, the monitoring figures and the
teleconsult report's draft, in codes and numbers (tests/unit/documents/test_report_words.py
has their words)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telemed.domain import documents as rules

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def test_kinds_follow_hl7_italia_codes() -> None:
    assert rules.kind_of("televisit_report").loinc == "75496-0"
    assert rules.kind_of("teleconsult_report").loinc == "85208-7"
    assert rules.kind_of("teleconsult_report").signers == 2
    assert rules.kind_of("monitoring_report").loinc == "64296-7"
    assert rules.kind_of("monitoring_final_report").loinc == "53576-5"
    referto = rules.kind_of("televisit_report")
    assert [(s.key, s.loinc) for s in referto.sections] == [
        ("reason", "29299-5"), ("findings", "47045-0"), ("conclusions", "55110-1"),
        ("therapy", "93341-6"), ("follow_up", "80615-8")]
    assert [s.key for s in referto.sections if s.required] == ["findings"]
    with pytest.raises(rules.DocumentRuleError) as err:
        rules.kind_of("prescription")
    assert err.value.code == "unknown_document_kind"


def test_kinds_are_extensible_but_unique() -> None:
    spec = rules.KindSpec("test_kind_x", "11488-4", "Consult note", "Prova", "Test",
                          (rules.FINDINGS,))
    try:
        assert rules.register_kind(spec) is spec and rules.kind_of("test_kind_x") is spec
        with pytest.raises(ValueError):
            rules.register_kind(spec)
    finally:
        rules.KINDS.pop("test_kind_x")
    with pytest.raises(ValueError):
        rules.register_kind(rules.KindSpec("dup_sections", "1-1", "x", "x", "x",
                                           (rules.FINDINGS, rules.FINDINGS)))


def test_paragraphs_keep_line_breaks_inside() -> None:
    text = "Primo paragrafo.\r\nStessa riga dopo a capo.\n\n\n  \nSecondo.\n"
    assert rules.paragraphs(text) == ["Primo paragrafo.\nStessa riga dopo a capo.", "Secondo."]
    assert rules.paragraphs("   \n\n ") == []


def test_clean_sections() -> None:
    spec = rules.kind_of("televisit_report")
    clean, errors = rules.clean_sections(spec, {"findings": "  testo \r\n", "reason": "",
                                                "bogus": "x", "therapy": "a\x07b",
                                                "conclusions": 3, "follow_up": "x\u202ey"})
    assert clean == {"findings": "testo"}
    assert set(errors) == {"sections.bogus", "sections.therapy", "sections.conclusions",
                           "sections.follow_up"}
    _, long = rules.clean_sections(spec, {"findings": "x" * 20_001})
    assert "sections.findings" in long
    assert rules.missing_sections(spec, {"reason": "r"}) == ["findings"]


@pytest.mark.parametrize(("status", "author", "who", "code"), [
    ("signed", "a", "a", "document_signed"), ("replaced", "a", "a", "document_signed"),
    ("partially_signed", "a", "a", "document_being_signed"),
    ("draft", "a", "b", "not_author")])
def test_editing_refused(status: str, author: str, who: str, code: str) -> None:
    with pytest.raises(rules.DocumentRuleError) as err:
        rules.check_editable(status, author, who)
    assert err.value.code == code


def test_signing_rules() -> None:
    spec = rules.kind_of("televisit_report")
    rules.check_signable("draft", "a", "a", spec, {"findings": "x"})
    cases = [("signed", "a", {"findings": "x"}, "already_signed"),
             ("draft", "b", {"findings": "x"}, "not_author"),
             ("draft", "a", {"reason": "x"}, "sections_missing")]
    for status, signer, sections, code in cases:
        with pytest.raises(rules.DocumentRuleError) as err:
            rules.check_signable(status, "a", signer, spec, sections)
        assert err.value.code == code


def test_a_co_signed_kind_waits_for_its_co_signer() -> None:
    spec = rules.kind_of("teleconsult_report")
    sections = {"question": "q", "findings": "f"}
    # The author signs first: the document waits, unsealed.
    assert rules.check_signable("draft", "spec", "spec", spec, sections,
                                cosigner_id="gp") == "partially_signed"
    # Only the named co-signer completes it.
    assert rules.check_signable("partially_signed", "spec", "gp", spec, sections,
                                cosigner_id="gp") == "signed"
    # A single signer's kind is signed at once.
    assert rules.check_signable("draft", "a", "a", rules.kind_of("televisit_report"),
                                {"findings": "x"}) == "signed"


@pytest.mark.parametrize(("status", "signer", "cosigner", "code"), [
    ("partially_signed", "spec", "gp", "already_signed_by_you"),  # the author twice
    ("partially_signed", "stranger", "gp", "not_cosigner"),  # a third party
    ("partially_signed", "gp", None, "not_cosigner"),  # nobody named
    ("draft", "gp", "gp", "not_author"),  # the co-signer before the author
    ("draft", "spec", None, "cosigner_missing"),
    ("draft", "spec", "spec", "cosigner_missing"),  # the author as its own co-signer
    ("signed", "gp", "gp", "already_signed"),  # the co-signer twice
    ("replaced", "gp", "gp", "document_replaced"),  # after replacement
])
def test_co_signing_refused(status: str, signer: str, cosigner: str | None,
                            code: str) -> None:
    spec = rules.kind_of("teleconsult_report")
    with pytest.raises(rules.DocumentRuleError) as err:
        rules.check_signable(status, "spec", signer, spec, {"question": "q", "findings": "f"},
                             cosigner_id=cosigner)
    assert err.value.code == code


@pytest.mark.parametrize(("cosigner", "role", "active", "code"), [
    (None, None, True, "cosigner_missing"), ("a", "doctor", True, "cosigner_is_author"),
    ("p", "patient", True, "cosigner_not_clinician"), ("x", "admin", True,
                                                         "cosigner_not_clinician"),
    ("n", "nurse", False, "cosigner_not_clinician")])
def test_who_may_be_named_co_signer(cosigner: str | None, role: str | None, active: bool,
                                    code: str) -> None:
    spec = rules.kind_of("teleconsult_report")
    rules.check_cosigner(spec, "a", "b", "nurse")
    with pytest.raises(rules.DocumentRuleError) as err:
        rules.check_cosigner(spec, "a", cosigner, role, active)
    assert err.value.code == code
    with pytest.raises(rules.DocumentRuleError):
        rules.check_cosigner(rules.kind_of("televisit_report"), "a", "b", "doctor")


def test_a_co_signed_document_is_corrected_by_its_signers() -> None:
    spec = rules.kind_of("teleconsult_report")
    assert rules.replacement_signers(spec, "spec", "gp", "spec") == "gp"
    assert rules.replacement_signers(spec, "spec", "gp", "gp") == "spec"
    assert rules.replacement_signers(rules.kind_of("televisit_report"), "a", None, "b") is None
    with pytest.raises(rules.DocumentRuleError) as err:
        rules.replacement_signers(spec, "spec", "gp", "stranger")
    assert err.value.code == "not_signer"


def test_a_teleconsult_report_is_drafted_from_the_request_and_its_answer() -> None:
    """Codes, not words (tests/unit/documents/test_report_words.py has them): the texts
    trimmed, anything but urgent routine, anything but live written."""
    draft = rules.teleconsult_draft(question=" Dispnea: ecocardio?\n", urgency="urgent",
                                    mode="async", cited=iter(["ecg.pdf", "TC torace (1.2.3)"]),
                                    answer="  Ecocardio entro 7 giorni.\n\nRivalutare. ")
    assert draft == rules.TeleconsultDraft(
        "Dispnea: ecocardio?", "urgent", "async", ("ecg.pdf", "TC torace (1.2.3)"),
        "Ecocardio entro 7 giorni.\n\nRivalutare.")
    assert [(d.urgency, d.mode) for d in (
        rules.teleconsult_draft(question="q", urgency=urgency, mode=mode, cited=[], answer="a")
        for urgency, mode in (("routine", "live"), ("unheard_of", "unheard_of")))] == [
        ("routine", "live"), ("routine", "async")]


def test_replacement_rules() -> None:
    rules.check_replaceable("signed", "p1", "p1", "televisit_report", "televisit_report")
    for args, code in [(("signed", "p1", "p2", "k", "k"), "replacement_other_patient"),
                       (("signed", "p1", "p1", "k", "j"), "replacement_other_kind"),
                       (("draft", "p1", "p1", "k", "k"), "replacement_not_signed"),
                       (("replaced", "p1", "p1", "k", "k"), "replacement_not_signed")]:
        with pytest.raises(rules.DocumentRuleError) as err:
            rules.check_replaceable(*args)
        assert err.value.code == code


def test_canonical_digest_ignores_key_order() -> None:
    assert rules.content_digest({"b": 1, "a": "è"}) == rules.content_digest({"a": "è", "b": 1})
    assert rules.content_digest({"a": 1}) != rules.content_digest({"a": 2})


def test_monitoring_figures_and_adherence() -> None:
    alert = rules.AlertLine("threshold", "spo2", "critical", T0 + timedelta(hours=5),
                            "resolved", T0 + timedelta(hours=5, minutes=12), "Chiamato")
    figures = rules.monitoring_figures(
        period_start=T0, period_end=T0 + timedelta(days=30), expected=60, taken=45,
        readings={"spo2": ("%", [91.0, 95.0, 97.0, 93.0]), "body_weight": ("kg", [])},
        alerts=[alert])
    assert figures.adherence == 0.75
    [spo2] = figures.metrics
    assert (spo2.count, spo2.minimum, spo2.median, spo2.maximum) == (4, 91.0, 94.0, 97.0)
    assert figures.adherence_percent == 75
    data = figures.to_dict()
    assert data["alerts"][0]["minutes_to_handle"] == 12
    assert "adherence_percent" not in data  # the stored figures stay as they were
    third = rules.monitoring_figures(period_start=T0, period_end=T0, expected=3, taken=2,
                                     readings={}, alerts=[])
    assert (third.adherence, third.adherence_percent) == (0.667, 67)
    over = rules.monitoring_figures(period_start=T0, period_end=T0, expected=2, taken=5,
                                    readings={}, alerts=[])
    assert (over.adherence, over.adherence_percent) == (1.0, 100)
    none = rules.monitoring_figures(period_start=T0, period_end=T0, expected=0, taken=0,
                                    readings={}, alerts=[])
    assert (none.adherence, none.adherence_percent) == (None, None)


def test_the_alerts_of_a_report_come_in_order_with_their_time_to_handle() -> None:
    late = rules.AlertLine("threshold", "spo2", "warning", T0 + timedelta(days=2), "open",
                           None, None)
    early = rules.AlertLine("missed_measurement", None, "warning", T0, "acknowledged",
                            T0 + timedelta(minutes=90, seconds=40), "Richiamato")
    figures = rules.monitoring_figures(period_start=T0, period_end=T0 + timedelta(days=40),
                                       expected=0, taken=0,
                                       readings={"spo2": ("%", [91.0, 95.0])},
                                       alerts=[late, early])
    assert figures.alerts == (early, late)
    assert [(a["kind"], a["handled_at"], a["minutes_to_handle"])
            for a in figures.to_dict()["alerts"]] == [
        ("missed_measurement", (T0 + timedelta(minutes=90, seconds=40)).isoformat(), 91),
        ("threshold", None, None)]


def test_the_co_signer_is_sent_where_the_co_sign_form_is() -> None:
    # A teleconsult's report: on the request's page, which shows the report it links.
    assert rules.cosign_page("d1", "t1", None) == "/teleconsults/t1"
    # Its correction (linked by the request only once sealed), any other kind: its own page.
    assert rules.cosign_page("d2", "t1", "d1") == "/documents/d2"
    assert rules.cosign_page("d3", None, None) == "/documents/d3"
