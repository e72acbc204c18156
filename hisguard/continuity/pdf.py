"""Packet and form PDFs (fpdf2), with an embedded CJK font and nothing fetched from anywhere.

The font is a TrueType CJK face (WenQuanYi Micro Hei from Debian's fonts-wqy-microhei by
default: TrueType outlines subset in a fraction of the time CFF fonts take); a character it
lacks (rare name characters of CJK Extension A/B, say) is drawn from a fallback face (Noto Sans
CJK) in the same line. Text widths come from the font's own metrics, read once per process,
and the parsed font is reused across documents, so a ward's PDF costs its drawing and its
subset, not a font load.

Bold is drawn as fill+stroke (one face serves both weights). Characters no font has are
counted in `Canvas.missing` (the tests require none).
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from fontTools import ttLib
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fpdf import FPDF
from fpdf.drawing import DeviceGray
from fpdf.fonts import SubsetMap, TTFFont

from hisguard.continuity.present import MARK
from hisguard.core.errors import interpolate

log = logging.getLogger("hisguard.continuity.pdf")
logging.getLogger("fontTools").setLevel(logging.WARNING)  # its subsetter logs every glyph at INFO

A4_W, A4_H = 210.0, 297.0
MARGIN = 10.0
PT = 25.4 / 72  # mm per point
BLACK = (0, 0, 0)
WHITE = (255, 255, 255)
RED = (185, 28, 28)
DARK = (17, 24, 39)
GREY = (75, 85, 99)
LIGHT = (229, 231, 235)
PALE_RED = (254, 226, 226)

CANDIDATES = [
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("C:/Windows/Fonts/msyh.ttc", 0),
    ("C:/Windows/Fonts/simsun.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
]
FALLBACKS = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
]


_UNSET_COLOR = DeviceGray(0.5001)
_UNSET_WIDTH = 0.0123


class FontMissing(Exception):
    pass


@dataclass(frozen=True)
class FontSpec:
    path: str
    index: int

    @classmethod
    def parse(cls, value: str) -> FontSpec:
        path, _sep, face = value.partition("#")
        return cls(path, int(face or 0))


class Face:
    """One font face: its characters and advance widths (in em), read once per process."""

    def __init__(self, spec: FontSpec) -> None:
        self.spec = spec
        font = ttLib.TTFont(spec.path, fontNumber=spec.index, lazy=True, recalcTimestamp=False)
        cmap = font.getBestCmap()
        metrics = font["hmtx"].metrics
        scale = 1.0 / font["head"].unitsPerEm
        self.widths: dict[str, float] = {chr(cp): metrics[glyph][0] * scale for cp, glyph in cmap.items()}
        self.charset = frozenset(self.widths)
        self.template: TTFFont | None = None
        self._cache: dict[str, float] = {}

    def width(self, text: str) -> float:
        """The width of text in em (characters the face lacks count as 1 em)."""
        cached = self._cache.get(text)
        if cached is None:
            widths = self.widths
            cached = sum(widths.get(c, 1.0) for c in text)
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[text] = cached
        return cached


_faces: dict[FontSpec, Face] = {}


def _face(spec: FontSpec) -> Face:
    if spec not in _faces:
        _faces[spec] = Face(spec)
    return _faces[spec]


def font_specs() -> list[FontSpec]:
    """The primary face, then the fallbacks (for characters the primary lacks)."""
    configured = getattr(settings, "HISGUARD_CONTINUITY_PDF_FONT", "")
    candidates = [FontSpec.parse(configured)] if configured else [FontSpec(p, i) for p, i in CANDIDATES]
    primary = next((c for c in candidates if os.path.exists(c.path)), None)
    if primary is None:
        raise FontMissing(
            "No CJK font for the packet PDFs: install Debian's fonts-wqy-microhei (or fonts-noto-cjk) "
            "or set HISGUARD_CONTINUITY_PDF_FONT to a TrueType CJK font"
        )
    fallbacks = [FontSpec(p, i) for p, i in FALLBACKS if os.path.exists(p) and FontSpec(p, i) != primary]
    return [primary, *fallbacks[:1]]


class SubsetFont:
    """A small font holding only the characters a batch of documents uses, made once for the batch
    so that each document embeds and subsets a few thousand glyphs instead of the whole face.
    Characters outside it still print: the full faces stay as fallbacks."""

    def __init__(self, texts: Iterable[str]) -> None:
        from fontTools import subset

        self.full = font_specs()
        face = _face(self.full[0])
        chars = {c for text in texts for c in text} | {chr(c) for c in range(32, 127)}
        wanted = [ord(c) for c in chars if c in face.charset]
        font = ttLib.TTFont(
            self.full[0].path, fontNumber=self.full[0].index, lazy=True, recalcTimestamp=False
        )
        options = subset.Options(notdef_outline=True, recommended_glyphs=True, hinting=False)
        options.drop_tables += ["GDEF", "GPOS", "GSUB", "hdmx", "vhea", "vmtx", "VORG"]
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=wanted)
        subsetter.subset(font)
        # Composite glyphs (WenQuanYi builds many characters from shared parts) make every
        # document's subsetting expand and recompile them; flattened once here, each document
        # copies its glyphs as they are.
        glyf, glyph_set = font["glyf"], font.getGlyphSet()
        for name in font.getGlyphOrder():
            if glyf[name].isComposite():
                pen = TTGlyphPen(glyph_set)
                glyph_set[name].draw(pen)
                glyf[name] = pen.glyph()
        handle = tempfile.NamedTemporaryFile(prefix="hisguard-font-", suffix=".ttf", delete=False)  # noqa: SIM115
        with handle:
            font.save(handle)
        self.path = handle.name
        self.specs = [FontSpec(self.path, 0), *self.full]

    def close(self) -> None:
        _faces.pop(FontSpec(self.path, 0), None)
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def __enter__(self) -> SubsetFont:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _attach(pdf: FPDF, family: str, face: Face) -> None:
    """Add a font to a document, reusing the parsed font of an earlier document when possible
    (fpdf2 re-reads the whole character map on every add_font; the per-document state is only
    the subset, which is made fresh here)."""
    if face.template is None:
        pdf.add_font(family, "", face.spec.path, collection_font_number=face.spec.index)
        added = cast(TTFFont, pdf.fonts[family])
        added.ttfont.recalcBBoxes = False  # the glyphs are copied unchanged
        face.template = copy.copy(added)
        return
    try:
        font = copy.copy(face.template)
        font.i = len(pdf.fonts) + 1
        font.fontkey = family
        font.ttfont = ttLib.TTFont(
            face.spec.path, fontNumber=face.spec.index, lazy=True, recalcTimestamp=False, recalcBBoxes=False
        )
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        font._hbfont = None
        font.subset = SubsetMap(font)
        pdf.fonts[family] = font
    except Exception:
        log.warning("could not reuse the parsed font; loading it again", exc_info=True)
        pdf.add_font(family, "", face.spec.path, collection_font_number=face.spec.index)


class Canvas:
    """An A4 document with positioned text in millimetres (baseline y), wrapped and measured."""

    def __init__(self, *, title: str = "", fonts: list[FontSpec] | None = None) -> None:
        specs = fonts or font_specs()
        self.face = _face(specs[0])
        self.fallback_specs = specs[1:]
        self.fallbacks: list[tuple[str, Face]] = []
        self.pdf = FPDF(orientation="P", unit="mm", format="A4")
        self.pdf.set_auto_page_break(False)
        self.pdf.set_margins(0, 0, 0)
        self.pdf.set_title(title)
        self.pdf.set_author("HISGuard")
        self.pdf.set_creator("HISGuard")
        _attach(self.pdf, "main", self.face)
        self.size = 0.0
        self.family = ""
        self.missing: set[str] = set()
        self.fill: tuple[int, int, int] | None = BLACK  # the fill colour in force; None: unknown
        self.stroke: tuple[int, int, int] | None = None
        self._encoded: dict[str, dict[str, str]] = {}

    # --- pages ---

    def add_page(self) -> int:
        self.pdf.add_page()
        self.family, self.stroke = "", None
        self.fill = None
        return self.pdf.page

    def goto_page(self, number: int) -> None:
        """Draw on an earlier page again (page numbers once a ward's total is known)."""
        pdf = self.pdf
        pdf.page = number
        pdf.current_font_is_set_on_page = False
        # The colours and width in force at the end of that page are not the document's
        # latest ones: make fpdf2 write them out again when next set.
        pdf.draw_color = pdf.fill_color = _UNSET_COLOR
        pdf.line_width = _UNSET_WIDTH
        self.family, self.stroke, self.fill = "", None, None

    def output(self) -> bytes:
        return bytes(self.pdf.output())

    # --- text ---

    def _font(self, family: str, size: float) -> None:
        if family != self.family or size != self.size:
            self.pdf.set_font(family, "", size)
            self.family, self.size = family, size

    def width(self, text: str, size: float) -> float:
        return self.face.width(text) * size * PT

    def _fallback_for(self, c: str) -> tuple[str, Face] | None:
        for family, face in self.fallbacks:
            if c in face.charset:
                return family, face
        while self.fallback_specs:
            face = _face(self.fallback_specs.pop(0))
            family = f"fallback{len(self.fallbacks) + 1}"
            _attach(self.pdf, family, face)
            self.fallbacks.append((family, face))
            if c in face.charset:
                return family, face
        return None

    def _runs(self, text: str) -> list[tuple[str, str, Face]]:
        """Split text into runs by which face has the characters."""
        if self.face.charset.issuperset(text):
            return [("main", text, self.face)]
        runs: list[tuple[str, str, Face]] = []
        for c in text:
            family, face = "main", self.face
            if c not in face.charset:
                found = self._fallback_for(c)
                if found is None:
                    self.missing.add(c)
                    c = "?"
                else:
                    family, face = found
            if runs and runs[-1][0] == family:
                runs[-1] = (family, runs[-1][1] + c, face)
            else:
                runs.append((family, c, face))
        return runs

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float = 8,
        *,
        bold: bool = False,
        color: tuple[int, int, int] = BLACK,
        align: str = "L",
        width: float = 0,
    ) -> float:
        """Draw text with its baseline at y; returns its width."""
        if not text:
            return 0.0
        runs = self._runs(text)
        scale = size * PT
        total = sum(face.width(run) for _f, run, face in runs) * scale
        if align == "R":
            x = x + width - total
        elif align == "C":
            x = x + (width - total) / 2
        pdf = self.pdf
        k, top = pdf.k, pdf.h * pdf.k
        for family, run, face in runs:
            self._font(family, size)
            font = cast(TTFFont, pdf.current_font)
            if not pdf.current_font_is_set_on_page:
                pdf._out(pdf._set_font_for_page(font, pdf.font_size_pt))
            cache = self._encoded.setdefault(family, {})
            encoded = cache.get(run)
            if encoded is None:
                encoded = cache[run] = font.encode_text(run)
            # fpdf2's own text() does the same with more bookkeeping per call; packets make
            # hundreds of thousands of these. Bold is fill+stroke (one face for both weights).
            op = f"BT {x * k:.2f} {top - y * k:.2f} Td {encoded} ET"
            if bold:
                r, g, b = (v / 255 for v in color)
                op = (
                    f"q {r:.3f} {g:.3f} {b:.3f} rg {r:.3f} {g:.3f} {b:.3f} RG {size * 0.04:.2f} w 2 Tr {op} Q"
                )
            elif color != self.fill:
                r, g, b = (v / 255 for v in color)
                op = f"q {r:.3f} {g:.3f} {b:.3f} rg {op} Q"
            pdf._out(op)
            x += face.width(run) * scale
        return total

    def wrap(self, text: str, width: float, size: float, max_lines: int = 0) -> list[str]:
        """Break text into lines no wider than `width` (CJK anywhere, Latin at spaces)."""
        if not text:
            return [""]
        limit = width / (size * PT)
        if "\n" not in text and self.face.width(text) <= limit:
            return [text]
        widths = self.face.widths
        lines: list[str] = []
        for paragraph in text.split("\n"):
            line, used = "", 0.0
            last_space = -1
            for c in paragraph:
                w = widths.get(c, 1.0)
                if used + w > limit and line:
                    if c != " " and last_space > 0 and c.isascii() and c.isalnum():
                        lines.append(line[:last_space])
                        line = line[last_space + 1 :]
                        used = self.face.width(line)
                    else:
                        lines.append(line.rstrip())
                        line, used = "", 0.0
                        if c == " ":
                            last_space = -1
                            continue
                    last_space = -1
                if c == " ":
                    last_space = len(line)
                line += c
                used += w
            lines.append(line)
        if max_lines and len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = lines[-1][:-1] + "…"
        return lines

    # --- shapes ---

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        *,
        fill: tuple[int, int, int] | None = None,
        stroke: tuple[int, int, int] | None = None,
        line: float = 0.2,
    ) -> None:
        pdf = self.pdf
        if fill is not None:
            pdf.set_fill_color(*fill)
            self.fill = fill
        if stroke is not None:
            pdf.set_draw_color(*stroke)
            self.stroke = stroke
            pdf.set_line_width(line)
        style = ("F" if fill is not None else "") + ("D" if stroke is not None else "")
        if style:
            pdf.rect(x, y, w, h, style=style)
        if fill is not None and fill != BLACK:
            pdf.set_fill_color(*BLACK)  # text is black unless it says otherwise
            self.fill = BLACK

    def line(self, x1: float, y1: float, x2: float, y2: float, *, color=GREY, width: float = 0.2) -> None:
        self.pdf.set_draw_color(*color)
        self.stroke = color
        self.pdf.set_line_width(width)
        self.pdf.line(x1, y1, x2, y2)


