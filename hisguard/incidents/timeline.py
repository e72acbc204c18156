"""Writing and reading the incident timeline."""

from __future__ import annotations

import contextlib
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hisguard.core import sql
from hisguard.core.audit import current_actor
from hisguard.incidents.classification import describe
from hisguard.incidents.models import Incident, TimelineEntry

Kind = TimelineEntry.Kind

TEMPLATES = {
    Kind.OPENED: _("Incident opened as class %(level)s"),
    Kind.REPORT: _("Report %(tracking)s from %(where)s: %(symptom)s"),
    Kind.REPORT_DETACHED: _("Report %(tracking)s detached"),
    Kind.ASSET_DOWN: _("%(asset)s marked down"),
    Kind.ASSET_UP: _("%(asset)s marked up again"),
    Kind.CLASS: _("Class %(old)s → %(new)s"),
    Kind.GRADE: _("GB/T 20986: %(category)s, %(loss)s → grade %(grade)s"),
    Kind.STATUS: _("Status %(old)s → %(new)s"),
    Kind.NOTE: _("Note"),
    Kind.FEEDBACK: _("Message to reporters"),
    Kind.MAINTENANCE: _("Maintenance on %(asset)s: %(action)s"),
    Kind.ALERT: _("Alert %(alert)s firing: %(target)s"),
    Kind.ALERT_RESOLVED: _("Alert %(alert)s resolved: %(target)s"),
}
# Kinds written for many events (incident command, hisguard.response): one template per
# data["event"]; an unknown event shows the kind's label.
EVENT_TEMPLATES: dict[str, dict[str, Any]] = {
    Kind.EMERGENCY: {
        "declared": _("Emergency plan activated, signed off by %(signed_by)s"),
        "ended": _("Emergency ended, signed off by %(signed_by)s"),
    },
    Kind.TASK: {
        "playbook": _("Playbook “%(playbook)s” attached (%(steps)s steps)"),
        "playbook_auto": _("Playbook “%(playbook)s” attached by the incident's category (%(steps)s steps)"),
        "step_done": _("Step done: %(step)s"),
        "step_done_late": _("Step done %(late)s min late: %(step)s"),
        "step_skipped": _("Step not needed: %(step)s"),
        "step_reopened": _("Step reopened: %(step)s"),
        "step_overdue": _("Step overdue (due %(due)s): %(step)s"),
        "role_commander": _("Commander: %(person)s"),
        "role_technical_lead": _("Technical lead: %(person)s"),
        "role_communications": _("Communications: %(person)s"),
        "role_scribe": _("Scribe: %(person)s"),
        "role_liaison": _("Department liaison: %(person)s"),
        "role_relieved": _("%(person)s relieved of a crisis-team role"),
        "assessment": _("Assessment: %(count)s special conditions, patients affected %(patients)s"),
        "resource": _("Resource needed: %(what)s ×%(quantity)s"),
        "resource_arranged": _("Resource arranged: %(what)s"),
        "contact_call": _("Phoned %(contact)s (ticket %(ticket)s)"),
        "contact_message": _("Messaged %(contact)s (ticket %(ticket)s)"),
        "contact_visit": _("%(contact)s on site (ticket %(ticket)s)"),
        "paper": _("%(department)s worked on paper: %(count)s records to enter later"),
        "back_entered": _(
            "Back-entry: %(count)s records of %(department)s from %(original)s, for %(on_behalf_of)s"
        ),
        "back_entry_waived": _("Back-entry waived for %(count)s records"),
        "review_started": _("Post-incident review started"),
        "review_final": _("Post-incident review finalised"),
        "follow_up": _("Follow-up action for %(owner)s, due %(due)s"),
        "follow_up_done": _("Follow-up action done: %(action)s"),
        "follow_up_cancelled": _("Follow-up action cancelled: %(action)s"),
    },
    Kind.RECOVERY: {
        "started": _("Recovery of %(system)s started"),
        "recorded": _("Recovery of %(system)s: backup %(backup)s, data lost %(loss)s min (RPO %(rpo)s min)"),
        "check_done": _("%(system)s check done: %(check)s"),
        "check_undone": _("%(system)s check undone: %(check)s"),
        "verified": _("%(system)s verified working: down %(down)s min (RTO %(rto)s min)"),
        "announced": _("“System restored” notice sent to the hospital (%(count)s recipients)"),
        "eta": _("Expected recovery: %(eta)s"),
        "eta_cleared": _("Expected recovery being assessed again"),
    },
}

# The last alert of an incident clearing says so; recovery is still declared by people.
ALL_ALERTS_CLEARED = _(
    "Alert %(alert)s resolved: %(target)s. All alerts of this incident have cleared; "
    "declare recovery once the service is confirmed."
)


def add(
    incident: Incident,
    kind: str,
    *,
    data: dict[str, Any] | None = None,
    text: str = "",
    public: bool = False,
    at=None,
) -> TimelineEntry:
    actor = current_actor()
    entry = TimelineEntry(
        incident=incident,
        at=at or timezone.now(),
        actor=actor.user,
        actor_label=actor.label,
        kind=kind,
        data=data or {},
        text=text,
        public=public,
    )
    return sql.insert(entry)  # type: ignore[return-value]


def headline(entry: TimelineEntry) -> str:
    """The entry in the reader's language; the stored data holds values, not sentences."""
    template = TEMPLATES.get(entry.kind)  # type: ignore[call-overload]
    if entry.kind == Kind.ALERT_RESOLVED and entry.data.get("all_clear"):
        template = ALL_ALERTS_CLEARED
    if entry.kind in EVENT_TEMPLATES:
        template = EVENT_TEMPLATES[entry.kind].get(entry.data.get("event", ""))
    data = dict(entry.data)
    for key, value in list(data.items()):
        if isinstance(value, dict) and "code" in value:
            data[key] = describe(value)
    text = str(template) if template is not None else str(Kind(entry.kind).label)
    with contextlib.suppress(KeyError, TypeError, ValueError):
        text = text % _display_values(entry.kind, data)
    reasons = [describe(reason) for reason in data.get("reasons", [])]
    if reasons:
        text += " (" + "; ".join(reasons) + ")"
    return text


def _display_values(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    from hisguard.incidents.models import Status
    from hisguard.reporting.models import Symptom

    from . import gbt

    roman = {1: "I", 2: "II", 3: "III"}
    values = dict(data)
    if kind in (Kind.CLASS, Kind.OPENED):
        for key in ("old", "new", "level"):
            if key in values:
                values[key] = roman.get(values[key], values[key])
    if kind == Kind.STATUS:
        for key in ("old", "new"):
            if key in values:
                values[key] = Status(values[key]).label
    if kind == Kind.REPORT and "symptom" in values:
        values["symptom"] = Symptom(values["symptom"]).label
    if kind == Kind.GRADE:
        values["category"] = gbt.Category(values["category"]).label
        values["loss"] = gbt.Loss(values["loss"]).label
        values["grade"] = {1: "I", 2: "II", 3: "III", 4: "IV"}.get(values["grade"], values["grade"])
    return values
