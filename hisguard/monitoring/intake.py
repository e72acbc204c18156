"""Alerts from the monitors the hospital already runs.

Each source authenticates with its own token (`Authorization: Bearer …` or `?token=…`). A batch
is parsed and validated whole, then stored in one transaction that commits before the 2xx.
Under overload (a source over its rate, or too many batches in flight in this process) the
answer is 429 with Retry-After — except for a batch that carries a resolve notice: those are
always taken (they wait for a slot instead), because a lost resolve leaves an outage open.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from hisguard.core.audit import set_actor
from hisguard.core.errors import DomainError, Forbidden, Throttled, interpolate
from hisguard.core.middleware import client_ip
from hisguard.monitoring.alerts import IngestResult, Notice, ingest
from hisguard.monitoring.models import IntakeSource

WINDOW_SECONDS = 10
FIRING, RESOLVED = "firing", "resolved"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"


class IntakeThrottled(Throttled):
    code = "too_many_alerts"


class Invalid(DomainError):
    status = 422
    code = "invalid_alert"


# --- Parsing ---------------------------------------------------------------------------------


def label_hash(prefix: str, name: str, labels: dict[str, str]) -> str:
    text = json.dumps({"name": name, "labels": labels}, sort_keys=True, ensure_ascii=False)
    return f"{prefix}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def _strings(value: Any, what: str, index: int) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(
            interpolate(_("Alert %(index)s: %(what)s must be an object."), {"index": index, "what": what})
        )
    return {str(k)[:200]: str(v)[:2000] for k, v in value.items()}


def _time(value: Any) -> datetime.datetime | None:
    """RFC 3339 from Alertmanager/Grafana; their 'zero time' means unset."""
    if not value or not isinstance(value, str) or value.startswith("0001-01-01"):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, datetime.UTC)
    return parsed


def _status(value: Any, index: int) -> str:
    status = str(value or "").lower()
    if status in ("firing", "problem", "alerting"):
        return FIRING
    if status in ("resolved", "ok", "recovery", "normal"):
        return RESOLVED
    raise Invalid(interpolate(_("Alert %(index)s: status must be 'firing' or 'resolved'."), {"index": index}))


def _alerts(body: Any, key: str = "alerts") -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise Invalid(_("The payload has no list of alerts."))
    if len(body[key]) > settings.HISGUARD_INTAKE_MAX_BATCH:
        raise Invalid(
            interpolate(
                _("At most %(count)s alerts per request."), {"count": settings.HISGUARD_INTAKE_MAX_BATCH}
            )
        )
    return body[key]


def _prometheus_style(body: Any, prefix: str) -> list[Notice]:
    notices = []
    for index, item in enumerate(_alerts(body), 1):
        if not isinstance(item, dict):
            raise Invalid(interpolate(_("Alert %(index)s is not an object."), {"index": index}))
        labels = _strings(item.get("labels"), "labels", index)
        annotations = _strings(item.get("annotations"), "annotations", index)
        name = labels.get("alertname") or labels.get("__alert_rule_title__") or ""
        status = _status(item.get("status") or body.get("status"), index)
        fingerprint = item.get("fingerprint")
        notices.append(
            Notice(
                fingerprint=f"{prefix}:{fingerprint}" if fingerprint else label_hash(prefix, name, labels),
                status=status,
                name=name,
                labels=labels,
                annotations=annotations,
                severity=labels.get("severity", ""),
                summary=annotations.get("summary")
                or annotations.get("description")
                or item.get("valueString", "")
                or "",
                starts_at=_time(item.get("startsAt")),
                ends_at=_time(item.get("endsAt")) if status == RESOLVED else None,
                generator_url=str(item.get("generatorURL") or "")[:500],
            )
        )
    return notices


def parse_alertmanager(body: Any) -> list[Notice]:
    """Alertmanager webhook, payload version 4."""
    if not isinstance(body, dict) or str(body.get("version")) != "4":
        raise Invalid(_("Expected an Alertmanager webhook payload, version 4."))
    return _prometheus_style(body, "am")


def parse_grafana(body: Any) -> list[Notice]:
    """Grafana (unified) alerting webhook contact point."""
    return _prometheus_style(body, "gf")


ZABBIX_SEVERITIES = {
    "0": "not_classified",
    "1": "information",
    "2": "warning",
    "3": "average",
    "4": "high",
    "5": "disaster",
}


def parse_zabbix(body: Any) -> list[Notice]:
    """What the HISGuard media type for Zabbix sends (one event per call, or {"events": [...]})."""
    items = _alerts(body, "events") if isinstance(body, dict) and "events" in body else [body]
    notices = []
    for index, item in enumerate(items, 1):
        if not isinstance(item, dict) or not item.get("event_id"):
            raise Invalid(interpolate(_("Event %(index)s has no event_id."), {"index": index}))
        value = str(item.get("event_value", "1"))
        if value not in ("0", "1"):
            raise Invalid(interpolate(_("Event %(index)s: event_value must be 0 or 1."), {"index": index}))
        status = FIRING if value == "1" else RESOLVED
        labels = {
            "host": str(item.get("host_name") or item.get("host") or ""),
            "host_ip": str(item.get("host_ip") or ""),
            "trigger_id": str(item.get("trigger_id") or ""),
            "severity": ZABBIX_SEVERITIES.get(
                str(item.get("event_nseverity", "")), str(item.get("event_severity", ""))
            ),
        }
        tags = item.get("event_tags") or []
        if isinstance(tags, str):
            try:
                tags = json.loads(tags) if tags.strip() else []
            except json.JSONDecodeError:
                tags = []
        for tag in tags if isinstance(tags, list) else []:
            if isinstance(tag, dict) and tag.get("tag"):
                labels.setdefault(str(tag["tag"])[:200], str(tag.get("value", ""))[:2000])
        labels = {k: v for k, v in labels.items() if v != ""}
        moment = _zabbix_time(item.get("event_date"), item.get("event_time"))
        recovered = _zabbix_time(item.get("event_recovery_date"), item.get("event_recovery_time"))
        notices.append(
            Notice(
                fingerprint=f"zbx:{item['event_id']}",
                status=status,
                name=str(item.get("event_name") or item.get("trigger_name") or "")[:200],
                labels=labels,
                annotations={"opdata": str(item["event_opdata"])} if item.get("event_opdata") else {},
                severity=labels.get("severity", ""),
                summary=str(item.get("event_name") or ""),
                starts_at=moment,
                ends_at=recovered if status == RESOLVED else None,
                generator_url=str(item.get("zabbix_url") or "")[:500],
            )
        )
    return notices


def _zabbix_time(date: Any, time_of_day: Any) -> datetime.datetime | None:
    """{EVENT.DATE} {EVENT.TIME} are the Zabbix server's local time: read in the hospital's zone."""
    if not date or not time_of_day:
        return None
    try:
        naive = datetime.datetime.strptime(f"{date} {time_of_day}", "%Y.%m.%d %H:%M:%S")  # noqa: DTZ007
    except ValueError:
        return None
    return timezone.make_aware(naive, timezone.get_default_timezone())


def parse_generic(body: Any) -> list[Notice]:
    """{"alerts": [{"name", "status", "labels", "annotations", "fingerprint", "severity",
    "summary", "starts_at", "ends_at", "asset", "system"}]} — or one such object alone."""
    items = _alerts(body) if isinstance(body, dict) and "alerts" in body else [body]
    notices = []
    for index, item in enumerate(items, 1):
        if not isinstance(item, dict) or not item.get("name"):
            raise Invalid(interpolate(_("Alert %(index)s has no name."), {"index": index}))
        labels = _strings(item.get("labels"), "labels", index)
        if item.get("asset"):
            labels["hisguard_asset"] = str(item["asset"])
        if item.get("system"):
            labels["hisguard_system"] = str(item["system"])
        name = str(item["name"])[:200]
        status = _status(item.get("status", FIRING), index)
        fingerprint = item.get("fingerprint")
        notices.append(
            Notice(
                fingerprint=f"gen:{fingerprint}"[:100] if fingerprint else label_hash("gen", name, labels),
                status=status,
                name=name,
                labels=labels,
                annotations=_strings(item.get("annotations"), "annotations", index),
                severity=str(item.get("severity", ""))[:32],
                summary=str(item.get("summary", ""))[:4000],
                starts_at=_time(item.get("starts_at")),
                ends_at=_time(item.get("ends_at")) if status == RESOLVED else None,
            )
        )
    return notices


PARSERS: dict[str, Callable[[Any], list[Notice]]] = {
    IntakeSource.Kind.ALERTMANAGER: parse_alertmanager,
    IntakeSource.Kind.GRAFANA: parse_grafana,
    IntakeSource.Kind.ZABBIX: parse_zabbix,
    IntakeSource.Kind.GENERIC: parse_generic,
}


# --- Authentication, rate and overload ------------------------------------------------------


def token_of(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.GET.get("token", "").strip()


def authenticate(request: HttpRequest, kind: str) -> IntakeSource:
    raw = token_of(request)
    source = (
        IntakeSource.objects.select_related("hospital")
        .filter(token_hash=IntakeSource.hash(raw), enabled=True)
        .first()
        if raw
        else None
    )
    if source is None:
        raise Unauthenticated(_("Send this source's intake token (Authorization: Bearer … or ?token=…)."))
    if source.kind != kind:
        raise Forbidden(
            interpolate(
                _("This token belongs to a %(kind)s source; use its own endpoint."),
                {"kind": source.get_kind_display()},
            )
        )
    set_actor(None, label=f"intake {source.name}"[:150], ip=client_ip(request))
    return source


def window_start(now: datetime.datetime) -> datetime.datetime:
    return now.replace(second=(now.second // WINDOW_SECONDS) * WINDOW_SECONDS, microsecond=0)


def retry_after(source: IntakeSource, count: int, now: datetime.datetime) -> int | None:
    """Seconds to wait when this batch would take the source past its rate, else None."""
    if not source.rate_limit_per_minute:
        return None
    limit = max(1, math.ceil(source.rate_limit_per_minute * WINDOW_SECONDS / 60))
    current = window_start(now)
    if source.window_start != current or source.window_count == 0:
        return None  # a fresh window takes any one batch
    if source.window_count + count <= limit:
        return None
    ends = current + datetime.timedelta(seconds=WINDOW_SECONDS)
    return max(1, math.ceil((ends - now).total_seconds()))


def count_batch(source: IntakeSource, count: int, now: datetime.datetime) -> None:
    current = window_start(now)
    updated = IntakeSource.objects.filter(pk=source.pk, window_start=current).update(
        window_count=F("window_count") + count, last_received_at=now
    )
    if not updated:
        IntakeSource.objects.filter(pk=source.pk).update(
            window_start=current, window_count=count, last_received_at=now
        )


_slots: threading.BoundedSemaphore | None = None
_slots_lock = threading.Lock()


def slots() -> threading.BoundedSemaphore:
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(settings.HISGUARD_INTAKE_MAX_INFLIGHT)
        return _slots


def reset_slots() -> None:
    global _slots
    with _slots_lock:
        _slots = None


def receive(request: HttpRequest, kind: str) -> IngestResult:
    source = authenticate(request, kind)
    if len(request.body) > settings.HISGUARD_INTAKE_MAX_BYTES:
        raise DomainError(_("The request is too large."), code="too_large", status=413)
    try:
        body = json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DomainError(_("The request body is not valid JSON."), code="malformed") from exc
    notices = PARSERS[kind](body)
    resolves = any(n.status == RESOLVED for n in notices)
    now = timezone.now()
    wait = retry_after(source, len(notices), now)
    if wait is not None and not resolves:
        raise IntakeThrottled(
            interpolate(
                _("Too many alerts from %(source)s: retry in %(seconds)s s."),
                {"source": source.name, "seconds": wait},
            ),
            retry_after=wait,
        )
    slot = slots()
    if not slot.acquire(timeout=30 if resolves else settings.HISGUARD_INTAKE_SLOT_WAIT_SECONDS):
        raise IntakeThrottled(_("The alert intake is busy: retry shortly."), retry_after=2)
    try:
        with transaction.atomic():
            result = ingest(source.hospital, source.kind, notices, intake_source=source, now=now)
            count_batch(source, len(notices), now)
    except OperationalError as exc:  # the database is overloaded (e.g. locked): nothing was stored
        raise IntakeThrottled(_("The alert intake is busy: retry shortly."), retry_after=5) from exc
    finally:
        slot.release()
    return result
