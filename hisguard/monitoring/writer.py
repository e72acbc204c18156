"""The checker's database side: load the checks, write samples and state changes in batches,
turn state changes into alerts and early warnings, and the periodic housekeeping (heartbeats,
maintenance windows ending, retention, the node registry that shards checks).

Everything here is synchronous Django code; the checker runs it in one dedicated thread.
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from hisguard.core import audit
from hisguard.monitoring import alerts
from hisguard.monitoring.alerts import Notice, clear_warning, open_warning
from hisguard.monitoring.checker import DOWN, UP, Event, SampleRow, Shard, Tracker
from hisguard.monitoring.models import (
    ActiveCheck,
    AlertSource,
    CheckerNode,
    CheckState,
    EarlyWarning,
    Heartbeat,
    Sample,
    StateChange,
)
from hisguard.monitoring.probes import Spec

log = logging.getLogger("hisguard.checker")


def load_specs(shard: Shard) -> tuple[list[Spec], dict[int, Tracker]]:
    checks = [c for c in ActiveCheck.objects.filter(enabled=True).order_by("pk") if shard.owns(c.pk)]
    states = {
        s.active_check_id: Tracker(state=s.state, degraded=s.degraded)
        for s in CheckState.objects.filter(active_check_id__in=[c.pk for c in checks])
    }
    return [Spec.from_check(c) for c in checks], states


def write_samples(samples: list[SampleRow]) -> int:
    """Insert samples without building model instances: this is the checker's hot path."""
    if not samples:
        return 0
    adapt = connection.ops.adapt_datetimefield_value
    qn = connection.ops.quote_name
    sql = (
        f"INSERT INTO {qn(Sample._meta.db_table)} (active_check_id, at, ok, latency_ms) "  # noqa: S608 - our table
        "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
    )
    rows = [(s.check_id, adapt(s.at), s.ok, s.latency_ms) for s in samples]
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(rows), 5000):
            cursor.executemany(sql, rows[start : start + 5000])
    return len(samples)


def check_notice(check: ActiveCheck, event: Event) -> Notice:
    return Notice(
        fingerprint=f"check:{check.pk}",
        status="firing" if event.new == DOWN else "resolved",
        name=check.name,
        labels={"check": check.name, "kind": check.kind, "target": check.target_label},
        severity="critical",
        summary=event.error,
        starts_at=event.at,
        ends_at=event.at if event.new == UP else None,
        asset_id=check.asset_id,
        system_id=check.system_id,
        active_check_id=check.pk,
    )


def write_events(events: list[Event]) -> None:
    if not events:
        return
    ids = {e.check_id for e in events}
    existing = set(ActiveCheck.objects.filter(pk__in=ids).values_list("pk", flat=True))
    events = [e for e in events if e.check_id in existing]  # deleted meanwhile: nothing to record
    # Full rows only for what becomes an alert or a warning (not for every first "up").
    wanted = {
        e.check_id for e in events if e.kind != "state" or e.new == DOWN or (e.new == UP and e.old == DOWN)
    }
    checks = ActiveCheck.objects.select_related("hospital").in_bulk(wanted)
    with audit.acting_as(None, label="checker"), transaction.atomic():
        state_events = [e for e in events if e.kind == "state"]
        StateChange.objects.bulk_create(
            [
                StateChange(
                    active_check_id=e.check_id, at=e.at, old_state=e.old, new_state=e.new, error=e.error[:500]
                )
                for e in state_events
            ],
            batch_size=2000,
        )
        latest = {e.check_id: e for e in state_events}  # the last change of each check wins
        CheckState.objects.bulk_create(
            [
                CheckState(active_check_id=e.check_id, state=e.new, since=e.at, last_error=e.error[:500])
                for e in latest.values()
            ],
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["active_check"],
            update_fields=["state", "since", "last_error"],
        )
        notices: dict[int, list[Notice]] = defaultdict(list)
        for event in state_events:
            if event.new == DOWN or (event.new == UP and event.old == DOWN):
                check = checks[event.check_id]
                notices[check.hospital_id].append(check_notice(check, event))
        for hospital_notices in notices.values():
            hospital = checks[hospital_notices[0].active_check_id].hospital  # type: ignore[index]
            alerts.ingest(hospital, AlertSource.CHECK, hospital_notices)
        for event in events:
            if event.kind == "degraded":
                _degraded(checks[event.check_id], event)
            elif event.kind == "cert":
                _certificate(checks[event.check_id], event)


def _degraded(check: ActiveCheck, event: Event) -> None:
    CheckState.objects.update_or_create(active_check=check, defaults={"degraded": event.on})
    key = f"degraded:{check.pk}"
    if event.on:
        open_warning(
            check.hospital_id,
            EarlyWarning.Kind.CHECK_DEGRADED,
            key,
            check.name,
            detail={"latency_ms": round(event.latency_ms or 0), "threshold_ms": check.latency_warn_ms},
            active_check_id=check.pk,
            now=event.at,
        )
    else:
        clear_warning(key, event.at)


