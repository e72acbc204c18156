"""Alerts: one pipeline for every source (checks, heartbeats, Alertmanager, Grafana, Zabbix,
generic JSON): deduplicate by fingerprint, map to an asset or system, silence planned work,
and turn firing alerts into incident evidence the way a person marking an asset down does.

`ingest` runs in the caller's transaction: a batch is stored whole or not at all.
"""

from __future__ import annotations

import contextlib
import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from hisguard.core import audit
from hisguard.core.errors import DomainError
from hisguard.incidents import actions, timeline
from hisguard.incidents.classification import CLASS_I_KINDS, CLASS_II_KINDS
from hisguard.incidents.models import OPEN_STATUSES, Incident, IncidentAsset, Status, TimelineEntry
from hisguard.monitoring.mapping import Mapper
from hisguard.monitoring.models import Alert, EarlyWarning, MaintenanceWindow, MappingRule
from hisguard.organisation.models import Asset, Hospital, InformationSystem, Person
from hisguard.organisation.topology import impact_of

Kind = TimelineEntry.Kind
FIRING, RESOLVED = Alert.Status.FIRING, Alert.Status.RESOLVED


@dataclass
class Notice:
    """One alert notice as a source sent it, normalised."""

    fingerprint: str
    status: str  # "firing" or "resolved"
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    severity: str = ""
    summary: str = ""
    starts_at: datetime.datetime | None = None
    ends_at: datetime.datetime | None = None
    generator_url: str = ""
    # Known targets (a check or heartbeat knows what it watches); labels are mapped otherwise.
    asset_id: int | None = None
    system_id: int | None = None
    active_check_id: int | None = None
    heartbeat_id: int | None = None


@dataclass
class IngestResult:
    accepted: int = 0
    created: int = 0
    duplicates: int = 0
    resolved: int = 0
    unmapped: int = 0
    silenced: int = 0
    incidents: set[int] = field(default_factory=set)

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "created": self.created,
            "duplicates": self.duplicates,
            "resolved": self.resolved,
            "unmapped": self.unmapped,
            "silenced": self.silenced,
            "incidents": sorted(self.incidents),
        }


# --- Maintenance windows ---------------------------------------------------------------------


class Silencer:
    """What active maintenance windows cover right now: their assets and everything that
    depends on them, their systems, or the whole hospital."""

    def __init__(self, hospital: Hospital, now: datetime.datetime) -> None:
        self.everything = False
        self.asset_ids: set[int] = set()
        self.system_ids: set[int] = set()
        windows = [
            w
            for w in MaintenanceWindow.objects.filter(hospital=hospital, starts_at__lte=now).prefetch_related(
                "assets", "systems"
            )
            if w.is_active(now)
        ]
        for window in windows:
            if window.whole_hospital:
                self.everything = True
            asset_ids = [a.pk for a in window.assets.all()]
            if asset_ids:
                impact = impact_of(asset_ids, hospital)
                self.asset_ids |= impact.asset_ids
                self.system_ids |= impact.system_ids
            self.system_ids |= {s.pk for s in window.systems.all()}
        self.active = bool(windows)

    def covers(self, asset_id: int | None, system_id: int | None) -> bool:
        if not self.active:
            return False
        if self.everything:
            return True
        if asset_id is None and system_id is None:
            return False
        return (asset_id is None or asset_id in self.asset_ids) and (
            system_id is None or system_id in self.system_ids
        )


# --- Ingest ----------------------------------------------------------------------------------


