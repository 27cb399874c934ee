"""A signed document as a FHIR R4 ``document`` Bundle (docs/fhir.md, "Documents").

The Composition comes first, then the resources it cites: the Patient, the Practitioners
(author, legal authenticator, and a co-signed document's co-signer as a professional
attester), the Organization (custodian: the seal's holder), the
Encounter (a televisit) and the Observations (a monitoring report: one per metric, the
median with min and max as components over the period). Entries are addressed by
``urn:uuid:`` full URLs so the Bundle stands alone; the same resources become a
``transaction`` for the regional record (:func:`as_transaction`).
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from telemed.documents.score_words import band_word
from telemed.domain.documents import LOINC, KindSpec, paragraphs
from telemed.domain.local_time import DEFAULT_ZONE
from telemed.domain.score_report import SCORE_LOINC
from telemed.domain.units import METRICS
from telemed.i18n.labels import NC_, label, say

FISCAL_CODE = "http://hl7.it/sid/codiceFiscale"
UCUM = "http://unitsofmeasure.org"
QUESTIONNAIRE_SYSTEM = "urn:telemed:questionnaire"  # the platform's own score codes
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DOC_ID_SYSTEM = "urn:ietf:rfc:3986"
XHTML = "http://www.w3.org/1999/xhtml"
_NS = uuid.UUID("6f1c3c1e-5b9a-4d0e-9a53-2a4d1c7e0b11")  # stable urn:uuid per resource


@dataclass(frozen=True)
class PatientInfo:
    id: str
    fiscal_code: str
    given_name: str
    family_name: str
    birth_date: date
    gender: str


@dataclass(frozen=True)
class PersonInfo:
    id: str
    name: str
    role: str


@dataclass(frozen=True)
class EncounterInfo:
    id: str
    status: str
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class DocumentFacts:
    """Everything a document's Bundle and PDF state, read from the database at signing."""

    id: str
    spec: KindSpec
    title: str
    language: str
    patient: PatientInfo
    author: PersonInfo
    signer: PersonInfo
    organisation: str
    sections: Mapping[str, str]
    signed_at: datetime
    encounter: EncounterInfo | None = None
    period: tuple[datetime, datetime] | None = None
    figures: Mapping[str, Any] | None = None
    replaces: str | None = None
    # A co-signed document (two signers): the co-signer and when they signed (then the
    # document's date); ``signer`` and ``signed_at`` are the first signature.
    cosigner: PersonInfo | None = None
    cosigned_at: datetime | None = None
    # The service's time zone: the PDF's times are local to it (the Bundle's are instants).
    timezone: str = DEFAULT_ZONE

    @property
    def completed_at(self) -> datetime:
        """When the document became signed: its last signature."""
        return self.cosigned_at or self.signed_at

    @property
    def signers(self) -> tuple[PersonInfo, ...]:
        return (self.signer,) if self.cosigner is None else (self.signer, self.cosigner)


def urn(kind: str, ident: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, f'{kind}/{ident}')}"


def _narrative(text: str) -> dict[str, str]:
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br/>')}</p>"
                   for p in paragraphs(text)) or "<p/>"
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{body}</div>'}


def _iso(value: datetime) -> str:
    return value.isoformat()


def _patient(p: PatientInfo) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": p.id,
            "identifier": [{"use": "official", "system": FISCAL_CODE, "value": p.fiscal_code}],
            "name": [{"use": "official", "family": p.family_name, "given": [p.given_name]}],
            "gender": p.gender, "birthDate": p.birth_date.isoformat()}


def _practitioner(person: PersonInfo) -> dict[str, Any]:
    words = person.name.split()
    name: dict[str, Any] = {"text": person.name}
    if words:
        name["family"] = words[-1]
        if words[:-1]:
            name["given"] = words[:-1]
    return {"resourceType": "Practitioner", "id": person.id,
            "identifier": [{"system": "urn:telemed:user", "value": person.id}],
            "name": [name]}


def _organisation(name: str) -> dict[str, Any]:
    return {"resourceType": "Organization", "id": "custodian", "name": name}


def _encounter(e: EncounterInfo, patient_url: str) -> dict[str, Any]:
    status = {"completed": "finished", "in_progress": "in-progress",
              "cancelled": "cancelled"}.get(e.status, "planned")
    out: dict[str, Any] = {
        "resourceType": "Encounter", "id": e.id, "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": "VR", "display": "virtual"},
        "subject": {"reference": patient_url}}
    if e.start:
        out["period"] = {"start": _iso(e.start), **({"end": _iso(e.end)} if e.end else {})}
    return out


