"""Clinical documents (CONTRACT §8): kinds, sections, states and what each change may do.

Pure rules: no I/O, no clock (times are arguments). The kinds follow HL7 Italia's
telemedicine implementation guides (docs/documents.md says where and how we depart):
each kind has the LOINC type code of its Composition and an ordered list of sections,
each with its LOINC section code. More kinds (a co-signed teleconsult report, for one) are
added with :func:`register_kind`; the services and the renderers only read the registry.

A document's life: ``draft`` (its author may edit it) → ``signed`` (immutable, sealed) →
``replaced`` (a newer signed document of the same patient corrects it). A kind that needs two
signers (the teleconsult report) passes through ``partially_signed``: its author signed it,
it no longer changes, and it waits for its named co-signer; only the second signature seals it.

Codes and numbers only: a report's drafted text (its monitoring figures, alerts and
questionnaires, a teleconsult's urgency and mode) is said in the document's language, in the
catalogue's words, by `telemed.documents.report_words` and `telemed.documents.score_words`.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from telemed.domain.errors import N_
from telemed.domain.score_report import ScoreLine, ScoreSummary, summarize_scores
from telemed.domain.teleconsults import Mode, Urgency
from telemed.domain.text import text_errors

Status = Literal["draft", "partially_signed", "signed", "replaced"]
STATUSES: Final[tuple[Status, ...]] = ("draft", "partially_signed", "signed", "replaced")
# What the patient's side sees (and what leaves the platform): sealed documents only.
SEALED: Final[tuple[Status, ...]] = ("signed", "replaced")
CLINICAL_ROLES: Final = ("doctor", "nurse")
MAX_SECTION_CHARS: Final = 20_000
MAX_TITLE_CHARS: Final = 200
LOINC: Final = "http://loinc.org"


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """One section of a kind: its key, LOINC code and titles (Italian, English)."""

    key: str
    loinc: str
    title_it: str
    title_en: str
    required: bool = False

    def title(self, lang: str) -> str:
        return self.title_it if lang == "it" else self.title_en


@dataclass(frozen=True, slots=True)
class KindSpec:
    """A kind of document: its Composition type and sections (after HL7 Italia)."""

    key: str
    loinc: str
    loinc_display: str
    title_it: str
    title_en: str
    sections: tuple[SectionSpec, ...]
    # "visit": written after a visit; "careplan": drafted from a care plan's data.
    source: Literal["visit", "careplan", "none"] = "none"
    # How many distinct signers it needs (a co-signed teleconsult report: 2).
    signers: int = 1

    def title(self, lang: str) -> str:
        return self.title_it if lang == "it" else self.title_en

    def section(self, key: str) -> SectionSpec | None:
        return next((s for s in self.sections if s.key == key), None)


# Sections of the Referto di Televisita (CompositionRefertoTelevisita).
REASON = SectionSpec("reason", "29299-5", "Quesito diagnostico", "Reason for the visit")
FINDINGS = SectionSpec("findings", "47045-0", "Referto", "Findings", required=True)
CONCLUSIONS = SectionSpec("conclusions", "55110-1", "Conclusioni", "Conclusions")
THERAPY = SectionSpec("therapy", "93341-6", "Terapia farmacologica consigliata",
                      "Recommended therapy")
FOLLOW_UP = SectionSpec("follow_up", "80615-8", "Accertamenti e controlli consigliati",
                        "Recommended tests and follow-up")
# Telemonitoring (the plan of care, the readings and the alerts).
PLAN = SectionSpec("plan", "18776-5", "Piano di cura", "Plan of care")
ADHERENCE = SectionSpec("adherence", "18776-5", "Aderenza al piano", "Adherence to the plan")
READINGS = SectionSpec("readings", "8716-3", "Parametri rilevati", "Readings")
ALERTS = SectionSpec("alerts", "75310-3", "Allarmi e loro gestione", "Alerts and handling")
# C-CDA's Assessment section code: the questionnaires' scores are the patient's assessments.
QUESTIONNAIRES = SectionSpec("questionnaires", "51848-0", "Questionari e punteggi",
                             "Questionnaires and scores")
QUESTION = SectionSpec("question", "29299-5", "Quesito", "Question", required=True)

_MONITORING_SECTIONS = (ADHERENCE, READINGS, ALERTS, QUESTIONNAIRES, FINDINGS, CONCLUSIONS)

KINDS: dict[str, KindSpec] = {}


def register_kind(spec: KindSpec) -> KindSpec:
    """Add a kind (or refuse a second one with the same key)."""
    if spec.key in KINDS:
        raise ValueError(f"document kind {spec.key!r} exists")
    if len({s.key for s in spec.sections}) != len(spec.sections):
        raise ValueError(f"document kind {spec.key!r} repeats a section")
    KINDS[spec.key] = spec
    return spec


register_kind(KindSpec("televisit_report", "75496-0", "Telehealth Note", "Referto di Televisita",
                       "Televisit report", (REASON, FINDINGS, CONCLUSIONS, THERAPY, FOLLOW_UP),
                       source="visit"))
register_kind(KindSpec("teleconsult_request", "57133-1", "Referral note",
                       "Richiesta di teleconsulto", "Teleconsult request",
                       (QUESTION, FINDINGS), source="visit"))
register_kind(KindSpec("teleconsult_report", "85208-7", "Telehealth Consult note",
                       "Relazione di teleconsulto", "Teleconsult report",
                       (QUESTION, FINDINGS, CONCLUSIONS), source="visit", signers=2))
register_kind(KindSpec("monitoring_plan", "18776-5", "Plan of care note",
                       "Piano di Telemonitoraggio", "Telemonitoring plan",
                       (PLAN, FINDINGS), source="careplan"))
register_kind(KindSpec("monitoring_report", "64296-7", "Telemonitoring report",
                       "Report di Telemonitoraggio", "Telemonitoring report",
                       _MONITORING_SECTIONS, source="careplan"))
register_kind(KindSpec("monitoring_final_report", "53576-5", "Telemonitoring final report",
                       "Relazione Finale di Telemonitoraggio", "Telemonitoring final report",
                       _MONITORING_SECTIONS, source="careplan"))


class DocumentRuleError(ValueError):
    """A change the rules refuse: ``code`` (snake_case) and an English message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def kind_of(key: str) -> KindSpec:
    spec = KINDS.get(key)
    if spec is None:
        raise DocumentRuleError(422, "unknown_document_kind", f"Unknown document kind {key!r}.")
    return spec


