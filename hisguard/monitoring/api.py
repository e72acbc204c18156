"""Monitoring API: alert intake from existing monitors, and checks, heartbeats, alerts,
warnings, sources and maintenance windows for people and scripts."""

from __future__ import annotations

import datetime
from typing import Any

from django.http import Http404, HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Query, Router, Schema

from hisguard.core.api_auth import API_AUTH, require
from hisguard.core.errors import bilingual
from hisguard.monitoring import actions, alerts, intake, stats
from hisguard.monitoring.models import (
    ActiveCheck,
    Alert,
    CheckState,
    EarlyWarning,
    Heartbeat,
    IntakeSource,
    Sample,
)
from hisguard.organisation.lookup import find_asset
from hisguard.organisation.models import Asset, InformationSystem

router = Router(tags=["monitoring"])

VIEW = "incidents.view_incident"
MANAGE = "monitoring.manage_monitoring"


def invalid(exc: actions.FormInvalid) -> JsonResponse:
    body = {
        "error": {
            "code": exc.code,
            "message": str(exc.message),
            "messages": bilingual(exc.message),
            "fields": exc.errors,
        }
    }
    return JsonResponse(body, status=exc.status, json_dumps_params={"ensure_ascii": False})


# --- Intake ----------------------------------------------------------------------------------


@router.post("/intake/alertmanager", auth=None, summary="Prometheus Alertmanager webhook (payload version 4)")
def intake_alertmanager(request: HttpRequest):
    """Point an Alertmanager `webhook_config` here with `http_config.authorization.credentials`
    set to the source's token. Batches are stored whole before the 200."""
    return intake.receive(request, IntakeSource.Kind.ALERTMANAGER).as_json()


@router.post("/intake/grafana", auth=None, summary="Grafana alerting webhook contact point")
def intake_grafana(request: HttpRequest):
    return intake.receive(request, IntakeSource.Kind.GRAFANA).as_json()


@router.post("/intake/zabbix", auth=None, summary="Zabbix, through the HISGuard webhook media type")
def intake_zabbix(request: HttpRequest):
    return intake.receive(request, IntakeSource.Kind.ZABBIX).as_json()


@router.post("/intake/generic", auth=None, summary="Generic JSON alerts")
def intake_generic(request: HttpRequest):
    """`{"alerts": [{"name", "status": "firing"|"resolved", "labels", "annotations",
    "fingerprint", "severity", "summary", "asset", "system"}]}`."""
    return intake.receive(request, IntakeSource.Kind.GENERIC).as_json()


# --- Checks ----------------------------------------------------------------------------------


class CheckIn(Schema):
    name: str | None = None
    kind: str | None = None
    hospital_code: str | None = None
    asset_hostname: str | None = None
    system_code: str | None = None
    host: str | None = None
    port: int | None = None
    url: str | None = None
    expected_status: str | None = None
    keyword: str | None = None
    verify_tls: bool | None = None
    warn_days: int | None = None
    dns_name: str | None = None
    dns_type: str | None = None
    expected: str | None = None
    db_engine: str | None = None
    db_name: str | None = None
    db_user: str | None = None
    password: str | None = None
    query: str | None = None
    snmp_if_index: int | None = None
    interval_seconds: int | None = None
    timeout_seconds: float | None = None
    retries: int | None = None
    retry_interval_seconds: int | None = None
    latency_warn_ms: int | None = None
    enabled: bool | None = None


def check_out(
    check: ActiveCheck, state: CheckState | None = None, uptime: dict | None = None
) -> dict[str, Any]:
    state = state if state is not None else CheckState.objects.filter(active_check=check).first()
    return {
        "id": check.pk,
        "name": check.name,
        "kind": check.kind,
        "target": check.target_label,
        "asset": check.asset.hostname if check.asset else None,
        "system": check.system.code if check.system else None,
        "interval_seconds": check.interval_seconds,
        "timeout_seconds": check.timeout_seconds,
        "retries": check.retries,
        "latency_warn_ms": check.latency_warn_ms,
        "enabled": check.enabled,
        "state": state.state if state else "unknown",
        "since": state.since if state else None,
        "last_error": state.last_error if state else "",
        "degraded": state.degraded if state else False,
        "cert_expires_at": state.cert_expires_at if state else None,
        "uptime": uptime,
    }


@router.get("/monitoring/checks", auth=API_AUTH, summary="Active checks and their state")
def list_checks(request: HttpRequest, state: str = "", kind: str = ""):
    require(request, VIEW)
    query = ActiveCheck.objects.select_related("asset", "system", "status").order_by("name")
    if state:
        query = query.filter(status__state=state)
    if kind:
        query = query.filter(kind=kind)
    return [check_out(c, getattr(c, "status", None)) for c in query[:5000]]