def _metric_observation(item: Mapping[str, Any], patient_url: str,
                        period: tuple[datetime, datetime]) -> dict[str, Any] | None:
    info = METRICS.get(str(item["metric"]))
    if info is None or info.loinc is None:
        return None

    def qty(value: float) -> dict[str, Any]:
        return {"value": value, "unit": info.canonical_unit, "system": UCUM,
                "code": info.canonical_unit}

    return {
        "resourceType": "Observation", "status": "final",
        "id": f"summary-{str(item['metric']).replace('_', '-')}",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": info.category}]}],
        "code": {"coding": [{"system": LOINC, "code": info.loinc}],
                 "text": f"{info.display_name} (median of {item['count']} readings)"},
        "subject": {"reference": patient_url},
        "effectivePeriod": {"start": _iso(period[0]), "end": _iso(period[1])},
        "valueQuantity": qty(float(item["median"])),
        "referenceRange": [{"low": qty(float(item["min"])), "high": qty(float(item["max"])),
                            "text": "observed min-max"}],
        "note": [{"text": f"n={item['count']}"}],
    }


def _score_observation(item: Mapping[str, Any], patient_url: str,
                       lang: str) -> dict[str, Any]:
    """The last score of a questionnaire in the period (LOINC where the score has a code,
    the platform's own code otherwise), its band as interpretation, the rest as a note."""
    code, last = str(item["code"]), item["last"]
    loinc = SCORE_LOINC.get(code)
    coding = ({"system": LOINC, "code": loinc[0], "display": loinc[1]} if loinc
              else {"system": QUESTIONNAIRE_SYSTEM, "code": f"{code}-total"})
    note = say(lang, NC_("document", "responses in the period: {count}; first {first}, "
                                     "min {min}, max {max} / {max_score}; trend: {trend}"),
               count=item["count"], first=item["first"]["score"], min=item["min"],
               max=item["max"], max_score=item["max_score"],
               trend=label(lang, "score_trend", str(item["trend"])))
    return {
        "resourceType": "Observation", "status": "final",
        "id": f"score-{code.replace('_', '-')}",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey"}]}],
        "code": {"coding": [coding], "text": label(lang, "score_questionnaire", code)},
        "subject": {"reference": patient_url},
        "effectiveDateTime": str(last["at"]),
        "valueInteger": int(last["score"]),
        "interpretation": [{"text": band_word(lang, code, str(last["band"]))}],
        "note": [{"text": note}],
    }


def _attesters(f: DocumentFacts) -> list[dict[str, Any]]:
    """The signer as the legal attester; a co-signer as a professional one, at its time."""
    out = [{"mode": "legal", "time": _iso(f.signed_at),
            "party": {"reference": urn("Practitioner", f.signer.id)}}]
    if f.cosigner is not None:
        out.append({"mode": "professional", "time": _iso(f.completed_at),
                    "party": {"reference": urn("Practitioner", f.cosigner.id)}})
    return out


