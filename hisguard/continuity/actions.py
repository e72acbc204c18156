"""Continuity actions: snapshots (on schedule and on demand), health warnings, packet access
with its log, break-glass, and downtime nodes. Pages, API, CLI and the worker all call these.

The worker calls `run_due_snapshots(now)` on every pass: it is one indexed query when nothing
is due. A due connector is claimed (its next run moved forward under a row lock, so several
workers never pull the same connector) and pulled in a background thread, so a slow HIS never
holds up notification delivery; health checks run at most once a minute.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
import zoneinfo
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from hisguard.continuity import access as access_rules
from hisguard.continuity.connectors import CONNECTORS, ConfigError, Connector, PullContext, connector_for
from hisguard.continuity.models import (
    Connector as ConnectorModel,
)
from hisguard.continuity.models import (
    DowntimeNode,
    EmergencyAccess,
    PacketAccess,
    Snapshot,
    WardPacket,
    hash_token,
)
from hisguard.continuity.shape import MAX_ISSUES_STORED, Extract, PullError, Ward, WardResolver, build_packets
from hisguard.core import audit
from hisguard.core.errors import DomainError, Forbidden, interpolate
from hisguard.organisation.models import Department, Hospital, Person

log = logging.getLogger("hisguard.continuity")

IT_POSITIONS: list[str] = [Person.Position.IT_HEAD.value, Person.Position.NETWORK_ADMIN.value]
OFFICE_POSITIONS: list[str] = [Person.Position.EMERGENCY_OFFICER.value]


# --- Snapshots ---------------------------------------------------------------------------------


def hospital_tz(hospital: Hospital) -> datetime.tzinfo:
    try:
        return zoneinfo.ZoneInfo(hospital.time_zone or settings.TIME_ZONE)
    except zoneinfo.ZoneInfoNotFoundError:
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def wards_of(hospital: Hospital) -> list[Department]:
    return list(Department.objects.filter(hospital=hospital, kind=Department.Kind.WARD).order_by("code"))


def make_connector(model: ConnectorModel, **options: Any) -> Connector:
    return connector_for(model.kind, model.config, model.secret, **options)


def _admin_times() -> dict[str, tuple[str, ...]]:
    return {k: tuple(v) for k, v in settings.HISGUARD_CONTINUITY_ADMIN_TIMES.items()}


def build(
    model: ConnectorModel, extract: Extract, *, now: datetime.datetime, wards: list[Department] | None = None
):
    wards = wards if wards is not None else wards_of(model.hospital)
    config = {**CONNECTORS[model.kind].defaults, **model.config}
    resolver = WardResolver([Ward(w.code, w.name) for w in wards], config.get("ward_map") or {})
    return build_packets(
        extract,
        resolver,
        as_of=extract.as_of or now,
        tz=hospital_tz(model.hospital),
        hospital=model.hospital.name,
        source=model.name,
        admin_times=_admin_times(),
        results_max=int(config.get("results_max", 30)),
    )


def start_snapshot(model: ConnectorModel, now: datetime.datetime, trigger: str) -> Snapshot:
    return Snapshot.objects.create(connector=model, hospital=model.hospital, started_at=now, trigger=trigger)


def run_snapshot(
    model: ConnectorModel,
    *,
    now: datetime.datetime | None = None,
    trigger: str = Snapshot.Trigger.MANUAL,
    snapshot: Snapshot | None = None,
    implementation: Connector | None = None,
) -> Snapshot:
    """Pull the source, build every ward's packet and store them sealed. A failed pull leaves
    the earlier packets exactly as they were: a ward's packet is always the newest good one."""
    now = now or timezone.now()
    snapshot = snapshot or start_snapshot(model, now, trigger)
    ConnectorModel.objects.filter(pk=model.pk).update(last_attempt_at=now)
    try:
        impl = implementation or make_connector(model)
        extract = impl.pull(PullContext(now=now, tz=hospital_tz(model.hospital)))
        wards = wards_of(model.hospital)
        result = build(model, extract, now=now, wards=wards)
    except (PullError, ConfigError) as exc:
        return _fail(model, snapshot, str(exc), timezone.now() if now is None else now)
    except Exception as exc:  # a bug or an unexpected source must not kill the worker
        log.exception("snapshot of connector %s failed", model.pk)
        return _fail(model, snapshot, f"{type(exc).__name__}: {exc}", now)
    finished = max(timezone.now(), now)
    as_of = extract.as_of or now
    by_code = {w.code: w for w in wards}
    with transaction.atomic():
        rows = []
        for code, packet in result.packets.items():
            ward = by_code[code]
            packet["snapshot"] = snapshot.pk
            sealed, digest = WardPacket.seal(snapshot.pk, ward.pk, packet)
            rows.append(
                WardPacket(
                    snapshot=snapshot,
                    ward=ward,
                    as_of=as_of,
                    patients=len(packet["patients"]),
                    skipped=packet["skipped"],
                    digest=digest,
                    sealed_payload=sealed,
                )
            )
        WardPacket.objects.bulk_create(rows, batch_size=200)
        snapshot.status = Snapshot.Status.OK
        snapshot.finished_at = finished
        snapshot.as_of = as_of
        snapshot.counts = {**result.counts, "fetched": dict(extract.fetched)}
        snapshot.patients = result.counts["patients"]
        snapshot.skipped = result.counts["skipped"]
        snapshot.issue_count = len(result.issues)
        snapshot.set_issues([i.as_json() for i in result.issues[:MAX_ISSUES_STORED]])
        snapshot.save()
        ConnectorModel.objects.filter(pk=model.pk).update(
            last_success_at=finished, last_error="", consecutive_failures=0
        )
        prune(model)
    return snapshot


