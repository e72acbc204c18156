"""Incident command on other apps' pages, as template tags: the incident page's panel and the
manual procedures on the public status page."""

from __future__ import annotations

from django import template
from django.utils import timezone
from django.utils.translation import gettext

from hisguard.response import actions, forms
from hisguard.response.i18n import pick
from hisguard.response.models import (
    SPECIAL_CONDITIONS,
    Assessment,
    CrisisRole,
    IncidentPlaybook,
    Playbook,
    Review,
    StepRun,
)

register = template.Library()


@register.filter
def tr(obj, field: str) -> str:
    """{{ step|tr:"title" }}: the English text for an English reader when there is one."""
    if obj is None:
        return ""
    return pick(getattr(obj, field, "") or "", getattr(obj, f"{field}_en", "") or "")


@register.filter
def duration(minutes) -> str:
    """90 → '1 h 30 min' (in the reader's language)."""
    if minutes is None or minutes == "":
        return "—"
    minutes = int(minutes)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(gettext("%(n)s d") % {"n": days})
    if hours:
        parts.append(gettext("%(n)s h") % {"n": hours})
    if mins or not parts:
        parts.append(gettext("%(n)s min") % {"n": mins})
    return " ".join(parts)


@register.filter
def hours(value) -> str:
    return "—" if value is None or value == "" else gettext("%(n)s h") % {"n": value}


@register.inclusion_tag("response/_incident_panel.html", takes_context=True)
def incident_response(context, incident):
    now = timezone.now()
    hospital = incident.hospital
    attached = IncidentPlaybook.objects.filter(incident=incident).first()
    runs = list(incident.step_runs.select_related("done_by"))
    team = actions.current_team(incident)
    assessment = Assessment.objects.filter(incident=incident).first()
    suggested = actions.suggested_conditions(incident)
    if assessment is not None:
        assessment_initial = {name: getattr(assessment, name) for name in SPECIAL_CONDITIONS}
        assessment_initial.update(patients_affected=assessment.patients_affected, notes=assessment.notes)
    else:
        assessment_initial = dict(suggested)
    recoveries = list(incident.recoveries.select_related("system").prefetch_related("checks"))
    started = {r.system_id for r in recoveries}
    contacts = actions.contacts_for(incident)
    user = context.get("user")
    return {
        "incident": incident,
        "now": now,
        "perms": context.get("perms"),
        "csrf_token": context.get("csrf_token"),
        "emergency": actions.active_emergency(incident),
        "emergencies": list(incident.emergencies.all()),
        "team": [(CrisisRole(role).label, role, holders) for role, holders in team.items()],
        "assign_form": forms.AssignRoleForm(hospital=hospital),
        "assessment": assessment,
        "assessment_form": forms.AssessmentForm(initial=assessment_initial),
        "suggested": suggested,
        "impact": actions.impact(incident),
        "resources": incident.resource_needs.all(),
        "resource_form": forms.ResourceForm(),
        "attached": attached,
        "runs": runs,
        "overdue_count": sum(1 for r in runs if r.is_overdue(now)),
        "done_count": sum(1 for r in runs if r.state != StepRun.State.PENDING),
        "suggestion": actions.suggest_playbook(incident),
        "attach_form": forms.AttachPlaybookForm(hospital=hospital),
        "playbooks": Playbook.objects.filter(hospital=hospital, is_active=True),
        "role_holders": {role: ", ".join(a.person.name for a in holders) for role, holders in team.items()},
        "contacts": contacts,
        "contacts_by_kind": {
            kind: [c for c in contacts if c.kind == kind] for kind in {c.kind for c in contacts}
        },
        "contact_form": forms.ContactLogForm(hospital=hospital),
        "contact_logs": incident.contact_logs.select_related("contact"),
        "procedures": actions.procedures_for(incident, now),
        "backentry_outstanding": actions.outstanding_backentry(incident),
        "backentry_rows": actions.backentry_checklist(incident),
        "recoveries": recoveries,
        "unstarted_systems": [s for s in incident.systems.all() if s.pk not in started],
        "recovery_form": forms.RecoveryForm(),
        "announce_text": actions.default_restored_text(incident),
        "may_announce": user is not None and _may_announce(incident, user),
        "eta_form": forms.EtaForm(
            initial={
                "eta": timezone.localtime(incident.expected_recovery_at)
                if incident.expected_recovery_at
                else None
            }
        ),
        "review": Review.objects.filter(incident=incident).first(),
    }


def _may_announce(incident, user) -> bool:
    try:
        actions.check_may_announce(incident, user)
    except Exception:
        return False
    return bool(user.has_perm("response.work_response"))


@register.inclusion_tag("response/_status_procedures.html")
def incident_procedures(incident):
    """On the public status page: what each affected department does on paper meanwhile."""
    return {"incident": incident, "procedures": actions.procedures_for(incident), "now": timezone.now()}


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None