@transaction.atomic
def ingest(
    hospital: Hospital,
    source: str,
    notices: list[Notice],
    *,
    intake_source=None,
    now: datetime.datetime | None = None,
) -> IngestResult:
    now = now or timezone.now()
    result = IngestResult(accepted=len(notices))
    if not notices:
        return result
    fingerprints = {n.fingerprint for n in notices}
    # Repeats are the bulk of any storm: for them only the id is needed (no labels decoded).
    ids: dict[str, int] = dict(
        Alert.objects.filter(hospital=hospital, status=FIRING, fingerprint__in=fingerprints).values_list(
            "fingerprint", "id"
        )
    )
    resolving = [ids[n.fingerprint] for n in notices if n.status == RESOLVED and n.fingerprint in ids]
    firing: dict[str, Alert | int] = dict(ids)
    if resolving:
        firing.update({a.fingerprint: a for a in Alert.objects.filter(pk__in=resolving)})
    touched: dict[int, int] = defaultdict(int)
    evidence: list[Alert] = []
    mapper: Mapper | None = None
    silencer: Silencer | None = None
    for notice in notices:
        current = firing.get(notice.fingerprint)
        if notice.status == RESOLVED:
            if current is not None:
                if isinstance(current, int):  # created by this very batch as an id: load it
                    current = Alert.objects.get(pk=current)
                _resolve(current, notice, now, result)
                firing.pop(notice.fingerprint)
            elif not Alert.objects.filter(hospital=hospital, fingerprint=notice.fingerprint).exists():
                # Resolved before we heard it fire (HISGuard was down): keep the record.
                mapper = mapper or Mapper(hospital)
                _create(hospital, source, notice, intake_source, now, mapper, None, status=RESOLVED)
                result.created += 1
            else:
                result.duplicates += 1
            continue
        if current is not None:
            touched[current if isinstance(current, int) else current.pk] += 1
            result.duplicates += 1
            continue
        mapper = mapper or Mapper(hospital)
        silencer = silencer or Silencer(hospital, now)
        alert = _create(hospital, source, notice, intake_source, now, mapper, silencer, status=FIRING)
        if alert is None:  # another request created it a moment ago
            existing_id = Alert.objects.get(
                hospital=hospital, status=FIRING, fingerprint=notice.fingerprint
            ).pk
            firing[notice.fingerprint] = existing_id
            touched[existing_id] += 1
            result.duplicates += 1
            continue
        firing[notice.fingerprint] = alert
        result.created += 1
        if not alert.is_mapped:
            result.unmapped += 1
        elif alert.silenced:
            result.silenced += 1
        else:
            evidence.append(alert)
    # Root causes first (the core before what sits behind it), so a storm opens the incidents
    # the topology implies rather than one per symptom that happened to arrive first.
    reach = Reach(hospital) if evidence else None
    for alert in sorted(evidence, key=_root_first(evidence)) if evidence else []:
        if alert.status == FIRING:
            incident = raise_evidence(alert, now, reach)
            if incident is not None:
                result.incidents.add(incident.pk)
    by_count: dict[int, list[int]] = defaultdict(list)
    for pk, count in touched.items():
        by_count[count].append(pk)
    for count, alert_ids in by_count.items():
        Alert.objects.filter(pk__in=alert_ids).update(
            received_count=F("received_count") + count, last_received_at=now
        )
    return result


KIND_RANK: dict[str, int] = {str(kind): 0 for kind in CLASS_I_KINDS} | {
    str(kind): 1 for kind in CLASS_II_KINDS
}


def _root_first(alerts_: list[Alert]):
    kinds = dict(
        Asset.objects.filter(pk__in={a.asset_id for a in alerts_ if a.asset_id}).values_list("pk", "kind")
    )

    def key(alert: Alert) -> tuple[int, int]:
        if alert.asset_id is None:
            return (1, alert.pk)  # a system: after its infrastructure, before the leaves
        return (KIND_RANK.get(kinds.get(alert.asset_id, ""), 2), alert.pk)

    return key


def _create(
    hospital: Hospital,
    source: str,
    notice: Notice,
    intake_source,
    now: datetime.datetime,
    mapper: Mapper,
    silencer: Silencer | None,
    *,
    status: str,
) -> Alert | None:
    asset_id, system_id, how = notice.asset_id, notice.system_id, ""
    if asset_id or system_id:
        how = Alert.Mapping.SOURCE
    else:
        mapped = mapper.map(notice.labels)
        asset_id, system_id, how = mapped.asset_id, mapped.system_id, mapped.how
    alert = Alert(
        hospital=hospital,
        source=source,
        intake_source=intake_source,
        active_check_id=notice.active_check_id,
        heartbeat_id=notice.heartbeat_id,
        fingerprint=notice.fingerprint[:100],
        name=(notice.name or notice.fingerprint)[:200],
        severity=notice.severity[:32],
        summary=notice.summary[:4000],
        labels=notice.labels,
        annotations=notice.annotations,
        generator_url=notice.generator_url[:500],
        status=status,
        starts_at=notice.starts_at or now,
        ends_at=(notice.ends_at or now) if status == RESOLVED else None,
        first_received_at=now,
        last_received_at=now,
        asset_id=asset_id,
        system_id=system_id,
        mapping=how,
        silenced=bool(silencer and silencer.covers(asset_id, system_id)),
    )
    try:
        with transaction.atomic():
            alert.save(force_insert=True)
    except IntegrityError:
        return None
    return alert


