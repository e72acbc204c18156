"""Domain actions on incidents, shared by pages, the API, the CLI and (later) the worker.

Each action runs in one transaction: the change, its timeline entry and its audit entry
commit together or not at all.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from hisguard.core import audit, sql
from hisguard.core.errors import DomainError, interpolate
from hisguard.core.sequences import next_in_sequence
from hisguard.incidents import gbt, signals, timeline
from hisguard.incidents.classification import classify
from hisguard.incidents.correlation import find_related_incident, link_evidence
from hisguard.incidents.evidence import gather, thresholds_for
from hisguard.incidents.models import (
    OPEN_STATUSES,
    Incident,
    IncidentAsset,
    MaintenanceLog,
    Status,
    TimelineEntry,
)
from hisguard.organisation.models import Asset, Hospital, InformationSystem
from hisguard.organisation.topology import impact_of

Kind = TimelineEntry.Kind

# Forward through the lifecycle, with the shortcuts a class III fix takes, and reopening.
TRANSITIONS: dict[str, set[str]] = {
    Status.REPORTED: {Status.CONFIRMED, Status.RESPONDING, Status.RESOLVED},
    Status.CONFIRMED: {Status.RESPONDING, Status.RECOVERING, Status.RESOLVED},
    Status.RESPONDING: {Status.RECOVERING, Status.RESOLVED},
    Status.RECOVERING: {Status.RESPONDING, Status.RESOLVED},
    Status.RESOLVED: {Status.CLOSED, Status.RESPONDING},
    Status.CLOSED: set(),
}


def lock_hospital(hospital: Hospital) -> None:
    """Serialise correlation per hospital, so two simultaneous reports cannot each open an
    incident for what is one fault. SQLite needs no statement for it: its IMMEDIATE
    transactions hold the database's write lock from the start."""
    if connection.features.has_select_for_update:
        Hospital.objects.select_for_update().filter(pk=hospital.pk).values_list("pk", flat=True).first()


def _local_day(now: datetime.datetime) -> datetime.date:
    return timezone.localtime(now).date()


def _new_incident(
    hospital: Hospital, title: str, now: datetime.datetime, *, is_drill: bool = False
) -> Incident:
    day = _local_day(now)
    number = f"INC-{day:%Y%m%d}-{next_in_sequence('incident', day):03d}"
    incident = Incident.objects.create(
        hospital=hospital,
        number=number,
        title=title[:200],
        opened_at=now,
        last_evidence_at=now,
        is_drill=is_drill,
    )
    timeline.add(incident, Kind.OPENED, data={"level": incident.hospital_class}, at=now)
    # Its first class is announced once, after the evidence that opened it is classified.
    incident.just_opened = True  # type: ignore[attr-defined]
    return incident


def report_title(report) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        where = report.workstation.hostname if report.workstation else (report.department or "")
        system = f"{report.system.code} " if report.system else ""
        return f"{where} {system}{report.get_symptom_display()}".strip()


def attach_report(report, *, now: datetime.datetime | None = None) -> Incident:
    """Join the report to its related open incident or open a new one, then reclassify.

    A new report may come unsaved: it is then stored already attached (one write, not two)."""
    now = now or report.created_at
    lock_hospital(report.hospital)
    match = find_related_incident(report, now)
    if match is None:
        incident, linked = _new_incident(report.hospital, report_title(report), now), frozenset[str]()
    else:
        incident, linked = match.incident, match.linked
        incident.hospital = report.hospital  # the same row, already loaded with its policy
    new_system = _link_report(incident, report, now, linked)
    reclassify_from_evidence(incident, now, systems_changed=new_system)
    _announce_if_new(incident, now)
    return incident


def _announce_if_new(incident: Incident, now: datetime.datetime) -> None:
    """A new incident starts the escalation of its class (after its first classification)."""
    if getattr(incident, "just_opened", False):
        incident.just_opened = False  # type: ignore[attr-defined]
        signals.incident_class_raised.send(
            sender=Incident, incident=incident, old_class=None, new_class=incident.hospital_class, now=now
        )


