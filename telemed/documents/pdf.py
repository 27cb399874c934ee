"""The PDF rendering of a document (ReportLab), in the patient's language, as PDF/A-2b.

Every page has the service's header and "page N of M"; the first page the patient's
identifiers; a monitoring report has its figures as a table and one chart per metric, and the
questionnaires' scores as a table and one small chart each. Fonts are the Bitstream Vera
TrueType fonts shipped with ReportLab, embedded in the file (the canvas starts with them, so no
standard font is ever referenced). ReportLab writes the pages; pyHanko then rewrites the file
as PDF/A-2b (ISO 19005-2, level B): an sRGB OutputIntent whose ICC profile is LittleCMS's
built-in sRGB (through Pillow), XMP metadata only (no Info dictionary to keep in step) with
``pdfaid:part`` 2 and ``pdfaid:conformance`` B, a document ID in the trailer. The seal is
then added as an incremental update, which PDF/A allows and pyHanko keeps conformant (it
updates the XMP dates, never the pages). docs/documents.md says what is and is not checked.
Blocking (CPU): call it off the event loop.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from telemed.documents.fhir import DocumentFacts
from telemed.documents.score_words import band_word
from telemed.domain.documents import paragraphs
from telemed.domain.local_time import DEFAULT_ZONE, day_text, when_text, zone
from telemed.domain.units import METRICS
from telemed.i18n import LANGUAGES
from telemed.i18n.labels import NC_, label, say

FONT, BOLD = "TelemedVera", "TelemedVera-Bold"
CREATOR = "Telemed"
SRGB = "sRGB IEC61966-2.1"
PDFA_PART, PDFA_CONFORMANCE = "2", "B"

# The PDF's fixed words are English msgids of the catalogue (telemed/i18n), in the context
# "document" so that a signed document's wording is its own, apart from the pages' words,
# and are said in the document's language when it is rendered (`say`). Those said in
# more than one place:
PATIENT, FISCAL_CODE = NC_("document", "Patient"), NC_("document", "Fiscal code")
DATE, DOCUMENT = NC_("document", "Date"), NC_("document", "Document")
PAGE = NC_("document", "Page {n} of {m}")  # filled by the canvas, once the pages are counted
COUNT = NC_("document", "N")  # the column of how many readings or responses


def _fonts() -> None:
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    pdfmetrics.registerFont(TTFont(FONT, "Vera.ttf"))
    pdfmetrics.registerFont(TTFont(BOLD, "VeraBd.ttf"))


def _styles() -> dict[str, ParagraphStyle]:
    """The paragraph styles (their fonts registered)."""
    _fonts()
    base = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=14, spaceAfter=6)
    return {"body": base,
            "title": ParagraphStyle("title", parent=base, fontName=BOLD, fontSize=16,
                                    leading=20, spaceAfter=10),
            "h2": ParagraphStyle("h2", parent=base, fontName=BOLD, fontSize=12, leading=16,
                                 spaceBefore=8, spaceAfter=4),
            "small": ParagraphStyle("small", parent=base, fontSize=8, leading=10,
                                    textColor=colors.grey)}


def _text(value: str) -> str:
    return escape(value).replace("\n", "<br/>")


def _when(value: datetime, lang: str, where: str) -> str:
    """An instant in the service's time zone ``where``, as ``lang`` writes it."""
    return when_text(value, zone(where), lang)


class _Pages(Canvas):  # type: ignore[misc]
    """A canvas that writes the header and "page N of M" once the page count is known."""

    header = ""
    title = ""
    page_label = "{n}/{m}"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["initialFontName"] = FONT  # never the standard (unembedded) Helvetica
        super().__init__(*args, **kwargs)
        self._saved: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._saved.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._saved)
        for state in self._saved:
            self.__dict__.update(state)
            width, height = A4
            self.setFont(BOLD, 9)
            self.drawString(20 * mm, height - 12 * mm, self.header)
            self.setFont(FONT, 9)
            self.drawRightString(width - 20 * mm, height - 12 * mm, self.title)
            self.line(20 * mm, height - 14 * mm, width - 20 * mm, height - 14 * mm)
            self.drawRightString(width - 20 * mm, 10 * mm,
                                 self.page_label.format(n=self._pageNumber, m=total))
            super().showPage()
        super().save()