# --- Ward packets -----------------------------------------------------------------------------

TOP = 27.0
BOTTOM = A4_H - 14.0
CONTENT_W = A4_W - 2 * MARGIN


@dataclass
class Column:
    title: str
    width: float
    key: str
    bold: bool = False


# Every label the packet layout draws (also gathered for the batch font; see `label_texts`).
LABELS = (
    _("As of %(time)s"),
    _("Page %(page)s/%(pages)s"),
    _("Census"),
    _("%(patients)s patients · %(allergies)s with allergies · %(critical)s critical results"),
    _("Bed"),
    _("Patient no."),
    _("Name"),
    _("Sex/age"),
    _("Diagnosis"),
    _("Admitted"),
    _("Allergies"),
    _("NKA"),
    _("not recorded"),
    _("No patients in this ward in the snapshot."),
    _("admitted %(time)s"),
    _("%(bed)s %(name)s (continued)"),
    _("%(count)s records of this patient could not be read: check the paper chart."),
    _("ALLERGIES"),
    _("No known allergy (NKA)"),
    _("No allergy recorded: ask the patient before giving anything new"),
    _("Active medication orders — doses due in the next 24 h"),
    _("none"),
    _("as needed (PRN)"),
    _("Medication"),
    _("Dose"),
    _("Route"),
    _("Frequency"),
    _("Due (next 24 h)"),
    _("Last given"),
    _("Recent laboratory results"),
    _("%(count)s critical"),
    _("CRITICAL"),
    _("Time"),
    _("Test"),
    pgettext_lazy("laboratory", "Result"),
    _("Range"),
    _("Pending orders (not yet done)"),
    _("Records left out or questionable (for IT)"),
    _("Printed %(time)s by %(who)s from HISGuard. Read-only copy: record new orders and care on paper."),
    _(
        "%(skipped)s records of this ward could not be read and are not in this packet; "
        "%(unassigned)s records of the snapshot could not be given a ward. Check the paper charts."
    ),
)


