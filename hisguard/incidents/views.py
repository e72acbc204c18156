from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from hisguard.core.errors import DomainError
from hisguard.core.permissions import require_perm
from hisguard.incidents import actions
from hisguard.incidents.classification import describe
from hisguard.incidents.forms import (
    AssessmentForm,
    AssetDownForm,
    ClassForm,
    MaintenanceForm,
    NoteForm,
    StatusForm,
)
from hisguard.incidents.models import OPEN_STATUSES, HospitalClass, Incident, IncidentAsset, Status
from hisguard.incidents.timeline import headline
from hisguard.organisation.models import Asset
from hisguard.reporting.models import FaultReport


def _console_context() -> dict:
    open_incidents = (
        Incident.objects.filter(status__in=OPEN_STATUSES)
        .annotate(report_count=Count("reports"))
        .order_by("hospital_class", "-last_evidence_at")[:200]
    )
    return {
        "open_incidents": open_incidents,
        "unattached": FaultReport.objects.filter(incident__isnull=True)
        .select_related("workstation", "department", "system")
        .order_by("-created_at")[:100],
        "counts": {
            row["hospital_class"]: row["n"]
            for row in Incident.objects.filter(status__in=OPEN_STATUSES)
            .values("hospital_class")
            .annotate(n=Count("id"))
        },
        "recent_reports": FaultReport.objects.select_related(
            "workstation", "department", "system", "incident"
        ).order_by("-created_at")[:15],
    }


@require_perm("incidents.view_incident")
def console(request: HttpRequest) -> HttpResponse:
    """The IT triage console (分诊台): open incidents, unattached reports, live."""
    return render(
        request, "incidents/console.html", {**_console_context(), "asset_down_form": AssetDownForm()}
    )


@require_perm("incidents.view_incident")
def console_live(request: HttpRequest) -> HttpResponse:
    return render(request, "incidents/_console_live.html", _console_context())


@require_perm("incidents.view_incident")
def incident_list(request: HttpRequest) -> HttpResponse:
    query = Incident.objects.annotate(report_count=Count("reports")).order_by("-opened_at")
    status, level = request.GET.get("status", ""), request.GET.get("class", "")
    if status == "open":
        query = query.filter(status__in=OPEN_STATUSES)
    elif status in Status.values:
        query = query.filter(status=status)
    if level in ("1", "2", "3"):
        query = query.filter(hospital_class=int(level))
    page = Paginator(query, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "incidents/list.html",
        {
            "page": page,
            "status": status,
            "level": level,
            "statuses": Status.choices,
            "classes": HospitalClass.choices,
        },
    )


# A storm's class I incident gathers hundreds of reports and timeline entries; the page shows
# the latest of each (and the timeline refreshes every 10 s), with a link to all of them.
LATEST_REPORTS = 100
LATEST_TIMELINE = 200


def _latest(queryset, limit: int | None, order: tuple[str, ...]) -> tuple[list, int]:
    """The last `limit` rows in chronological order (all when `limit` is None), and how many
    there are in all."""
    if limit is None:
        rows = list(queryset.order_by(*order))
        return rows, len(rows)
    newest_first = tuple(f"-{field}" for field in order)
    rows = list(queryset.order_by(*newest_first)[:limit])[::-1]
    total = len(rows) if len(rows) < limit else queryset.count()
    return rows, total


def _timeline_context(request: HttpRequest, incident: Incident) -> dict:
    show_all = request.GET.get("timeline") == "all"
    entries, total = _latest(
        incident.timeline.select_related("actor"), None if show_all else LATEST_TIMELINE, ("at", "id")
    )
    return {
        "incident": incident,
        "timeline": [(entry, headline(entry)) for entry in entries],
        "timeline_total": total,
        "timeline_all": show_all,
    }