def _fail(model: ConnectorModel, snapshot: Snapshot, error: str, now: datetime.datetime) -> Snapshot:
    snapshot.status = Snapshot.Status.FAILED
    snapshot.error = error[:2000]
    snapshot.finished_at = max(timezone.now(), now)
    snapshot.save(update_fields=["status", "error", "finished_at"])
    ConnectorModel.objects.filter(pk=model.pk).update(
        last_error=error[:2000], consecutive_failures=F("consecutive_failures") + 1
    )
    log.warning("snapshot of connector %s failed: %s", model.pk, error)
    return snapshot


def prune(model: ConnectorModel) -> int:
    """Keep the newest `keep` good snapshots (and failures no older than the oldest kept)."""
    good = list(
        Snapshot.objects.filter(connector=model, status=Snapshot.Status.OK)
        .order_by("-started_at", "-id")
        .values_list("id", "started_at")
    )
    if len(good) <= model.keep:
        return 0
    oldest_kept_at = good[model.keep - 1][1]
    old = Snapshot.objects.filter(connector=model, started_at__lt=oldest_kept_at).exclude(
        status=Snapshot.Status.RUNNING
    )
    old = old.exclude(pk__in=[pk for pk, _at in good[: model.keep]])
    deleted, _detail = old.delete()
    return deleted


def claim_due(now: datetime.datetime, limit: int = 1) -> list[tuple[int, int]]:
    """Claim connectors due for a snapshot: (connector id, snapshot id) of each claimed one."""
    claimed = []
    with transaction.atomic():
        due = ConnectorModel.objects.filter(is_active=True).filter(
            Q(next_run_at__lte=now) | Q(next_run_at__isnull=True)
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        for model in due.select_related("hospital").order_by("next_run_at", "id")[:limit]:
            ConnectorModel.objects.filter(pk=model.pk).update(
                next_run_at=now + datetime.timedelta(minutes=model.interval_minutes)
            )
            claimed.append((model.pk, start_snapshot(model, now, Snapshot.Trigger.SCHEDULE).pk))
    return claimed


_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="continuity")
_running: set[Future] = set()
_lock = threading.Lock()
_last_health = [0.0]


def _run_claimed(connector_id: int, snapshot_id: int, now: datetime.datetime) -> None:
    model = ConnectorModel.objects.select_related("hospital").get(pk=connector_id)
    with audit.acting_as(label="continuity snapshot"):
        run_snapshot(model, now=now, snapshot=Snapshot.objects.get(pk=snapshot_id))