# --- text ---------------------------------------------------------------------------------

_BLANK_LINES = re.compile(r"\n\s*\n")


def paragraphs(text: str) -> list[str]:
    """The paragraphs of a text: split on blank lines; single line breaks kept inside."""
    normal = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p.strip("\n ") for p in _BLANK_LINES.split(normal) if p.strip()]


def clean_sections(spec: KindSpec, sections: Mapping[str, Any]) -> tuple[dict[str, str],
                                                                         dict[str, str]]:
    """The sections of ``spec`` given in ``sections`` (trimmed text), and field errors."""
    errors: dict[str, str] = {}
    out: dict[str, str] = {}
    for key, value in sections.items():
        if spec.section(key) is None:
            errors[f"sections.{key}"] = "Unknown section."
        elif isinstance(value, str) and len(value) > MAX_SECTION_CHARS:
            errors[f"sections.{key}"] = "At most 20000 characters."
        else:
            text, problems = text_errors(value, f"sections.{key}",
                                         max_length=MAX_SECTION_CHARS, multiline=True,
                                         required=False)
            if problems:
                errors[f"sections.{key}"] = problems[0].render()
            elif text:
                out[key] = text
    return out, errors


def missing_sections(spec: KindSpec, sections: Mapping[str, str]) -> list[str]:
    """Required sections that are still empty (signing needs them)."""
    return [s.key for s in spec.sections if s.required and not sections.get(s.key, "").strip()]


# --- states -------------------------------------------------------------------------------


def check_editable(status: str, author_id: str, editor_id: str) -> None:
    """Only a draft, only by its author."""
    if status == "partially_signed":
        raise DocumentRuleError(409, "document_being_signed",
                                N_("Signed by its author and awaiting co-signature: it no longer "
                                "changes."))
    if status != "draft":
        raise DocumentRuleError(409, "document_signed",
                                "A signed document never changes: write a replacement.")
    if author_id != editor_id:
        raise DocumentRuleError(403, "not_author", "Only the author may edit this draft.")


