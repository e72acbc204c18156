"""Incident command actions, shared by the pages, the API and the CLI.

Each action validates everything first, then changes the records, writes the timeline entry
and the audit entry in one transaction: a refusal (DomainError) leaves nothing half-done.
Who acts comes from the audit context (the page's user, the API token's user, the worker).
"""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from hisguard.core import audit
from hisguard.core.errors import DomainError, interpolate
from hisguard.incidents import timeline
from hisguard.incidents.actions import lock_hospital
from hisguard.incidents.models import Incident, IncidentAsset, Status, TimelineEntry
from hisguard.organisation.models import Area, Department, Hospital, InformationSystem, Person
from hisguard.paging import rosters
from hisguard.response import defaults
from hisguard.response.models import (
    SPECIAL_CONDITIONS,
    Assessment,
    BackEntryWaiver,
    Contact,
    ContactKind,
    ContactLog,
    CrisisAssignment,
    CrisisRole,
    DowntimeProcedure,
    DowntimeRecord,
    EmergencyDeclaration,
    FollowUpAction,
    IncidentPlaybook,
    Playbook,
    PlaybookStep,
    RecoveryCheck,
    ResourceNeed,
    Review,
    StepRun,
    SystemRecovery,
    TempNumberRange,
)

Kind = TimelineEntry.Kind
AFTER_RECOVERY = (Status.RECOVERING, Status.RESOLVED, Status.CLOSED)


def _now() -> datetime.datetime:
    return timezone.now()


def _actor() -> audit.Actor:
    return audit.current_actor()