@router.post("/monitoring/checks", auth=API_AUTH, summary="Create a check")
def create_check(request: HttpRequest, payload: CheckIn):
    require(request, MANAGE)
    try:
        check = actions.save_check(payload.dict(exclude_unset=True))
    except actions.FormInvalid as exc:
        return invalid(exc)
    return JsonResponse(check_out(check), status=201, json_dumps_params={"ensure_ascii": False})


@router.post("/monitoring/checks/import", auth=API_AUTH, summary="Import checks (all or nothing)")
def import_checks(request: HttpRequest, payload: list[dict[str, Any]]):
    """A JSON list of checks (the same fields as creating one). A check whose name exists is updated."""
    require(request, MANAGE)
    try:
        saved = actions.import_checks(payload)
    except actions.FormInvalid as exc:
        return invalid(exc)
    return {"imported": len(saved), "checks": [c.pk for c in saved]}


@router.get("/monitoring/checks/{int:check_id}", auth=API_AUTH, summary="One check with uptime")
def get_check(request: HttpRequest, check_id: int):
    require(request, VIEW)
    check = get_object_or_404(ActiveCheck.objects.select_related("asset", "system"), pk=check_id)
    return check_out(check, uptime=stats.uptime([check.pk], timezone.now())[check.pk])


@router.patch("/monitoring/checks/{int:check_id}", auth=API_AUTH, summary="Change a check")
def update_check(request: HttpRequest, check_id: int, payload: CheckIn):
    require(request, MANAGE)
    check = get_object_or_404(ActiveCheck, pk=check_id)
    try:
        check = actions.save_check(payload.dict(exclude_unset=True), instance=check)
    except actions.FormInvalid as exc:
        return invalid(exc)
    return check_out(check)


@router.delete("/monitoring/checks/{int:check_id}", auth=API_AUTH, summary="Delete a check")
def delete_check(request: HttpRequest, check_id: int):
    require(request, MANAGE)
    get_object_or_404(ActiveCheck, pk=check_id).delete()
    return {"deleted": check_id}


class SamplesFilter(Schema):
    since: datetime.datetime | None = None
    limit: int = 1000


@router.get("/monitoring/checks/{int:check_id}/samples", auth=API_AUTH, summary="Raw samples, newest first")
def check_samples(request: HttpRequest, check_id: int, filters: Query[SamplesFilter]):
    require(request, VIEW)
    get_object_or_404(ActiveCheck, pk=check_id)
    query = Sample.objects.filter(active_check_id=check_id)
    if filters.since:
        query = query.filter(at__gte=filters.since)
    rows = query.order_by("-at").values_list("at", "ok", "latency_ms")[: max(1, min(filters.limit, 10000))]
    return [{"at": at, "ok": ok, "latency_ms": latency} for at, ok, latency in rows]


# --- Heartbeats --------------------------------------------------------------------------------


class HeartbeatIn(Schema):
    name: str
    period_seconds: int = 86400
    grace_seconds: int = 3600
    hospital_code: str | None = None
    asset_hostname: str | None = None
    system_code: str | None = None
    enabled: bool = True


def heartbeat_out(request: HttpRequest, heartbeat: Heartbeat) -> dict[str, Any]:
    from django.urls import reverse

    return {
        "id": heartbeat.pk,
        "name": heartbeat.name,
        "state": heartbeat.state,
        "period_seconds": heartbeat.period_seconds,
        "grace_seconds": heartbeat.grace_seconds,
        "last_ping_at": heartbeat.last_ping_at,
        "ping_url": request.build_absolute_uri(reverse("heartbeat-ping", args=[heartbeat.ping_token])),
    }


@router.get("/monitoring/heartbeats", auth=API_AUTH, summary="Heartbeat (push) monitors")
def list_heartbeats(request: HttpRequest):
    require(request, VIEW)
    manage = request.auth.has_perm(MANAGE)  # type: ignore[attr-defined]
    rows = [heartbeat_out(request, h) for h in Heartbeat.objects.order_by("name")]
    if not manage:
        for row in rows:
            row.pop("ping_url")
    return rows


@router.post(
    "/monitoring/heartbeats", auth=API_AUTH, summary="Create a heartbeat; its ping URL is in the answer"
)
def create_heartbeat(request: HttpRequest, payload: HeartbeatIn):
    require(request, MANAGE)
    try:
        heartbeat = actions.save_heartbeat(payload.dict(exclude_unset=True))
    except actions.FormInvalid as exc:
        return invalid(exc)
    return JsonResponse(
        heartbeat_out(request, heartbeat), status=201, json_dumps_params={"ensure_ascii": False}
    )