def _detail_context(request: HttpRequest, incident: Incident) -> dict:
    evidence_assets = Asset.objects.filter(incident_links__incident=incident)
    reports, reports_total = _latest(
        incident.reports.select_related("workstation", "department", "system"),
        None if request.GET.get("reports") == "all" else LATEST_REPORTS,
        ("created_at", "id"),
    )
    return {
        **_timeline_context(request, incident),
        "basis": [describe(r) for r in incident.class_reasons],
        "reports": reports,
        "reports_total": reports_total,
        "down_links": IncidentAsset.objects.filter(incident=incident, is_down=True).select_related("asset"),
        "maintenance": incident.maintenance_logs.select_related("asset", "performed_by"),
        "next_statuses": [(s, Status(s).label) for s in actions.TRANSITIONS[incident.status]],
        "status_form": StatusForm(),
        "class_form": ClassForm(initial={"hospital_class": incident.hospital_class}),
        "assessment_form": AssessmentForm(initial={"category": incident.gbt_category, "loss": incident.loss}),
        "note_form": NoteForm(),
        "maintenance_form": MaintenanceForm(assets=evidence_assets),
        "open_incidents": Incident.objects.filter(status__in=OPEN_STATUSES).exclude(pk=incident.pk)[:50],
    }


@require_perm("incidents.view_incident")
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident.objects.select_related("hospital"), pk=pk)
    return render(request, "incidents/detail.html", _detail_context(request, incident))


@require_perm("incidents.view_incident")
def incident_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    return render(request, "incidents/_timeline.html", _timeline_context(request, incident))


def _run(request: HttpRequest, pk: int, form, action) -> HttpResponse:
    """Validate a form, run the action; a refusal is shown, never half-applied."""
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("incident-detail", pk)
    try:
        action(form.cleaned_data)
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _saved_message())
    return redirect("incident-detail", pk)


def _saved_message() -> str:
    from django.utils.translation import gettext

    return gettext("Saved.")


@require_POST
@require_perm("incidents.triage_incident")
def incident_status(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    return _run(
        request,
        pk,
        StatusForm(request.POST),
        lambda d: actions.change_status(incident, d["status"], user=request.user, message=d["message"]),
    )


@require_POST
@require_perm("incidents.classify_incident")
def incident_class(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    return _run(
        request,
        pk,
        ClassForm(request.POST),
        lambda d: actions.set_class(incident, d["hospital_class"], reason=d["reason"], user=request.user),
    )


@require_POST
@require_perm("incidents.classify_incident")
def incident_assessment(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    return _run(
        request,
        pk,
        AssessmentForm(request.POST),
        lambda d: actions.set_assessment(
            incident, category=d["category"], loss=d["loss"], reason=d["reason"]
        ),
    )


@require_POST
@require_perm("incidents.triage_incident")
def incident_note(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    return _run(
        request,
        pk,
        NoteForm(request.POST),
        lambda d: actions.add_note(incident, d["text"], public=d["public"]),
    )


@require_POST
@require_perm("incidents.add_maintenancelog")
def incident_maintenance(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    form = MaintenanceForm(request.POST, assets=Asset.objects.all())
    return _run(
        request,
        pk,
        form,
        lambda d: actions.record_maintenance(
            incident, d["asset"], user=request.user, fault=d["fault"], action=d["action"], result=d["result"]
        ),
    )


@require_POST
@require_perm("incidents.mark_asset_down")
def asset_down(request: HttpRequest) -> HttpResponse:
    form = AssetDownForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("asset", []):
            messages.error(request, str(error))
        return redirect("console")
    incident = actions.mark_asset_down(form.cleaned_data["asset"], note=form.cleaned_data["note"])
    return redirect("incident-detail", incident.pk)


@require_POST
@require_perm("incidents.triage_incident")
def report_detach(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(FaultReport, pk=pk)
    incident_id = report.incident_id
    try:
        actions.detach_report(report)
    except DomainError as exc:
        messages.error(request, str(exc.message))
    return redirect("incident-detail", incident_id) if incident_id else redirect("console")


@require_POST
@require_perm("incidents.triage_incident")
def report_attach(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(FaultReport, pk=pk)
    target = request.POST.get("incident", "")
    try:
        if target == "new":
            incident = actions.open_incident_for(report)
        else:
            incident = get_object_or_404(Incident, pk=int(target) if target.isdigit() else 0)
            actions.attach_report_to(report, incident)
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return redirect("console")
    return redirect("incident-detail", incident.pk)