def _link_report(
    incident: Incident, report, now: datetime.datetime, linked: frozenset[str] = frozenset()
) -> bool:
    """Store the report in its incident; whether the incident gained a system by it."""
    report.incident = incident
    if report.pk is None:
        # A new report: one prepared INSERT (it runs under the correlation lock for every
        # report) and one audit entry, with the values its save would have recorded.
        sql.insert(report)
        audit.record(
            "report.submit",
            report,
            incident=incident.number,
            channel=report.channel,
            values=audit.snapshot(report),
        )
    else:
        report.save(update_fields=["incident"])
    new_system = link_evidence(incident, report, now, linked)
    where = report.workstation.hostname if report.workstation else str(report.department or "")
    timeline.add(
        incident,
        Kind.REPORT,
        data={
            "tracking": report.tracking_number,
            "where": where,
            "symptom": report.symptom,
            "report": report.pk,
        },
        text=report.text,
        at=now,
    )
    return new_system


def reclassify_from_evidence(
    incident: Incident,
    now: datetime.datetime,
    *,
    down_system_ids: tuple[int, ...] = (),
    systems_changed: bool = True,
) -> None:
    """Raise the class when the evidence calls for it. Evidence never lowers a class.

    A class I incident with its basis recorded cannot rise further, so new evidence for it
    is not gathered; its grade is recomputed only when its systems may have changed."""
    if incident.hospital_class == 1 and incident.class_reasons:
        if systems_changed or down_system_ids:
            _refresh_grade(incident, now)
        return
    thresholds = thresholds_for(incident.hospital)
    result = classify(gather(incident, thresholds, now, down_system_ids), thresholds, now)
    if result.level < incident.hospital_class:
        old = incident.hospital_class
        incident.hospital_class = result.level
        incident.class_reasons = [r.as_json() for r in result.reasons if r.level == result.level]
        incident.save(update_fields=["hospital_class", "class_reasons"])
        timeline.add(
            incident,
            Kind.CLASS,
            data={"old": old, "new": result.level, "reasons": incident.class_reasons},
            at=now,
        )
        audit.record("incident.classify", incident, old=old, new=result.level, basis="evidence")
        if not getattr(incident, "just_opened", False):
            signals.incident_class_raised.send(
                sender=Incident, incident=incident, old_class=old, new_class=result.level, now=now
            )
    elif not incident.class_reasons:
        incident.class_reasons = [r.as_json() for r in result.reasons if r.level == result.level]
        incident.save(update_fields=["class_reasons"])
    elif not systems_changed and not down_system_ids:
        return  # neither the class nor the systems changed: the grade stands
    _refresh_grade(incident, now)


def _refresh_grade(incident: Incident, now: datetime.datetime) -> None:
    importance = gbt.highest_importance(list(incident.systems.values_list("criticality", flat=True)))
    loss = incident.loss if incident.loss_set_manually else gbt.DEFAULT_LOSS_BY_CLASS[incident.hospital_class]
    grade = gbt.grade(importance, loss)
    if (importance, loss, grade) != (incident.system_importance, incident.loss, incident.gbt_grade):
        incident.system_importance, incident.loss, incident.gbt_grade = importance, loss, grade
        incident.save(update_fields=["system_importance", "loss", "gbt_grade"])


# --- Actions people take ------------------------------------------------------------------


