"""Monitoring pages: overview, per check / asset / system, alerts, unmapped queue, warnings,
heartbeats, sources and maintenance. Thin: the work is in actions, alerts and stats."""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from hisguard.core.errors import DomainError
from hisguard.core.permissions import require_perm
from hisguard.incidents.models import Incident
from hisguard.monitoring import actions, alerts, stats
from hisguard.monitoring.forms import CheckForm, HeartbeatForm, MapForm, SourceForm, WindowForm
from hisguard.monitoring.models import (
    ActiveCheck,
    Alert,
    CheckerNode,
    CheckState,
    EarlyWarning,
    Heartbeat,
    IntakeSource,
    MaintenanceWindow,
    State,
    StateChange,
)
from hisguard.monitoring.writer import heartbeat_ping
from hisguard.organisation.lookup import find_asset
from hisguard.organisation.models import Asset, InformationSystem

VIEW = "incidents.view_incident"
MANAGE = "monitoring.manage_monitoring"
CHARTED = 12  # checks charted on an asset or system page; the rest are on the checks list


def _check_rows(
    checks: list[ActiveCheck], now: datetime.datetime, *, charts: bool, uptime: bool = True
) -> list[dict]:
    ids = [c.pk for c in checks]
    uptimes = stats.uptime(ids, now) if ids and uptime else {}
    last: dict[int, Any]
    if checks and hasattr(checks[0], "last_at"):  # annotated by stats.with_last
        last = {
            c.pk: SimpleNamespace(at=c.last_at, ok=c.last_ok, latency_ms=c.last_latency)  # type: ignore[attr-defined]
            for c in checks
            if c.last_at  # type: ignore[attr-defined]
        }
    else:
        last = stats.latest(ids) if ids else {}
    rows = []
    for check in checks:
        row = {
            "check": check,
            "state": getattr(check, "status", None),
            "uptime": uptimes.get(check.pk, {}),
            "last": last.get(check.pk),
        }
        if charts:
            span = stats.WINDOWS["24h"]
            row["chart"] = stats.svg_path(stats.series(check.pk, now, "24h"), now - span, span)
        rows.append(row)
    return rows


def _state_of(check: ActiveCheck) -> str:
    status = getattr(check, "status", None)
    return status.state if status else State.UNKNOWN