def _canvas(header: str, title: str, page_label: str) -> type[_Pages]:
    return type("Pages", (_Pages,), {"header": header, "title": title,
                                     "page_label": page_label})


def _chart(title: str, points: Sequence[Sequence[Any]], lang: str, where: str,
           height: float = 45 * mm,
           y_range: tuple[float, float] | None = None) -> Drawing | None:
    """A line chart of (time, value) points over their order, titled ``label``."""
    values = [(i, float(p[1])) for i, p in enumerate(points)]
    if len(values) < 2:
        return None
    drawing = Drawing(170 * mm, height, initialFontName=FONT)  # not the standard Helvetica
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 12 * mm, 8 * mm, 150 * mm, height - 15 * mm
    plot.data = [values]
    plot.lines[0].strokeColor = colors.HexColor("#1f5f8b")
    plot.xValueAxis.visibleLabels = False
    plot.yValueAxis.labels.fontName = FONT
    plot.yValueAxis.labels.fontSize = 7
    if y_range is not None:
        plot.yValueAxis.valueMin, plot.yValueAxis.valueMax = y_range
    drawing.add(plot)
    drawing.add(String(12 * mm, height - 4 * mm, title, fontName=BOLD, fontSize=8))
    here = zone(where)
    span = f"{day_text(str(points[0][0]), here, lang)} - {day_text(str(points[-1][0]), here, lang)}"
    drawing.add(String(12 * mm, 2 * mm, span, fontName=FONT, fontSize=7))
    return drawing


def _metric_name(metric: str, lang: str) -> str:
    """A metric's name in the document's language (the one table of labels)."""
    return label(lang, "metric", metric)


def _metric_label(metric: str, lang: str) -> str:
    info = METRICS.get(metric)
    return f"{_metric_name(metric, lang)} ({info.canonical_unit if info else ''})"


def signature_line(f: DocumentFacts, *, status: str, lang: str,
                   legacy_hash: str | None = None) -> str:
    """Who signed (and co-signed) the document, when, under whose seal ("" unsigned)."""
    signed = _when(f.signed_at, lang, f.timezone)
    if legacy_hash:
        return say(lang, NC_("document", "Signed by {who} on {when}, before seals existed: its "
                                         "integrity is checked with the SHA-256 fingerprint "
                                         "{hash}."),
                   who=f.signer.name, when=signed, hash=legacy_hash)
    if status in ("draft", "partially_signed"):
        return ""
    if f.cosigner is not None and f.cosigned_at is not None:
        return say(lang, NC_("document", "Signed by {who} on {when} and co-signed by {co} on "
                                         "{co_when}, with the electronic seal of {org}."),
                   who=f.signer.name, when=signed, co=f.cosigner.name,
                   co_when=_when(f.cosigned_at, lang, f.timezone), org=f.organisation)
    return say(lang, NC_("document", "Signed by {who} on {when}, with the electronic seal of "
                                     "{org}."),
               who=f.signer.name, when=signed, org=f.organisation)