@transaction.atomic
def mark_asset_down(asset: Asset, *, note: str = "", now: datetime.datetime | None = None) -> Incident:
    """IT (later: a check or alert) declares an asset down; its impact joins or opens an incident."""
    now = now or timezone.now()
    lock_hospital(asset.hospital)
    impact = impact_of([asset.pk], asset.hospital)
    existing = _incident_for_down_asset(asset, impact)
    with translation.override(settings.LANGUAGE_CODE):
        title = gettext("%(asset)s down") % {"asset": asset}
    incident = existing or _new_incident(asset.hospital, title, now)
    link, created = IncidentAsset.objects.get_or_create(
        incident=incident, asset=asset, defaults={"since": now, "is_down": True}
    )
    if not created and not link.is_down:
        link.is_down, link.since = True, now
        link.save(update_fields=["is_down", "since"])
    incident.systems.add(*impact.system_ids)
    incident.areas.add(*impact.area_ids)
    incident.departments.add(*impact.department_ids)
    incident.last_evidence_at = max(incident.last_evidence_at, now)
    incident.save(update_fields=["last_evidence_at"])
    timeline.add(
        incident, Kind.ASSET_DOWN, data={"asset": str(asset), "asset_id": asset.pk}, text=note, at=now
    )
    audit.record("asset.down", asset, incident=incident.number, note=note)
    reclassify_from_evidence(incident, now)
    _announce_if_new(incident, now)
    return incident


def _needed_by(asset: Asset) -> set[int]:
    """What the asset needs to work: its uplinks and (transitively) what it depends on."""
    upstream = dict(Asset.objects.filter(hospital=asset.hospital).values_list("id", "upstream_id"))
    needs: dict[int, set[int]] = {}
    for from_id, to_id in Asset.depends_on.through.objects.filter(
        from_asset__hospital=asset.hospital
    ).values_list("from_asset_id", "to_asset_id"):
        needs.setdefault(from_id, set()).add(to_id)
    found: set[int] = set()
    frontier = [asset.pk]
    while frontier:
        node = frontier.pop()
        parents = needs.get(node, set()) | ({upstream[node]} if upstream.get(node) else set())
        for parent in parents:
            if parent not in found and parent != asset.pk:
                found.add(parent)
                frontier.append(parent)
    return found


def _incident_for_down_asset(asset: Asset, impact) -> Incident | None:
    """The open incident a down asset belongs to: one it is already part of; else one with a
    down asset that this one takes down or needs (the topology explains both as one fault);
    else one about a system it takes down."""
    open_incidents = Incident.objects.filter(hospital=asset.hospital, status__in=OPEN_STATUSES)
    existing = open_incidents.filter(asset_links__asset=asset).order_by("hospital_class").first()
    if existing is not None:
        return existing
    related = (set(impact.asset_ids) | _needed_by(asset)) - {asset.pk}
    existing = (
        open_incidents.filter(asset_links__is_down=True, asset_links__asset_id__in=related)
        .order_by("hospital_class", "-last_evidence_at")
        .first()
    )
    if existing is not None:
        return existing
    related_systems = InformationSystem.objects.filter(pk__in=impact.system_ids)
    return (
        open_incidents.filter(systems__in=related_systems)
        .order_by("hospital_class", "-last_evidence_at")
        .first()
    )


@transaction.atomic
def mark_system_down(
    system: InformationSystem,
    *,
    note: str = "",
    now: datetime.datetime | None = None,
    incident: Incident | None = None,
) -> Incident:
    """A system is down (an alert says so): it joins the open incident that already has it, or
    opens one; the departments using it are affected; a critical system makes it class I."""
    now = now or timezone.now()
    lock_hospital(system.hospital)
    if incident is None:
        incident = (
            Incident.objects.filter(hospital=system.hospital, status__in=OPEN_STATUSES, systems=system)
            .order_by("hospital_class", "-last_evidence_at")
            .first()
        )
    if incident is None:
        with translation.override(settings.LANGUAGE_CODE):
            title = gettext("%(system)s down") % {"system": system}
        incident = _new_incident(system.hospital, title, now)
    incident.systems.add(system)
    incident.departments.add(*system.departments.values_list("pk", flat=True))
    incident.areas.add(*system.departments.exclude(area__isnull=True).values_list("area_id", flat=True))
    incident.last_evidence_at = max(incident.last_evidence_at, now)
    incident.save(update_fields=["last_evidence_at"])
    audit.record("system.down", system, incident=incident.number, note=note)
    reclassify_from_evidence(incident, now, down_system_ids=(system.pk,))
    _announce_if_new(incident, now)
    return incident