@require_perm(VIEW)
def overview(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    states = dict(
        CheckState.objects.filter(active_check__enabled=True).values_list("state").annotate(n=Count("pk"))
    )
    total = ActiveCheck.objects.filter(enabled=True).count()
    counts = {
        "up": states.get(State.UP, 0),
        "down": states.get(State.DOWN, 0),
        "unknown": total - states.get(State.UP, 0) - states.get(State.DOWN, 0),
        "firing": Alert.objects.filter(status=Alert.Status.FIRING).count(),
        "unmapped": Alert.objects.filter(asset__isnull=True, system__isnull=True, dismissed=False).count(),
        "warnings": EarlyWarning.objects.filter(cleared_at__isnull=True).count(),
    }
    troubled = (
        ActiveCheck.objects.filter(enabled=True)
        .filter(Q(status__state=State.DOWN) | Q(status__degraded=True))
        .select_related("status", "asset", "system")
        .order_by("status__state", "name")[:200]
    )
    nodes = list(CheckerNode.objects.order_by("name"))
    for node in nodes:
        node.alive = (now - node.last_seen).total_seconds() < 60  # type: ignore[attr-defined]
    return render(
        request,
        "monitoring/overview.html",
        {
            "counts": counts,
            "troubled": troubled,
            "firing": Alert.objects.filter(status=Alert.Status.FIRING)
            .select_related("asset", "system", "incident")
            .order_by("-last_received_at")[:50],
            "heartbeats": Heartbeat.objects.exclude(state=Heartbeat.HState.UP).filter(enabled=True)[:50],
            "nodes": nodes,
        },
    )


@require_perm(VIEW)
def check_list(request: HttpRequest) -> HttpResponse:
    query = stats.with_last(ActiveCheck.objects.select_related("status", "asset", "system")).order_by("name")
    state, kind, text = (
        request.GET.get("state", ""),
        request.GET.get("kind", ""),
        request.GET.get("q", "").strip(),
    )
    if state == State.UNKNOWN:
        query = query.filter(Q(status__isnull=True) | Q(status__state=State.UNKNOWN))
    elif state in State.values:
        query = query.filter(status__state=state)
    if kind in ActiveCheck.Kind.values:
        query = query.filter(kind=kind)
    if text:
        query = query.filter(
            Q(name__icontains=text)
            | Q(host__icontains=text)
            | Q(url__icontains=text)
            | Q(asset__hostname__icontains=text)
        )
    page = Paginator(query, 100).get_page(request.GET.get("page"))
    return render(
        request,
        "monitoring/checks.html",
        {
            "page": page,
            "rows": _check_rows(list(page.object_list), timezone.now(), charts=False, uptime=False),
            "state": state,
            "kind": kind,
            "q": text,
            "kinds": ActiveCheck.Kind.choices,
            "states": State.choices,
        },
    )


@require_perm(VIEW)
def check_detail(request: HttpRequest, pk: int) -> HttpResponse:
    check = get_object_or_404(
        ActiveCheck.objects.select_related("status", "asset", "system", "hospital"), pk=pk
    )
    now = timezone.now()
    span_name = request.GET.get("range", "24h")
    span_name = span_name if span_name in stats.WINDOWS else "24h"
    span = stats.WINDOWS[span_name]
    chart = stats.svg_path(stats.series(check.pk, now, span_name), now - span, span)
    row = _check_rows([check], now, charts=False)[0]
    incident_ids = Alert.objects.filter(active_check=check, incident__isnull=False).values_list(
        "incident_id", flat=True
    )
    return render(
        request,
        "monitoring/check_detail.html",
        {
            "check": check,
            "row": row,
            "chart": chart,
            "range": span_name,
            "ranges": list(stats.WINDOWS),
            "changes": StateChange.objects.filter(active_check=check).order_by("-at")[:50],
            "alerts": Alert.objects.filter(active_check=check)
            .select_related("incident")
            .order_by("-starts_at")[:50],
            "incidents": Incident.objects.filter(pk__in=incident_ids).order_by("-opened_at")[:50],
        },
    )


def _target_page(
    request: HttpRequest, *, asset: Asset | None, system: InformationSystem | None
) -> HttpResponse:
    now = timezone.now()
    if asset is not None:
        checks = ActiveCheck.objects.filter(asset=asset)
        heartbeats = Heartbeat.objects.filter(asset=asset)
        alert_query = Alert.objects.filter(asset=asset)
        incidents = Incident.objects.filter(Q(asset_links__asset=asset) | Q(alerts__asset=asset))
    else:
        assert system is not None
        checks = ActiveCheck.objects.filter(Q(system=system) | Q(asset__in=system.depends_on.all()))
        heartbeats = Heartbeat.objects.filter(system=system)
        alert_query = Alert.objects.filter(system=system)
        incidents = Incident.objects.filter(systems=system)
    check_list_ = list(checks.select_related("status", "asset", "system").order_by("name")[:CHARTED])
    return render(
        request,
        "monitoring/target.html",
        {
            "asset": asset,
            "system": system,
            "rows": _check_rows(check_list_, now, charts=True),
            "more_checks": max(0, checks.count() - CHARTED),
            "heartbeats": heartbeats,
            "alerts": alert_query.select_related("incident").order_by("status", "-last_received_at")[:50],
            "incidents": incidents.distinct().order_by("-opened_at")[:50],
        },
    )


@require_perm(VIEW)
def asset_page(request: HttpRequest, hostname: str) -> HttpResponse:
    asset = get_object_or_404(Asset, hostname=hostname)
    return _target_page(request, asset=asset, system=None)


@require_perm(VIEW)
def system_page(request: HttpRequest, pk: int) -> HttpResponse:
    return _target_page(request, asset=None, system=get_object_or_404(InformationSystem, pk=pk))


@require_perm(MANAGE)
def check_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    check = get_object_or_404(ActiveCheck, pk=pk) if pk else None
    if request.method == "POST":
        form = CheckForm(request.POST, instance=check)
        if form.is_valid():
            saved = form.save()
            from hisguard.core import audit

            audit.record("check.save", saved, kind=saved.kind, target=saved.target_label)
            messages.success(request, gettext("Saved."))
            return redirect("monitoring-check", saved.pk)
    else:
        form = CheckForm(instance=check)
    return render(request, "monitoring/check_form.html", {"form": form, "check": check})


@require_POST
@require_perm(MANAGE)
def check_delete(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(ActiveCheck, pk=pk).delete()
    messages.success(request, gettext("Deleted."))
    return redirect("monitoring-checks")


@require_perm(VIEW)
def alert_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "firing")
    query = Alert.objects.select_related("asset", "system", "incident").order_by("-last_received_at")
    if status in Alert.Status.values:
        query = query.filter(status=status)
    page = Paginator(query, 100).get_page(request.GET.get("page"))
    return render(request, "monitoring/alerts.html", {"page": page, "status": status})


@require_perm(VIEW)
def unmapped(request: HttpRequest) -> HttpResponse:
    query = (
        Alert.objects.filter(asset__isnull=True, system__isnull=True, dismissed=False)
        .select_related("intake_source")
        .order_by("status", "-last_received_at")
    )
    page = Paginator(query, 50).get_page(request.GET.get("page"))
    return render(request, "monitoring/unmapped.html", {"page": page, "form": MapForm()})


@require_POST
@require_perm(MANAGE)
def alert_map(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    form = MapForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        asset = (
            find_asset(data["asset_hostname"], Asset.objects.filter(hospital=alert.hospital), allow_id=False)
            if data["asset_hostname"]
            else None
        )
        system = InformationSystem.objects.filter(
            hospital=alert.hospital, code__iexact=data["system_code"]
        ).first()
        if data["asset_hostname"] and asset is None:
            messages.error(request, gettext("No asset has this hostname."))
        elif data["system_code"] and system is None:
            messages.error(request, gettext("No information system has this code."))
        else:
            try:
                alerts.map_alert(
                    alert, asset=asset, system=system, rule_label=data["rule_label"], user=request.user
                )
            except DomainError as exc:
                messages.error(request, str(exc.message))
            else:
                messages.success(request, gettext("Mapped."))
    return redirect("monitoring-unmapped")


@require_POST
@require_perm(MANAGE)
def alert_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    alerts.dismiss_alert(get_object_or_404(Alert, pk=pk))
    return redirect("monitoring-unmapped")


@require_perm(VIEW)
def warnings(request: HttpRequest) -> HttpResponse:
    rows = [
        (w, alerts.warning_text(w))
        for w in EarlyWarning.objects.filter(cleared_at__isnull=True)
        .select_related("active_check", "heartbeat")
        .order_by("kind", "-opened_at")[:500]
    ]
    recent = EarlyWarning.objects.filter(cleared_at__isnull=False).order_by("-cleared_at")[:50]
    return render(request, "monitoring/warnings.html", {"rows": rows, "recent": recent})


@require_perm(VIEW)
def heartbeats(request: HttpRequest) -> HttpResponse:
    form = HeartbeatForm()
    if request.method == "POST":
        if not request.user.has_perm(MANAGE):
            raise PermissionDenied
        form = HeartbeatForm(request.POST)
        if form.is_valid():
            form.save()
            messages.success(request, gettext("Saved."))
            return redirect("monitoring-heartbeats")
    return render(
        request,
        "monitoring/heartbeats.html",
        {"heartbeats": Heartbeat.objects.select_related("asset", "system").order_by("name"), "form": form},
    )


@csrf_exempt
@require_http_methods(["GET", "POST", "HEAD"])
def ping(request: HttpRequest, token: str, fail: bool = False) -> HttpResponse:
    """The URL a backup job or interface engine calls when it finishes (…/fail when it failed)."""
    heartbeat = Heartbeat.objects.filter(ping_token=token, enabled=True).first()
    if heartbeat is None:
        return HttpResponse("unknown heartbeat\n", status=404, content_type="text/plain")
    state = heartbeat_ping(heartbeat, failed=fail)
    return HttpResponse(f"{state}\n", content_type="text/plain")


@require_perm(MANAGE)
def sources(request: HttpRequest) -> HttpResponse:
    form = SourceForm()
    token = None
    if request.method == "POST":
        try:
            if "rotate" in request.POST:
                source = get_object_or_404(IntakeSource, pk=request.POST["rotate"])
                token = actions.rotate_source_token(source)
            else:
                source, token = actions.create_source(request.POST.dict())
        except actions.FormInvalid as exc:
            form = SourceForm(request.POST)
            form.is_valid()
            messages.error(request, str(exc.message))
            token = None
        else:
            form = SourceForm()
    return render(
        request,
        "monitoring/sources.html",
        {
            "sources": IntakeSource.objects.order_by("name"),
            "form": form,
            "token": token,
            "base": request.build_absolute_uri("/api/v1/intake/"),
        },
    )


@require_perm(VIEW)
def maintenance(request: HttpRequest) -> HttpResponse:
    form = WindowForm()
    if request.method == "POST":
        if not request.user.has_perm(MANAGE):
            raise PermissionDenied
        try:
            actions.save_window(request.POST.dict(), user=request.user)
        except actions.FormInvalid as exc:
            form = WindowForm(request.POST)
            form.is_valid()
            messages.error(request, str(exc.message))
        else:
            messages.success(request, gettext("Saved."))
            return redirect("monitoring-maintenance")
    now = timezone.now()
    windows = list(
        MaintenanceWindow.objects.prefetch_related("assets", "systems").order_by("-starts_at")[:100]
    )
    return render(
        request,
        "monitoring/maintenance.html",
        {"windows": [(w, w.is_active(now)) for w in windows], "form": form},
    )