def render_document(f: DocumentFacts, *, status: str, legacy_hash: str | None = None) -> bytes:
    """The PDF of a document (``status`` draft shows a draft mark)."""
    lang = f.language if f.language in LANGUAGES else "it"
    styles = _styles()
    story: list[Any] = [Paragraph(_text(f.title), styles["title"])]
    if status in ("draft", "partially_signed"):
        mark = (say(lang, NC_("document", "DRAFT - not signed")) if status == "draft" else
                say(lang, NC_("document", "AWAITING CO-SIGNATURE - signed by {who}, not "
                                          "sealed yet"), who=_text(f.signer.name)))
        story.append(Paragraph(f'<font color="#b00020">{mark}</font>', styles["h2"]))
    p = f.patient
    facts = [[say(lang, PATIENT), f"{p.family_name} {p.given_name}"],
             [say(lang, FISCAL_CODE), p.fiscal_code],
             [say(lang, NC_("document", "Born on")), p.birth_date.strftime("%d/%m/%Y")],
             [say(lang, NC_("document", "Written by")), f.author.name],
             [say(lang, DATE), _when(f.completed_at, lang, f.timezone)]]
    if f.period:
        here = zone(f.timezone)
        facts.append([say(lang, NC_("document", "Period")),
                      f"{day_text(f.period[0], here, lang)} - {day_text(f.period[1], here, lang)}"])
    table = Table(facts, colWidths=[40 * mm, 120 * mm])
    table.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT),
                               ("FONTNAME", (0, 0), (0, -1), BOLD),
                               ("FONTSIZE", (0, 0), (-1, -1), 9)]))
    story += [table, Spacer(1, 6 * mm)]
    for spec in f.spec.sections:
        text = f.sections.get(spec.key, "")
        if not text:
            continue
        story.append(Paragraph(_text(spec.title(lang)), styles["h2"]))
        story += [Paragraph(_text(par), styles["body"]) for par in paragraphs(text)]
        if spec.key == "readings" and f.figures:
            story += _figures(f.figures, lang, f.timezone)
        if spec.key == "questionnaires" and f.figures:
            story += _scores(f.figures.get("questionnaires", []), lang, f.timezone)
    if f.replaces:
        story.append(Paragraph(_text(say(lang, NC_("document", "Replaces document {id}."),
                                         id=f.replaces)), styles["small"]))
    story.append(Spacer(1, 8 * mm))
    sign_line = signature_line(f, status=status, lang=lang, legacy_hash=legacy_hash)
    if sign_line:
        story.append(Paragraph(_text(sign_line), styles["body"]))
    story.append(Paragraph(_text(f"{say(lang, DOCUMENT)} {f.id}"), styles["small"]))
    return _build(story, lang=lang, title=f.title, author=f.organisation,
                  subject=f.spec.title(lang), running_title=f.spec.title(lang))


def _build(story: list[Any], *, lang: str, title: str, author: str, subject: str,
           running_title: str) -> bytes:
    """The pages of ``story`` as PDF/A-2b: A4, each with the header (``author``, the
    service, and ``running_title``) and "page N of M"."""
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, topMargin=22 * mm, bottomMargin=18 * mm,
                            leftMargin=20 * mm, rightMargin=20 * mm, title=title,
                            author=author, subject=subject, lang=lang)
    doc.build(story, canvasmaker=_canvas(author, running_title, say(lang, PAGE)))
    return as_pdfa(out.getvalue(), title=title, author=author, subject=subject)


def _grid(rows: list[list[str]]) -> Table:
    table = Table(rows, repeatRows=1)
    table.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT),
                               ("FONTNAME", (0, 0), (-1, 0), BOLD),
                               ("FONTSIZE", (0, 0), (-1, -1), 8),
                               ("GRID", (0, 0), (-1, -1), 0.25, colors.grey)]))
    return table


def _figures(figures: Mapping[str, Any], lang: str, where: str = DEFAULT_ZONE) -> list[Any]:
    rows: list[list[str]] = [[say(lang, NC_("document", "Metric")), say(lang, COUNT), "min",
                              say(lang, NC_("document", "Median")), "max",
                              say(lang, NC_("document", "Unit"))]]
    for m in figures.get("metrics", []):
        rows.append([_metric_name(str(m["metric"]), lang), str(m["count"]),
                     f"{m['min']:g}", f"{m['median']:g}", f"{m['max']:g}", str(m["unit"])])
    out: list[Any] = []
    if len(rows) > 1:
        out += [_grid(rows), Spacer(1, 4 * mm)]
    for metric, points in sorted(figures.get("series", {}).items()):
        chart = _chart(_metric_label(metric, lang), points, lang, where)
        if chart is not None:
            out.append(chart)
    return out