@transaction.atomic
def mark_asset_up(incident: Incident, asset: Asset, *, note: str = "") -> None:
    updated = IncidentAsset.objects.filter(incident=incident, asset=asset, is_down=True).update(is_down=False)
    if not updated:
        raise DomainError(_("That asset is not marked down in this incident."))
    timeline.add(incident, Kind.ASSET_UP, data={"asset": str(asset), "asset_id": asset.pk}, text=note)
    audit.record("asset.up", asset, incident=incident.number, note=note)


def _check_may_command(incident: Incident, user) -> None:
    """Class I/II recovery is declared by the IT head or leadership (处理原则)."""
    if incident.hospital_class <= 2 and user is not None and not user.has_perm("incidents.command_incident"):
        raise DomainError(
            _("Only the IT head or hospital leadership may resolve or close a class I or II incident."),
            code="forbidden",
            status=403,
        )


@transaction.atomic
def change_status(incident: Incident, new_status: str, *, user=None, message: str = "") -> Incident:
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    old = incident.status
    if new_status not in Status.values:
        raise DomainError(_("Unknown status."))
    if new_status == old:
        raise DomainError(_("The incident is already in that status."), code="conflict", status=409)
    if new_status not in TRANSITIONS[old]:
        raise DomainError(
            interpolate(
                _("An incident cannot go from %(old)s to %(new)s."),
                {"old": Status(old).label, "new": Status(new_status).label},
            ),
            code="conflict",
            status=409,
        )
    if new_status in (Status.RESOLVED, Status.CLOSED):
        _check_may_command(incident, user)
    if (
        new_status == Status.CLOSED
        and incident.hospital_class == 3
        and not incident.maintenance_logs.exists()
    ):
        raise DomainError(
            _("A class III incident is closed only after a maintenance-log entry says what was done."),
            code="maintenance_log_required",
            status=409,
        )
    if new_status in (Status.RESOLVED, Status.CLOSED):
        signals.incident_closing.send(sender=Incident, incident=incident, new_status=new_status, user=user)
    now = timezone.now()
    incident.status = new_status
    stamp = {
        Status.CONFIRMED: "confirmed_at",
        Status.RESOLVED: "resolved_at",
        Status.CLOSED: "closed_at",
    }.get(Status(new_status))
    fields = ["status"]
    if stamp:
        setattr(incident, stamp, now)
        fields.append(stamp)
    if new_status == Status.RESPONDING and old == Status.RESOLVED:
        incident.resolved_at = None
        fields.append("resolved_at")
    incident.save(update_fields=fields)
    # Reporters are told when IT confirms and when it is fixed (报告程序: 及时反馈).
    public = new_status in (Status.CONFIRMED, Status.RESOLVED)
    timeline.add(
        incident, Kind.STATUS, data={"old": old, "new": new_status}, text=message, public=public, at=now
    )
    audit.record("incident.status", incident, old=old, new=new_status, message=message)
    signals.incident_status_changed.send(
        sender=Incident,
        incident=incident,
        old_status=old,
        new_status=new_status,
        user=user,
        message=message,
        now=now,
    )
    return incident


def confirm(incident: Incident, *, user=None, message: str = "") -> Incident:
    return change_status(incident, Status.CONFIRMED, user=user, message=message)