# --- Alerts, mapping, warnings -----------------------------------------------------------------


def alert_out(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "source": alert.source,
        "fingerprint": alert.fingerprint,
        "name": alert.name,
        "status": alert.status,
        "severity": alert.severity,
        "summary": alert.summary,
        "labels": alert.labels,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "received_count": alert.received_count,
        "asset": alert.asset.hostname if alert.asset else None,
        "system": alert.system.code if alert.system else None,
        "mapping": alert.mapping,
        "silenced": alert.silenced,
        "incident": alert.incident.number if alert.incident else None,
    }


@router.get("/monitoring/alerts", auth=API_AUTH, summary="Alerts (firing first)")
def list_alerts(request: HttpRequest, status: str = "", unmapped: bool = False, limit: int = 500):
    require(request, VIEW)
    query = Alert.objects.select_related("asset", "system", "incident")
    if status:
        query = query.filter(status=status)
    if unmapped:
        query = query.filter(asset__isnull=True, system__isnull=True, dismissed=False)
    return [alert_out(a) for a in query.order_by("status", "-last_received_at")[: max(1, min(limit, 5000))]]


class MapIn(Schema):
    asset: str | None = None
    system: str | None = None
    rule_label: str = ""


@router.post(
    "/monitoring/alerts/{int:alert_id}/map", auth=API_AUTH, summary="Map an alert to an asset or system"
)
def map_alert(request: HttpRequest, alert_id: int, payload: MapIn):
    user = require(request, MANAGE)
    alert = get_object_or_404(Alert, pk=alert_id)
    asset = None
    if payload.asset:
        asset = find_asset(payload.asset, Asset.objects.filter(hospital=alert.hospital), allow_id=False)
        if asset is None:
            raise Http404
    system = (
        get_object_or_404(InformationSystem, hospital=alert.hospital, code__iexact=payload.system)
        if payload.system
        else None
    )
    alert = alerts.map_alert(alert, asset=asset, system=system, rule_label=payload.rule_label, user=user)
    return alert_out(Alert.objects.select_related("asset", "system", "incident").get(pk=alert.pk))


@router.get("/monitoring/warnings", auth=API_AUTH, summary="Open early warnings (预警)")
def list_warnings(request: HttpRequest):
    require(request, VIEW)
    return [
        {
            "id": w.pk,
            "kind": w.kind,
            "subject": w.subject,
            "text": alerts.warning_text(w),
            "detail": w.detail,
            "opened_at": w.opened_at,
        }
        for w in EarlyWarning.objects.filter(cleared_at__isnull=True).order_by("-opened_at")[:1000]
    ]


# --- Sources and maintenance -------------------------------------------------------------------


class SourceIn(Schema):
    name: str
    kind: str
    hospital_code: str | None = None
    rate_limit_per_minute: int = 60000


@router.get("/monitoring/sources", auth=API_AUTH, summary="Alert intake sources")
def list_sources(request: HttpRequest):
    require(request, MANAGE)
    return [
        {"id": s.pk, "name": s.name, "kind": s.kind, "prefix": s.prefix, "enabled": s.enabled,
         "rate_limit_per_minute": s.rate_limit_per_minute, "last_received_at": s.last_received_at}
        for s in IntakeSource.objects.order_by("name")
    ]  # fmt: skip


@router.post("/monitoring/sources", auth=API_AUTH, summary="Create an intake source; the token is shown once")
def create_source(request: HttpRequest, payload: SourceIn):
    require(request, MANAGE)
    try:
        source, raw = actions.create_source(payload.dict())
    except actions.FormInvalid as exc:
        return invalid(exc)
    return JsonResponse(
        {"id": source.pk, "name": source.name, "kind": source.kind, "token": raw,
         "endpoint": request.build_absolute_uri(f"/api/v1/intake/{source.kind}")},
        status=201,
    )  # fmt: skip


class WindowIn(Schema):
    name: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    repeat_weekly: bool = False
    whole_hospital: bool = False
    hospital_code: str | None = None
    asset_hostname: str | None = None
    system_code: str | None = None


@router.post("/monitoring/maintenance", auth=API_AUTH, summary="Plan a maintenance window (silences alerts)")
def create_window(request: HttpRequest, payload: WindowIn):
    user = require(request, MANAGE)
    data = payload.dict()
    for key in ("starts_at", "ends_at"):
        moment = data[key]
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        data[key] = timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")
    try:
        window = actions.save_window(data, user=user)
    except actions.FormInvalid as exc:
        return invalid(exc)
    return JsonResponse({"id": window.pk, "name": window.name}, status=201)