class PacketLayout:
    """Lays out one ward's presented packet page after page; page numbers are drawn at the end."""

    def __init__(self, canvas: Canvas, view: dict[str, Any], footer: str) -> None:
        self.c = canvas
        self.v = view
        self.footer = footer
        self.pages: list[int] = []
        self.y = TOP
        self.continued = ""  # the patient bar to repeat on a new page

    def new_page(self) -> None:
        c, v = self.c, self.v
        self.pages.append(c.add_page())
        c.rect(0, 0, A4_W, 14, fill=DARK)
        c.text(MARGIN, 9.3, v["mark"], 12, bold=True, color=WHITE)
        c.text(MARGIN, 9.3, v["hospital"], 9, color=WHITE, align="R", width=CONTENT_W)
        ward = f"{v['ward']['name']} ({v['ward']['code']})"
        c.text(MARGIN, 21, ward, 13, bold=True)
        as_of = str(interpolate(_("As of %(time)s"), {"time": v["as_of_text"]}))
        c.text(MARGIN, 21, as_of, 12, bold=True, color=RED, align="R", width=CONTENT_W - 28)
        c.line(MARGIN, 23.5, A4_W - MARGIN, 23.5, color=BLACK, width=0.4)
        self.y = TOP
        if self.continued:
            self.y += 1
            c.text(MARGIN, self.y + 2, self.continued, 8, bold=True, color=GREY)
            self.y += 4.5

    def need(self, height: float) -> bool:
        """Start a new page unless `height` more millimetres fit; True when it did."""
        if not self.pages or self.y + height > BOTTOM:
            self.new_page()
            return True
        return False

    def finish(self) -> None:
        c, v = self.c, self.v
        total = len(self.pages)
        ward = f"{v['ward']['name']} ({v['ward']['code']})"
        for number, page in enumerate(self.pages, start=1):
            c.goto_page(page)
            label = str(interpolate(_("Page %(page)s/%(pages)s"), {"page": number, "pages": total}))
            c.text(MARGIN, 21, label, 11, bold=True, align="R", width=CONTENT_W)
            c.line(MARGIN, A4_H - 11, A4_W - MARGIN, A4_H - 11, color=GREY, width=0.2)
            c.text(MARGIN, A4_H - 7, f"{v['mark']} · {ward} · {v['as_of_text']}", 7, color=GREY)
            c.text(MARGIN, A4_H - 7, label, 7, color=GREY, align="R", width=CONTENT_W)
            c.text(MARGIN, A4_H - 3.5, self.footer, 6.5, color=GREY)

    # --- pieces ---

    def table(
        self, columns: list[Column], rows: list[dict[str, Any]], *, size: float = 7.5, header: bool = True
    ):
        c = self.c
        line_h = size * PT * 1.25
        pad = 0.8

        def draw_header() -> None:
            c.rect(MARGIN, self.y, CONTENT_W, line_h + 1, fill=LIGHT)
            x = MARGIN
            for col in columns:
                c.text(x + pad, self.y + line_h * 0.85, col.title, size - 0.5, bold=True, color=GREY)
                x += col.width
            self.y += line_h + 1

        if header:
            self.need(2 * line_h + 2)
            draw_header()
        for row in rows:
            cells = []
            for col in columns:
                value = row.get(col.key, "")
                cells.append(c.wrap(str(value), col.width - 2 * pad, size, max_lines=4))
            height = max(len(lines) for lines in cells) * line_h + 0.8
            if self.need(height) and header:
                draw_header()
            style = row.get("_style", "")
            if style == "critical":
                c.rect(MARGIN, self.y, CONTENT_W, height, fill=PALE_RED)
            x = MARGIN
            for col, lines in zip(columns, cells, strict=True):
                bold = col.bold or (style in ("critical", "abnormal") and col.key in ("value", "flag"))
                color = RED if style == "critical" and col.key in ("value", "flag", "name") else BLACK
                for number, text in enumerate(lines):
                    c.text(x + pad, self.y + line_h * (number + 0.8), text, size, bold=bold, color=color)
                x += col.width
            self.y += height
            c.line(MARGIN, self.y, A4_W - MARGIN, self.y, color=LIGHT, width=0.15)

    def census(self) -> None:
        v = self.v
        self.need(12)
        self.c.text(MARGIN, self.y + 4, str(_("Census")), 10, bold=True)
        summary = str(
            interpolate(
                _("%(patients)s patients · %(allergies)s with allergies · %(critical)s critical results"),
                {"patients": len(v["patients"]), "allergies": v["with_allergies"], "critical": v["critical"]},
            )
        )
        self.c.text(MARGIN + 25, self.y + 4, summary, 8, color=GREY)
        self.y += 6
        self.skipped_notice()
        columns = [
            Column(str(_("Bed")), 13, "bed", bold=True),
            Column(str(_("Patient no.")), 24, "mrn"),
            Column(str(_("Name")), 22, "name", bold=True),
            Column(str(_("Sex/age")), 16, "sexage"),
            Column(str(_("Diagnosis")), 47, "dx"),
            Column(str(_("Admitted")), 20, "admitted"),
            Column(str(_("Allergies")), 48, "allergy", bold=True),
        ]
        rows = []
        for p in v["patients"]:
            if p["allergy_state"] == "listed":
                allergy = "; ".join(a["text"] for a in p["allergies"])
            elif p["allergy_state"] == "nka":
                allergy = str(_("NKA"))
            else:
                allergy = str(_("not recorded"))
            rows.append({**p, "sexage": f"{p['sex']} {p['age']}".strip(), "allergy": allergy})
        self.census_table(columns, rows)
        if not v["patients"]:
            self.need(8)
            self.c.text(MARGIN, self.y + 5, str(_("No patients in this ward in the snapshot.")), 9, bold=True)
            self.y += 8

    def census_table(self, columns: list[Column], rows: list[dict[str, Any]]) -> None:
        """The census table, with allergy cells in red."""
        c = self.c
        size, pad = 7.5, 0.8
        line_h = size * PT * 1.25

        def header() -> None:
            c.rect(MARGIN, self.y, CONTENT_W, line_h + 1, fill=LIGHT)
            x = MARGIN
            for col in columns:
                c.text(x + pad, self.y + line_h * 0.85, col.title, size - 0.5, bold=True, color=GREY)
                x += col.width
            self.y += line_h + 1

        self.need(2 * line_h + 2)
        header()
        for row in rows:
            cells = [
                c.wrap(str(row.get(col.key, "")), col.width - 2 * pad, size, max_lines=3) for col in columns
            ]
            height = max(len(lines) for lines in cells) * line_h + 0.8
            if self.need(height):
                header()
            x = MARGIN
            for col, lines in zip(columns, cells, strict=True):
                red = col.key == "allergy" and row["allergy_state"] == "listed"
                for number, text in enumerate(lines):
                    c.text(
                        x + pad, self.y + line_h * (number + 0.8), text, size,
                        bold=col.bold or red, color=RED if red else BLACK,
                    )  # fmt: skip
                x += col.width
            self.y += height
            c.line(MARGIN, self.y, A4_W - MARGIN, self.y, color=LIGHT, width=0.15)

    def skipped_notice(self) -> None:
        v = self.v
        if not (v["skipped"] or v["unassigned"]):
            return
        text = str(
            interpolate(
                _(
                    "%(skipped)s records of this ward could not be read and are not in this packet; "
                    "%(unassigned)s records of the snapshot could not be given a ward. Check the paper charts."
                ),
                {"skipped": v["skipped"], "unassigned": v["unassigned"]},
            )
        )
        lines = self.c.wrap(text, CONTENT_W - 4, 8)
        self.need(len(lines) * 3.6 + 3)
        self.c.rect(MARGIN, self.y, CONTENT_W, len(lines) * 3.6 + 2, stroke=RED, line=0.5)
        for number, line in enumerate(lines):
            self.c.text(MARGIN + 2, self.y + 3.6 * (number + 1), line, 8, bold=True, color=RED)
        self.y += len(lines) * 3.6 + 4

    def patient(self, p: dict[str, Any]) -> None:
        c = self.c
        self.continued = ""
        self.need(30)
        self.y += 2
        c.rect(MARGIN, self.y, CONTENT_W, 7, fill=LIGHT)
        x = MARGIN + 1.5
        x += c.text(x, self.y + 5, p["bed"], 11, bold=True) + 3
        x += c.text(x, self.y + 5, p["name"], 11, bold=True) + 3
        x += c.text(x, self.y + 5, f"{p['sex']} {p['age']}".strip(), 9) + 3
        x += c.text(x, self.y + 5, p["mrn"], 9) + 3
        admitted = str(interpolate(_("admitted %(time)s"), {"time": p["admitted"]})) if p["admitted"] else ""
        details = " · ".join(t for t in (p["dx"], admitted, p["doctor"]) if t)
        room = A4_W - MARGIN - x - 1
        details = c.wrap(details, room, 8, max_lines=1)[0] if room > 10 else ""
        c.text(x, self.y + 5, details, 8, color=GREY)
        self.y += 8
        self.continued = str(
            interpolate(_("%(bed)s %(name)s (continued)"), {"bed": p["bed"], "name": p["name"]})
        )
        self.allergy_box(p)
        if p["skipped"]:
            text = str(
                interpolate(
                    _("%(count)s records of this patient could not be read: check the paper chart."),
                    {"count": p["skipped"]},
                )
            )
            self.need(5)
            c.text(MARGIN, self.y + 3.5, "! " + text, 8, bold=True, color=RED)
            self.y += 5
        self.orders(p)
        self.results(p)
        self.pending(p)
        self.continued = ""

    def allergy_box(self, p: dict[str, Any]) -> None:
        c = self.c
        label = str(_("ALLERGIES"))
        if p["allergy_state"] == "listed":
            parts = [f"{a['text']}（{a['detail']}）" if a["detail"] else a["text"] for a in p["allergies"]]
            lines = c.wrap("；".join(parts), CONTENT_W - 32, 10)
            height = len(lines) * 4.6 + 2.4
            self.need(height + 1)
            c.rect(MARGIN, self.y, CONTENT_W, height, fill=RED)
            c.text(MARGIN + 2, self.y + 5, "!! " + label, 10, bold=True, color=WHITE)
            for number, line in enumerate(lines):
                c.text(MARGIN + 30, self.y + 5 + number * 4.6, line, 10, bold=True, color=WHITE)
            self.y += height + 1
        else:
            text = (
                str(_("No known allergy (NKA)"))
                if p["allergy_state"] == "nka"
                else str(_("No allergy recorded: ask the patient before giving anything new"))
            )
            self.need(7)
            c.rect(
                MARGIN, self.y, CONTENT_W, 6, stroke=RED if p["allergy_state"] == "none" else GREY, line=0.4
            )
            c.text(MARGIN + 2, self.y + 4.3, f"{label}: {text}", 8.5, bold=True)
            self.y += 7

    def section(self, title: str, note: str = "") -> None:
        self.need(9)
        self.c.text(MARGIN, self.y + 3.8, title, 8.5, bold=True)
        if note:
            self.c.text(MARGIN + self.c.width(title, 8.5) + 3, self.y + 3.8, note, 7, color=GREY)
        self.y += 4.8

    def orders(self, p: dict[str, Any]) -> None:
        title = str(_("Active medication orders — doses due in the next 24 h"))
        if not p["orders"]:
            self.section(title, str(_("none")))
            return
        self.section(title)
        rows = []
        for o in p["orders"]:
            drug = o["drug"] + (f"\n{o['note']}" if o["note"] else "")
            due = str(_("as needed (PRN)")) if o["prn"] else "  ".join(o["due"]) or "—"
            rows.append({"drug": drug, "dose": o["dose"], "route": o["route"], "freq": o["freq"], "due": due,
                         "last": o["last"] or "—"})  # fmt: skip
        self.table(
            [
                Column(str(_("Medication")), 52, "drug", bold=True),
                Column(str(_("Dose")), 20, "dose"),
                Column(str(_("Route")), 20, "route"),
                Column(str(_("Frequency")), 15, "freq"),
                Column(str(_("Due (next 24 h)")), 58, "due", bold=True),
                Column(str(_("Last given")), 25, "last"),
            ],
            rows,
        )

    def results(self, p: dict[str, Any]) -> None:
        title = str(_("Recent laboratory results"))
        if not p["results"]:
            self.section(title, str(_("none")))
            return
        note = str(interpolate(_("%(count)s critical"), {"count": p["critical"]})) if p["critical"] else ""
        self.section(title, note)
        # Two results side by side: half the height, still one line each.
        half = CONTENT_W / 2
        c = self.c
        size = 7.5
        line_h = size * PT * 1.25 + 0.8
        widths = (16, 26, 39, 14)
        keys = ("at", "name", "value", "range")
        titles = (str(_("Time")), str(_("Test")), str(pgettext_lazy("laboratory", "Result")), str(_("Range")))

        def header() -> None:
            c.rect(MARGIN, self.y, CONTENT_W, line_h, fill=LIGHT)
            for side in (0, 1):
                x = MARGIN + side * half
                for title_text, width in zip(titles, widths, strict=True):
                    c.text(x + 0.8, self.y + line_h * 0.72, title_text, size - 0.5, bold=True, color=GREY)
                    x += width
            self.y += line_h

        critical = str(_("CRITICAL"))
        header()
        results = p["results"]
        rows = (len(results) + 1) // 2
        for row in range(rows):
            if self.need(line_h):
                header()
            for side in (0, 1):
                index = row + side * rows
                if index >= len(results):
                    continue
                r = results[index]
                x = MARGIN + side * half
                if r["crit"]:
                    c.rect(x, self.y, half, line_h, fill=PALE_RED)
                cells = {
                    "at": r["at"],
                    "name": r["name"],
                    "value": " ".join(
                        t for t in (r["value"], r["unit"], r["flag"], critical if r["crit"] else "") if t
                    ),
                    "range": r["range"],
                }
                for key, width in zip(keys, widths, strict=True):
                    text = c.wrap(cells[key], width - 1.6, size, max_lines=1)[0]
                    emphasis = key == "value" and (r["crit"] or r["abn"])
                    c.text(x + 0.8, self.y + line_h * 0.72, text, size, bold=emphasis,
                           color=RED if r["crit"] and key in ("value", "name") else BLACK)  # fmt: skip
                    x += width
            self.y += line_h
            c.line(MARGIN, self.y, A4_W - MARGIN, self.y, color=LIGHT, width=0.15)

    def pending(self, p: dict[str, Any]) -> None:
        if not p["pending"]:
            return
        self.section(str(_("Pending orders (not yet done)")))
        parts = []
        for x in p["pending"]:
            detail = ", ".join(t for t in (x["kind"], x["prio"], x["at"]) if t)
            parts.append(f"{x['text']}（{detail}）" if detail else x["text"])
        lines = self.c.wrap("；".join(parts), CONTENT_W - 2, 8)
        for line in lines:
            self.need(3.8)
            self.c.text(MARGIN + 1, self.y + 3, line, 8)
            self.y += 3.8
        self.y += 1

    def issues(self) -> None:
        v = self.v
        if not v["issues"]:
            return
        self.continued = ""
        self.section(str(_("Records left out or questionable (for IT)")))
        for issue in v["issues"]:
            line = f"{issue['resource']}: {issue['message']}"
            for text in self.c.wrap(line, CONTENT_W - 2, 7):
                self.need(3.4)
                self.c.text(MARGIN + 1, self.y + 2.8, text, 7, color=GREY)
                self.y += 3.4

    def render(self) -> None:
        self.new_page()
        self.census()
        for p in self.v["patients"]:
            self.patient(p)
        self.issues()
        self.finish()