def _resolve(alert: Alert, notice: Notice, now: datetime.datetime, result: IngestResult) -> None:
    alert.status = RESOLVED
    alert.ends_at = notice.ends_at if notice.ends_at and notice.ends_at > alert.starts_at else now
    alert.last_received_at = now
    alert.received_count += 1
    alert.save(update_fields=["status", "ends_at", "last_received_at", "received_count"])
    result.resolved += 1
    if alert.incident_id is not None:
        clear_evidence(alert, now)
        result.incidents.add(alert.incident_id)


# --- Evidence --------------------------------------------------------------------------------


def raise_evidence(alert: Alert, now: datetime.datetime, reach: Reach | None = None) -> Incident | None:
    """A firing, mapped alert is evidence: its asset is down (as `mark_asset_down`), its system
    is down (`mark_system_down`). It joins the incident the topology implies, or opens one."""
    incident: Incident | None = None
    note = alert.summary or alert.name
    with audit.acting_as(None, label=_actor_label(alert)):
        if alert.asset_id is not None:
            link = (
                IncidentAsset.objects.filter(
                    asset_id=alert.asset_id, is_down=True, incident__status__in=OPEN_STATUSES
                )
                .select_related("incident")
                .order_by("incident__hospital_class", "-incident__last_evidence_at")
                .first()
            )
            if link is not None:
                incident = link.incident
            else:
                asset = Asset.objects.select_related("hospital").get(pk=alert.asset_id)
                incident = actions.mark_asset_down(asset, note=note, now=now)
                absorb_explained(incident, asset, now, reach)
        if alert.system_id is not None:
            system_down = Alert.objects.filter(
                system_id=alert.system_id, status=FIRING, incident__status__in=OPEN_STATUSES
            ).exclude(pk=alert.pk)
            known = system_down.filter(incident=incident) if incident else system_down
            holder = known.select_related("incident").first()
            if holder is not None and holder.incident is not None:
                incident = incident or holder.incident
            else:
                system = InformationSystem.objects.select_related("hospital").get(pk=alert.system_id)
                incident = actions.mark_system_down(system, note=note, now=now, incident=incident)
        if incident is None:
            return None
        same_target: dict[str, Any] = {"asset_id": alert.asset_id, "system_id": alert.system_id}
        first_for_target = not Alert.objects.filter(incident=incident, status=FIRING, **same_target).exists()
        alert.incident = incident
        alert.save(update_fields=["incident"])
        if first_for_target:
            timeline.add(
                incident,
                Kind.ALERT,
                data={
                    "alert": alert.name,
                    "target": alert.target_label,
                    "source": alert.source,
                    "alert_id": alert.pk,
                },
                text=alert.summary[:1000],
                at=now,
            )
        elif incident.last_evidence_at < now:
            incident.last_evidence_at = now
            incident.save(update_fields=["last_evidence_at"])
    return incident


class Reach:
    """What each asset takes down (uplinks and dependencies), read once per batch."""

    def __init__(self, hospital: Hospital) -> None:
        self.dependents: dict[int, set[int]] = defaultdict(set)
        for asset_id, upstream_id in Asset.objects.filter(hospital=hospital).values_list("id", "upstream_id"):
            if upstream_id is not None:
                self.dependents[upstream_id].add(asset_id)
        for asset_id, needs_id in Asset.depends_on.through.objects.filter(
            from_asset__hospital=hospital
        ).values_list("from_asset_id", "to_asset_id"):
            self.dependents[needs_id].add(asset_id)

    def below(self, asset_id: int) -> set[int]:
        found: set[int] = set()
        frontier = [asset_id]
        while frontier:
            for child in self.dependents.get(frontier.pop(), ()):
                if child not in found and child != asset_id:
                    found.add(child)
                    frontier.append(child)
        return found