def _run_in_background(connector_id: int, snapshot_id: int, now: datetime.datetime) -> None:
    try:
        _run_claimed(connector_id, snapshot_id, now)
    except Exception:
        log.exception("background snapshot %s failed", snapshot_id)
    finally:
        connection.close()  # this thread's own connection


def run_due_snapshots(now: datetime.datetime | None = None, *, wait: bool = False) -> int:
    """The worker's hook: start the snapshots that are due; returns how many were started.

    With ``wait=False`` (the worker) a pull runs in this process's one background thread and
    nothing new is claimed while it runs; ``wait=True`` (CLI, tests) runs them here and now.
    Also runs the health checks (late/failed snapshots, nodes behind) at most once a minute.
    """
    now = now or timezone.now()
    started = 0
    with _lock:
        _running.difference_update({f for f in _running if f.done()})
        busy = bool(_running) and not wait
    if not busy:
        for connector_id, snapshot_id in claim_due(now, limit=10 if wait else 1):
            started += 1
            if wait:
                _run_claimed(connector_id, snapshot_id, now)
            else:
                with _lock:
                    _running.add(_pool.submit(_run_in_background, connector_id, snapshot_id, now))
    if wait or time.monotonic() - _last_health[0] >= 60:
        _last_health[0] = time.monotonic()
        check_health(now)
    return started


# --- Health: late or failed snapshots, nodes behind --------------------------------------------


@dataclass
class ConnectorHealth:
    level: str
    age_minutes: int | None
    last_good: Snapshot | None


def latest_good(model: ConnectorModel) -> Snapshot | None:
    return model.snapshots.filter(status=Snapshot.Status.OK).order_by("-as_of", "-id").first()