def build_bundle(f: DocumentFacts) -> dict[str, Any]:
    """The document Bundle (unsigned) of ``f``."""
    urls = {"patient": urn("Patient", f.patient.id), "author": urn("Practitioner", f.author.id),
            "org": urn("Organization", "custodian"), "composition": urn("Composition", f.id)}
    resources: list[tuple[str, dict[str, Any]]] = [
        (urls["patient"], _patient(f.patient)), (urls["author"], _practitioner(f.author))]
    for person in f.signers:
        if urn("Practitioner", person.id) not in {u for u, _ in resources}:
            resources.append((urn("Practitioner", person.id), _practitioner(person)))
    resources.append((urls["org"], _organisation(f.organisation)))
    enc_url = None
    if f.encounter is not None:
        enc_url = urn("Encounter", f.encounter.id)
        resources.append((enc_url, _encounter(f.encounter, urls["patient"])))
    observation_urls: list[str] = []
    if f.figures and f.period:
        for item in f.figures.get("metrics", []):
            obs = _metric_observation(item, urls["patient"], f.period)
            if obs is not None:
                url = urn("Observation", f"{f.id}/{item['metric']}")
                observation_urls.append(url)
                resources.append((url, obs))
    cited: dict[str, list[str]] = {"readings": observation_urls, "questionnaires": []}
    for item in (f.figures or {}).get("questionnaires", []):
        url = urn("Observation", f"{f.id}/score/{item['code']}")
        cited["questionnaires"].append(url)
        resources.append((url, _score_observation(item, urls["patient"], f.language)))
    sections = []
    for spec in f.spec.sections:
        text = f.sections.get(spec.key, "")
        cites = cited.get(spec.key, [])
        if not text and not cites:
            continue
        section: dict[str, Any] = {
            "title": spec.title(f.language),
            "code": {"coding": [{"system": LOINC, "code": spec.loinc}]},
            "text": _narrative(text or spec.title(f.language))}
        if cites:
            section["entry"] = [{"reference": u} for u in cites]
        sections.append(section)
    composition: dict[str, Any] = {
        "resourceType": "Composition", "id": f.id,
        "language": "it-IT" if f.language == "it" else "en",
        "identifier": {"system": DOC_ID_SYSTEM, "value": urn("Document", f.id)},
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": f.spec.loinc,
                             "display": f.spec.loinc_display}], "text": f.spec.title_it},
        "subject": {"reference": urls["patient"]},
        "date": _iso(f.completed_at),
        "author": [{"reference": urls["author"]}],
        "title": f.title,
        "confidentiality": "N",
        "attester": _attesters(f),
        "custodian": {"reference": urls["org"]},
        "section": sections,
    }
    if enc_url:
        composition["encounter"] = {"reference": enc_url}
    if f.period:
        composition["event"] = [{"period": {"start": _iso(f.period[0]),
                                            "end": _iso(f.period[1])}}]
    if f.replaces:
        composition["relatesTo"] = [{"code": "replaces", "targetIdentifier": {
            "system": DOC_ID_SYSTEM, "value": urn("Document", f.replaces)}}]
    entries = [{"fullUrl": urls["composition"], "resource": composition}]
    entries += [{"fullUrl": url, "resource": res} for url, res in resources]
    return {"resourceType": "Bundle", "id": f.id,
            "identifier": {"system": DOC_ID_SYSTEM, "value": urn("Document", f.id)},
            "type": "document", "timestamp": _iso(f.completed_at), "entry": entries}


def as_transaction(bundle: Mapping[str, Any]) -> dict[str, Any]:
    """The regional record's form: a ``transaction`` that stores the signed document Bundle
    (as it is, signature included) and a DocumentReference pointing at it; the Bundle's
    identifier makes a repeated send a no-op (``ifNoneExist``)."""
    ident = bundle["identifier"]
    composition = bundle["entry"][0]["resource"]
    patient = next(e["resource"] for e in bundle["entry"]
                   if e["resource"]["resourceType"] == "Patient")
    bundle_url = urn("Bundle", str(bundle["id"]))
    query = f"identifier={ident['system']}|{ident['value']}"
    reference = {
        "resourceType": "DocumentReference", "status": "current",
        "masterIdentifier": ident, "type": composition["type"],
        "subject": {"identifier": patient["identifier"][0],
                    "display": " ".join([*patient["name"][0]["given"],
                                         patient["name"][0]["family"]])},
        "date": bundle["timestamp"],
        "content": [{"attachment": {"contentType": "application/fhir+json",
                                    "url": bundle_url, "title": composition["title"]}}]}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": bundle_url, "resource": dict(bundle),
         "request": {"method": "POST", "url": "Bundle", "ifNoneExist": query}},
        {"fullUrl": urn("DocumentReference", str(bundle["id"])), "resource": reference,
         "request": {"method": "POST", "url": "DocumentReference",
                     "ifNoneExist": f"identifier={ident['system']}|{ident['value']}"}},
    ]}


def document_reference(*, doc_id: str, spec: KindSpec, title: str, patient_id: str,
                       status: str, signed_at: datetime, author_id: str,
                       base: str) -> dict[str, Any]:
    """The DocumentReference of a signed document, for the FHIR API's search."""
    return {
        "resourceType": "DocumentReference", "id": doc_id,
        "masterIdentifier": {"system": DOC_ID_SYSTEM, "value": urn("Document", doc_id)},
        "status": "superseded" if status == "replaced" else "current",
        "docStatus": "final",
        "type": {"coding": [{"system": LOINC, "code": spec.loinc,
                             "display": spec.loinc_display}], "text": spec.title_it},
        "subject": {"reference": f"Patient/{patient_id}"},
        "date": signed_at.isoformat(),
        "author": [{"reference": f"Practitioner/{author_id}"}],
        "description": title,
        "content": [
            {"attachment": {"contentType": "application/fhir+json",
                            "url": f"{base}/Bundle/{doc_id}", "title": title}},
            {"attachment": {"contentType": "application/pdf",
                            "url": f"{base.rsplit('/fhir/', 1)[0]}/api/v1/documents/{doc_id}"
                                   "/pdf", "title": title}},
        ],
    }