def absorb_explained(
    incident: Incident, asset: Asset, now: datetime.datetime, reach: Reach | None = None
) -> list[Incident]:
    """Incidents opened by alerts about things this asset takes down are the same fault: while
    nobody has touched them (still 'reported', no fault reports) their alerts and down assets
    join this incident and they are resolved as merged into it, with a note on both timelines."""
    impact = (reach or Reach(asset.hospital)).below(asset.pk)
    if not impact:
        return []
    candidates = (
        Incident.objects.filter(
            hospital=asset.hospital,
            status=Status.REPORTED,
            asset_links__is_down=True,
            asset_links__asset_id__in=impact,
        )
        .exclude(pk=incident.pk)
        .distinct()
    )
    absorbed = []
    for other in candidates:
        links = list(other.asset_links.filter(is_down=True))
        if other.reports.exists() or any(link.asset_id not in impact for link in links):
            continue
        with translation.override(settings.LANGUAGE_CODE):
            reason = gettext("Merged into %(number)s: %(asset)s being down explains it.") % {
                "number": incident.number,
                "asset": asset,
            }
        try:
            with transaction.atomic():
                actions.change_status(other, Status.RESOLVED, message=reason)
                for link in links:
                    IncidentAsset.objects.get_or_create(
                        incident=incident,
                        asset_id=link.asset_id,
                        defaults={"since": link.since, "is_down": True},
                    )
                other.asset_links.update(is_down=False)
                Alert.objects.filter(incident=other).update(incident=incident)
                with translation.override(settings.LANGUAGE_CODE):
                    note = gettext(
                        "%(number)s merged into this incident: %(asset)s being down explains it."
                    ) % {
                        "number": other.number,
                        "asset": asset,
                    }
                timeline.add(incident, Kind.NOTE, data={"merged": other.number}, text=note, at=now)
        except DomainError:
            continue  # another part refused to resolve it; it stays on its own
        absorbed.append(other)
    return absorbed


def clear_evidence(alert: Alert, now: datetime.datetime) -> None:
    """A resolved alert: its asset is up again (when no other alert holds it down) and the
    timeline says so, and says when every alert has cleared. Recovery stays a human call."""
    incident = alert.incident
    if incident is None or not incident.is_open:
        return
    still_firing = Alert.objects.filter(incident=incident, status=FIRING)
    target: dict[str, Any] = {"asset_id": alert.asset_id, "system_id": alert.system_id}
    same_target = still_firing.filter(**target).exists()
    with audit.acting_as(None, label=_actor_label(alert)):
        asset_id = alert.asset_id
        if (
            asset_id is not None
            and not still_firing.filter(asset_id=asset_id).exists()
            and IncidentAsset.objects.filter(incident=incident, asset_id=asset_id, is_down=True).exists()
        ):
            with contextlib.suppress(DomainError):  # a person marked it up already
                actions.mark_asset_up(incident, alert.asset, note=alert.name)  # type: ignore[arg-type]
        remaining = still_firing.count()
        if not same_target or remaining == 0:
            timeline.add(
                incident,
                Kind.ALERT_RESOLVED,
                data={
                    "alert": alert.name,
                    "target": alert.target_label,
                    "alert_id": alert.pk,
                    "remaining": remaining,
                    "all_clear": remaining == 0,
                },
                at=now,
            )


def _actor_label(alert: Alert) -> str:
    if alert.intake_source_id:
        return f"alert {alert.source}"
    return {"check": "checker", "heartbeat": "heartbeat"}.get(alert.source, alert.source)


def release_silenced(now: datetime.datetime | None = None) -> int:
    """Alerts still firing when their maintenance window ends become evidence then."""
    now = now or timezone.now()
    released = 0
    by_hospital: dict[int, list[Alert]] = defaultdict(list)
    for alert in Alert.objects.filter(status=FIRING, silenced=True).select_related("hospital"):
        by_hospital[alert.hospital_id].append(alert)
    for alerts in by_hospital.values():
        silencer = Silencer(alerts[0].hospital, now)
        for alert in alerts:
            if silencer.covers(alert.asset_id, alert.system_id):
                continue
            with transaction.atomic():
                alert.silenced = False
                alert.save(update_fields=["silenced"])
                raise_evidence(alert, now)
            released += 1
    return released


