"""The post-incident review as a PDF, in Chinese by default, with the font embedded.

fpdf2 is used because it embeds (subsets) OpenType CFF fonts such as Debian's Noto Sans CJK;
ReportLab refuses them ("postscript outlines are not supported").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from fpdf import FPDF
from fpdf.fonts import FontFace

from hisguard.core.errors import DomainError, interpolate

FONT = "cjk"


def _fmt(at, pattern: str = "%Y-%m-%d %H:%M") -> str:
    return timezone.localtime(at).strftime(pattern) if at else "—"


class ReviewPDF(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.set_text_color(110)
        self.cell(0, 6, f"{self.footer_text}  ·  {self.page_no()}/{{nb}}", align="C")


def _fonts(pdf: FPDF) -> None:
    regular, bold = Path(settings.HISGUARD_PDF_FONT), Path(settings.HISGUARD_PDF_FONT_BOLD)
    if not regular.is_file():
        raise DomainError(
            interpolate(
                _("The PDF font is not installed: %(path)s (Debian package fonts-noto-cjk)."),
                {"path": str(regular)},
            ),
            code="pdf_font_missing",
            status=503,
        )
    index = settings.HISGUARD_PDF_FONT_INDEX
    pdf.add_font(FONT, "", str(regular), collection_font_number=index if regular.suffix == ".ttc" else 0)
    bold_path = bold if bold.is_file() else regular
    pdf.add_font(FONT, "B", str(bold_path), collection_font_number=index if bold_path.suffix == ".ttc" else 0)


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(3)
    pdf.set_font(FONT, "B", 12)
    pdf.set_text_color(15, 42, 74)
    pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.set_font(FONT, "", 9.5)


def _paragraph(pdf: FPDF, text: str) -> None:
    pdf.multi_cell(0, 5.5, text or "—", new_x="LMARGIN", new_y="NEXT")


def _table(pdf: FPDF, header: list[str], rows: list[list[Any]], widths: tuple[int, ...]) -> None:
    if not rows:
        _paragraph(pdf, "—")
        return
    pdf.set_font(FONT, "", 8.5)
    with pdf.table(
        col_widths=widths,
        text_align="LEFT",
        line_height=5,
        headings_style=FontFace(emphasis="BOLD", fill_color=(238, 240, 243)),
        padding=1,
    ) as table:
        head = table.row()
        for title in header:
            head.cell(str(title))
        for values in rows:
            row = table.row()
            for value in values:
                row.cell("—" if value is None or value == "" else str(value))
    pdf.set_font(FONT, "", 9.5)


def review_pdf(context: dict[str, Any], language: str | None = None) -> bytes:
    """The review page's context → PDF bytes (A4)."""
    with translation.override(language or settings.LANGUAGE_CODE):
        return bytes(_build(context))