def check_signable(status: str, author_id: str, signer_id: str, spec: KindSpec,
                   sections: Mapping[str, str], *, cosigner_id: str | None = None) -> Status:
    """Who may sign now, and the status the signature leads to.

    A draft is signed first by its author, with every required section written: a kind with
    one signer is then ``signed``; a kind with two is ``partially_signed`` and waits for its
    named co-signer (another person than the author), whose signature makes it ``signed``.
    Nobody signs twice, nobody else co-signs, and a replaced document is never signed."""
    if status == "replaced":
        raise DocumentRuleError(409, "document_replaced",
                                N_("This document was replaced: it can no longer be signed."))
    if status == "signed":
        raise DocumentRuleError(409, "already_signed", "This document is already signed.")
    if status == "partially_signed":
        if signer_id == author_id:
            raise DocumentRuleError(409, "already_signed_by_you",
                                    N_("You have signed this document already: it waits for "
                                    "its co-signer."))
        if cosigner_id is None or signer_id != cosigner_id:
            raise DocumentRuleError(403, "not_cosigner",
                                    N_("Only the named co-signer may co-sign this document."))
        return "signed"
    if status != "draft":
        raise DocumentRuleError(409, "already_signed", "This document is already signed.")
    if author_id != signer_id:
        raise DocumentRuleError(403, "not_author",
                                "Only the author may sign this draft.")
    missing = missing_sections(spec, sections)
    if missing:
        raise DocumentRuleError(422, "sections_missing",
                                "Write the required sections before signing: "
                                + ", ".join(missing) + ".")
    if spec.signers < 2:
        return "signed"
    if cosigner_id is None or cosigner_id == author_id:
        raise DocumentRuleError(409, "cosigner_missing",
                                N_("This document needs a co-signer other than its author."))
    return "partially_signed"


def check_cosigner(spec: KindSpec, author_id: str, cosigner_id: str | None,
                   cosigner_role: str | None, cosigner_active: bool = True) -> None:
    """The co-signer a kind with two signers names: an active clinician, not the author."""
    if spec.signers < 2:
        if cosigner_id is not None:
            raise DocumentRuleError(422, "cosigner_not_needed",
                                    N_("This kind of document has a single signer."))
        return
    if cosigner_id is None:
        raise DocumentRuleError(422, "cosigner_missing",
                                N_("This document needs a co-signer other than its author."))
    if cosigner_id == author_id:
        raise DocumentRuleError(422, "cosigner_is_author",
                                N_("The co-signer must be another person than the author."))
    if cosigner_role not in CLINICAL_ROLES or not cosigner_active:
        raise DocumentRuleError(422, "cosigner_not_clinician",
                                N_("The co-signer must be an active doctor or nurse."))


def replacement_signers(spec: KindSpec, author_id: str, cosigner_id: str | None,
                        replacer_id: str) -> str | None:
    """The co-signer of a replacement written by ``replacer_id``: for a co-signed kind, one
    of the two signers writes it and the other co-signs it again; nobody else replaces it."""
    if spec.signers < 2:
        return None
    if replacer_id == author_id and cosigner_id is not None:
        return cosigner_id
    if replacer_id == cosigner_id:
        return author_id
    raise DocumentRuleError(403, "not_signer",
                            N_("Only the signers of a co-signed document may correct it."))


def cosign_page(document_id: str, teleconsult_id: str | None, replaces_id: str | None) -> str:
    """Where the co-signer finds the Co-sign form: a teleconsult's report on the request's
    page (which shows the report it links); a correction, linked by the request only once
    sealed, or any other document on its own page."""
    if teleconsult_id and not replaces_id:
        return f"/teleconsults/{teleconsult_id}"
    return f"/documents/{document_id}"


def check_replaceable(old_status: str, old_patient_id: str, new_patient_id: str,
                      old_kind: str, new_kind: str) -> None:
    """A replacement corrects a signed document of the same patient and kind."""
    if old_patient_id != new_patient_id:
        raise DocumentRuleError(422, "replacement_other_patient",
                                "A document can only replace one of the same patient.")
    if old_kind != new_kind:
        raise DocumentRuleError(422, "replacement_other_kind",
                                "A document can only replace one of the same kind.")
    if old_status != "signed":
        raise DocumentRuleError(409, "replacement_not_signed",
                                "Only a signed document in force can be replaced.")


# --- canonical content --------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """Sorted, compact UTF-8 JSON (what signatures and hashes are made over)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                      sort_keys=True).encode()