@transaction.atomic
def map_alert(
    alert: Alert,
    *,
    asset: Asset | None,
    system: InformationSystem | None,
    rule_label: str = "",
    user=None,
    now: datetime.datetime | None = None,
) -> Alert:
    """IT maps an unmapped alert by hand, optionally making a rule for the next ones."""
    now = now or timezone.now()
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if asset is None and system is None:
        raise DomainError(_("Choose an asset or a system."), code="target_required")
    alert.asset, alert.system, alert.mapping = asset, system, Alert.Mapping.MANUAL
    alert.dismissed = False
    alert.save(update_fields=["asset", "system", "mapping", "dismissed"])
    if rule_label:
        value = alert.labels.get(rule_label)
        if value is None:
            raise DomainError(_("The alert has no such label."), code="no_such_label")
        import re

        MappingRule.objects.create(
            hospital=alert.hospital,
            order=100,
            label=rule_label,
            pattern=re.escape(str(value)),
            asset_template=asset.hostname if asset else "",
            system_template=system.code if system else "",
            description=gettext("Made from alert %(name)s") % {"name": alert.name},
        )
    audit.record(
        "alert.map",
        alert,
        asset=asset.hostname if asset else "",
        system=system.code if system else "",
        rule=rule_label,
    )
    if alert.status == FIRING:
        alert.silenced = Silencer(alert.hospital, now).covers(alert.asset_id, alert.system_id)
        alert.save(update_fields=["silenced"])
        if not alert.silenced:
            raise_evidence(alert, now)
    return alert


@transaction.atomic
def dismiss_alert(alert: Alert) -> None:
    Alert.objects.filter(pk=alert.pk).update(dismissed=True)
    audit.record("alert.dismiss", alert)


# --- Early warnings (预警) ---------------------------------------------------------------------

WARNING_POSITIONS = [Person.Position.NETWORK_ADMIN, Person.Position.IT_HEAD]


def open_warning(
    hospital_id: int,
    kind: str,
    key: str,
    subject: str,
    *,
    detail: dict[str, Any] | None = None,
    active_check_id: int | None = None,
    heartbeat_id: int | None = None,
    now: datetime.datetime | None = None,
) -> EarlyWarning:
    """Open (or refresh) a warning and, when new, route it at low urgency to IT on duty."""
    now = now or timezone.now()
    existing = EarlyWarning.objects.filter(key=key, cleared_at__isnull=True).first()
    if existing is not None:
        existing.detail, existing.updated_at, existing.subject = detail or {}, now, subject[:200]
        existing.save(update_fields=["detail", "updated_at", "subject"])
        return existing
    warning = EarlyWarning.objects.create(
        hospital_id=hospital_id,
        kind=kind,
        key=key,
        subject=subject[:200],
        detail=detail or {},
        active_check_id=active_check_id,
        heartbeat_id=heartbeat_id,
        opened_at=now,
        updated_at=now,
    )
    _route_warning(warning)
    return warning


def clear_warning(key: str, now: datetime.datetime | None = None) -> int:
    return EarlyWarning.objects.filter(key=key, cleared_at__isnull=True).update(
        cleared_at=now or timezone.now()
    )


def warning_text(warning: EarlyWarning) -> str:
    detail = warning.detail or {}
    if warning.kind == EarlyWarning.Kind.CERT_EXPIRING:
        return gettext("The TLS certificate of %(subject)s expires on %(date)s (%(days)s days).") % {
            "subject": warning.subject,
            "date": detail.get("expires", "?"),
            "days": detail.get("days", "?"),
        }
    if warning.kind == EarlyWarning.Kind.HEARTBEAT_LATE:
        return gettext("%(subject)s has not called in since %(last)s.") % {
            "subject": warning.subject,
            "last": detail.get("last_ping") or gettext("it was set up"),
        }
    return gettext("%(subject)s answers slowly: %(latency)s ms (threshold %(threshold)s ms).") % {
        "subject": warning.subject,
        "latency": detail.get("latency_ms", "?"),
        "threshold": detail.get("threshold_ms", "?"),
    }


def _route_warning(warning: EarlyWarning) -> None:
    from hisguard.paging.actions import notify_position
    from hisguard.paging.models import Urgency

    with translation.override(settings.LANGUAGE_CODE):
        subject = gettext("Early warning: %(kind)s") % {"kind": warning.get_kind_display()}
        body = warning_text(warning)
    notify_position(
        warning.hospital,
        list(WARNING_POSITIONS),
        subject=subject,
        body=body,
        key=f"warning:{warning.pk}",
        urgency=Urgency.LOW,
    )