def _local(at: datetime.datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    return timezone.localtime(at).strftime(fmt) if at else "—"


def _event(
    incident: Incident, kind: str, event: str, *, text: str = "", public: bool = False, at=None, **data
):
    return timeline.add(incident, kind, data={"event": event, **data}, text=text, public=public, at=at)


def _locked(incident: Incident) -> Incident:
    return Incident.objects.select_for_update().get(pk=incident.pk)


def _status(incident: Incident) -> str:
    """The status as stored now (the caller's copy may be older than the last change)."""
    return Incident.objects.values_list("status", flat=True).get(pk=incident.pk)


def _require_open(incident: Incident) -> None:
    if _status(incident) not in (Status.REPORTED, Status.CONFIRMED, Status.RESPONDING, Status.RECOVERING):
        raise DomainError(
            _("The incident is resolved or closed; reopen it first."), code="incident_not_open", status=409
        )


def _clean(text: str | None, limit: int, message) -> str:
    text = (text or "").strip()
    if len(text) > limit:
        raise DomainError(interpolate(message, {"limit": limit}))
    return text


def _required(text: str | None, message, limit: int = 4000) -> str:
    text = (text or "").strip()
    if not text:
        raise DomainError(message)
    if len(text) > limit:
        raise DomainError(interpolate(_("A text is longer than %(limit)s characters."), {"limit": limit}))
    return text


def _same_hospital(incident_or_hospital, obj, what) -> None:
    hospital_id = getattr(incident_or_hospital, "hospital_id", None) or incident_or_hospital.pk
    if obj is not None and obj.hospital_id != hospital_id:
        raise DomainError(interpolate(_("%(what)s belongs to another hospital."), {"what": what}))


def _not_future(at: datetime.datetime | None, what, now: datetime.datetime) -> None:
    if at is not None and at > now + datetime.timedelta(minutes=1):
        raise DomainError(interpolate(_("%(what)s cannot be in the future."), {"what": what}))


# --- Playbooks (reference data) -----------------------------------------------------------


@dataclass
class StepInput:
    title: str = ""
    owner_role: str = ""
    target_minutes: int | None = None
    title_en: str = ""
    instructions: str = ""
    instructions_en: str = ""
    evidence: str = ""
    evidence_en: str = ""
    contact_kind: str = ""


@dataclass
class PlaybookInput:
    code: str = ""
    name: str = ""
    name_en: str = ""
    description: str = ""
    description_en: str = ""
    match_categories: list[str] = field(default_factory=list)
    match_asset_kinds: list[str] = field(default_factory=list)
    match_classes: list[int] = field(default_factory=list)
    auto_attach: bool = True
    is_active: bool = True
    order: int = 100
    steps: list[StepInput] = field(default_factory=list)


def validate_step(step: StepInput, number: int | None = None) -> dict[str, Any]:
    """The step's fields, cleaned; a DomainError naming the step when one is wrong."""

    def fail(message) -> DomainError:
        if number is None:
            return DomainError(message)
        return DomainError(
            interpolate(_("Step %(number)s: %(problem)s"), {"number": number, "problem": message})
        )

    title = (step.title or "").strip()
    if not title:
        raise fail(_("the step needs a title."))
    if not step.owner_role:
        raise fail(_("the step needs an owner role."))
    if step.owner_role not in CrisisRole.values:
        raise fail(_("the owner role is not one of the crisis team's roles."))
    if step.target_minutes is None or not isinstance(step.target_minutes, int) or step.target_minutes < 0:
        raise fail(_("the target time must be a whole number of minutes, 0 or more."))
    if step.target_minutes > 60 * 24 * 30:
        raise fail(_("the target time must be within 30 days."))
    if step.contact_kind and step.contact_kind not in ContactKind.values:
        raise fail(_("unknown kind of contact."))
    for value, limit in ((title, 200), (step.title_en, 200), (step.evidence, 300), (step.evidence_en, 300)):
        if len((value or "").strip()) > limit:
            raise fail(interpolate(_("a text is longer than %(limit)s characters."), {"limit": limit}))
    return {
        "title": title,
        "title_en": (step.title_en or "").strip(),
        "instructions": (step.instructions or "").strip(),
        "instructions_en": (step.instructions_en or "").strip(),
        "owner_role": step.owner_role,
        "target_minutes": step.target_minutes,
        "evidence": (step.evidence or "").strip(),
        "evidence_en": (step.evidence_en or "").strip(),
        "contact_kind": step.contact_kind or "",
    }


def _validate_playbook(hospital: Hospital, data: PlaybookInput, playbook: Playbook | None) -> dict[str, Any]:
    from hisguard.incidents import gbt
    from hisguard.organisation.models import Asset, code_validator

    code = (data.code or "").strip()
    if not code:
        raise DomainError(_("The playbook needs a code."))
    try:
        code_validator(code)
    except Exception as exc:
        raise DomainError(_("Use letters, digits, '.', '-' or '_' in the code.")) from exc
    if len(code) > 32:
        raise DomainError(_("The code is longer than 32 characters."))
    clash = Playbook.objects.filter(hospital=hospital, code=code)
    if playbook is not None:
        clash = clash.exclude(pk=playbook.pk)
    if clash.exists():
        raise DomainError(
            interpolate(_("A playbook with the code %(code)s already exists."), {"code": code}),
            code="conflict",
            status=409,
        )
    name = (data.name or "").strip()
    if not name:
        raise DomainError(_("The playbook needs a name."))
    if len(name) > 100 or len(data.name_en or "") > 100:
        raise DomainError(_("The name is longer than 100 characters."))
    if set(data.match_categories) - set(gbt.Category.values):
        raise DomainError(_("Unknown GB/T 20986 category."))
    if set(data.match_asset_kinds) - set(Asset.Kind.values):
        raise DomainError(_("Unknown asset kind."))
    if set(data.match_classes) - {1, 2, 3}:
        raise DomainError(_("The class must be 1, 2 or 3."))
    if not data.steps:
        raise DomainError(_("A playbook needs at least one step."))
    return {
        "code": code,
        "name": name,
        "name_en": (data.name_en or "").strip(),
        "description": (data.description or "").strip(),
        "description_en": (data.description_en or "").strip(),
        "match_categories": list(data.match_categories),
        "match_asset_kinds": list(data.match_asset_kinds),
        "match_classes": list(data.match_classes),
        "auto_attach": data.auto_attach,
        "is_active": data.is_active,
        "order": data.order,
    }


@transaction.atomic
def save_playbook(hospital: Hospital, data: PlaybookInput, *, playbook: Playbook | None = None) -> Playbook:
    """Create a playbook or replace one with its steps; every step is checked before anything is saved."""
    fields = _validate_playbook(hospital, data, playbook)
    steps = [validate_step(step, number) for number, step in enumerate(data.steps, start=1)]
    if playbook is None:
        playbook = Playbook.objects.create(hospital=hospital, **fields)
        action = "response.playbook.create"
    else:
        for name, value in fields.items():
            setattr(playbook, name, value)
        playbook.save()
        playbook.steps.all().delete()
        action = "response.playbook.update"
    PlaybookStep.objects.bulk_create(
        PlaybookStep(playbook=playbook, order=(number + 1) * 10, **step) for number, step in enumerate(steps)
    )
    audit.record(action, playbook, steps=len(steps))
    return playbook


@transaction.atomic
def add_step(playbook: Playbook, step: StepInput) -> PlaybookStep:
    values = validate_step(step)
    last = playbook.steps.order_by("-order").values_list("order", flat=True).first() or 0
    created = PlaybookStep.objects.create(playbook=playbook, order=last + 10, **values)
    audit.record("response.playbook.step_add", playbook, step=created.title)
    return created


@transaction.atomic
def update_step(step: PlaybookStep, data: StepInput) -> PlaybookStep:
    values = validate_step(data)
    for name, value in values.items():
        setattr(step, name, value)
    step.save()
    audit.record("response.playbook.step_update", step.playbook, step=step.title)
    return step


@transaction.atomic
def delete_step(step: PlaybookStep) -> None:
    playbook = step.playbook
    if playbook.steps.count() <= 1:
        raise DomainError(_("A playbook needs at least one step."))
    title = step.title
    step.delete()
    audit.record("response.playbook.step_delete", playbook, step=title)


# --- The playbook of an incident ----------------------------------------------------------


def down_asset_kinds(incident: Incident) -> set[str]:
    return set(
        IncidentAsset.objects.filter(incident=incident, is_down=True).values_list("asset__kind", flat=True)
    )


def suggest_playbook(incident: Incident) -> Playbook | None:
    """The active playbook that fits the incident's category, down assets and class best."""
    kinds = down_asset_kinds(incident)
    best: tuple[int, int, Playbook] | None = None
    for playbook in Playbook.objects.filter(hospital=incident.hospital, is_active=True, auto_attach=True):
        score = playbook.matches(incident.gbt_category, kinds, incident.hospital_class)
        if score is None:
            continue
        key = (score, -playbook.order)
        if best is None or key > best[:2]:
            best = (*key, playbook)
    return best[2] if best else None


@transaction.atomic
def attach_playbook(
    incident: Incident, playbook: Playbook | None = None, *, automatic: bool = False, now=None
) -> IncidentPlaybook:
    """Follow `playbook` (or the suggested one). Replacing a playbook drops the steps still to
    do and keeps those done, so the record of what was done stays."""
    incident = _locked(incident)
    _require_open(incident)
    now = now or _now()
    if playbook is None:
        playbook = suggest_playbook(incident)
        if playbook is None:
            raise DomainError(
                _("No playbook fits this incident; choose one."), code="no_playbook", status=409
            )
    _same_hospital(incident, playbook, _("The playbook"))
    if not playbook.is_active:
        raise DomainError(_("That playbook is not in use."))
    steps = list(playbook.steps.all())
    if not steps:
        raise DomainError(_("A playbook needs at least one step."))
    current = IncidentPlaybook.objects.filter(incident=incident).first()
    if current is not None and current.playbook_id == playbook.pk:
        raise DomainError(_("The incident already follows this playbook."), code="conflict", status=409)
    if current is not None:
        incident.step_runs.filter(state=StepRun.State.PENDING).delete()
        current.delete()
    attached = IncidentPlaybook.objects.create(
        incident=incident,
        playbook=playbook,
        name=playbook.name,
        name_en=playbook.name_en,
        attached_at=now,
        attached_label=_actor().label,
        automatic=automatic,
    )
    base = incident.step_runs.count()
    StepRun.objects.bulk_create(
        StepRun(
            incident=incident,
            step=step,
            order=base + index + 1,
            title=step.title,
            title_en=step.title_en,
            instructions=step.instructions,
            instructions_en=step.instructions_en,
            owner_role=step.owner_role,
            evidence_expected=step.evidence,
            evidence_expected_en=step.evidence_en,
            contact_kind=step.contact_kind,
            due_at=now + datetime.timedelta(minutes=step.target_minutes),
        )
        for index, step in enumerate(steps)
    )
    _event(
        incident,
        Kind.TASK,
        "playbook_auto" if automatic else "playbook",
        playbook=playbook.name,
        steps=len(steps),
        at=now,
    )
    audit.record("response.playbook.attach", incident, playbook=playbook.code, automatic=automatic)
    return attached


def auto_attach(incident: Incident, now=None) -> IncidentPlaybook | None:
    """On confirmation: attach the fitting playbook if the incident has none yet."""
    if IncidentPlaybook.objects.filter(incident=incident).exists():
        return None
    playbook = suggest_playbook(incident)
    if playbook is None:
        return None
    return attach_playbook(incident, playbook, automatic=True, now=now)


def reconsider_playbook(incident: Incident, now=None) -> None:
    """The class or the evidence changed: an automatic playbook nobody has started follows."""
    current = IncidentPlaybook.objects.filter(incident=incident).first()
    if current is None or not current.automatic:
        return
    if incident.step_runs.exclude(state=StepRun.State.PENDING).exists():
        return
    better = suggest_playbook(incident)
    if better is not None and better.pk != current.playbook_id:
        attach_playbook(incident, better, automatic=True, now=now)


@transaction.atomic
def complete_step(run: StepRun, *, evidence: str = "", skip: bool = False, now=None) -> StepRun:
    """Mark a step done (with the evidence it expects) or not needed (with a reason)."""
    run = StepRun.objects.select_for_update().select_related("incident").get(pk=run.pk)
    _require_open(run.incident)
    if run.state != StepRun.State.PENDING:
        raise DomainError(_("That step is already done or marked not needed."), code="conflict", status=409)
    evidence = _clean(evidence, 4000, _("A text is longer than %(limit)s characters."))
    if skip and not evidence:
        raise DomainError(_("Say why the step is not needed."), code="reason_required")
    if not skip and run.evidence_expected and not evidence:
        raise DomainError(
            interpolate(
                _("Record the evidence this step expects: %(evidence)s"),
                {"evidence": run.tr_evidence_expected()},
            ),
            code="evidence_required",
        )
    now = now or _now()
    actor = _actor()
    run.state = StepRun.State.SKIPPED if skip else StepRun.State.DONE
    run.done_at, run.done_by, run.done_label, run.evidence = now, actor.user, actor.label, evidence
    run.save(update_fields=["state", "done_at", "done_by", "done_label", "evidence"])
    late = run.late_minutes()
    event = "step_skipped" if skip else ("step_done_late" if late else "step_done")
    _event(run.incident, Kind.TASK, event, step=run.title, late=late, text=evidence, at=now)
    audit.record("response.step." + ("skip" if skip else "done"), run.incident, step=run.title, late=late)
    return run


@transaction.atomic
def reopen_step(run: StepRun, *, reason: str) -> StepRun:
    run = StepRun.objects.select_for_update().select_related("incident").get(pk=run.pk)
    _require_open(run.incident)
    reason = _required(reason, _("Say why the step is reopened."))
    if run.state == StepRun.State.PENDING:
        raise DomainError(_("That step is still to do."), code="conflict", status=409)
    run.state, run.done_at, run.done_by, run.done_label = StepRun.State.PENDING, None, None, ""
    run.save(update_fields=["state", "done_at", "done_by", "done_label"])
    _event(run.incident, Kind.TASK, "step_reopened", step=run.title, text=reason)
    audit.record("response.step.reopen", run.incident, step=run.title, reason=reason)
    return run


def note_overdue_steps(now: datetime.datetime | None = None) -> int:
    """Put each step that passed its target on its incident's timeline, once.

    For the worker's loop (and `hisguard response_tick`); overdue steps are shown as overdue
    on the pages whether or not this has run."""
    now = now or _now()
    noted = 0
    with transaction.atomic(), audit.acting_as(None, label="system"):
        due = (
            StepRun.objects.select_for_update(skip_locked=True)
            .select_related("incident")
            .filter(state=StepRun.State.PENDING, due_at__lt=now, overdue_noted_at__isnull=True)
            .filter(
                incident__status__in=[Status.REPORTED, Status.CONFIRMED, Status.RESPONDING, Status.RECOVERING]
            )
            .order_by("due_at")[:500]
        )
        for run in due:
            run.overdue_noted_at = now
            run.save(update_fields=["overdue_noted_at"])
            _event(
                run.incident,
                Kind.TASK,
                "step_overdue",
                step=run.title,
                due=_local(run.due_at, "%H:%M"),
                at=now,
            )
            audit.record("response.step.overdue", run.incident, step=run.title)
            noted += 1
    return noted


# --- Crisis team ---------------------------------------------------------------------------


@transaction.atomic
def assign_role(
    incident: Incident, role: str, person: Person, *, department: Department | None = None, now=None
) -> CrisisAssignment:
    incident = _locked(incident)
    _require_open(incident)
    if role not in CrisisRole.values:
        raise DomainError(_("Unknown crisis team role."))
    _same_hospital(incident, person, _("The person"))
    _same_hospital(incident, department, _("The department"))
    if not person.is_active:
        raise DomainError(_("That person is not active."))
    if role != CrisisRole.LIAISON and department is not None:
        raise DomainError(_("Only a department liaison is assigned for a department."))
    now = now or _now()
    holders = CrisisAssignment.objects.filter(incident=incident, role=role, relieved_at__isnull=True)
    if role == CrisisRole.LIAISON:
        holders = holders.filter(department=department)
    if holders.filter(person=person).exists():
        raise DomainError(_("That person already has this role."), code="conflict", status=409)
    holders.update(relieved_at=now)
    assignment = CrisisAssignment.objects.create(
        incident=incident,
        role=role,
        person=person,
        department=department,
        assigned_at=now,
        assigned_label=_actor().label,
    )
    data: dict[str, Any] = {"person": person.name}
    if department is not None:
        data["department"] = department.name
    _event(incident, Kind.TASK, f"role_{role}", at=now, **data)
    audit.record(
        "response.team.assign", incident, role=role, person=person.employee_no, department=department
    )
    return assignment


@transaction.atomic
def relieve(assignment: CrisisAssignment, now=None) -> None:
    if assignment.relieved_at is not None:
        raise DomainError(_("That person was already relieved."), code="conflict", status=409)
    now = now or _now()
    assignment.relieved_at = now
    assignment.save(update_fields=["relieved_at"])
    _event(assignment.incident, Kind.TASK, "role_relieved", person=assignment.person.name, at=now)
    audit.record(
        "response.team.relieve",
        assignment.incident,
        role=assignment.role,
        person=assignment.person.employee_no,
    )


def current_team(incident: Incident) -> dict[str, list[CrisisAssignment]]:
    team: dict[str, list[CrisisAssignment]] = {role: [] for role in CrisisRole.values}
    for row in incident.crisis_team.filter(relieved_at__isnull=True).select_related("person", "department"):
        team[row.role].append(row)
    return team


# --- Emergency declaration (启动 / 结束应急预案) ----------------------------------------------


def active_emergency(incident: Incident) -> EmergencyDeclaration | None:
    return incident.emergencies.filter(ended_at__isnull=True).first()


@transaction.atomic
def declare_emergency(incident: Incident, *, signed_by: str, basis: str, now=None) -> EmergencyDeclaration:
    incident = _locked(incident)
    _require_open(incident)
    signed_by = _required(signed_by, _("The declaration needs the name of the leader who signs it off."), 50)
    basis = _required(basis, _("Say why the emergency plan is activated."))
    if active_emergency(incident) is not None:
        raise DomainError(
            _("The emergency plan is already active for this incident."), code="conflict", status=409
        )
    now = now or _now()
    actor = _actor()
    declaration = EmergencyDeclaration.objects.create(
        incident=incident,
        declared_at=now,
        declared_by=actor.user,
        declared_label=actor.label,
        signed_by=signed_by,
        basis=basis,
    )
    _event(incident, Kind.EMERGENCY, "declared", signed_by=signed_by, text=basis, public=True, at=now)
    audit.record("response.emergency.declare", incident, signed_by=signed_by, basis=basis)
    return declaration


@transaction.atomic
def end_emergency(incident: Incident, *, signed_by: str, summary: str, now=None) -> EmergencyDeclaration:
    incident = _locked(incident)
    declaration = active_emergency(incident)
    if declaration is None:
        raise DomainError(_("No emergency is active for this incident."), code="conflict", status=409)
    signed_by = _required(
        signed_by, _("Ending the emergency needs the name of the leader who signs it off."), 50
    )
    summary = _required(summary, _("Say in a sentence how the situation stands."))
    if incident.status not in AFTER_RECOVERY:
        raise DomainError(
            _(
                "The emergency ends once the systems are back: move the incident to recovering or resolved first."
            ),
            code="not_recovered",
            status=409,
        )
    now = now or _now()
    actor = _actor()
    declaration.ended_at, declaration.ended_by, declaration.ended_label = now, actor.user, actor.label
    declaration.end_signed_by, declaration.end_summary = signed_by, summary
    declaration.save()
    _event(incident, Kind.EMERGENCY, "ended", signed_by=signed_by, text=summary, public=True, at=now)
    audit.record("response.emergency.end", incident, signed_by=signed_by, summary=summary)
    return declaration


# --- Assessment and impact ----------------------------------------------------------------


def suggested_conditions(incident: Incident) -> dict[str, bool]:
    """Night and holiday follow from when the incident opened (the Chinese calendar, 调休 too)."""
    local = timezone.localtime(incident.opened_at)
    return {
        "night": local.hour >= 22 or local.hour < 8,
        "holiday": not rosters.is_workday(local.date()),
    }


@transaction.atomic
def save_assessment(
    incident: Incident,
    *,
    conditions: dict[str, bool],
    patients_affected: int | None = None,
    notes: str = "",
    source: str = "manual",
    now=None,
) -> Assessment:
    incident = _locked(incident)
    unknown = set(conditions) - set(SPECIAL_CONDITIONS)
    if unknown:
        raise DomainError(_("Unknown special condition."))
    if patients_affected is not None and (not isinstance(patients_affected, int) or patients_affected < 0):
        raise DomainError(_("The number of patients must be a whole number, 0 or more."))
    if patients_affected is not None and patients_affected > 1_000_000:
        raise DomainError(_("The number of patients is not plausible."))
    notes = _clean(notes, 4000, _("A text is longer than %(limit)s characters."))
    now = now or _now()
    assessment = Assessment.objects.filter(incident=incident).first() or Assessment(
        incident=incident, assessed_at=now
    )
    for name in SPECIAL_CONDITIONS:
        setattr(assessment, name, bool(conditions.get(name, False)))
    assessment.patients_affected = patients_affected
    assessment.patients_source = source if patients_affected is not None else ""
    assessment.notes, assessment.assessed_at, assessment.assessed_label = notes, now, _actor().label
    assessment.save()
    _event(
        incident,
        Kind.TASK,
        "assessment",
        count=len(assessment.conditions),
        conditions=assessment.conditions,
        patients="—" if patients_affected is None else patients_affected,
        text=notes,
        at=now,
    )
    audit.record("response.assess", incident, conditions=assessment.conditions, patients=patients_affected)
    return assessment


def set_patients_affected(incident: Incident, count: int, *, source: str = "continuity") -> Assessment:
    """For the continuity work: feed the number of patients affected (keeps the conditions)."""
    existing = Assessment.objects.filter(incident=incident).first()
    conditions = {name: getattr(existing, name) for name in SPECIAL_CONDITIONS} if existing else {}
    return save_assessment(
        incident,
        conditions=conditions,
        patients_affected=count,
        notes=existing.notes if existing else "",
        source=source,
    )


@transaction.atomic
def add_resource(
    incident: Incident, *, kind: str, description: str, quantity: int = 1, now=None
) -> ResourceNeed:
    _require_open(incident)
    if kind not in ResourceNeed.Kind.values:
        raise DomainError(_("Unknown kind of resource."))
    description = _required(description, _("Say what is needed."), 200)
    if not isinstance(quantity, int) or quantity < 1 or quantity > 10_000:
        raise DomainError(_("The quantity must be a whole number from 1 to 10000."))
    now = now or _now()
    need = ResourceNeed.objects.create(
        incident=incident,
        kind=kind,
        description=description,
        quantity=quantity,
        created_at=now,
        created_label=_actor().label,
    )
    _event(incident, Kind.TASK, "resource", what=description, quantity=quantity, at=now)
    audit.record("response.resource.add", incident, kind=kind, what=description, quantity=quantity)
    return need


@transaction.atomic
def arrange_resource(need: ResourceNeed) -> ResourceNeed:
    if need.arranged:
        raise DomainError(_("That resource is already arranged."), code="conflict", status=409)
    need.arranged = True
    need.save(update_fields=["arranged"])
    _event(need.incident, Kind.TASK, "resource_arranged", what=need.description)
    audit.record("response.resource.arranged", need.incident, what=need.description)
    return need


@dataclass
class BuildingImpact:
    building: Area | None
    departments: list[Department]


@dataclass
class Impact:
    systems: list[InformationSystem]
    buildings: list[BuildingImpact]
    department_count: int
    ward_beds: int
    patients_affected: int | None
    patients_source: str


def impact(incident: Incident) -> Impact:
    """Systems down → departments that depend on them (grouped by building) → patients."""
    departments = list(incident.departments.select_related("area__parent__parent").order_by("code"))
    grouped: dict[int | None, BuildingImpact] = {}
    for department in departments:
        building = department.area.building if department.area else None
        key = building.pk if building else None
        grouped.setdefault(key, BuildingImpact(building, [])).departments.append(department)
    buildings = sorted(
        grouped.values(), key=lambda b: (b.building is None, b.building.code if b.building else "")
    )
    assessment = Assessment.objects.filter(incident=incident).first()
    return Impact(
        systems=list(incident.systems.order_by("code")),
        buildings=buildings,
        department_count=len(departments),
        ward_beds=sum(d.beds for d in departments if d.kind == Department.Kind.WARD),
        patients_affected=assessment.patients_affected if assessment else None,
        patients_source=assessment.patients_source if assessment else "",
    )


# --- Manual procedures ---------------------------------------------------------------------


@dataclass
class ProcedureNow:
    procedure: DowntimeProcedure
    switch_at: datetime.datetime
    switched: bool


def procedures_for(
    incident: Incident, now: datetime.datetime | None = None
) -> list[tuple[Department, list[ProcedureNow]]]:
    """Each affected department's manual procedures for the systems down, with when to switch."""
    now = now or _now()
    system_ids = set(incident.systems.values_list("pk", flat=True))
    rows = (
        DowntimeProcedure.objects.filter(department__in=incident.departments.all(), is_active=True)
        # A network fault takes every system from the departments behind it.
        .filter(Q(system__isnull=True) | Q(system_id__in=system_ids) if system_ids else Q())
        .select_related("department", "system")
        .prefetch_related("forms__stock")
        .order_by("department__code", "switch_after_minutes", "code")
    )
    by_department: dict[int, tuple[Department, list[ProcedureNow]]] = {}
    for procedure in rows:
        switch_at = incident.opened_at + datetime.timedelta(minutes=procedure.switch_after_minutes)
        entry = by_department.setdefault(procedure.department_id, (procedure.department, []))
        entry[1].append(ProcedureNow(procedure, switch_at, switch_at <= now))
    return list(by_department.values())


def form_stock_for(procedure: DowntimeProcedure) -> list[tuple[Any, Any]]:
    """(form, stock row or None) for the department of the procedure."""
    result = []
    for form in procedure.forms.all():
        stock = next((s for s in form.stock.all() if s.department_id == procedure.department_id), None)
        result.append((form, stock))
    return result


@dataclass
class ProcedureInput:
    title: str = ""
    steps: str = ""
    switch_after_minutes: int | None = None
    title_en: str = ""
    steps_en: str = ""
    switch_latest_minutes: int | None = None
    is_active: bool = True


@transaction.atomic
def save_procedure(procedure: DowntimeProcedure, data: ProcedureInput) -> DowntimeProcedure:
    title = _required(data.title, _("The procedure needs a title."), 100)
    steps = _required(data.steps, _("Say what to do on paper."), 8000)
    if data.switch_after_minutes is None or data.switch_after_minutes < 0:
        raise DomainError(_("Give the time after which to switch to paper, in minutes (0 or more)."))
    if data.switch_latest_minutes is not None and data.switch_latest_minutes < data.switch_after_minutes:
        raise DomainError(_("The latest switching time cannot be before the first."))
    procedure.title, procedure.title_en = title, (data.title_en or "").strip()[:100]
    procedure.steps, procedure.steps_en = steps, (data.steps_en or "").strip()
    procedure.switch_after_minutes = data.switch_after_minutes
    procedure.switch_latest_minutes = data.switch_latest_minutes
    procedure.is_active = data.is_active
    procedure.save()
    audit.record("response.procedure.update", procedure, switch_after=data.switch_after_minutes)
    return procedure


@transaction.atomic
def set_form_stock(stock, quantity: int) -> Any:
    if not isinstance(quantity, int) or quantity < 0 or quantity > 1_000_000:
        raise DomainError(_("The stock must be a whole number, 0 or more."))
    old = stock.quantity
    stock.quantity = quantity
    stock.save()
    audit.record("response.form_stock", stock, old=old, new=quantity)
    return stock


# --- Temporary number ranges ---------------------------------------------------------------


@transaction.atomic
def reserve_range(
    hospital: Hospital,
    department: Department,
    *,
    kind: str,
    first: int,
    last: int,
    prefix: str = "",
    note: str = "",
) -> TempNumberRange:
    """Reserve a temporary number range for a department; ranges of one prefix never overlap."""
    _same_hospital(hospital, department, _("The department"))
    if kind not in TempNumberRange.Kind.values:
        raise DomainError(_("Unknown kind of number."))
    prefix = (prefix or "").strip().upper()
    if len(prefix) > 8 or (prefix and not re.fullmatch(r"[A-Z0-9\-]+", prefix)):
        raise DomainError(_("The prefix is up to 8 letters, digits or '-'."))
    for value in (first, last):
        if not isinstance(value, int) or value < 0 or value > 10**15:
            raise DomainError(_("The numbers must be whole numbers from 0 to 10^15."))
    if first > last:
        raise DomainError(_("The first number must not be greater than the last."))
    note = _clean(note, 200, _("A text is longer than %(limit)s characters."))
    lock_hospital(hospital)
    clash = (
        TempNumberRange.objects.filter(hospital=hospital, prefix=prefix, first__lte=last, last__gte=first)
        .select_related("department")
        .first()
    )
    if clash is not None:
        raise DomainError(
            interpolate(
                _("The range overlaps %(range)s reserved for %(department)s."),
                {"range": str(clash), "department": clash.department.name},
            ),
            code="range_overlap",
            status=409,
        )
    reserved = TempNumberRange.objects.create(
        hospital=hospital, department=department, kind=kind, prefix=prefix, first=first, last=last, note=note
    )
    audit.record(
        "response.range.reserve", reserved, department=department.code, first=first, last=last, prefix=prefix
    )
    return reserved


@transaction.atomic
def release_range(reserved: TempNumberRange) -> None:
    audit.record("response.range.release", reserved, department=reserved.department.code)
    reserved.delete()


def _numbers_in(text: str) -> list[str]:
    """'T900001-T900035, T900040' → ['T900001', 'T900035', 'T900040'] (the ends of each span)."""
    numbers: list[str] = []
    for part in re.split(r"[,，;；\s]+", text.strip()):
        if not part:
            continue
        ends = [p for p in re.split(r"(?<=\d)[-~–](?=[A-Za-z0-9])", part) if p]
        numbers.extend(ends)
    return numbers


def check_temp_numbers(department: Department, text: str) -> None:
    ranges = list(TempNumberRange.objects.filter(department=department))
    for number in _numbers_in(text.upper()):
        if not any(r.contains(number) for r in ranges):
            raise DomainError(
                interpolate(
                    _("Temporary number %(number)s is not in a range reserved for %(department)s."),
                    {"number": number, "department": department.name},
                ),
                code="number_out_of_range",
            )


# --- Paper records and back-entry (补录) ----------------------------------------------------


@transaction.atomic
def record_paper_work(
    incident: Incident,
    department: Department,
    *,
    kind: str,
    count: int,
    occurred_at: datetime.datetime,
    performed_by: str,
    temp_numbers: str = "",
    system: InformationSystem | None = None,
    description: str = "",
    now=None,
) -> DowntimeRecord:
    """A department notes what it did on paper (for the back-entry checklist afterwards)."""
    now = now or _now()
    if _status(incident) == Status.CLOSED:
        raise DomainError(_("The incident is closed."), code="incident_not_open", status=409)
    _same_hospital(incident, department, _("The department"))
    _same_hospital(incident, system, _("The system"))
    if kind not in DowntimeRecord.Kind.values:
        raise DomainError(_("Unknown kind of paper record."))
    if not isinstance(count, int) or count < 1 or count > 100_000:
        raise DomainError(_("The count must be a whole number from 1 to 100000."))
    if occurred_at is None:
        raise DomainError(_("Give the original time written on paper."))
    _not_future(occurred_at, _("The original time"), now)
    if occurred_at < incident.opened_at - datetime.timedelta(days=1):
        raise DomainError(_("The original time is long before the incident began."))
    performed_by = _required(performed_by, _("Say who did the work on paper."), 50)
    temp_numbers = _clean(temp_numbers, 200, _("A text is longer than %(limit)s characters."))
    if temp_numbers:
        check_temp_numbers(department, temp_numbers)
    description = _clean(description, 4000, _("A text is longer than %(limit)s characters."))
    record = DowntimeRecord.objects.create(
        incident=incident,
        department=department,
        system=system,
        kind=kind,
        count=count,
        occurred_at=occurred_at,
        performed_by=performed_by,
        temp_numbers=temp_numbers.upper(),
        description=description,
        recorded_at=now,
        recorded_label=_actor().label,
    )
    _event(incident, Kind.TASK, "paper", department=department.name, count=count, text=description, at=now)
    audit.record("response.paper.record", incident, department=department.code, kind=kind, count=count)
    return record


@transaction.atomic
def mark_entered(record: DowntimeRecord, *, on_behalf_of: str = "", now=None) -> DowntimeRecord:
    """The paper record is in the system now, with its original time; who entered it for whom."""
    record = (
        DowntimeRecord.objects.select_for_update().select_related("incident", "department").get(pk=record.pk)
    )
    if record.state != DowntimeRecord.State.OUTSTANDING:
        raise DomainError(_("That record is already entered or waived."), code="conflict", status=409)
    if record.incident.status not in AFTER_RECOVERY:
        raise DomainError(
            _("Back-entry starts once the system is back: the incident is not recovering or resolved yet."),
            code="not_recovered",
            status=409,
        )
    on_behalf_of = (
        _clean(on_behalf_of, 50, _("A text is longer than %(limit)s characters.")) or record.performed_by
    )
    now = now or _now()
    actor = _actor()
    record.state = DowntimeRecord.State.ENTERED
    record.entered_at, record.entered_by, record.entered_label = now, actor.user, actor.label
    record.entered_on_behalf_of = on_behalf_of
    record.save()
    _event(
        record.incident,
        Kind.TASK,
        "back_entered",
        department=record.department.name,
        count=record.count,
        original=_local(record.occurred_at),
        on_behalf_of=on_behalf_of,
        at=now,
    )
    audit.record(
        "response.backentry.entered",
        record.incident,
        record=record.pk,
        count=record.count,
        original=record.occurred_at,
        on_behalf_of=on_behalf_of,
    )
    return record


@transaction.atomic
def waive_backentry(
    incident: Incident, *, reason: str, department: Department | None = None, now=None
) -> BackEntryWaiver:
    """A person takes responsibility for leaving the outstanding paper records unentered."""
    reason = _required(reason, _("A waiver needs a reason."))
    _same_hospital(incident, department, _("The department"))
    outstanding = DowntimeRecord.objects.select_for_update().filter(
        incident=incident, state=DowntimeRecord.State.OUTSTANDING
    )
    if department is not None:
        outstanding = outstanding.filter(department=department)
    records = list(outstanding)
    if not records:
        raise DomainError(_("There is no back-entry outstanding to waive."), code="conflict", status=409)
    now = now or _now()
    actor = _actor()
    waiver = BackEntryWaiver.objects.create(
        incident=incident,
        department=department,
        reason=reason,
        waived_at=now,
        waived_by=actor.user,
        waived_label=actor.label,
        count=sum(r.count for r in records),
    )
    DowntimeRecord.objects.filter(pk__in=[r.pk for r in records]).update(
        state=DowntimeRecord.State.WAIVED, waiver=waiver
    )
    _event(incident, Kind.TASK, "back_entry_waived", count=waiver.count, text=reason, at=now)
    audit.record(
        "response.backentry.waive", incident, count=waiver.count, reason=reason, department=department
    )
    return waiver


@dataclass
class BackEntryRow:
    department: Department
    outstanding: int
    entered: int
    waived: int


def backentry_checklist(incident: Incident) -> list[BackEntryRow]:
    totals: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in (
        DowntimeRecord.objects.filter(incident=incident)
        .values("department_id", "state")
        .annotate(n=Sum("count"))
    ):
        totals[row["department_id"]][row["state"]] = row["n"] or 0
    departments = Department.objects.in_bulk(list(totals))
    return [
        BackEntryRow(
            departments[pk],
            counts.get(DowntimeRecord.State.OUTSTANDING, 0),
            counts.get(DowntimeRecord.State.ENTERED, 0),
            counts.get(DowntimeRecord.State.WAIVED, 0),
        )
        for pk, counts in sorted(totals.items(), key=lambda item: departments[item[0]].code)
    ]


def outstanding_backentry(incident: Incident) -> int:
    return (
        DowntimeRecord.objects.filter(incident=incident, state=DowntimeRecord.State.OUTSTANDING).aggregate(
            n=Sum("count")
        )["n"]
        or 0
    )


def check_may_close(incident: Incident) -> None:
    """incident_closing: paper records not yet entered, or an emergency still declared, keep
    the incident open."""
    waiting = outstanding_backentry(incident)
    if waiting:
        raise DomainError(
            interpolate(
                _(
                    "%(count)s paper records still wait for back-entry: enter them, or have them waived "
                    "with a reason, before closing."
                ),
                {"count": waiting},
            ),
            code="backentry_outstanding",
            status=409,
        )
    if active_emergency(incident) is not None:
        raise DomainError(
            _("The emergency plan is still active: leadership ends it before the incident is closed."),
            code="emergency_active",
            status=409,
        )


# --- Contacts ------------------------------------------------------------------------------


@dataclass
class ContactInput:
    kind: str = ""
    organisation: str = ""
    name: str = ""
    phone: str = ""
    phone_alt: str = ""
    email: str = ""
    contract_no: str = ""
    contract_expires: datetime.date | None = None
    sla_response_minutes: int | None = None
    sla_onsite_hours: int | None = None
    sla_notes: str = ""
    notes: str = ""
    system_ids: list[int] = field(default_factory=list)


PHONE = re.compile(r"^\+?[0-9][0-9\- ]{2,29}$")


@transaction.atomic
def save_contact(hospital: Hospital, data: ContactInput, *, contact: Contact | None = None) -> Contact:
    if data.kind not in ContactKind.values:
        raise DomainError(_("Unknown kind of contact."))
    organisation = _required(data.organisation, _("Name the organisation."), 100)
    if not (data.phone or data.phone_alt or data.email):
        raise DomainError(_("Give at least a phone number or an email address."))
    for phone in (data.phone, data.phone_alt):
        if phone and not PHONE.match(phone.strip()):
            raise DomainError(_("Enter a phone number of digits (3 to 30)."))
    if data.email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", data.email.strip()):
        raise DomainError(_("Enter a valid email address."))
    for sla in (data.sla_response_minutes, data.sla_onsite_hours):
        if sla is not None and (not isinstance(sla, int) or sla < 0):
            raise DomainError(_("SLA times are whole numbers, 0 or more."))
    systems = list(InformationSystem.objects.filter(hospital=hospital, pk__in=data.system_ids))
    if len(systems) != len(set(data.system_ids)):
        raise DomainError(_("Unknown system."))
    values = {
        "kind": data.kind,
        "organisation": organisation,
        "name": (data.name or "").strip()[:50],
        "phone": (data.phone or "").strip(),
        "phone_alt": (data.phone_alt or "").strip(),
        "email": (data.email or "").strip(),
        "contract_no": (data.contract_no or "").strip()[:50],
        "contract_expires": data.contract_expires,
        "sla_response_minutes": data.sla_response_minutes,
        "sla_onsite_hours": data.sla_onsite_hours,
        "sla_notes": (data.sla_notes or "").strip()[:300],
        "notes": (data.notes or "").strip(),
    }
    if contact is None:
        contact = Contact.objects.create(hospital=hospital, **values)
    else:
        for name, value in values.items():
            setattr(contact, name, value)
        contact.save()
    contact.systems.set(systems)
    audit.record("response.contact.save", contact, kind=data.kind)
    return contact


def contacts_for(incident: Incident) -> list[Contact]:
    """Vendors of the systems down first, then network operators, regulators and others."""
    system_ids = set(incident.systems.values_list("pk", flat=True))
    rows = list(
        Contact.objects.filter(hospital=incident.hospital, is_active=True)
        .prefetch_related("systems")
        .order_by("organisation")
    )
    order = {ContactKind.VENDOR: 1, ContactKind.ISP: 2, ContactKind.REGULATOR: 3, ContactKind.OTHER: 4}

    def key(contact: Contact) -> tuple[int, int, str]:
        serves = any(s.pk in system_ids for s in contact.systems.all())
        return (0 if serves else 1, order.get(ContactKind(contact.kind), 9), contact.organisation)

    return sorted(rows, key=key)


@transaction.atomic
def log_contact(
    incident: Incident, contact: Contact, *, channel: str, summary: str, ticket: str = "", at=None
) -> ContactLog:
    """A call or message to a vendor, ISP or regulator, on the timeline."""
    _same_hospital(incident, contact, _("The contact"))
    if channel not in ContactLog.Channel.values:
        raise DomainError(_("Unknown way of contacting."))
    summary = _required(summary, _("Say what was said or agreed."))
    ticket = _clean(ticket, 50, _("A text is longer than %(limit)s characters."))
    now = _now()
    at = at or now
    _not_future(at, _("The time of the call"), now)
    entry = ContactLog.objects.create(
        incident=incident,
        contact=contact,
        channel=channel,
        at=at,
        summary=summary,
        ticket=ticket,
        by_label=_actor().label,
    )
    event = {"phone": "contact_call", "onsite": "contact_visit"}.get(channel, "contact_message")
    _event(incident, Kind.TASK, event, contact=str(contact), ticket=ticket or "—", text=summary, at=at)
    audit.record("response.contact.log", incident, contact=str(contact), channel=channel, ticket=ticket)
    return entry


# --- Recovery (恢复与重建) -----------------------------------------------------------------


def _down_since(incident: Incident, system: InformationSystem) -> datetime.datetime:
    since = (
        IncidentAsset.objects.filter(incident=incident, is_down=True, asset__in=system.depends_on.all())
        .order_by("since")
        .values_list("since", flat=True)
        .first()
    )
    return since or incident.opened_at


@transaction.atomic
def start_recovery(incident: Incident, system: InformationSystem, now=None) -> SystemRecovery:
    if not incident.systems.filter(pk=system.pk).exists():
        raise DomainError(_("That system is not affected by this incident."))
    existing = SystemRecovery.objects.filter(incident=incident, system=system).first()
    if existing is not None:
        return existing
    recovery = SystemRecovery.objects.create(
        incident=incident, system=system, down_since=_down_since(incident, system)
    )
    RecoveryCheck.objects.bulk_create(
        RecoveryCheck(recovery=recovery, order=index, text=zh, text_en=en)
        for index, (zh, en) in enumerate(defaults.recovery_checks(system.code))
    )
    _event(incident, Kind.RECOVERY, "started", system=system.code, at=now)
    audit.record("response.recovery.start", incident, system=system.code)
    return recovery


def ensure_recoveries(incident: Incident, now=None) -> list[SystemRecovery]:
    return [start_recovery(incident, system, now) for system in incident.systems.all()]


@transaction.atomic
def record_recovery(
    recovery: SystemRecovery,
    *,
    backup_used: str = "",
    restore_point: datetime.datetime | None = None,
    restored_at: datetime.datetime | None = None,
    notes: str = "",
) -> SystemRecovery:
    recovery = (
        SystemRecovery.objects.select_for_update().select_related("system", "incident").get(pk=recovery.pk)
    )
    if recovery.verified_at is not None:
        raise DomainError(
            _("The recovery is verified; it can no longer be changed."), code="conflict", status=409
        )
    now = _now()
    backup_used = _clean(backup_used, 200, _("A text is longer than %(limit)s characters."))
    notes = _clean(notes, 4000, _("A text is longer than %(limit)s characters."))
    _not_future(restore_point, _("The restore point"), now)
    _not_future(restored_at, _("The time service was restored"), now)
    if restore_point is not None and not backup_used:
        raise DomainError(_("Name the backup the data was restored from."))
    if restored_at is not None and restored_at < recovery.down_since:
        raise DomainError(_("Service cannot be restored before the system went down."))
    if restore_point is not None and restored_at is not None and restore_point > restored_at:
        raise DomainError(_("The restore point cannot be after service was restored."))
    recovery.backup_used, recovery.notes = backup_used, notes
    recovery.restore_point, recovery.restored_at = restore_point, restored_at
    recovery.save()
    loss = recovery.data_loss_minutes
    _event(
        recovery.incident,
        Kind.RECOVERY,
        "recorded",
        system=recovery.system.code,
        backup=backup_used or "—",
        loss="—" if loss is None else loss,
        rpo=recovery.system.rpo_minutes,
        text=notes,
    )
    audit.record(
        "response.recovery.record",
        recovery.incident,
        system=recovery.system.code,
        backup=backup_used,
        restore_point=restore_point,
        restored_at=restored_at,
        data_loss_minutes=loss,
    )
    return recovery


@transaction.atomic
def check_item(check: RecoveryCheck, *, done: bool = True, result: str = "") -> RecoveryCheck:
    check = (
        RecoveryCheck.objects.select_for_update()
        .select_related("recovery__system", "recovery__incident")
        .get(pk=check.pk)
    )
    if check.recovery.verified_at is not None:
        raise DomainError(
            _("The recovery is verified; it can no longer be changed."), code="conflict", status=409
        )
    if check.done == done:
        raise DomainError(_("That check is already in that state."), code="conflict", status=409)
    result = _clean(result, 300, _("A text is longer than %(limit)s characters."))
    now = _now()
    check.done, check.result = done, result
    check.done_at, check.done_label = (now, _actor().label) if done else (None, "")
    check.save()
    _event(
        check.recovery.incident,
        Kind.RECOVERY,
        "check_done" if done else "check_undone",
        system=check.recovery.system.code,
        check=check.text,
        text=result,
        at=now,
    )
    audit.record(
        "response.recovery.check", check.recovery.incident, check=check.text, done=done, result=result
    )
    return check


@transaction.atomic
def verify_recovery(recovery: SystemRecovery) -> SystemRecovery:
    """The person responsible confirms the system works again, its checks all done."""
    recovery = (
        SystemRecovery.objects.select_for_update().select_related("system", "incident").get(pk=recovery.pk)
    )
    if recovery.verified_at is not None:
        raise DomainError(_("The recovery is already verified."), code="conflict", status=409)
    if recovery.restored_at is None:
        raise DomainError(_("Record when service was restored first."), code="not_restored", status=409)
    open_checks = recovery.checks.filter(done=False).count()
    if open_checks:
        raise DomainError(
            interpolate(
                _("%(count)s checks of the recovery checklist are not done."), {"count": open_checks}
            ),
            code="checks_open",
            status=409,
        )
    now = _now()
    actor = _actor()
    recovery.verified_at, recovery.verified_by, recovery.verified_label = now, actor.user, actor.label
    recovery.save(update_fields=["verified_at", "verified_by", "verified_label"])
    _event(
        recovery.incident,
        Kind.RECOVERY,
        "verified",
        system=recovery.system.code,
        down=recovery.downtime_minutes,
        rto=recovery.system.rto_minutes,
        at=now,
    )
    audit.record("response.recovery.verify", recovery.incident, system=recovery.system.code)
    return recovery


def check_may_announce(incident: Incident, user) -> None:
    """Class I/II recovery is declared by the IT head or leadership (处理原则)."""
    if incident.hospital_class <= 2 and user is not None and not user.has_perm("incidents.command_incident"):
        raise DomainError(
            _(
                "Only the IT head or hospital leadership may announce the recovery of a class I or II incident."
            ),
            code="forbidden",
            status=403,
        )


def default_restored_text(incident: Incident) -> str:
    systems = "、".join(incident.systems.values_list("code", flat=True)) or incident.title
    with translation.override(settings.LANGUAGE_CODE):
        return gettext(
            "%(systems)s restored. Departments return to the system and enter their paper records (back-entry)."
        ) % {"systems": systems}


@transaction.atomic
def announce_restored(incident: Incident, text: str = "", *, user=None) -> int:
    """The "system restored" notice to the whole hospital, once every system is verified."""
    from hisguard.paging.actions import broadcast

    _require_open(incident)
    check_may_announce(incident, user)
    recoveries = list(incident.recoveries.select_related("system"))
    if not recoveries and incident.systems.exists():
        raise DomainError(
            _("Start and verify the recovery of the systems first."), code="not_verified", status=409
        )
    pending = [r.system.code for r in recoveries if r.verified_at is None]
    missing = incident.systems.exclude(pk__in=[r.system_id for r in recoveries]).values_list(
        "code", flat=True
    )
    if pending or missing:
        raise DomainError(
            interpolate(
                _("These systems are not verified yet: %(systems)s."),
                {"systems": ", ".join([*pending, *missing])},
            ),
            code="not_verified",
            status=409,
        )
    text = (text or "").strip() or default_restored_text(incident)
    count = broadcast(incident, text)
    _event(incident, Kind.RECOVERY, "announced", count=count, text=text, public=True)
    audit.record("response.recovery.announce", incident, text=text, recipients=count)
    return count


@transaction.atomic
def set_eta(incident: Incident, when: datetime.datetime | None, *, note: str = "") -> Incident:
    """The expected recovery time shown on the status page and the command dashboard."""
    incident = _locked(incident)
    _require_open(incident)
    now = _now()
    if when is not None and when < now - datetime.timedelta(minutes=1):
        raise DomainError(_("The expected recovery time is in the past."))
    if when is not None and when > now + datetime.timedelta(days=30):
        raise DomainError(_("The expected recovery time is more than 30 days away."))
    note = _clean(note, 1000, _("A text is longer than %(limit)s characters."))
    incident.expected_recovery_at = when
    incident.save(update_fields=["expected_recovery_at"])
    _event(
        incident, Kind.RECOVERY, "eta" if when else "eta_cleared", eta=_local(when), text=note, public=True
    )
    audit.record("response.eta", incident, eta=when, note=note)
    return incident


# --- Post-incident review (事后总结) ------------------------------------------------------


def targets() -> dict[str, Any]:
    return settings.HISGUARD_RESPONSE_TARGETS


@dataclass
class Measure:
    key: str
    label: Any
    minutes: int | None
    target: int | None

    @property
    def met(self) -> bool | None:
        if self.minutes is None or self.target is None:
            return None
        return self.minutes <= self.target


def _minutes(start: datetime.datetime | None, end: datetime.datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds() // 60))


def first_acknowledged_at(incident: Incident) -> datetime.datetime | None:
    from hisguard.paging.models import EscalationRun

    return (
        EscalationRun.objects.filter(incident=incident, acknowledged_at__isnull=False)
        .order_by("acknowledged_at")
        .values_list("acknowledged_at", flat=True)
        .first()
    )


def first_classified_at(incident: Incident) -> datetime.datetime | None:
    """The first class decision after opening, or the confirmation, whichever came first."""
    first_class = (
        incident.timeline.filter(kind=Kind.CLASS).order_by("at").values_list("at", flat=True).first()
    )
    times = [t for t in (first_class, incident.confirmed_at) if t is not None]
    return min(times) if times else None


def recovered_at(incident: Incident) -> datetime.datetime | None:
    restored = [r.restored_at for r in incident.recoveries.all() if r.restored_at]
    if restored:
        return max(restored)
    return incident.resolved_at


def measures(incident: Incident) -> list[Measure]:
    """Times to detect, acknowledge, classify and recover, against the targets and the RTO."""
    configured = targets()
    level = incident.hospital_class
    review = Review.objects.filter(incident=incident).first()
    began = review.began_at if review and review.began_at else incident.opened_at
    rtos = [s.rto_minutes for s in incident.systems.all()]
    return [
        Measure("detect", _("Time to detect"), _minutes(began, incident.opened_at), configured["detect"]),
        Measure(
            "acknowledge",
            _("Time to acknowledge"),
            _minutes(incident.opened_at, first_acknowledged_at(incident)),
            configured["acknowledge"].get(level),
        ),
        Measure(
            "classify",
            _("Time to classify"),
            _minutes(incident.opened_at, first_classified_at(incident)),
            configured["classify"].get(level),
        ),
        Measure(
            "recover",
            _("Time to recover (against the shortest RTO)"),
            _minutes(began, recovered_at(incident)),
            min(rtos) if rtos else configured["recover"].get(level),
        ),
    ]


def review_for(incident: Incident) -> Review:
    review = Review.objects.filter(incident=incident).first()
    return review or Review(incident=incident, updated_at=incident.opened_at)


@transaction.atomic
def save_review(
    incident: Incident,
    *,
    began_at: datetime.datetime | None = None,
    summary: str = "",
    root_cause: str = "",
    contributing_factors: str = "",
    lessons: str = "",
) -> Review:
    review = Review.objects.select_for_update().filter(incident=incident).first()
    if review is not None and review.state == Review.State.FINAL:
        raise DomainError(_("The review is final; it can no longer be changed."), code="conflict", status=409)
    now = _now()
    if began_at is not None and began_at > incident.opened_at:
        raise DomainError(_("The fault cannot have begun after the incident was opened."))
    texts = {}
    for name, value in (
        ("summary", summary),
        ("root_cause", root_cause),
        ("contributing_factors", contributing_factors),
        ("lessons", lessons),
    ):
        texts[name] = _clean(value, 20000, _("A text is longer than %(limit)s characters."))
    created = review is None
    review = review or Review(incident=incident)
    review.began_at = began_at
    for name, value in texts.items():
        setattr(review, name, value)
    review.updated_at, review.updated_label = now, _actor().label
    review.save()
    if created:
        _event(incident, Kind.TASK, "review_started", at=now)
    audit.record("response.review.save", incident, created=created)
    return review


@transaction.atomic
def finalize_review(incident: Incident) -> Review:
    review = Review.objects.select_for_update().filter(incident=incident).first()
    if review is None:
        raise DomainError(_("Write the review first."), code="no_review", status=409)
    if review.state == Review.State.FINAL:
        raise DomainError(_("The review is already final."), code="conflict", status=409)
    if _status(incident) not in (Status.RESOLVED, Status.CLOSED):
        raise DomainError(
            _("The review is finalised once the incident is resolved."), code="not_resolved", status=409
        )
    if not review.root_cause.strip() or not review.lessons.strip():
        raise DomainError(_("A final review states the root cause and the lessons learned."))
    now = _now()
    review.state, review.finalized_at, review.finalized_label = Review.State.FINAL, now, _actor().label
    review.save()
    _event(incident, Kind.TASK, "review_final", at=now)
    audit.record("response.review.finalize", incident)
    return review


@transaction.atomic
def add_follow_up(
    incident: Incident, *, description: str, owner: Person, due_date: datetime.date
) -> FollowUpAction:
    description = _required(description, _("Describe the follow-up action."), 500)
    _same_hospital(incident, owner, _("The owner"))
    if due_date is None:
        raise DomainError(_("Give the date the action is due."))
    if due_date < timezone.localdate():
        raise DomainError(_("The due date is in the past."))
    review = Review.objects.filter(incident=incident).first() or save_review(incident)
    now = _now()
    action = FollowUpAction.objects.create(
        review=review, description=description, owner=owner, due_date=due_date, created_at=now
    )
    _event(
        incident, Kind.TASK, "follow_up", owner=owner.name, due=due_date.isoformat(), text=description, at=now
    )
    audit.record(
        "response.followup.add", incident, follow_up=description, owner=owner.employee_no, due=due_date
    )
    return action


@transaction.atomic
def close_follow_up(action: FollowUpAction, *, note: str, cancel: bool = False) -> FollowUpAction:
    action = FollowUpAction.objects.select_for_update().select_related("review__incident").get(pk=action.pk)
    if action.state != FollowUpAction.State.OPEN:
        raise DomainError(_("That action is already done or cancelled."), code="conflict", status=409)
    note = _required(note, _("Say how it was done.") if not cancel else _("Say why it is cancelled."), 500)
    now = _now()
    action.state = FollowUpAction.State.CANCELLED if cancel else FollowUpAction.State.DONE
    action.done_at, action.done_label, action.done_note = now, _actor().label, note
    action.save()
    incident = action.review.incident
    _event(
        incident,
        Kind.TASK,
        "follow_up_cancelled" if cancel else "follow_up_done",
        action=action.description[:200],
        text=note,
        at=now,
    )
    audit.record(
        "response.followup." + ("cancel" if cancel else "done"),
        incident,
        follow_up=action.description,
        note=note,
    )
    return action


# --- The command dashboard -----------------------------------------------------------------


@dataclass
class IncidentBoard:
    incident: Incident
    emergency: EmergencyDeclaration | None
    commander: CrisisAssignment | None
    steps_total: int
    steps_done: int
    overdue: list[StepRun]
    next_steps: list[StepRun]
    impact: Impact
    procedures: list[tuple[Department, list[ProcedureNow]]]
    backentry_outstanding: int
    recoveries_verified: int
    recoveries_total: int

    @property
    def progress(self) -> int:
        return int(100 * self.steps_done / self.steps_total) if self.steps_total else 0


def board_for(incident: Incident, now: datetime.datetime) -> IncidentBoard:
    runs = list(incident.step_runs.all())
    pending = [r for r in runs if r.state == StepRun.State.PENDING]
    commanders = current_team(incident)[CrisisRole.COMMANDER]
    recoveries = list(incident.recoveries.all())
    return IncidentBoard(
        incident=incident,
        emergency=active_emergency(incident),
        commander=commanders[0] if commanders else None,
        steps_total=len(runs),
        steps_done=len(runs) - len(pending),
        overdue=[r for r in pending if r.due_at < now],
        next_steps=[r for r in pending if r.due_at >= now][:3],
        impact=impact(incident),
        procedures=procedures_for(incident, now),
        backentry_outstanding=outstanding_backentry(incident),
        recoveries_verified=sum(1 for r in recoveries if r.verified_at),
        recoveries_total=len(recoveries),
    )


def command_overview(now: datetime.datetime | None = None) -> dict[str, Any]:
    now = now or _now()
    open_incidents = list(
        Incident.objects.filter(
            status__in=[Status.REPORTED, Status.CONFIRMED, Status.RESPONDING, Status.RECOVERING]
        )
        .select_related("hospital")
        .order_by("hospital_class", "opened_at")
    )
    major = [i for i in open_incidents if i.hospital_class <= 2]
    counts = dict(
        Incident.objects.filter(pk__in=[i.pk for i in open_incidents])
        .values_list("hospital_class")
        .annotate(n=Count("id"))
        .values_list("hospital_class", "n")
    )
    return {
        "now": now,
        "boards": [board_for(incident, now) for incident in major[:12]],
        "minor": [i for i in open_incidents if i.hospital_class == 3][:20],
        "counts": {level: counts.get(level, 0) for level in (1, 2, 3)},
        "follow_ups_overdue": FollowUpAction.objects.filter(
            state=FollowUpAction.State.OPEN, due_date__lt=timezone.localdate()
        ).count(),
    }