def _scores(summaries: Sequence[Mapping[str, Any]], lang: str,
            where: str = DEFAULT_ZONE) -> list[Any]:
    """The questionnaires of the period: a table (last score, band, trend) and a small
    chart of the scores of each questionnaire answered more than once."""
    if not summaries:
        return []
    rows = [[say(lang, NC_("document", "Questionnaire")), say(lang, COUNT),
             say(lang, NC_("document", "Last")), say(lang, NC_("document", "Score")),
             say(lang, NC_("document", "Band")), say(lang, NC_("document", "Trend"))]]
    charts = []
    for s in summaries:
        code, last = str(s["code"]), s["last"]
        title = label(lang, "score_questionnaire", code)
        rows.append([title, str(s["count"]), day_text(str(last["at"]), zone(where), lang),
                     f"{last['score']}/{s['max_score']}", band_word(lang, code, str(last["band"])),
                     label(lang, "score_trend", str(s["trend"]))])
        scale = say(lang, NC_("document", "score 0-{max}"), max=s["max_score"])
        chart = _chart(f"{title} ({scale})",
                       s.get("points", []), lang, where, height=35 * mm,
                       y_range=(0, float(s["max_score"])))
        if chart is not None:
            charts.append(chart)
    return [_grid(rows), Spacer(1, 4 * mm), *charts]


def render_index(*, organisation: str, patient_name: str, fiscal_code: str, lang: str,
                 rows: Sequence[tuple[str, str, str, str]], generated_at: datetime,
                 timezone: str = DEFAULT_ZONE) -> bytes:
    """The index of a patient's documents: (date, kind, title, status) rows."""
    lang = lang if lang in LANGUAGES else "it"
    styles, title = _styles(), say(lang, NC_("document", "Index of documents"))
    data = [[say(lang, DATE), say(lang, NC_("document", "Kind")), say(lang, DOCUMENT),
             say(lang, NC_("document", "Status"))], *rows]
    table = Table([[Paragraph(_text(c), styles["body"]) for c in row] for row in data],
                  colWidths=[30 * mm, 45 * mm, 65 * mm, 25 * mm], repeatRows=1)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                               ("FONTNAME", (0, 0), (-1, -1), FONT)]))
    story = [Paragraph(_text(title), styles["title"]),
             Paragraph(_text(f"{say(lang, PATIENT)}: {patient_name} · "
                             f"{say(lang, FISCAL_CODE)}: {fiscal_code}"), styles["body"]),
             Paragraph(_text(f"{say(lang, DATE)}: {_when(generated_at, lang, timezone)}"),
                       styles["small"]),
             Spacer(1, 4 * mm), table]
    return _build(story, lang=lang, title=title, author=organisation,
                  subject=f"{patient_name} - {fiscal_code}", running_title=title)


@cache
def srgb_profile() -> bytes:
    """An sRGB ICC profile (a display profile, class ``mntr``), made by LittleCMS."""
    from PIL import ImageCms

    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def as_pdfa(pdf: bytes, *, title: str, author: str, subject: str,
            created: datetime | None = None) -> bytes:
    """ReportLab's ``pdf`` rewritten as PDF/A-2b: the same objects, plus the sRGB
    OutputIntent and the XMP metadata (with the PDF/A identification), without Info."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.metadata import model
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(pdf)), {"info": None})
    name = generic.pdf_name
    components = generic.NumberObject(3)  # type: ignore[no-untyped-call]
    profile = generic.StreamObject({name("/N"): components}, stream_data=srgb_profile())
    profile.compress()  # type: ignore[no-untyped-call]
    intent = generic.DictionaryObject({  # type: ignore[no-untyped-call]
        name("/Type"): name("/OutputIntent"), name("/S"): name("/GTS_PDFA1"),
        name("/OutputConditionIdentifier"): generic.TextStringObject(SRGB),
        name("/Info"): generic.TextStringObject(SRGB),
        name("/RegistryName"): generic.TextStringObject("http://www.color.org"),
        name("/DestOutputProfile"): writer.add_object(profile)})
    writer.root[name("/OutputIntents")] = generic.ArrayObject([writer.add_object(intent)])
    writer.update_root()  # type: ignore[no-untyped-call]
    pdfaid = model.NS["pdfaid"]
    meta = writer.document_meta
    meta.title, meta.author, meta.subject, meta.creator = title, author, subject, CREATOR
    meta.created = created or datetime.now(UTC).replace(microsecond=0)
    meta.xmp_extra = [model.XmpStructure.of(
        (model.ExpandedName(ns=pdfaid, local_name="part"), model.XmpValue(PDFA_PART)),
        (model.ExpandedName(ns=pdfaid, local_name="conformance"),
         model.XmpValue(PDFA_CONFORMANCE)))]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()