def _build(context: dict[str, Any]) -> bytearray:
    from hisguard.response.models import CrisisRole

    incident, review = context["incident"], context["review"]
    pdf = ReviewPDF(format="A4")
    _fonts(pdf)
    pdf.set_title(f"{incident.number} {gettext('Post-incident review')}")
    pdf.set_author(str(incident.hospital))
    pdf.set_creator("HISGuard")
    pdf.set_lang("zh-CN" if (translation.get_language() or "").startswith("zh") else "en")
    pdf.footer_text = (
        f"{incident.hospital} · {incident.number} · {gettext('Generated')} {_fmt(context['generated_at'])}"
    )
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()

    pdf.set_font(FONT, "B", 16)
    pdf.multi_cell(
        0, 9, f"{gettext('Post-incident review')}：{incident.number}", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font(FONT, "", 11)
    pdf.multi_cell(0, 6, incident.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9.5)
    state = review.get_state_display() if review.pk else gettext("Draft")
    facts = [
        [gettext("Hospital"), str(incident.hospital)],
        [gettext("Class"), incident.get_hospital_class_display()],
        [gettext("GB/T 20986"), f"{incident.get_gbt_category_display()}，{incident.get_gbt_grade_display()}"],
        [gettext("Status"), incident.get_status_display()],
        [gettext("Opened"), _fmt(incident.opened_at)],
        [gettext("Resolved"), _fmt(incident.resolved_at)],
        [gettext("Review"), f"{state} {_fmt(review.finalized_at) if review.finalized_at else ''}".strip()],
    ]
    _table(pdf, [gettext("Item"), gettext("Value")], facts, (40, 150))

    _heading(pdf, gettext("Times against targets"))
    rows = []
    for measure in context["measures"]:
        met = {True: gettext("met"), False: gettext("missed"), None: "—"}[measure.met]
        rows.append([str(measure.label), measure.minutes, measure.target, met])
    _table(
        pdf,
        [gettext("Measure"), gettext("Minutes"), gettext("Target"), gettext("Result")],
        rows,
        (90, 30, 30, 40),
    )

    impact = context["impact"]
    _heading(pdf, gettext("Impact"))
    systems = "、".join(str(s) for s in impact.systems) or "—"
    _paragraph(pdf, f"{gettext('Systems')}：{systems}")
    for building in impact.buildings:
        name = building.building.name if building.building else gettext("No building")
        _paragraph(pdf, f"{name}：{'、'.join(d.name for d in building.departments)}")
    patients = impact.patients_affected if impact.patients_affected is not None else "—"
    _paragraph(pdf, f"{gettext('Patients affected')}：{patients}")

    emergencies = list(context["emergencies"])
    if emergencies:
        _heading(pdf, gettext("Emergency declaration"))
        _table(
            pdf,
            [gettext("Declared"), gettext("Signed off by"), gettext("Ended"), gettext("Signed off by")],
            [[_fmt(e.declared_at), e.signed_by, _fmt(e.ended_at), e.end_signed_by] for e in emergencies],
            (45, 50, 45, 50),
        )

    team = list(context["team"])
    if team:
        _heading(pdf, gettext("Crisis team"))
        _table(
            pdf,
            [gettext("Role"), gettext("Person"), gettext("Assigned"), gettext("Relieved")],
            [
                [CrisisRole(t.role).label, t.person.name, _fmt(t.assigned_at), _fmt(t.relieved_at)]
                for t in team
            ],
            (45, 55, 45, 45),
        )

    recoveries = list(context["recoveries"])
    if recoveries:
        _heading(pdf, gettext("Recovery"))
        _table(
            pdf,
            [
                gettext("System"),
                gettext("Backup used"),
                gettext("Data lost (min) / RPO"),
                gettext("Down (min) / RTO"),
                gettext("Verified"),
            ],
            [
                [
                    str(r.system),
                    r.backup_used,
                    f"{r.data_loss_minutes if r.data_loss_minutes is not None else '—'} / {r.system.rpo_minutes}",
                    f"{r.downtime_minutes if r.downtime_minutes is not None else '—'} / {r.system.rto_minutes}",
                    f"{_fmt(r.verified_at)} {r.verified_label}",
                ]
                for r in recoveries
            ],
            (40, 45, 35, 30, 40),
        )

    for title, text in (
        (gettext("Summary"), review.summary),
        (gettext("Root cause"), review.root_cause),
        (gettext("Contributing factors"), review.contributing_factors),
        (gettext("Lessons learned"), review.lessons),
    ):
        _heading(pdf, title)
        _paragraph(pdf, text)

    _heading(pdf, gettext("Follow-up actions"))
    _table(
        pdf,
        [gettext("Action"), gettext("Owner"), gettext("Due"), gettext("State")],
        [
            [a.description, a.owner.name, a.due_date.isoformat(), a.get_state_display()]
            for a in context["follow_ups"]
        ],
        (95, 30, 30, 35),
    )

    _heading(pdf, gettext("Timeline"))
    _table(
        pdf,
        [gettext("Time"), gettext("Who"), gettext("What")],
        [
            [
                _fmt(entry.at, "%m-%d %H:%M"),
                entry.actor_label,
                f"{text}\n{entry.text}" if entry.text else text,
            ]
            for entry, text in context["timeline"]
        ],
        (25, 30, 135),
    )
    return pdf.output()