def assess(model: ConnectorModel, now: datetime.datetime) -> ConnectorHealth:
    H = ConnectorModel.Health
    good = latest_good(model)
    if good is None or good.as_of is None:
        age = int((now - model.created_at).total_seconds() // 60) if model.created_at else 0
        if model.consecutive_failures or age > model.warn_after_minutes:
            return ConnectorHealth(H.ALERT if age > model.alert_after_minutes else H.WARNING, None, None)
        return ConnectorHealth(H.NEVER, None, None)
    age = int((now - good.as_of).total_seconds() // 60)
    if age > model.alert_after_minutes:
        level = H.ALERT
    elif age > model.warn_after_minutes or model.consecutive_failures:
        level = H.WARNING
    else:
        level = H.OK
    return ConnectorHealth(level, age, good)


def check_health(now: datetime.datetime | None = None) -> dict[str, int]:
    """Fail abandoned runs, grade every connector and node, warn on the way down (once each)."""
    now = now or timezone.now()
    timeout = now - datetime.timedelta(minutes=settings.HISGUARD_CONTINUITY_RUN_TIMEOUT_MINUTES)
    abandoned = Snapshot.objects.filter(status=Snapshot.Status.RUNNING, started_at__lt=timeout)
    for snapshot in abandoned.select_related("connector"):
        _fail(snapshot.connector, snapshot, "the run did not finish (its worker stopped?)", now)
    warned = 0
    H = ConnectorModel.Health
    rank: dict[str, int] = {H.OK: 0, H.NEVER: 0, H.WARNING: 1, H.ALERT: 2}
    for model in ConnectorModel.objects.filter(is_active=True).select_related("hospital"):
        health = assess(model, now)
        if health.level != model.health:
            ConnectorModel.objects.filter(pk=model.pk).update(health=health.level)
        if rank[health.level] > rank.get(model.health, 0) or (
            health.level != H.OK and rank[health.level] and model.health != health.level
        ):
            warned += _warn_connector(model, health, now)
    for node in DowntimeNode.objects.filter(is_active=True).select_related("hospital", "ward"):
        since = node.last_sync_at or node.created_at
        behind = since is not None and now - since > datetime.timedelta(minutes=node.warn_after_minutes)
        if behind != node.behind:
            DowntimeNode.objects.filter(pk=node.pk).update(behind=behind)
            if behind:
                warned += _warn_node(node, now)
    return {"warned": warned}


def _warn_connector(model: ConnectorModel, health: ConnectorHealth, now: datetime.datetime) -> int:
    with translation.override(settings.LANGUAGE_CODE):
        alert = health.level == ConnectorModel.Health.ALERT
        if health.last_good is None:
            age = str(_("no good snapshot yet"))
        else:
            age = str(
                interpolate(_("the last good one is %(minutes)s min old"), {"minutes": health.age_minutes})
            )
        subject = str(
            interpolate(
                _("Downtime packets ALERT: %(name)s snapshots out of date")
                if alert
                else _("Downtime packets early warning: %(name)s snapshot late or failing"),
                {"name": model.name},
            )
        )
        body = str(
            interpolate(
                _(
                    "Snapshots of the HIS for the wards' downtime packets are not up to date: %(age)s. "
                    "Last error: %(error)s. Check the connector in HISGuard (Downtime packets)."
                ),
                {"age": age, "error": model.last_error or "-"},
            )
        )
    from hisguard.paging.actions import notify_position
    from hisguard.paging.models import Urgency

    key = f"continuity:connector:{model.pk}:{health.level}:{health.last_good.pk if health.last_good else 0}"
    positions = IT_POSITIONS + (OFFICE_POSITIONS if alert else [])
    return notify_position(
        model.hospital,
        positions,
        subject=subject,
        body=body,
        key=key,
        urgency=Urgency.HIGH if alert else Urgency.NORMAL,
    )


def _warn_node(node: DowntimeNode, now: datetime.datetime) -> int:
    with translation.override(settings.LANGUAGE_CODE):
        last = (
            timezone.localtime(node.last_sync_at).strftime("%Y-%m-%d %H:%M")
            if node.last_sync_at
            else str(_("never"))
        )
        subject = str(interpolate(_("Downtime node behind: %(node)s"), {"node": str(node)}))
        body = str(
            interpolate(
                _(
                    "The downtime node %(node)s has not fetched its ward's packet since %(last)s. "
                    "If the HIS went down now, that ward would print old data. Check the PC and its network."
                ),
                {"node": str(node), "last": last},
            )
        )
    from hisguard.paging.actions import notify_position

    key = f"continuity:node:{node.pk}:{node.last_sync_at.isoformat() if node.last_sync_at else 'never'}"
    return notify_position(node.hospital, IT_POSITIONS, subject=subject, body=body, key=key)


# --- Packets and who looks at them ----------------------------------------------------------------


def latest_packet(ward: Department) -> WardPacket | None:
    return (
        WardPacket.objects.filter(ward=ward, snapshot__status=Snapshot.Status.OK)
        .select_related("snapshot", "ward__hospital")
        .order_by("-as_of", "-snapshot_id")
        .first()
    )


def log_access(
    *,
    ward: Department,
    action: str,
    user=None,
    label: str = "",
    packet: WardPacket | None = None,
    reason: str = "",
    emergency: EmergencyAccess | None = None,
    node: DowntimeNode | None = None,
    ip: str | None = None,
    at: datetime.datetime | None = None,
) -> PacketAccess:
    if not label:
        label = user.get_username() if user is not None and user.is_authenticated else "anonymous"
        person = access_rules.person_of(user) if user is not None else None
        if person is not None:
            label = f"{label} ({person.name})"
    return PacketAccess.objects.create(
        at=at or timezone.now(),
        user=user if user is not None and user.is_authenticated else None,
        actor_label=label[:150],
        node=node,
        ward=ward,
        ward_label=f"{ward.code} {ward.name}"[:150],
        packet=packet,
        packet_as_of=packet.as_of if packet else None,
        action=action,
        reason=reason[:300],
        emergency=emergency,
        ip_address=ip,
    )


def clean_reason(code: str, detail: str = "") -> str:
    """The reason as stored: the chosen reason's label (in the default language) and any detail."""
    detail = " ".join((detail or "").split())[:250]
    if code not in access_rules.REASON_LABELS:
        raise DomainError(_("Say why you are opening the packet."), code="reason_required")
    if code == "other" and len(detail) < 4:
        raise DomainError(_("Describe the reason in a few words."), code="reason_required")
    with translation.override(settings.LANGUAGE_CODE):
        label = str(access_rules.REASON_LABELS[code])
    return f"{label}: {detail}" if detail else label


def open_packet(
    user,
    ward: Department,
    *,
    reason: str,
    action: str = PacketAccess.Action.VIEW,
    ip: str | None = None,
    now: datetime.datetime | None = None,
) -> WardPacket | None:
    """Check the user may see this ward, log the look (refusals too) and return the newest
    good packet (None when there is none yet)."""
    now = now or timezone.now()
    grant = access_rules.grant_for(user, ward, now)
    if grant is None:
        log_access(ward=ward, action=PacketAccess.Action.DENIED, user=user, reason=reason, ip=ip, at=now)
        raise Forbidden(
            _("Only this ward's staff and IT may see its packets; use emergency access if you must.")
        )
    packet = latest_packet(ward)
    log_access(
        ward=ward,
        action=action,
        user=user,
        packet=packet,
        reason=reason,
        emergency=grant.emergency,
        ip=ip,
        at=now,
    )
    return packet


def break_glass(
    user,
    *,
    ward: Department | None,
    reason: str,
    hours: int | None = None,
    ip: str | None = None,
    now: datetime.datetime | None = None,
) -> EmergencyAccess:
    """Open a ward (or every ward) for a few hours, with a reason; the emergency office is told."""
    now = now or timezone.now()
    if not user.has_perm("continuity.break_glass"):
        raise Forbidden(_("You may not use emergency access."))
    reason = " ".join((reason or "").split())
    if len(reason) < 10:
        raise DomainError(_("Give the reason for emergency access in a sentence (at least 10 characters)."))
    hours = hours or settings.HISGUARD_BREAK_GLASS_HOURS
    hours = max(1, min(hours, 24))
    person = access_rules.person_of(user)
    hospital = (
        ward.hospital if ward else (person.hospital if person else Hospital.objects.order_by("pk").first())
    )
    if hospital is None:
        raise DomainError(_("There is no hospital yet."))
    grant = EmergencyAccess.objects.create(
        hospital=hospital,
        user=user,
        ward=ward,
        reason=reason[:1000],
        started_at=now,
        expires_at=now + datetime.timedelta(hours=hours),
    )
    who = f"{user.get_username()}" + (f" ({person.name})" if person else "")
    with translation.override(settings.LANGUAGE_CODE):
        where = f"{ward.code} {ward.name}" if ward else str(_("every ward"))
        subject = str(interpolate(_("Emergency access to downtime packets: %(who)s"), {"who": who}))
        body = str(
            interpolate(
                _(
                    "%(who)s used emergency access (break-glass) to the patient packets of %(where)s "
                    "until %(until)s. Reason: %(reason)s"
                ),
                {
                    "who": who,
                    "where": where,
                    "until": timezone.localtime(grant.expires_at).strftime("%Y-%m-%d %H:%M"),
                    "reason": reason,
                },
            )
        )
    from hisguard.paging.actions import notify_position
    from hisguard.paging.models import Urgency

    grant.alerted = notify_position(
        hospital, OFFICE_POSITIONS, subject=subject, body=body, key=f"continuity:break-glass:{grant.pk}",
        urgency=Urgency.HIGH,
    )  # fmt: skip
    EmergencyAccess.objects.filter(pk=grant.pk).update(alerted=grant.alerted)
    audit.record(
        "continuity.break_glass", grant, ward=ward.code if ward else "*", reason=reason, hours=hours, ip=ip
    )
    return grant


# --- Downtime nodes --------------------------------------------------------------------------------


def register_node(ward: Department, name: str, *, warn_after_minutes: int = 90) -> tuple[DowntimeNode, str]:
    if ward.kind != Department.Kind.WARD:
        raise DomainError(_("Downtime nodes serve wards; this department is not a ward."))
    node = DowntimeNode(hospital=ward.hospital, ward=ward, name=name, warn_after_minutes=warn_after_minutes)
    raw = node.issue_token()
    node.save()
    return node, raw


def rotate_node_token(node: DowntimeNode) -> str:
    raw = node.issue_token()
    node.save(update_fields=["token_hash", "prefix"])
    audit.record("continuity.node.rotate_token", node)
    return raw


def node_for_token(raw: str) -> DowntimeNode | None:
    if not raw or not raw.startswith("hgn_"):
        return None
    return (
        DowntimeNode.objects.select_related("ward__hospital", "hospital")
        .filter(token_hash=hash_token(raw), is_active=True)
        .first()
    )


def node_sync(
    node: DowntimeNode,
    *,
    have: str = "",
    ip: str | None = None,
    version: str = "",
    now: datetime.datetime | None = None,
) -> tuple[WardPacket | None, bool]:
    """A node asks for its ward's newest packet. Returns (packet, changed); `changed` is False
    when the node already has it (same digest). Logged when a packet is handed over."""
    now = now or timezone.now()
    packet = latest_packet(node.ward)
    changed = packet is not None and packet.digest != have
    updates: dict[str, Any] = {
        "last_sync_at": now,
        "last_ip": ip,
        "last_version": version[:40],
        "behind": False,
    }
    if packet is not None:
        updates.update(last_packet_as_of=packet.as_of, last_digest=packet.digest)
    DowntimeNode.objects.filter(pk=node.pk).update(**updates)
    if changed:
        log_access(
            ward=node.ward, action=PacketAccess.Action.SYNC, label=f"node {node.name}", packet=packet, node=node,
            reason="sync", ip=ip, at=now,
        )  # fmt: skip
    return packet, changed


def record_node_accesses(node: DowntimeNode, entries: list[dict[str, Any]], ip: str | None = None) -> int:
    """Looks at the packet on the node itself (kept there while offline), uploaded on the next sync."""
    count = 0
    for entry in entries[:1000]:
        try:
            at = datetime.datetime.fromisoformat(str(entry["at"]))
        except (KeyError, ValueError):
            continue
        if at.tzinfo is None:
            continue
        action = (
            PacketAccess.Action.NODE_PRINT
            if entry.get("action") == "print"
            else PacketAccess.Action.NODE_VIEW
        )
        who = str(entry.get("who") or "?")[:60]
        if PacketAccess.objects.filter(node=node, at=at, action=action, actor_label__startswith=who).exists():
            continue  # uploaded before (the node retries until the server confirms)
        PacketAccess.objects.create(
            at=at,
            actor_label=f"{who} @ node {node.name}"[:150],
            node=node,
            ward=node.ward,
            ward_label=f"{node.ward.code} {node.ward.name}"[:150],
            packet_as_of=_parse_aware(entry.get("as_of")),
            action=action,
            reason=str(entry.get("reason") or "")[:300],
            ip_address=ip,
        )
        count += 1
    return count


def _parse_aware(value: Any) -> datetime.datetime | None:
    try:
        parsed = datetime.datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else None


def try_connector(
    model: ConnectorModel, *, limit: int = 20, now: datetime.datetime | None = None
) -> dict[str, Any]:
    """ "Try it": pull a sample (about `limit` patients) and report what came back, storing nothing.
    The report holds counts and issues, never a patient's name."""
    now = now or timezone.now()
    ctx = PullContext(now=now, tz=hospital_tz(model.hospital), limit=limit)
    try:
        impl = make_connector(model)
        extract = impl.pull(ctx)
        result = build(model, extract, now=now)
    except (PullError, ConfigError) as exc:
        return {"ok": False, "error": str(exc), "requests": ctx.log[-20:]}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "requests": ctx.log[-20:]}
    wards = {code: len(p["patients"]) for code, p in result.packets.items() if p["patients"]}
    return {
        "ok": True,
        "as_of": timezone.localtime(extract.as_of or now, hospital_tz(model.hospital)).strftime(
            "%Y-%m-%d %H:%M"
        ),
        "fetched": dict(extract.fetched),
        "counts": result.counts,
        "wards": wards,
        "issues": [i.as_json() for i in result.issues[:50]],
        "requests": ctx.log[-20:],
    }