@transaction.atomic
def set_class(incident: Incident, level: int, *, reason: str, user=None) -> Incident:
    """A person sets the class, up or down; the reason is kept (only people may lower it)."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if level not in (1, 2, 3):
        raise DomainError(_("The class must be 1, 2 or 3."))
    if not reason.strip():
        raise DomainError(_("Give a reason for changing the class."), code="reason_required")
    if level == incident.hospital_class:
        raise DomainError(_("The incident already has that class."), code="conflict", status=409)
    old = incident.hospital_class
    incident.hospital_class = level
    actor = audit.current_actor().label
    incident.class_reasons = [
        {"level": level, "code": "manual", "params": {"actor": actor, "reason": reason}}
    ]
    incident.save(update_fields=["hospital_class", "class_reasons"])
    timeline.add(incident, Kind.CLASS, data={"old": old, "new": level}, text=reason)
    audit.record("incident.classify", incident, old=old, new=level, basis="manual", reason=reason)
    now = timezone.now()
    _refresh_grade(incident, now)
    if level < old:
        signals.incident_class_raised.send(
            sender=Incident, incident=incident, old_class=old, new_class=level, now=now
        )
    return incident


@transaction.atomic
def set_assessment(incident: Incident, *, category: str, loss: str, reason: str = "") -> Incident:
    """Record the GB/T 20986 category and the assessed loss; the grade follows the table."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if category not in gbt.Category.values or loss not in gbt.Loss.values:
        raise DomainError(_("Unknown GB/T 20986 category or loss level."))
    incident.gbt_category, incident.loss, incident.loss_set_manually = category, loss, True
    incident.save(update_fields=["gbt_category", "loss", "loss_set_manually"])
    _refresh_grade(incident, timezone.now())
    timeline.add(
        incident,
        Kind.GRADE,
        data={"category": category, "loss": loss, "grade": incident.gbt_grade},
        text=reason,
    )
    audit.record("incident.assess", incident, category=category, loss=loss, grade=incident.gbt_grade)
    return incident


@transaction.atomic
def add_note(incident: Incident, text: str, *, public: bool = False) -> TimelineEntry:
    """A note for IT, or (public) a feedback message every reporter of the incident sees."""
    text = text.strip()
    if not text:
        raise DomainError(_("The message is empty."))
    if len(text) > 4000:
        raise DomainError(_("The message is longer than 4000 characters."))
    entry = timeline.add(incident, Kind.FEEDBACK if public else Kind.NOTE, text=text, public=public)
    audit.record("incident.feedback" if public else "incident.note", incident, text=text)
    if public:
        signals.incident_feedback.send(sender=Incident, incident=incident, message=text, now=entry.at)
    return entry


@transaction.atomic
def record_maintenance(
    incident: Incident | None, asset: Asset, *, user, fault: str, action: str, result: str = ""
) -> MaintenanceLog:
    if not fault.strip() or not action.strip():
        raise DomainError(_("Say what the fault was and what was done."))
    entry = MaintenanceLog.objects.create(
        hospital=asset.hospital,
        asset=asset,
        incident=incident,
        performed_by=user if user is not None and user.is_authenticated else None,
        performed_at=timezone.now(),
        fault=fault.strip()[:500],
        action=action.strip()[:2000],
        result=result.strip()[:500],
    )
    if incident is not None:
        timeline.add(incident, Kind.MAINTENANCE, data={"asset": str(asset), "action": entry.action[:200]})
    return entry


@transaction.atomic
def detach_report(report) -> None:
    incident = report.incident
    if incident is None:
        raise DomainError(_("The report is not attached to an incident."))
    report.incident = None
    report.save(update_fields=["incident"])
    timeline.add(
        incident, Kind.REPORT_DETACHED, data={"tracking": report.tracking_number, "report": report.pk}
    )


@transaction.atomic
def attach_report_to(report, incident: Incident) -> None:
    if not incident.is_open:
        raise DomainError(_("Reports can only join an open incident."), code="conflict", status=409)
    if report.incident_id == incident.pk:
        raise DomainError(_("The report is already part of this incident."), code="conflict", status=409)
    previous = report.incident
    if previous is not None:
        timeline.add(
            previous, Kind.REPORT_DETACHED, data={"tracking": report.tracking_number, "report": report.pk}
        )
    now = timezone.now()
    _link_report(incident, report, now)
    reclassify_from_evidence(incident, now)


@transaction.atomic
def open_incident_for(report) -> Incident:
    """Give an unattached report an incident of its own."""
    if report.incident_id is not None:
        raise DomainError(_("The report is already part of an incident."), code="conflict", status=409)
    now = timezone.now()
    incident = _new_incident(report.hospital, report_title(report), now)
    _link_report(incident, report, now)
    reclassify_from_evidence(incident, now)
    _announce_if_new(incident, now)
    return incident
