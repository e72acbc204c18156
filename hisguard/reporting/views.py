from __future__ import annotations

from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from hisguard.core.errors import DomainError
from hisguard.core.permissions import require_perm
from hisguard.incidents.models import OPEN_STATUSES, Incident
from hisguard.incidents.timeline import headline
from hisguard.organisation.lookup import reporter_by_token
from hisguard.organisation.models import REPORTING_KINDS, Asset, InformationSystem
from hisguard.reporting.actions import ReportInput, submit_report, systems_offered
from hisguard.reporting.forms import IntakeForm, ReportForm
from hisguard.reporting.models import Channel, FaultReport


def known_problems(workstation: Asset):
    """Open class I/II incidents touching this workstation's department, area or systems, so a
    nurse sees "HIS is down, IT knows" before filing the hundredth report."""
    system_ids = list(
        InformationSystem.objects.filter(departments=workstation.department_id).values_list("pk", flat=True)
    )
    return (
        Incident.objects.filter(
            hospital=workstation.hospital, status__in=OPEN_STATUSES, hospital_class__lte=2
        )
        .filter(
            Q(departments=workstation.department_id)
            | Q(areas=workstation.area_id)
            | Q(systems__in=system_ids)
        )
        .distinct()
        .order_by("hospital_class", "-opened_at")[:5]
    )


@require_http_methods(["GET", "POST"])
def report_page(request: HttpRequest, token: str) -> HttpResponse:
    """A workstation's own report page: no password, bound to the workstation by its token."""
    workstation = reporter_by_token(token)
    if workstation is None or workstation.kind not in REPORTING_KINDS or not workstation.is_active:
        raise Http404
    mine, others = systems_offered(workstation)
    systems = InformationSystem.objects.filter(pk__in=[s.pk for s in mine + others])
    form = ReportForm(request.POST or None, systems=systems)
    if request.method == "POST" and form.is_valid():
        try:
            report = submit_report(
                ReportInput(
                    symptom=form.cleaned_data["symptom"],
                    channel=Channel.WORKSTATION,
                    workstation=workstation,
                    system=form.cleaned_data["system"],
                    text=form.cleaned_data["text"],
                    contact_phone=form.cleaned_data["contact_phone"],
                    reporter_name=form.cleaned_data["reporter_name"],
                )
            )
        except DomainError as exc:
            form.add_error(None, str(exc.message))
            status = exc.status
        else:
            return redirect("report-status", report.status_token)
    else:
        status = 400 if request.method == "POST" else 200
    context = {
        "workstation": workstation,
        "form": form,
        "systems_mine": mine,
        "systems_other": others,
        "known": known_problems(workstation),
    }
    return render(request, "reporting/report.html", context, status=status)


def _status_context(token: str) -> dict:
    report = get_object_or_404(
        FaultReport.objects.select_related("incident", "workstation", "system", "department"),
        status_token=token,
    )
    incident = report.incident
    entries = incident.timeline.filter(public=True).order_by("-at") if incident else []
    feedback = [{"at": entry.at, "text": entry.text or headline(entry)} for entry in entries]
    return {"report": report, "incident": incident, "feedback": feedback}


def report_status(request: HttpRequest, token: str) -> HttpResponse:
    """The reporter's view of progress: no login, only what is fit for anyone at that desk."""
    return render(request, "reporting/status.html", _status_context(token))


def report_status_live(request: HttpRequest, token: str) -> HttpResponse:
    return render(request, "reporting/_status_live.html", _status_context(token))


@require_perm("reporting.add_faultreport")
@require_http_methods(["GET", "POST"])
def intake(request: HttpRequest) -> HttpResponse:
    """IT takes a report by phone (电话报告)."""
    form = IntakeForm(request.POST or None, systems=InformationSystem.objects.all())
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                report = submit_report(
                    ReportInput(
                        symptom=form.cleaned_data["symptom"],
                        channel=Channel.PHONE,
                        workstation=form.cleaned_data["workstation"],
                        department=form.cleaned_data["department"],
                        system=form.cleaned_data["system"],
                        text=form.cleaned_data["text"],
                        contact_phone=form.cleaned_data["contact_phone"],
                        reporter_name=form.cleaned_data["reporter_name"],
                        received_by=request.user,
                    )
                )
            except DomainError as exc:
                form.add_error(None, str(exc.message))
                status = exc.status
            else:
                return redirect("incident-detail", report.incident_id)
    return render(request, "reporting/intake.html", {"form": form}, status=status)