def view_texts(value: Any) -> Iterable[str]:
    """Every string in a presented packet (for the batch font), labels included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from view_texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from view_texts(item)


def label_texts() -> list[str]:
    """The labels the layouts draw, in the active language (for the batch font)."""
    return [str(label) for label in LABELS] + [MARK, "0123456789-:/·（）；…↑↓!"]


def packet_pdf(
    views: Iterable[dict[str, Any]],
    *,
    printed_by: str,
    printed_at: datetime.datetime,
    fonts: list[FontSpec] | None = None,
    missing: set[str] | None = None,
) -> bytes:
    """One PDF of one or more wards; each ward starts on a new page and is numbered on its own.
    `fonts` (from a `SubsetFont`) speeds up many PDFs in a row; `missing` collects characters
    no font could draw."""
    canvas = Canvas(title=MARK, fonts=fonts)
    footer = str(
        interpolate(
            _(
                "Printed %(time)s by %(who)s from HISGuard. Read-only copy: record new orders and care on paper."
            ),
            {"time": f"{printed_at:%Y-%m-%d %H:%M}", "who": printed_by},
        )
    )
    for view in views:
        PacketLayout(canvas, view, footer).render()
    if canvas.missing:
        log.warning("characters without a glyph in any font: %s", "".join(sorted(canvas.missing)))
        if missing is not None:
            missing.update(canvas.missing)
    return canvas.output()


def font_description() -> str:
    """The fonts the PDFs will use, for diagnostics."""
    return ", ".join(f"{Path(spec.path).name}#{spec.index}" for spec in font_specs())
