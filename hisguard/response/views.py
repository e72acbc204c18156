"""Incident-command pages. Thin: a form checks the input, an action does the work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from hisguard.core.errors import DomainError
from hisguard.core.permissions import require_perm
from hisguard.incidents.models import Incident
from hisguard.incidents.timeline import headline
from hisguard.organisation.models import Department
from hisguard.response import actions, forms, pdf
from hisguard.response.models import (
    ContactKind,
    CrisisAssignment,
    DowntimeProcedure,
    DowntimeRecord,
    FollowUpAction,
    FormStock,
    Playbook,
    PlaybookStep,
    RecoveryCheck,
    ResourceNeed,
    StepRun,
    SystemRecovery,
    TempNumberRange,
)

COMMAND = "response.command_response"
WORK = "response.work_response"
PLANS = "response.manage_plans"
REVIEW = "response.review_incident"


def _incident_url(incident_id: int, anchor: str = "response-panel") -> str:
    return reverse("incident-detail", args=[incident_id]) + f"#{anchor}"


def _errors(request: HttpRequest, form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else str(error))


def _run(request: HttpRequest, form, action: Callable[[dict[str, Any]], Any], back: str) -> HttpResponse:
    """Validate the form, run the action; a refusal is shown and nothing is saved."""
    if not form.is_valid():
        _errors(request, form)
        return redirect(back)
    return _attempt(request, lambda: action(form.cleaned_data), back, saved=True)


def _attempt(
    request: HttpRequest, action: Callable[[], Any], back: str, *, saved: bool = False
) -> HttpResponse:
    """Run an action and go back; a refusal is shown (and nothing is saved)."""
    try:
        action()
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        if saved:
            messages.success(request, gettext("Saved."))
    return redirect(back)


def _hospital_incident(pk: int) -> Incident:
    return get_object_or_404(Incident.objects.select_related("hospital"), pk=pk)


# --- On the incident ------------------------------------------------------------------------


@require_POST
@require_perm(COMMAND)
def attach_playbook(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    form = forms.AttachPlaybookForm(request.POST, hospital=incident.hospital)
    return _run(
        request,
        form,
        lambda d: actions.attach_playbook(incident, d["playbook"]),
        _incident_url(pk, "playbook"),
    )


@require_POST
@require_perm(WORK)
def step_done(request: HttpRequest, pk: int, run_id: int) -> HttpResponse:
    run = get_object_or_404(StepRun, pk=run_id, incident_id=pk)
    return _run(
        request,
        forms.StepDoneForm(request.POST),
        lambda d: actions.complete_step(run, evidence=d["evidence"], skip=d["skip"]),
        _incident_url(pk, "playbook"),
    )


@require_POST
@require_perm(WORK)
def step_reopen(request: HttpRequest, pk: int, run_id: int) -> HttpResponse:
    run = get_object_or_404(StepRun, pk=run_id, incident_id=pk)
    return _run(
        request,
        forms.ReasonForm(request.POST),
        lambda d: actions.reopen_step(run, reason=d["reason"]),
        _incident_url(pk, "playbook"),
    )


@require_POST
@require_perm(COMMAND)
def assign_role(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    return _run(
        request,
        forms.AssignRoleForm(request.POST, hospital=incident.hospital),
        lambda d: actions.assign_role(incident, d["role"], d["person"], department=d["department"]),
        _incident_url(pk, "crisis-team"),
    )


@require_POST
@require_perm(COMMAND)
def relieve(request: HttpRequest, pk: int, assignment_id: int) -> HttpResponse:
    assignment = get_object_or_404(CrisisAssignment, pk=assignment_id, incident_id=pk)
    return _attempt(request, lambda: actions.relieve(assignment), _incident_url(pk, "crisis-team"))


@require_POST
@require_perm("response.declare_emergency")
def declare(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    return _run(
        request,
        forms.DeclareForm(request.POST),
        lambda d: actions.declare_emergency(incident, signed_by=d["signed_by"], basis=d["basis"]),
        _incident_url(pk, "emergency"),
    )


@require_POST
@require_perm("response.declare_emergency")
def end_emergency(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    return _run(
        request,
        forms.EndEmergencyForm(request.POST),
        lambda d: actions.end_emergency(incident, signed_by=d["signed_by"], summary=d["summary"]),
        _incident_url(pk, "emergency"),
    )


@require_POST
@require_perm(COMMAND)
def assess(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)

    def save(d: dict[str, Any]) -> Any:
        conditions = {
            name: d[name] for name in ("night", "holiday", "high_volume", "key_staff_away", "major_event")
        }
        return actions.save_assessment(
            incident, conditions=conditions, patients_affected=d["patients_affected"], notes=d["notes"]
        )

    return _run(request, forms.AssessmentForm(request.POST), save, _incident_url(pk, "assessment"))


@require_POST
@require_perm(COMMAND)
def add_resource(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    return _run(
        request,
        forms.ResourceForm(request.POST),
        lambda d: actions.add_resource(
            incident, kind=d["kind"], description=d["description"], quantity=d["quantity"]
        ),
        _incident_url(pk, "assessment"),
    )


@require_POST
@require_perm(COMMAND)
def arrange_resource(request: HttpRequest, pk: int, need_id: int) -> HttpResponse:
    need = get_object_or_404(ResourceNeed, pk=need_id, incident_id=pk)
    return _attempt(request, lambda: actions.arrange_resource(need), _incident_url(pk, "assessment"))


@require_POST
@require_perm(WORK)
def log_contact(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    return _run(
        request,
        forms.ContactLogForm(request.POST, hospital=incident.hospital),
        lambda d: actions.log_contact(
            incident, d["contact"], channel=d["channel"], summary=d["summary"], ticket=d["ticket"]
        ),
        _incident_url(pk, "contacts"),
    )


@require_POST
@require_perm(WORK)
def record_paper(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    return _run(
        request,
        forms.PaperRecordForm(request.POST, hospital=incident.hospital),
        lambda d: actions.record_paper_work(
            incident,
            d["department"],
            kind=d["kind"],
            count=d["count"],
            occurred_at=d["occurred_at"],
            performed_by=d["performed_by"],
            temp_numbers=d["temp_numbers"],
            system=d["system"],
            description=d["description"],
        ),
        reverse("response-backentry", args=[pk]),
    )


@require_POST
@require_perm(WORK)
def back_enter(request: HttpRequest, pk: int, record_id: int) -> HttpResponse:
    record = get_object_or_404(DowntimeRecord, pk=record_id, incident_id=pk)
    return _run(
        request,
        forms.BackEntryForm(request.POST),
        lambda d: actions.mark_entered(record, on_behalf_of=d["on_behalf_of"]),
        reverse("response-backentry", args=[pk]),
    )


@require_POST
@require_perm("response.waive_backentry")
def waive(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    return _run(
        request,
        forms.WaiverForm(request.POST, hospital=incident.hospital),
        lambda d: actions.waive_backentry(incident, reason=d["reason"], department=d["department"]),
        reverse("response-backentry", args=[pk]),
    )


@require_perm("incidents.view_incident")
def backentry_page(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    records = incident.downtime_records.select_related("department", "system").order_by(
        "department__code", "occurred_at"
    )
    return render(
        request,
        "response/backentry.html",
        {
            "incident": incident,
            "checklist": actions.backentry_checklist(incident),
            "records": records,
            "outstanding": actions.outstanding_backentry(incident),
            "waivers": incident.backentry_waivers.select_related("department"),
            "ranges": TempNumberRange.objects.filter(
                department__in=incident.departments.all()
            ).select_related("department"),
            "paper_form": forms.PaperRecordForm(
                hospital=incident.hospital,
                initial={"occurred_at": timezone.localtime().replace(second=0, microsecond=0)},
            ),
            "waiver_form": forms.WaiverForm(hospital=incident.hospital),
            "entry_form": forms.BackEntryForm(),
            "after_recovery": incident.status in actions.AFTER_RECOVERY,
        },
    )


@require_POST
@require_perm(WORK)
def start_recovery(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    system = get_object_or_404(incident.systems.all(), pk=request.POST.get("system") or 0)
    return _attempt(request, lambda: actions.start_recovery(incident, system), _incident_url(pk, "recovery"))


@require_POST
@require_perm(WORK)
def record_recovery(request: HttpRequest, pk: int, recovery_id: int) -> HttpResponse:
    recovery = get_object_or_404(SystemRecovery, pk=recovery_id, incident_id=pk)
    return _run(
        request,
        forms.RecoveryForm(request.POST),
        lambda d: actions.record_recovery(
            recovery,
            backup_used=d["backup_used"],
            restore_point=d["restore_point"],
            restored_at=d["restored_at"],
            notes=d["notes"],
        ),
        _incident_url(pk, "recovery"),
    )


@require_POST
@require_perm(WORK)
def check_item(request: HttpRequest, pk: int, check_id: int) -> HttpResponse:
    check = get_object_or_404(RecoveryCheck, pk=check_id, recovery__incident_id=pk)
    return _run(
        request,
        forms.CheckForm(request.POST),
        lambda d: actions.check_item(check, done=not d["undo"], result=d["result"]),
        _incident_url(pk, "recovery"),
    )


@require_POST
@require_perm(WORK)
def verify_recovery(request: HttpRequest, pk: int, recovery_id: int) -> HttpResponse:
    recovery = get_object_or_404(SystemRecovery, pk=recovery_id, incident_id=pk)
    return _attempt(request, lambda: actions.verify_recovery(recovery), _incident_url(pk, "recovery"))


@require_POST
@require_perm(WORK)
def announce(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    return _run(
        request,
        forms.AnnounceForm(request.POST),
        lambda d: actions.announce_restored(incident, d["text"], user=request.user),
        _incident_url(pk, "recovery"),
    )


@require_POST
@require_perm(COMMAND)
def set_eta(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    return _run(
        request,
        forms.EtaForm(request.POST),
        lambda d: actions.set_eta(incident, d["eta"], note=d["note"]),
        _incident_url(pk, "recovery"),
    )


# --- Post-incident review -------------------------------------------------------------------


def _review_context(incident: Incident) -> dict[str, Any]:
    review = actions.review_for(incident)
    return {
        "incident": incident,
        "review": review,
        "measures": actions.measures(incident),
        "timeline": [(entry, headline(entry)) for entry in incident.timeline.select_related("actor")],
        "recoveries": incident.recoveries.select_related("system"),
        "follow_ups": review.actions.select_related("owner") if review.pk else [],
        "team": incident.crisis_team.select_related("person", "department").order_by("assigned_at"),
        "emergencies": incident.emergencies.all(),
        "impact": actions.impact(incident),
        "backentry": actions.backentry_checklist(incident),
        "contact_logs": incident.contact_logs.select_related("contact"),
        "steps": incident.step_runs.all(),
        "generated_at": timezone.now(),
    }


@require_perm("incidents.view_incident")
def review_page(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    context = _review_context(incident)
    review = context["review"]
    context["form"] = forms.ReviewForm(
        initial={
            "began_at": timezone.localtime(review.began_at) if review.began_at else None,
            "summary": review.summary,
            "root_cause": review.root_cause,
            "contributing_factors": review.contributing_factors,
            "lessons": review.lessons,
        }
    )
    context["follow_up_form"] = forms.FollowUpForm(hospital=incident.hospital)
    return render(request, "response/review.html", context)


@require_POST
@require_perm(REVIEW)
def review_save(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    finalize = "finalize" in request.POST

    def save(d: dict[str, Any]) -> Any:
        review = actions.review_for(incident)
        if not (review.pk and review.state == review.State.FINAL):
            actions.save_review(
                incident,
                began_at=d["began_at"],
                summary=d["summary"],
                root_cause=d["root_cause"],
                contributing_factors=d["contributing_factors"],
                lessons=d["lessons"],
            )
        if finalize:
            actions.finalize_review(incident)

    return _run(request, forms.ReviewForm(request.POST), save, reverse("response-review", args=[pk]))


@require_POST
@require_perm(REVIEW)
def follow_up_add(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    return _run(
        request,
        forms.FollowUpForm(request.POST, hospital=incident.hospital),
        lambda d: actions.add_follow_up(
            incident, description=d["description"], owner=d["owner"], due_date=d["due_date"]
        ),
        reverse("response-review", args=[pk]),
    )


@require_POST
@require_perm(REVIEW)
def follow_up_close(request: HttpRequest, action_id: int) -> HttpResponse:
    action = get_object_or_404(FollowUpAction.objects.select_related("review"), pk=action_id)
    back = request.POST.get("back") or reverse("response-review", args=[action.review.incident_id])
    if not back.startswith("/"):
        back = "/"
    return _run(
        request,
        forms.NoteForm(request.POST),
        lambda d: actions.close_follow_up(action, note=d["note"], cancel=d["cancel"]),
        back,
    )


@require_perm("incidents.view_incident")
def review_export_html(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    response = render(request, "response/review_export.html", _review_context(incident))
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{incident.number}-review.html"'
    return response


@require_perm("incidents.view_incident")
def review_export_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _hospital_incident(pk)
    try:
        data = pdf.review_pdf(_review_context(incident))
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return redirect("response-review", pk)
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{incident.number}-review.pdf"'
    return response


@require_perm("response.view_followupaction")
def follow_ups(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "open")
    query = FollowUpAction.objects.select_related("owner", "review__incident").order_by("due_date")
    if state in FollowUpAction.State.values:
        query = query.filter(state=state)
    return render(
        request,
        "response/follow_ups.html",
        {
            "actions": query[:500],
            "state": state,
            "states": FollowUpAction.State.choices,
            "close_form": forms.NoteForm(),
        },
    )


# --- Command dashboard ----------------------------------------------------------------------


@require_perm("incidents.view_incident")
def command(request: HttpRequest) -> HttpResponse:
    return render(request, "response/command.html", actions.command_overview())


@require_perm("incidents.view_incident")
def command_live(request: HttpRequest) -> HttpResponse:
    return render(request, "response/_command_live.html", actions.command_overview())


# --- Plans: playbooks, procedures, ranges, contacts ------------------------------------------


@require_perm("response.view_playbook")
def plans(request: HttpRequest) -> HttpResponse:
    playbooks = (
        Playbook.objects.select_related("hospital").prefetch_related("steps").order_by("hospital", "order")
    )
    return render(request, "response/plans.html", {"playbooks": playbooks})


def _step_input(d: dict[str, Any]) -> actions.StepInput:
    return actions.StepInput(
        title=d["title"],
        title_en=d["title_en"],
        owner_role=d["owner_role"],
        target_minutes=d["target_minutes"],
        evidence=d["evidence"],
        evidence_en=d["evidence_en"],
        instructions=d["instructions"],
        instructions_en=d["instructions_en"],
        contact_kind=d["contact_kind"],
    )


@require_perm("response.view_playbook")
def playbook_page(request: HttpRequest, pk: int) -> HttpResponse:
    playbook = get_object_or_404(Playbook, pk=pk)
    steps = [
        (
            step,
            forms.StepForm(
                prefix=f"s{step.pk}",
                initial={
                    f: getattr(step, f)
                    for f in (
                        "title",
                        "title_en",
                        "owner_role",
                        "target_minutes",
                        "evidence",
                        "evidence_en",
                        "instructions",
                        "instructions_en",
                        "contact_kind",
                    )
                },
            ),
        )
        for step in playbook.steps.all()
    ]
    return render(
        request,
        "response/playbook.html",
        {"playbook": playbook, "steps": steps, "new_step": forms.StepForm()},
    )


@require_POST
@require_perm(PLANS)
def playbook_step_add(request: HttpRequest, pk: int) -> HttpResponse:
    playbook = get_object_or_404(Playbook, pk=pk)
    return _run(
        request,
        forms.StepForm(request.POST),
        lambda d: actions.add_step(playbook, _step_input(d)),
        reverse("response-playbook", args=[pk]),
    )


@require_POST
@require_perm(PLANS)
def playbook_step_edit(request: HttpRequest, pk: int, step_id: int) -> HttpResponse:
    step = get_object_or_404(PlaybookStep, pk=step_id, playbook_id=pk)
    if "delete" in request.POST:
        try:
            actions.delete_step(step)
        except DomainError as exc:
            messages.error(request, str(exc.message))
        return redirect("response-playbook", pk)
    return _run(
        request,
        forms.StepForm(request.POST, prefix=f"s{step.pk}"),
        lambda d: actions.update_step(step, _step_input(d)),
        reverse("response-playbook", args=[pk]),
    )


@require_perm("response.view_downtimeprocedure")
def procedures(request: HttpRequest) -> HttpResponse:
    departments = (
        Department.objects.filter(downtime_procedures__isnull=False)
        .distinct()
        .select_related("hospital", "area")
        .order_by("hospital", "code")
    )
    return render(request, "response/procedures.html", {"departments": departments})


def _procedure_rows(department: Department) -> list[tuple[DowntimeProcedure, list]]:
    rows = (
        department.downtime_procedures.filter(is_active=True)
        .select_related("system")
        .prefetch_related("forms__stock")
        .order_by("switch_after_minutes", "code")
    )
    return [(procedure, actions.form_stock_for(procedure)) for procedure in rows]


def department_procedures_print(request: HttpRequest, pk: int) -> HttpResponse:
    """Printable manual procedures of one department. Public like the status page: every PC
    in the hospital must be able to print it when the systems are down."""
    department = get_object_or_404(Department.objects.select_related("hospital", "area"), pk=pk)
    return render(
        request,
        "response/procedures_print.html",
        {
            "department": department,
            "rows": _procedure_rows(department),
            "ranges": department.temp_number_ranges.all(),
            "now": timezone.now(),
        },
    )


@require_perm("response.view_downtimeprocedure")
def department_procedures(request: HttpRequest, pk: int) -> HttpResponse:
    department = get_object_or_404(Department.objects.select_related("hospital"), pk=pk)
    rows = []
    for procedure, stock in _procedure_rows(department):
        form = forms.ProcedureForm(
            prefix=f"p{procedure.pk}",
            initial={
                f: getattr(procedure, f)
                for f in (
                    "title",
                    "title_en",
                    "switch_after_minutes",
                    "switch_latest_minutes",
                    "steps",
                    "steps_en",
                    "is_active",
                )
            },
        )
        rows.append((procedure, stock, form))
    return render(request, "response/department_procedures.html", {"department": department, "rows": rows})


@require_POST
@require_perm(PLANS)
def procedure_edit(request: HttpRequest, pk: int) -> HttpResponse:
    procedure = get_object_or_404(DowntimeProcedure, pk=pk)
    return _run(
        request,
        forms.ProcedureForm(request.POST, prefix=f"p{procedure.pk}"),
        lambda d: actions.save_procedure(
            procedure,
            actions.ProcedureInput(
                title=d["title"],
                title_en=d["title_en"],
                steps=d["steps"],
                steps_en=d["steps_en"],
                switch_after_minutes=d["switch_after_minutes"],
                switch_latest_minutes=d["switch_latest_minutes"],
                is_active=d["is_active"],
            ),
        ),
        reverse("response-department-procedures", args=[procedure.department_id]),
    )


@require_POST
@require_perm(PLANS)
def stock_edit(request: HttpRequest, pk: int) -> HttpResponse:
    stock = get_object_or_404(FormStock, pk=pk)
    return _run(
        request,
        forms.StockForm(request.POST),
        lambda d: actions.set_form_stock(stock, d["quantity"]),
        reverse("response-department-procedures", args=[stock.department_id]),
    )


@require_perm("response.view_tempnumberrange")
def ranges(request: HttpRequest) -> HttpResponse:
    from hisguard.organisation.models import Hospital

    hospital = Hospital.objects.order_by("pk").first()
    return render(
        request,
        "response/ranges.html",
        {
            "ranges": TempNumberRange.objects.select_related("department", "hospital"),
            "form": forms.RangeForm(hospital=hospital),
        },
    )


@require_POST
@require_perm(PLANS)
def range_add(request: HttpRequest) -> HttpResponse:
    department = (
        Department.objects.filter(pk=request.POST.get("department") or 0).select_related("hospital").first()
    )
    hospital = department.hospital if department else None
    return _run(
        request,
        forms.RangeForm(request.POST, hospital=hospital),
        lambda d: actions.reserve_range(
            d["department"].hospital,
            d["department"],
            kind=d["kind"],
            first=d["first"],
            last=d["last"],
            prefix=d["number_prefix"],
            note=d["note"],
        ),
        reverse("response-ranges"),
    )


@require_POST
@require_perm(PLANS)
def range_delete(request: HttpRequest, pk: int) -> HttpResponse:
    actions.release_range(get_object_or_404(TempNumberRange, pk=pk))
    return redirect("response-ranges")


@require_perm("response.view_contact")
def contacts(request: HttpRequest) -> HttpResponse:
    from hisguard.organisation.models import Hospital

    from .models import Contact

    hospital = Hospital.objects.order_by("pk").first()
    kind = request.GET.get("kind", "")
    rows = Contact.objects.prefetch_related("systems").order_by("kind", "organisation")
    if kind in ContactKind.values:
        rows = rows.filter(kind=kind)
    return render(
        request,
        "response/contacts.html",
        {
            "contacts": rows,
            "kind": kind,
            "kinds": ContactKind.choices,
            "form": forms.ContactForm(hospital=hospital),
            "hospital": hospital,
        },
    )


@require_POST
@require_perm(PLANS)
def contact_add(request: HttpRequest) -> HttpResponse:
    from hisguard.organisation.models import Hospital

    hospital = get_object_or_404(Hospital, pk=request.POST.get("hospital") or 0)

    def save(d: dict[str, Any]) -> Any:
        return actions.save_contact(
            hospital,
            actions.ContactInput(
                kind=d["kind"],
                organisation=d["organisation"],
                name=d["name"],
                phone=d["phone"],
                phone_alt=d["phone_alt"],
                email=d["email"],
                contract_no=d["contract_no"],
                contract_expires=d["contract_expires"],
                sla_response_minutes=d["sla_response_minutes"],
                sla_onsite_hours=d["sla_onsite_hours"],
                sla_notes=d["sla_notes"],
                notes=d["notes"],
                system_ids=[s.pk for s in d["systems"]],
            ),
        )

    return _run(
        request, forms.ContactForm(request.POST, hospital=hospital), save, reverse("response-contacts")
    )
