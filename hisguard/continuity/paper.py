"""Blank downtime forms, printed per department with its name and the date: a manual MAR, an
order sheet, a laboratory request and a registration log. Paper is what the ward writes on
while the HIS is down; everything on it is entered into the HIS afterwards (补录)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from hisguard.continuity.pdf import A4_H, A4_W, BLACK, CONTENT_W, DARK, GREY, LIGHT, MARGIN, WHITE, Canvas
from hisguard.core.errors import interpolate


@dataclass(frozen=True)
class FormKind:
    code: str
    title: object  # a lazy translation
    description: object


FORMS = [
    FormKind(
        "mar", _("Manual medication administration record (MAR)"), _("Doses given, by time, with initials.")
    ),
    FormKind(
        "orders", _("Downtime order sheet"), _("Orders written during downtime, checked and carried out.")
    ),
    FormKind("lab", _("Laboratory request"), _("Two requests per page; cut along the line.")),
    FormKind(
        "registration",
        _("Registration log"),
        _("Admissions, transfers and registrations with temporary numbers."),
    ),
]
FORM_CODES = [f.code for f in FORMS]
_BY_CODE = {f.code: f for f in FORMS}
LAB_TESTS = [
    _("Full blood count"),
    _("Electrolytes"),
    _("Liver function"),
    _("Renal function"),
    _("Blood glucose"),
    _("Coagulation"),
    _("Blood gas"),
    _("Cardiac markers"),
    _("Blood culture"),
    _("Cross-match / blood group"),
    _("Urinalysis"),
    _("CRP / PCT"),
]


class FormLayout:
    def __init__(self, canvas: Canvas, *, department: str, hospital: str, date: datetime.date | None) -> None:
        self.c = canvas
        self.department = department
        self.hospital = hospital
        self.date = f"{date:%Y-%m-%d}" if date else "20____-______-______"

    def page(self, kind: FormKind, number: int, total: int) -> float:
        c = self.c
        c.add_page()
        c.rect(0, 0, A4_W, 12, fill=DARK)
        c.text(MARGIN, 8, str(_("Downtime paper form")), 11, bold=True, color=WHITE)
        c.text(MARGIN, 8, self.hospital, 9, color=WHITE, align="R", width=CONTENT_W)
        c.text(MARGIN, 20, str(kind.title), 14, bold=True)
        page = str(interpolate(_("Page %(page)s/%(pages)s"), {"page": number, "pages": total}))
        c.text(MARGIN, 20, page, 9, align="R", width=CONTENT_W)
        c.text(
            MARGIN, 27, str(interpolate(_("Department: %(name)s"), {"name": self.department})), 10, bold=True
        )
        c.text(MARGIN + 95, 27, str(interpolate(_("Date: %(date)s"), {"date": self.date})), 10, bold=True)
        c.line(MARGIN, 29.5, A4_W - MARGIN, 29.5, color=BLACK, width=0.4)
        footer = str(
            _("Enter everything on this form into the HIS when it is back (back-entry), then file the form.")
        )
        c.text(MARGIN, A4_H - 6, footer, 7, color=GREY)
        return 33.0

    def grid(self, y: float, titles: list[tuple[str, float]], rows: int, row_h: float) -> float:
        c = self.c
        c.rect(MARGIN, y, CONTENT_W, 7, fill=LIGHT)
        x = MARGIN
        for title, width in titles:
            lines = c.wrap(title, width - 1.5, 7, max_lines=2)
            for n, line in enumerate(lines):
                c.text(x + 0.8, y + 3 + n * 3, line, 7, bold=True, color=GREY)
            x += width
        y += 7
        for _row in range(rows):
            c.line(MARGIN, y + row_h, A4_W - MARGIN, y + row_h, color=GREY, width=0.2)
            y += row_h
        x = MARGIN
        top = y - rows * row_h - 7
        for _title, width in titles:
            c.line(x, top, x, y, color=GREY, width=0.2)
            x += width
        c.line(A4_W - MARGIN, top, A4_W - MARGIN, y, color=GREY, width=0.2)
        return y

    def patient_line(self, y: float) -> float:
        c = self.c
        fields = [_("Bed"), _("Name"), _("Patient no."), _("Sex/age")]
        x = MARGIN
        for field in fields:
            c.text(x, y + 4, f"{field}: ________", 9)
            x += 47
        c.rect(MARGIN, y + 6.5, CONTENT_W, 8, stroke=(185, 28, 28), line=0.6)
        c.text(MARGIN + 2, y + 12, str(_("ALLERGIES")) + ": ", 10, bold=True, color=(185, 28, 28))
        return y + 18

    def mar(self) -> None:
        kind = _BY_CODE["mar"]
        for number in (1, 2):
            y = self.page(kind, number, 2)
            y = self.patient_line(y)
            times = [(str(_("Time / initials")), 14.0)] * 8
            self.grid(y, [(str(_("Medication, dose, route, frequency")), 60.0), (str(_("Ordered by")), 18.0), *times],
                      rows=18, row_h=12)  # fmt: skip

    def orders(self) -> None:
        kind = _BY_CODE["orders"]
        for number in (1, 2):
            y = self.page(kind, number, 2)
            y = self.patient_line(y)
            titles = [
                (str(_("Date, time")), 22.0),
                (str(_("Order")), 78.0),
                (str(_("Doctor")), 20.0),
                (str(_("Checked by nurse")), 20.0),
                (str(_("Done at")), 22.0),
                (str(_("Done by")), 28.0),
            ]
            self.grid(y, titles, rows=22, row_h=10)

    def lab(self) -> None:
        kind = _BY_CODE["lab"]
        y = self.page(kind, 1, 1)
        c = self.c
        for half in (0, 1):
            top = y + half * 128
            lines = [
                [_("Name"), _("Bed"), _("Patient no.")],
                [_("Sex/age"), _("Temporary no."), _("Diagnosis")],
            ]
            yy = top + 5
            for fields in lines:
                x = MARGIN
                for field in fields:
                    c.text(x, yy, f"{field}: ____________", 9)
                    x += 63
                yy += 8
            c.text(MARGIN, yy, str(_("Tests (tick):")), 9, bold=True)
            yy += 6
            for n, test in enumerate(LAB_TESTS):
                col, row = n % 3, n // 3
                c.rect(MARGIN + col * 63, yy + row * 7 - 3.2, 3.5, 3.5, stroke=BLACK, line=0.3)
                c.text(MARGIN + col * 63 + 5, yy + row * 7, str(test), 9)
            yy += 4 * 7 + 2
            for field in (_("Other tests"), _("Specimen"), _("Collected at (time)"), _("Collected by")):
                c.text(MARGIN, yy, f"{field}: ____________________________________", 9)
                yy += 7
            c.rect(MARGIN, yy - 3.2, 3.5, 3.5, stroke=BLACK, line=0.3)
            c.text(MARGIN + 5, yy, str(_("URGENT")), 9, bold=True)
            c.text(MARGIN + 40, yy, str(interpolate(_("Requested by: %(line)s"), {"line": "__________"})), 9)
            c.text(MARGIN + 110, yy, str(interpolate(_("Date: %(date)s"), {"date": self.date})), 9)
            if half == 0:
                c.line(MARGIN, top + 124, A4_W - MARGIN, top + 124, color=GREY, width=0.3)
                c.text(MARGIN, top + 127, "- " * 60, 8, color=GREY)

    def registration(self) -> None:
        kind = _BY_CODE["registration"]
        for number in (1, 2):
            y = self.page(kind, number, 2)
            titles = [
                (str(_("Time")), 16.0),
                (str(_("Temporary no.")), 22.0),
                (str(_("Name")), 22.0),
                (str(_("Sex")), 10.0),
                (str(_("Age")), 10.0),
                (str(_("ID card / phone")), 36.0),
                (str(_("Department / bed")), 28.0),
                (str(_("Registered by")), 24.0),
                (str(_("Back-entered")), 22.0),
            ]
            self.grid(y, titles, rows=25, row_h=9.5)


def forms_pdf(
    kinds: Iterable[str], *, department: str, hospital: str, date: datetime.date | None, fonts=None
) -> bytes:
    """The chosen blank forms for one department in one PDF (`date` None: a line to write it on)."""
    canvas = Canvas(title=str(_("Downtime paper form")), fonts=fonts)
    layout = FormLayout(canvas, department=department, hospital=hospital, date=date)
    for kind in kinds:
        if kind not in _BY_CODE:
            raise ValueError(kind)
        getattr(layout, kind)()
    return canvas.output()
