"""PDF/A-2b, checked structurally (no veraPDF here: docs/documents.md says what this covers):
the rendered PDF and the same PDF once sealed (an incremental update by pyHanko)."""

from __future__ import annotations

import io
import re
import struct
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from telemed.documents import signing
from telemed.documents.pdf import render_document, render_index
from telemed.documents.seal import demo_seal
from tests.helpers.documents import T0, doc_facts, score_figures

PDFAID = "{http://www.aiim.org/pdfa/ns/id/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
TEXT_FONT = re.compile(rb"/([^\s/\[\]()<>]+)\s+[\d.]+\s+Tf")


def _monitoring_pdf() -> bytes:
    series = {"spo2": [((T0 + timedelta(hours=h)).isoformat(), 94 + h % 3) for h in range(30)]}
    figures = {**score_figures(), "series": series, "metrics": [
        {"metric": "spo2", "unit": "%", "count": 30, "min": 94, "median": 95, "max": 96}]}
    return render_document(doc_facts("en", "monitoring_report", figures=figures, encounter=None,
                                  period=(T0 - timedelta(days=30), T0),
                                  sections={"readings": "spo2", "questionnaires": "PHQ-9",
                                            "findings": "Stable."}), status="draft")


def _xmp(reader: PdfFileReader) -> dict[str, str]:
    stream = reader.root["/Metadata"]
    assert "/Filter" not in stream  # PDF/A: the metadata stream is not filtered
    assert (stream["/Type"], stream["/Subtype"]) == ("/Metadata", "/XML")
    tree = ElementTree.fromstring(stream.data)
    out: dict[str, str] = {}
    for desc in tree.iter(f"{RDF}Description"):
        out.update({k: v for k, v in desc.attrib.items()})
    return out


def _cmap_subtables(program: bytes) -> list[tuple[int, int]]:
    count = struct.unpack(">H", program[4:6])[0]
    tables = {}
    for i in range(count):
        tag, _, offset, _ = struct.unpack(">4sIII", program[12 + 16 * i:28 + 16 * i])
        tables[tag] = offset
    start = tables[b"cmap"]
    n = struct.unpack(">H", program[start + 2:start + 4])[0]
    return [struct.unpack(">HH", program[start + 4 + 8 * i:start + 8 + 8 * i])
            for i in range(n)]


def _check_fonts(page: Any) -> int:
    fonts = page["/Resources"]["/Font"]
    used = {b"/" + m.group(1) for m in TEXT_FONT.finditer(_contents(page))}
    assert used <= {str(n).encode() for n in fonts}
    for name in fonts:
        font = fonts[name]
        descriptor = font["/FontDescriptor"]
        assert font["/Subtype"] == "/TrueType" and "/FontFile2" in descriptor, name
        if int(descriptor["/Flags"]) & 4:  # symbolic: no Encoding, one cmap or (3,0)
            subtables = _cmap_subtables(descriptor["/FontFile2"].data)
            assert "/Encoding" not in font
            assert len(subtables) == 1 or (3, 0) in subtables
    return len(fonts)


def _contents(page: Any) -> bytes:
    contents = page["/Contents"]
    if isinstance(contents, generic.ArrayObject):
        return b"".join(c.get_object().data for c in contents)
    return bytes(contents.data)


def _check_pdfa(pdf: bytes) -> PdfFileReader:
    assert re.match(rb"%PDF-1\.[4-7]\n%[\x80-\xff]{4}", pdf)  # binary comment line
    reader = PdfFileReader(io.BytesIO(pdf))
    trailer = reader.trailer_view
    assert "/Encrypt" not in trailer and "/Info" not in trailer  # XMP only: nothing to sync
    first, second = trailer["/ID"]
    assert len(first) == len(second) == 16
    root = reader.root
    assert "/JavaScript" not in root and "/AA" not in root and "/Lang" in root
    xmp = _xmp(reader)
    assert (xmp[f"{PDFAID}part"], xmp[f"{PDFAID}conformance"]) == ("2", "B")
    assert len(root["/OutputIntents"]) == 1
    intent = root["/OutputIntents"][0]
    assert (intent["/S"], intent["/OutputConditionIdentifier"]) == (
        "/GTS_PDFA1", "sRGB IEC61966-2.1")
    profile = intent["/DestOutputProfile"]
    icc = profile.data
    assert profile["/N"] == 3 and icc[36:40] == b"acsp"  # an ICC profile, three components
    assert (icc[12:16], icc[16:20]) == (b"mntr", b"RGB ")  # a display profile, RGB
    assert icc[8] < 5  # PDF/A-2 takes ICC profiles before version 5
    assert struct.unpack(">I", icc[:4])[0] == len(icc)
    fonts = 0
    for page_ref in root["/Pages"]["/Kids"]:
        page = page_ref.get_object()
        fonts += _check_fonts(page)
        for ext in page["/Resources"].get("/ExtGState", {}).values():  # no transparency
            assert ext.get("/SMask", "/None") == "/None"
            assert float(ext.get("/CA", 1)) == float(ext.get("/ca", 1)) == 1.0
    assert fonts
    return reader


def test_rendered_documents_are_pdfa_2b() -> None:
    _check_pdfa(_monitoring_pdf())
    _check_pdfa(render_document(doc_facts("it"), status="signed"))
    _check_pdfa(render_index(organisation="ASL Demo", patient_name="Rossi Mario",
                             fiscal_code="RSSMRA50A01H501U", lang="it",
                             rows=[("30/11/2026", "Referto", "Referto", "firmato")],
                             generated_at=T0))


def test_sealing_keeps_pdfa_as_an_incremental_update() -> None:
    rendered = _monitoring_pdf()
    seal = demo_seal()
    sealed = signing.seal_pdf(seal, rendered, signer_name="Dr. Anna Bianchi",
                              reason="Report - firmato da Dr. Anna Bianchi")
    assert sealed.startswith(rendered)  # the original bytes untouched: an incremental update
    reader = _check_pdfa(sealed)
    assert _xmp(reader)[f"{PDFAID}part"] == "2"  # pyHanko updated the XMP, kept the id
    # PDF/A-2 is PDF 1.7: an ECDSA seal must not turn the file into PDF 2.0 (ISO 32002)
    assert str(reader.root.get("/Version", "/1.7")) == "/1.7"
    assert "/ESIC" in reader.root["/Extensions"]  # PAdES in a PDF 1.7 file
    acroform = reader.root["/AcroForm"]
    assert not acroform.get("/NeedAppearances", False)
    widgets = [a.get_object() for p in reader.root["/Pages"]["/Kids"]
               for a in p.get_object().get("/Annots", [])]
    assert widgets
    for annot in widgets:
        flags = int(annot["/F"])
        assert flags & 4 and not flags & (1 | 2 | 32)  # printed, never hidden
        rect = [float(x) for x in annot["/Rect"]]
        assert rect[0] == rect[2] and rect[1] == rect[3]  # invisible: no appearance needed
    verdict = signing.verify_pdf(sealed, seal.anchors)
    assert verdict.ok, verdict.reason