def _certificate(check: ActiveCheck, event: Event) -> None:
    CheckState.objects.update_or_create(
        active_check=check, defaults={"cert_expires_at": event.cert_expires_at}
    )
    key = f"cert:{check.pk}"
    if event.on and event.cert_expires_at is not None:
        days = (event.cert_expires_at - event.at).days
        open_warning(
            check.hospital_id,
            EarlyWarning.Kind.CERT_EXPIRING,
            key,
            check.name,
            detail={"expires": event.cert_expires_at.date().isoformat(), "days": days},
            active_check_id=check.pk,
            now=event.at,
        )
    else:
        clear_warning(key, event.at)


def flush(samples: list[SampleRow], events: list[Event]) -> None:
    write_samples(samples)
    write_events(events)


# --- Heartbeats (push monitors) ---------------------------------------------------------------


def heartbeat_notice(heartbeat: Heartbeat, status: str, summary: str, at: datetime.datetime) -> Notice:
    return Notice(
        fingerprint=f"heartbeat:{heartbeat.pk}",
        status=status,
        name=heartbeat.name,
        labels={"heartbeat": heartbeat.name},
        severity="critical",
        summary=summary,
        starts_at=at,
        ends_at=at if status == "resolved" else None,
        asset_id=heartbeat.asset_id,
        system_id=heartbeat.system_id,
        heartbeat_id=heartbeat.pk,
    )


@transaction.atomic
def heartbeat_ping(
    heartbeat: Heartbeat, *, failed: bool = False, now: datetime.datetime | None = None
) -> str:
    """A job called its heartbeat URL (`failed`: it called the /fail URL)."""
    now = now or timezone.now()
    heartbeat = Heartbeat.objects.select_for_update().select_related("hospital").get(pk=heartbeat.pk)
    old = heartbeat.state
    with audit.acting_as(None, label=f"heartbeat {heartbeat.name}"):
        if failed:
            Heartbeat.objects.filter(pk=heartbeat.pk).update(state=Heartbeat.HState.DOWN, last_failure_at=now)
            if old != Heartbeat.HState.DOWN:
                alerts.ingest(
                    heartbeat.hospital,
                    AlertSource.HEARTBEAT,
                    [heartbeat_notice(heartbeat, "firing", "the job reported a failure", now)],
                    now=now,
                )
            return Heartbeat.HState.DOWN
        Heartbeat.objects.filter(pk=heartbeat.pk).update(state=Heartbeat.HState.UP, last_ping_at=now)
        clear_warning(f"heartbeat:{heartbeat.pk}", now)
        if old == Heartbeat.HState.DOWN:
            alerts.ingest(
                heartbeat.hospital,
                AlertSource.HEARTBEAT,
                [heartbeat_notice(heartbeat, "resolved", "", now)],
                now=now,
            )
    return Heartbeat.HState.UP


def evaluate_heartbeats(now: datetime.datetime | None = None) -> int:
    """Late past the period: an early warning. Past the grace too: an alert."""
    now = now or timezone.now()
    changed = 0
    quiet = (
        Heartbeat.objects.filter(enabled=True).exclude(state=Heartbeat.HState.DOWN).select_related("hospital")
    )
    for heartbeat in quiet:
        if now >= heartbeat.dead_at():
            with transaction.atomic(), audit.acting_as(None, label="heartbeat"):
                Heartbeat.objects.filter(pk=heartbeat.pk).update(state=Heartbeat.HState.DOWN)
                clear_warning(f"heartbeat:{heartbeat.pk}", now)
                alerts.ingest(
                    heartbeat.hospital,
                    AlertSource.HEARTBEAT,
                    [heartbeat_notice(heartbeat, "firing", "no ping within the period and grace", now)],
                    now=now,
                )
            changed += 1
        elif now >= heartbeat.due_at() and heartbeat.state != Heartbeat.HState.LATE:
            with transaction.atomic():
                Heartbeat.objects.filter(pk=heartbeat.pk).update(state=Heartbeat.HState.LATE)
                open_warning(
                    heartbeat.hospital_id,
                    EarlyWarning.Kind.HEARTBEAT_LATE,
                    f"heartbeat:{heartbeat.pk}",
                    heartbeat.name,
                    detail={
                        "last_ping": timezone.localtime(heartbeat.last_ping_at).strftime("%Y-%m-%d %H:%M")
                        if heartbeat.last_ping_at
                        else "",
                        "due": heartbeat.due_at().isoformat(),
                    },
                    heartbeat_id=heartbeat.pk,
                    now=now,
                )
            changed += 1
    return changed


# --- Nodes (sharding by rendezvous hashing on PostgreSQL) --------------------------------------


def register_node(name: str, started_at: datetime.datetime, *, checks: int, detail: dict) -> tuple[str, ...]:
    """Say this checker is alive; return the live checkers (including this one)."""
    now = timezone.now()
    CheckerNode.objects.update_or_create(
        name=name, defaults={"started_at": started_at, "last_seen": now, "checks": checks, "detail": detail}
    )
    CheckerNode.objects.filter(last_seen__lt=now - datetime.timedelta(days=1)).delete()
    cutoff = now - datetime.timedelta(seconds=settings.HISGUARD_CHECKER_NODE_TIMEOUT_SECONDS)
    return tuple(sorted(CheckerNode.objects.filter(last_seen__gte=cutoff).values_list("name", flat=True)))


def leave(name: str) -> None:
    CheckerNode.objects.filter(name=name).delete()
