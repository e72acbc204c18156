"""Incident command over the JSON API (/api/v1/…): the same actions as the pages."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema

from hisguard.core.api_auth import API_AUTH, require
from hisguard.core.errors import DomainError, NotFound, interpolate
from hisguard.incidents.models import Incident
from hisguard.incidents.timeline import headline
from hisguard.organisation.models import Department, Hospital, InformationSystem, Person
from hisguard.response import actions
from hisguard.response.i18n import pick
from hisguard.response.models import (
    SPECIAL_CONDITIONS,
    Assessment,
    Contact,
    DowntimeRecord,
    FollowUpAction,
    IncidentPlaybook,
    Playbook,
    RecoveryCheck,
    StepRun,
    SystemRecovery,
    TempNumberRange,
)

router = Router(tags=["incident command"], auth=API_AUTH)

VIEW = "incidents.view_incident"
COMMAND = "response.command_response"
WORK = "response.work_response"


def _incident(pk: int) -> Incident:
    return get_object_or_404(Incident.objects.select_related("hospital"), pk=pk)


def _hospital(code: str) -> Hospital:
    hospital = Hospital.objects.filter(code=code).first()
    if hospital is None:
        raise NotFound(interpolate(_("No hospital is called %(code)s."), {"code": code}))
    return hospital


def _department(hospital: Hospital, code: str | None) -> Department | None:
    if not code:
        return None
    department = Department.objects.filter(hospital=hospital, code=code).first()
    if department is None:
        raise NotFound(interpolate(_("No department is called %(code)s."), {"code": code}))
    return department


def _system(hospital: Hospital, code: str | None) -> InformationSystem | None:
    if not code:
        return None
    system = InformationSystem.objects.filter(hospital=hospital, code=code).first()
    if system is None:
        raise NotFound(interpolate(_("No system is called %(code)s."), {"code": code}))
    return system


def _person(hospital: Hospital, employee_no: str) -> Person:
    person = Person.objects.filter(hospital=hospital, employee_no=employee_no).first()
    if person is None:
        raise NotFound(interpolate(_("No person has the employee number %(code)s."), {"code": employee_no}))
    return person


# --- Output --------------------------------------------------------------------------------


def step_out(run: StepRun, now: datetime.datetime) -> dict[str, Any]:
    return {
        "id": run.pk,
        "title": run.tr("title"),
        "owner_role": run.owner_role,
        "due_at": run.due_at,
        "state": run.state,
        "overdue": run.is_overdue(now),
        "evidence_expected": run.tr_evidence_expected(),
        "evidence": run.evidence,
        "done_at": run.done_at,
        "done_by": run.done_label,
        "contact_kind": run.contact_kind,
    }


def playbook_state(incident: Incident) -> dict[str, Any]:
    now = timezone.now()
    attached = IncidentPlaybook.objects.filter(incident=incident).select_related("playbook").first()
    suggestion = actions.suggest_playbook(incident)
    return {
        "playbook": attached.playbook.code if attached and attached.playbook else None,
        "name": attached.tr("name") if attached else None,
        "automatic": attached.automatic if attached else None,
        "attached_at": attached.attached_at if attached else None,
        "suggested": suggestion.code if suggestion else None,
        "steps": [step_out(r, now) for r in incident.step_runs.all()],
    }


def recovery_out(recovery: SystemRecovery) -> dict[str, Any]:
    return {
        "id": recovery.pk,
        "system": recovery.system.code,
        "down_since": recovery.down_since,
        "backup_used": recovery.backup_used,
        "restore_point": recovery.restore_point,
        "restored_at": recovery.restored_at,
        "data_loss_minutes": recovery.data_loss_minutes,
        "rpo_minutes": recovery.system.rpo_minutes,
        "downtime_minutes": recovery.downtime_minutes,
        "rto_minutes": recovery.system.rto_minutes,
        "verified_at": recovery.verified_at,
        "verified_by": recovery.verified_label,
        "checks": [
            {"id": c.pk, "text": c.tr("text"), "done": c.done, "result": c.result}
            for c in recovery.checks.all()
        ],
    }


def response_state(incident: Incident) -> dict[str, Any]:
    now = timezone.now()
    emergency = actions.active_emergency(incident)
    impact = actions.impact(incident)
    assessment = Assessment.objects.filter(incident=incident).first()
    return {
        "incident": incident.pk,
        "number": incident.number,
        "status": incident.status,
        "hospital_class": incident.hospital_class,
        "expected_recovery_at": incident.expected_recovery_at,
        "emergency": {
            "active": emergency is not None,
            "declared_at": emergency.declared_at if emergency else None,
            "signed_by": emergency.signed_by if emergency else None,
        },
        "team": {
            role: [
                {
                    "person": a.person.employee_no,
                    "name": a.person.name,
                    "department": a.department.code if a.department else None,
                }
                for a in holders
            ]
            for role, holders in actions.current_team(incident).items()
        },
        "assessment": {
            "conditions": assessment.conditions if assessment else [],
            "urgency": assessment.urgency if assessment else None,
            "patients_affected": assessment.patients_affected if assessment else None,
        },
        "impact": {
            "systems": [s.code for s in impact.systems],
            "buildings": [
                {
                    "building": b.building.code if b.building else None,
                    "departments": [d.code for d in b.departments],
                }
                for b in impact.buildings
            ],
            "ward_beds": impact.ward_beds,
        },
        "resources": [
            {"kind": r.kind, "description": r.description, "quantity": r.quantity, "arranged": r.arranged}
            for r in incident.resource_needs.all()
        ],
        "playbook": playbook_state(incident),
        "procedures": [
            {
                "department": department.code,
                "procedures": [
                    {
                        "code": p.procedure.code,
                        "title": p.procedure.tr("title"),
                        "system": p.procedure.system.code if p.procedure.system else None,
                        "switch_at": p.switch_at,
                        "on_paper": p.switched,
                    }
                    for p in rows
                ],
            }
            for department, rows in actions.procedures_for(incident, now)
        ],
        "back_entry": backentry_state(incident),
        "recoveries": [
            recovery_out(r) for r in incident.recoveries.select_related("system").prefetch_related("checks")
        ],
        "contact_log": [
            {
                "at": log.at,
                "contact": str(log.contact),
                "channel": log.channel,
                "summary": log.summary,
                "ticket": log.ticket,
            }
            for log in incident.contact_logs.select_related("contact")
        ],
    }


def backentry_state(incident: Incident) -> dict[str, Any]:
    return {
        "outstanding": actions.outstanding_backentry(incident),
        "departments": [
            {
                "department": row.department.code,
                "outstanding": row.outstanding,
                "entered": row.entered,
                "waived": row.waived,
            }
            for row in actions.backentry_checklist(incident)
        ],
        "records": [
            {
                "id": r.pk,
                "department": r.department.code,
                "kind": r.kind,
                "count": r.count,
                "occurred_at": r.occurred_at,
                "performed_by": r.performed_by,
                "temp_numbers": r.temp_numbers,
                "state": r.state,
                "entered_at": r.entered_at,
                "entered_by": r.entered_label,
                "entered_on_behalf_of": r.entered_on_behalf_of,
            }
            for r in incident.downtime_records.select_related("department")
        ],
    }


def review_state(incident: Incident) -> dict[str, Any]:
    review = actions.review_for(incident)
    return {
        "state": review.state if review.pk else None,
        "began_at": review.began_at,
        "summary": review.summary,
        "root_cause": review.root_cause,
        "contributing_factors": review.contributing_factors,
        "lessons": review.lessons,
        "finalized_at": review.finalized_at,
        "measures": [
            {"key": m.key, "label": str(m.label), "minutes": m.minutes, "target": m.target, "met": m.met}
            for m in actions.measures(incident)
        ],
        "follow_ups": [follow_up_out(a) for a in review.actions.select_related("owner")] if review.pk else [],
        "timeline": [
            {"at": e.at, "kind": e.kind, "actor": e.actor_label, "headline": headline(e), "text": e.text}
            for e in incident.timeline.all()
        ],
    }


def follow_up_out(action: FollowUpAction) -> dict[str, Any]:
    return {
        "id": action.pk,
        "description": action.description,
        "owner": action.owner.employee_no,
        "due_date": action.due_date,
        "state": action.state,
        "overdue": action.is_overdue,
        "done_note": action.done_note,
    }


# --- Input ---------------------------------------------------------------------------------


class AttachIn(Schema):
    playbook: str | None = None


class StepActionIn(Schema):
    action: str
    evidence: str = ""
    reason: str = ""


class AssignIn(Schema):
    role: str
    person: str
    department: str | None = None


class EmergencyIn(Schema):
    action: str
    signed_by: str = ""
    text: str = ""


class AssessmentIn(Schema):
    night: bool = False
    holiday: bool = False
    high_volume: bool = False
    key_staff_away: bool = False
    major_event: bool = False
    patients_affected: int | None = None
    notes: str = ""


class ResourceIn(Schema):
    kind: str
    description: str = ""
    quantity: int = 1


class ContactLogIn(Schema):
    contact: int
    channel: str
    summary: str = ""
    ticket: str = ""


class PaperIn(Schema):
    department: str
    kind: str
    count: int = 1
    occurred_at: datetime.datetime | None = None
    performed_by: str = ""
    temp_numbers: str = ""
    system: str | None = None
    description: str = ""


class EnteredIn(Schema):
    on_behalf_of: str = ""


class WaiveIn(Schema):
    reason: str = ""
    department: str | None = None


class RecoveryIn(Schema):
    backup_used: str = ""
    restore_point: datetime.datetime | None = None
    restored_at: datetime.datetime | None = None
    notes: str = ""


class CheckIn(Schema):
    done: bool = True
    result: str = ""


class AnnounceIn(Schema):
    text: str = ""


class EtaIn(Schema):
    eta: datetime.datetime | None = None
    note: str = ""


class ReviewIn(Schema):
    began_at: datetime.datetime | None = None
    summary: str = ""
    root_cause: str = ""
    contributing_factors: str = ""
    lessons: str = ""
    finalize: bool = False


class FollowUpIn(Schema):
    description: str = ""
    owner: str
    due_date: datetime.date | None = None


class FollowUpCloseIn(Schema):
    note: str = ""
    cancel: bool = False


class StepIn(Schema):
    title: str = ""
    title_en: str = ""
    owner_role: str = ""
    target_minutes: int | None = None
    instructions: str = ""
    instructions_en: str = ""
    evidence: str = ""
    evidence_en: str = ""
    contact_kind: str = ""


class PlaybookIn(Schema):
    hospital: str = ""
    code: str = ""
    name: str = ""
    name_en: str = ""
    description: str = ""
    description_en: str = ""
    match_categories: list[str] = []
    match_asset_kinds: list[str] = []
    match_classes: list[int] = []
    auto_attach: bool = True
    is_active: bool = True
    order: int = 100
    steps: list[StepIn] = []


class RangeIn(Schema):
    hospital: str
    department: str
    kind: str = "outpatient"
    prefix: str = ""
    first: int
    last: int
    note: str = ""


class ContactIn(Schema):
    hospital: str
    kind: str
    organisation: str = ""
    name: str = ""
    phone: str = ""
    phone_alt: str = ""
    email: str = ""
    systems: list[str] = []
    contract_no: str = ""
    contract_expires: datetime.date | None = None
    sla_response_minutes: int | None = None
    sla_onsite_hours: int | None = None
    sla_notes: str = ""
    notes: str = ""


# --- Incident endpoints --------------------------------------------------------------------


@router.get("/incidents/{int:incident_id}/response", summary="Everything about the incident's response")
def get_response(request: HttpRequest, incident_id: int):
    require(request, VIEW)
    return response_state(_incident(incident_id))


@router.get("/incidents/{int:incident_id}/playbook", summary="The playbook the incident follows")
def get_playbook(request: HttpRequest, incident_id: int):
    require(request, VIEW)
    return playbook_state(_incident(incident_id))


@router.post(
    "/incidents/{int:incident_id}/playbook", summary="Follow a playbook (by code, or the suggested one)"
)
def post_playbook(request: HttpRequest, incident_id: int, body: AttachIn):
    require(request, COMMAND)
    incident = _incident(incident_id)
    playbook = None
    if body.playbook:
        playbook = Playbook.objects.filter(hospital=incident.hospital, code=body.playbook).first()
        if playbook is None:
            raise NotFound(interpolate(_("No playbook is called %(code)s."), {"code": body.playbook}))
    actions.attach_playbook(incident, playbook)
    return playbook_state(incident)


@router.post(
    "/incidents/{int:incident_id}/playbook/steps/{int:step_id}", summary="Step done, not needed, or reopened"
)
def post_step(request: HttpRequest, incident_id: int, step_id: int, body: StepActionIn):
    require(request, WORK)
    run = get_object_or_404(StepRun, pk=step_id, incident_id=incident_id)
    if body.action == "done":
        actions.complete_step(run, evidence=body.evidence)
    elif body.action == "skip":
        actions.complete_step(run, evidence=body.reason or body.evidence, skip=True)
    elif body.action == "reopen":
        actions.reopen_step(run, reason=body.reason)
    else:
        raise DomainError(_("The action must be done, skip or reopen."))
    return step_out(StepRun.objects.get(pk=run.pk), timezone.now())


@router.post("/incidents/{int:incident_id}/team", summary="Give a person a crisis-team role")
def post_team(request: HttpRequest, incident_id: int, body: AssignIn):
    require(request, COMMAND)
    incident = _incident(incident_id)
    person = _person(incident.hospital, body.person)
    actions.assign_role(
        incident, body.role, person, department=_department(incident.hospital, body.department)
    )
    return response_state(incident)["team"]


@router.post("/incidents/{int:incident_id}/emergency", summary="Declare or end the emergency (leadership)")
def post_emergency(request: HttpRequest, incident_id: int, body: EmergencyIn):
    require(request, "response.declare_emergency")
    incident = _incident(incident_id)
    if body.action == "declare":
        actions.declare_emergency(incident, signed_by=body.signed_by, basis=body.text)
    elif body.action == "end":
        actions.end_emergency(incident, signed_by=body.signed_by, summary=body.text)
    else:
        raise DomainError(_("The action must be declare or end."))
    return response_state(incident)["emergency"]


@router.put("/incidents/{int:incident_id}/assessment", summary="Special conditions and patients affected")
def put_assessment(request: HttpRequest, incident_id: int, body: AssessmentIn):
    require(request, COMMAND)
    incident = _incident(incident_id)
    conditions = {name: getattr(body, name) for name in SPECIAL_CONDITIONS}
    actions.save_assessment(
        incident, conditions=conditions, patients_affected=body.patients_affected, notes=body.notes
    )
    return response_state(incident)["assessment"]


@router.post("/incidents/{int:incident_id}/resources", summary="A resource needed")
def post_resource(request: HttpRequest, incident_id: int, body: ResourceIn):
    require(request, COMMAND)
    incident = _incident(incident_id)
    need = actions.add_resource(
        incident, kind=body.kind, description=body.description, quantity=body.quantity
    )
    return {"id": need.pk}


@router.post(
    "/incidents/{int:incident_id}/contact-log", summary="A call or message to a vendor, ISP or regulator"
)
def post_contact_log(request: HttpRequest, incident_id: int, body: ContactLogIn):
    require(request, WORK)
    incident = _incident(incident_id)
    contact = Contact.objects.filter(pk=body.contact, hospital=incident.hospital).first()
    if contact is None:
        raise NotFound(_("No such contact."))
    entry = actions.log_contact(
        incident, contact, channel=body.channel, summary=body.summary, ticket=body.ticket
    )
    return {"id": entry.pk, "at": entry.at}


@router.post("/incidents/{int:incident_id}/paper-records", summary="Work done on paper, for back-entry")
def post_paper(request: HttpRequest, incident_id: int, body: PaperIn):
    require(request, WORK)
    incident = _incident(incident_id)
    department = _department(incident.hospital, body.department)
    assert department is not None
    if body.occurred_at is None:
        raise DomainError(_("Give the original time written on paper."))
    record = actions.record_paper_work(
        incident,
        department,
        kind=body.kind,
        count=body.count,
        occurred_at=body.occurred_at,
        performed_by=body.performed_by,
        temp_numbers=body.temp_numbers,
        system=_system(incident.hospital, body.system),
        description=body.description,
    )
    return {"id": record.pk}


@router.get("/incidents/{int:incident_id}/back-entry", summary="The back-entry checklist")
def get_backentry(request: HttpRequest, incident_id: int):
    require(request, VIEW)
    return backentry_state(_incident(incident_id))


@router.post(
    "/incidents/{int:incident_id}/back-entry/waive", summary="Waive the outstanding back-entry, with a reason"
)
def post_waive(request: HttpRequest, incident_id: int, body: WaiveIn):
    require(request, "response.waive_backentry")
    incident = _incident(incident_id)
    waiver = actions.waive_backentry(
        incident, reason=body.reason, department=_department(incident.hospital, body.department)
    )
    return {"id": waiver.pk, "count": waiver.count}


@router.post("/incidents/{int:incident_id}/back-entry/{int:record_id}", summary="A paper record is entered")
def post_entered(request: HttpRequest, incident_id: int, record_id: int, body: EnteredIn):
    require(request, WORK)
    record = get_object_or_404(DowntimeRecord, pk=record_id, incident_id=incident_id)
    actions.mark_entered(record, on_behalf_of=body.on_behalf_of)
    return backentry_state(record.incident)


def _recovery(incident: Incident, code: str) -> SystemRecovery:
    system = _system(incident.hospital, code)
    assert system is not None
    return actions.start_recovery(incident, system)


@router.post(
    "/incidents/{int:incident_id}/recovery/announce", summary="Tell the hospital the systems are restored"
)
def post_announce(request: HttpRequest, incident_id: int, body: AnnounceIn):
    user = require(request, WORK)
    incident = _incident(incident_id)
    count = actions.announce_restored(incident, body.text, user=user)
    return {"recipients": count}


@router.post("/incidents/{int:incident_id}/recovery/{code}", summary="Start or record a system's recovery")
def post_recovery(request: HttpRequest, incident_id: int, code: str, body: RecoveryIn):
    require(request, WORK)
    incident = _incident(incident_id)
    recovery = _recovery(incident, code)
    if body.backup_used or body.restore_point or body.restored_at or body.notes:
        recovery = actions.record_recovery(
            recovery,
            backup_used=body.backup_used,
            restore_point=body.restore_point,
            restored_at=body.restored_at,
            notes=body.notes,
        )
    return recovery_out(SystemRecovery.objects.select_related("system").get(pk=recovery.pk))


@router.post(
    "/incidents/{int:incident_id}/recovery/{code}/checks/{int:check_id}", summary="Tick a recovery check"
)
def post_check(request: HttpRequest, incident_id: int, code: str, check_id: int, body: CheckIn):
    require(request, WORK)
    check = get_object_or_404(
        RecoveryCheck, pk=check_id, recovery__incident_id=incident_id, recovery__system__code=code
    )
    actions.check_item(check, done=body.done, result=body.result)
    return recovery_out(SystemRecovery.objects.select_related("system").get(pk=check.recovery_id))


@router.post("/incidents/{int:incident_id}/recovery/{code}/verify", summary="Verify the system works again")
def post_verify(request: HttpRequest, incident_id: int, code: str):
    require(request, WORK)
    incident = _incident(incident_id)
    recovery = SystemRecovery.objects.filter(incident=incident, system__code=code).first()
    if recovery is None:
        raise NotFound(_("That system's recovery has not started."))
    actions.verify_recovery(recovery)
    return recovery_out(SystemRecovery.objects.select_related("system").get(pk=recovery.pk))


@router.put("/incidents/{int:incident_id}/eta", summary="Expected recovery time")
def put_eta(request: HttpRequest, incident_id: int, body: EtaIn):
    require(request, COMMAND)
    incident = actions.set_eta(_incident(incident_id), body.eta, note=body.note)
    return {"expected_recovery_at": incident.expected_recovery_at}


@router.get("/incidents/{int:incident_id}/review", summary="The post-incident review with its measures")
def get_review(request: HttpRequest, incident_id: int):
    require(request, VIEW)
    return review_state(_incident(incident_id))


@router.put("/incidents/{int:incident_id}/review", summary="Write (and finalise) the review")
def put_review(request: HttpRequest, incident_id: int, body: ReviewIn):
    require(request, "response.review_incident")
    incident = _incident(incident_id)
    with transaction.atomic():
        actions.save_review(
            incident,
            began_at=body.began_at,
            summary=body.summary,
            root_cause=body.root_cause,
            contributing_factors=body.contributing_factors,
            lessons=body.lessons,
        )
        if body.finalize:
            actions.finalize_review(incident)
    return review_state(incident)


@router.post(
    "/incidents/{int:incident_id}/review/follow-ups", summary="A follow-up action with owner and due date"
)
def post_follow_up(request: HttpRequest, incident_id: int, body: FollowUpIn):
    require(request, "response.review_incident")
    incident = _incident(incident_id)
    if body.due_date is None:
        raise DomainError(_("Give the date the action is due."))
    action = actions.add_follow_up(
        incident,
        description=body.description,
        owner=_person(incident.hospital, body.owner),
        due_date=body.due_date,
    )
    return follow_up_out(action)


@router.post("/follow-ups/{int:action_id}/close", summary="A follow-up action done or cancelled")
def post_follow_up_close(request: HttpRequest, action_id: int, body: FollowUpCloseIn):
    require(request, "response.review_incident")
    action = get_object_or_404(FollowUpAction, pk=action_id)
    return follow_up_out(actions.close_follow_up(action, note=body.note, cancel=body.cancel))


@router.get("/follow-ups", summary="Follow-up actions (open by default)")
def get_follow_ups(request: HttpRequest, state: str = "open"):
    require(request, "response.view_followupaction")
    query = FollowUpAction.objects.select_related("owner").order_by("due_date")
    if state in FollowUpAction.State.values:
        query = query.filter(state=state)
    return [follow_up_out(a) for a in query[:1000]]


@router.get("/command", summary="The command dashboard's data")
def get_command(request: HttpRequest):
    require(request, VIEW)
    overview = actions.command_overview()
    return {
        "counts": overview["counts"],
        "incidents": [
            {
                "id": b.incident.pk,
                "number": b.incident.number,
                "class": b.incident.hospital_class,
                "status": b.incident.status,
                "emergency": b.emergency is not None,
                "expected_recovery_at": b.incident.expected_recovery_at,
                "steps_done": b.steps_done,
                "steps_total": b.steps_total,
                "steps_overdue": len(b.overdue),
                "buildings": [
                    {
                        "building": x.building.code if x.building else None,
                        "departments": [d.code for d in x.departments],
                    }
                    for x in b.impact.buildings
                ],
                "back_entry_outstanding": b.backentry_outstanding,
            }
            for b in overview["boards"]
        ],
    }


# --- Plans ---------------------------------------------------------------------------------


def playbook_out(playbook: Playbook) -> dict[str, Any]:
    return {
        "id": playbook.pk,
        "hospital": playbook.hospital.code,
        "code": playbook.code,
        "name": playbook.name,
        "name_en": playbook.name_en,
        "description": playbook.description,
        "description_en": playbook.description_en,
        "match_categories": playbook.match_categories,
        "match_asset_kinds": playbook.match_asset_kinds,
        "match_classes": playbook.match_classes,
        "auto_attach": playbook.auto_attach,
        "is_active": playbook.is_active,
        "order": playbook.order,
        "steps": [
            {
                "title": s.title,
                "title_en": s.title_en,
                "owner_role": s.owner_role,
                "target_minutes": s.target_minutes,
                "instructions": s.instructions,
                "instructions_en": s.instructions_en,
                "evidence": s.evidence,
                "evidence_en": s.evidence_en,
                "contact_kind": s.contact_kind,
            }
            for s in playbook.steps.all()
        ],
    }


def _playbook_input(body: PlaybookIn) -> actions.PlaybookInput:
    return actions.PlaybookInput(
        code=body.code,
        name=body.name,
        name_en=body.name_en,
        description=body.description,
        description_en=body.description_en,
        match_categories=body.match_categories,
        match_asset_kinds=body.match_asset_kinds,
        match_classes=body.match_classes,
        auto_attach=body.auto_attach,
        is_active=body.is_active,
        order=body.order,
        steps=[actions.StepInput(**step.dict()) for step in body.steps],
    )


@router.get("/playbooks", summary="Playbooks")
def list_playbooks(request: HttpRequest, hospital: str | None = None):
    require(request, "response.view_playbook")
    query = Playbook.objects.select_related("hospital").prefetch_related("steps")
    if hospital:
        query = query.filter(hospital__code=hospital)
    return [playbook_out(p) for p in query]


@router.get("/playbooks/{int:playbook_id}", summary="One playbook with its steps")
def get_playbook_detail(request: HttpRequest, playbook_id: int):
    require(request, "response.view_playbook")
    return playbook_out(get_object_or_404(Playbook, pk=playbook_id))


@router.post("/playbooks", summary="Create a playbook with its steps")
def create_playbook(request: HttpRequest, body: PlaybookIn):
    require(request, "response.manage_plans")
    playbook = actions.save_playbook(_hospital(body.hospital), _playbook_input(body))
    return playbook_out(playbook)


@router.put("/playbooks/{int:playbook_id}", summary="Replace a playbook and its steps")
def update_playbook(request: HttpRequest, playbook_id: int, body: PlaybookIn):
    require(request, "response.manage_plans")
    playbook = get_object_or_404(Playbook, pk=playbook_id)
    return playbook_out(actions.save_playbook(playbook.hospital, _playbook_input(body), playbook=playbook))


def range_out(r: TempNumberRange) -> dict[str, Any]:
    return {
        "id": r.pk,
        "department": r.department.code,
        "kind": r.kind,
        "prefix": r.prefix,
        "first": r.first,
        "last": r.last,
        "note": r.note,
    }


@router.get("/temp-number-ranges", summary="Temporary number ranges")
def list_ranges(request: HttpRequest, hospital: str | None = None):
    require(request, "response.view_tempnumberrange")
    query = TempNumberRange.objects.select_related("department")
    if hospital:
        query = query.filter(hospital__code=hospital)
    return [range_out(r) for r in query]


@router.post("/temp-number-ranges", summary="Reserve a temporary number range")
def create_range(request: HttpRequest, body: RangeIn):
    require(request, "response.manage_plans")
    hospital = _hospital(body.hospital)
    department = _department(hospital, body.department)
    assert department is not None
    reserved = actions.reserve_range(
        hospital,
        department,
        kind=body.kind,
        first=body.first,
        last=body.last,
        prefix=body.prefix,
        note=body.note,
    )
    return range_out(reserved)


def contact_out(c: Contact) -> dict[str, Any]:
    return {
        "id": c.pk,
        "kind": c.kind,
        "organisation": c.organisation,
        "name": c.name,
        "phone": c.phone,
        "phone_alt": c.phone_alt,
        "email": c.email,
        "systems": [s.code for s in c.systems.all()],
        "contract_no": c.contract_no,
        "contract_expires": c.contract_expires,
        "sla_response_minutes": c.sla_response_minutes,
        "sla_onsite_hours": c.sla_onsite_hours,
    }


@router.get("/contacts", summary="Vendors, network operators, regulators")
def list_contacts(request: HttpRequest, hospital: str | None = None):
    require(request, "response.view_contact")
    query = Contact.objects.prefetch_related("systems")
    if hospital:
        query = query.filter(hospital__code=hospital)
    return [contact_out(c) for c in query]


@router.post("/contacts", summary="Add a contact")
def create_contact(request: HttpRequest, body: ContactIn):
    require(request, "response.manage_plans")
    hospital = _hospital(body.hospital)
    system_ids = []
    for code in body.systems:
        system = _system(hospital, code)
        assert system is not None
        system_ids.append(system.pk)
    contact = actions.save_contact(
        hospital,
        actions.ContactInput(
            kind=body.kind,
            organisation=body.organisation,
            name=body.name,
            phone=body.phone,
            phone_alt=body.phone_alt,
            email=body.email,
            contract_no=body.contract_no,
            contract_expires=body.contract_expires,
            sla_response_minutes=body.sla_response_minutes,
            sla_onsite_hours=body.sla_onsite_hours,
            sla_notes=body.sla_notes,
            notes=body.notes,
            system_ids=system_ids,
        ),
    )
    return contact_out(contact)


@router.get("/departments/{code}/procedures", summary="A department's manual procedures")
def department_procedures(request: HttpRequest, code: str, hospital: str | None = None):
    require(request, "response.view_downtimeprocedure")
    query = Department.objects.filter(code=code)
    if hospital:
        query = query.filter(hospital__code=hospital)
    department = query.first()
    if department is None:
        raise NotFound(interpolate(_("No department is called %(code)s."), {"code": code}))
    return [
        {
            "code": p.code,
            "title": pick(p.title, p.title_en),
            "system": p.system.code if p.system else None,
            "switch_after_minutes": p.switch_after_minutes,
            "switch_latest_minutes": p.switch_latest_minutes,
            "steps": p.step_lines(),
            "forms": [
                {"code": f.code, "name": f.tr("name"), "in_stock": s.quantity if s else None}
                for f, s in actions.form_stock_for(p)
            ],
        }
        for p in department.downtime_procedures.filter(is_active=True)
        .select_related("system")
        .prefetch_related("forms__stock")
    ]