def content_digest(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


# --- the monitoring report: figures from the data -----------------------------------------


@dataclass(frozen=True, slots=True)
class MetricSummary:
    metric: str
    unit: str
    count: int
    minimum: float
    median: float
    maximum: float

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "unit": self.unit, "count": self.count,
                "min": self.minimum, "median": self.median, "max": self.maximum}


@dataclass(frozen=True, slots=True)
class AlertLine:
    kind: str
    metric: str | None
    severity: str
    opened_at: datetime
    status: str
    handled_at: datetime | None
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "metric": self.metric, "severity": self.severity,
                "opened_at": self.opened_at.isoformat(), "status": self.status,
                "handled_at": self.handled_at.isoformat() if self.handled_at else None,
                "minutes_to_handle": (round((self.handled_at - self.opened_at)
                                            .total_seconds() / 60)
                                      if self.handled_at else None),
                "note": self.note}


@dataclass(frozen=True, slots=True)
class MonitoringFigures:
    """What a monitoring report states, computed from the data of its period."""

    period_start: datetime
    period_end: datetime
    expected: int
    taken: int
    metrics: tuple[MetricSummary, ...] = ()
    alerts: tuple[AlertLine, ...] = ()
    series: Mapping[str, Sequence[tuple[str, float]]] = field(default_factory=dict)
    questionnaires: tuple[ScoreSummary, ...] = ()

    @property
    def adherence(self) -> float | None:
        """Share of scheduled measurements taken (None when nothing was scheduled)."""
        return None if self.expected == 0 else round(self.taken / self.expected, 3)

    @property
    def adherence_percent(self) -> int | None:
        """The adherence as a whole percentage, as the report states it."""
        return None if self.adherence is None else round(self.adherence * 100)

    def to_dict(self) -> dict[str, Any]:
        return {"period_start": self.period_start.isoformat(),
                "period_end": self.period_end.isoformat(),
                "expected": self.expected, "taken": self.taken, "adherence": self.adherence,
                "metrics": [m.to_dict() for m in self.metrics],
                "alerts": [a.to_dict() for a in self.alerts],
                "series": {k: [list(p) for p in v] for k, v in self.series.items()},
                "questionnaires": [q.to_dict() for q in self.questionnaires]}


def summarize_metric(metric: str, unit: str, values: Sequence[float]) -> MetricSummary | None:
    """Count, min, median and max of one metric's readings (None without readings)."""
    if not values:
        return None
    return MetricSummary(metric, unit, len(values), round(min(values), 2),
                         round(statistics.median(values), 2), round(max(values), 2))


def monitoring_figures(*, period_start: datetime, period_end: datetime, expected: int,
                       taken: int, readings: Mapping[str, tuple[str, Sequence[float]]],
                       alerts: Iterable[AlertLine],
                       series: Mapping[str, Sequence[tuple[str, float]]] | None = None,
                       scores: Iterable[ScoreLine] = (),
                       ) -> MonitoringFigures:
    """The figures of a monitoring report (``readings``: metric → (unit, values);
    ``scores``: the questionnaire responses of the period)."""
    if taken > expected:
        taken = expected  # extra readings do not make adherence exceed 100 %
    summaries = [summarize_metric(metric, unit, values)
                 for metric, (unit, values) in sorted(readings.items())]
    return MonitoringFigures(period_start, period_end, expected, taken,
                             tuple(s for s in summaries if s is not None),
                             tuple(sorted(alerts, key=lambda a: a.opened_at)),
                             dict(series or {}), summarize_scores(scores))


# --- the teleconsult report: drafted from the request and its answer ----------------------


@dataclass(frozen=True, slots=True)
class TeleconsultDraft:
    """What a teleconsult report (relazione di teleconsulto) is drafted from: the question,
    its urgency and mode (anything but ``urgent`` is routine, anything but ``live`` is
    written), the attachments and studies it cites, and the specialist's answer, which is
    the report's findings. `telemed.documents.report_words` drafts it in words."""

    question: str
    urgency: Urgency
    mode: Mode
    cited: tuple[str, ...]
    findings: str


def teleconsult_draft(*, question: str, urgency: str, mode: str, cited: Iterable[str],
                      answer: str) -> TeleconsultDraft:
    """A teleconsult report's draft from its request and the answer (texts trimmed)."""
    return TeleconsultDraft(question.strip(), "urgent" if urgency == "urgent" else "routine",
                            "live" if mode == "live" else "async", tuple(cited), answer.strip())
