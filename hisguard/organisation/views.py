from __future__ import annotations

import segno
from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.safestring import mark_safe

from hisguard.core.permissions import require_perm
from hisguard.organisation.models import REPORTING_KINDS, Department


def report_url(asset) -> str:
    return settings.SITE_URL + reverse("report-page", args=[asset.report_token])


def qr_svg(url: str) -> str:
    """An inline SVG QR code, made on the server: nothing is fetched from the internet."""
    return segno.make(url, error="m").svg_inline(scale=3, border=2)


@require_perm("organisation.view_department")
def departments(request: HttpRequest) -> HttpResponse:
    rows = (
        Department.objects.select_related("area__parent")
        .annotate(workstations=Count("assets", filter=Q(assets__kind__in=REPORTING_KINDS)))
        .order_by("area__parent__code", "code")
    )
    return render(request, "organisation/departments.html", {"departments": rows})


@require_perm("organisation.view_asset")
def qr_sheet(request: HttpRequest, pk: int) -> HttpResponse:
    """A printable sheet: one QR code per workstation, stuck on the monitor."""
    department = get_object_or_404(Department, pk=pk)
    workstations = department.assets.filter(kind__in=REPORTING_KINDS, is_active=True).order_by("hostname")
    cards = [
        {"asset": ws, "url": report_url(ws), "svg": mark_safe(qr_svg(report_url(ws)))}  # noqa: S308 (segno output)
        for ws in workstations
    ]
    return render(request, "organisation/qr_sheet.html", {"department": department, "cards": cards})
