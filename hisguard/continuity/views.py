"""Downtime packet pages: the ward list, a ward's packet (HTML and PDF), print-all, break-glass,
blank forms, and for IT the connectors, snapshots, nodes and the access log. Thin: the rules
are in actions.py and access.py."""

from __future__ import annotations

import datetime
import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from hisguard.continuity import access, actions
from hisguard.continuity.connectors import CONNECTORS
from hisguard.continuity.forms import BreakGlassForm, ConnectorForm, NodeForm, PaperForm, ReasonForm
from hisguard.continuity.models import (
    Connector,
    DowntimeNode,
    EmergencyAccess,
    PacketAccess,
    Snapshot,
    WardPacket,
)
from hisguard.continuity.paper import forms_pdf
from hisguard.continuity.pdf import FontMissing, packet_pdf
from hisguard.continuity.present import issue_message, present
from hisguard.continuity.render import packet_html, rendered
from hisguard.core.errors import DomainError, Forbidden, interpolate
from hisguard.core.middleware import client_ip
from hisguard.core.permissions import require_perm
from hisguard.organisation.models import Department

REASON_SESSION_KEY = "continuity_reason"
REASON_HOURS = 8


def _login_required(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not access.may_use_continuity(request.user):
        raise PermissionDenied
    return None


def _remembered_reason(request: HttpRequest) -> str:
    saved = request.session.get(REASON_SESSION_KEY) or {}
    until = saved.get("until")
    if until and datetime.datetime.fromisoformat(until) > timezone.now():
        return str(saved.get("reason", ""))
    return ""


def _reason(request: HttpRequest) -> str:
    """The reason given with this request (remembered for the shift), or ""."""
    code = request.GET.get("reason") or request.POST.get("reason")
    if code:
        try:
            reason = actions.clean_reason(code, request.GET.get("detail") or request.POST.get("detail") or "")
        except DomainError as exc:
            messages.error(request, str(exc.message))
            return ""
        request.session[REASON_SESSION_KEY] = {
            "reason": reason,
            "until": (timezone.now() + datetime.timedelta(hours=REASON_HOURS)).isoformat(),
        }
        return reason
    return _remembered_reason(request)


def home(request: HttpRequest) -> HttpResponse:
    if (denied := _login_required(request)) is not None:
        return denied
    user, now = request.user, timezone.now()
    wards = list(access.visible_wards(user, now).order_by("hospital__code", "code"))
    latest: dict[int, WardPacket] = {}
    for packet in WardPacket.objects.filter(ward__in=wards, snapshot__status=Snapshot.Status.OK).order_by(
        "ward_id", "-as_of", "-snapshot_id"
    ):
        latest.setdefault(packet.ward_id, packet)
    rows = [{"ward": w, "packet": latest.get(w.pk)} for w in wards]
    context = {
        "rows": rows,
        "reason_form": ReasonForm(),
        "remembered": _remembered_reason(request),
        "is_it": user.has_perm("continuity.view_all_packets"),
        "can_break_glass": user.has_perm("continuity.break_glass"),
        "emergencies": access.active_emergencies(user, now).select_related("ward"),
        "now": now,
    }
    if user.has_perm("continuity.view_connector"):
        connectors = []
        for connector in Connector.objects.select_related("hospital").order_by("hospital__code", "name"):
            connectors.append({"c": connector, "health": actions.assess(connector, now)})
        context["connectors"] = connectors
    if user.has_perm("continuity.view_downtimenode"):
        context["nodes"] = DowntimeNode.objects.select_related("ward").order_by("ward__code", "name")
    return render(request, "continuity/home.html", context)


def _ward(pk: int) -> Department:
    return get_object_or_404(Department.objects.select_related("hospital"), pk=pk, kind=Department.Kind.WARD)


def _reason_page(request: HttpRequest, ward: Department | None, target: str) -> HttpResponse:
    form = ReasonForm(request.GET or None)
    return render(request, "continuity/reason.html", {"ward": ward, "form": form, "target": target})


def ward_packet(request: HttpRequest, pk: int) -> HttpResponse:
    if (denied := _login_required(request)) is not None:
        return denied
    ward = _ward(pk)
    reason = _reason(request)
    if not reason:
        return _reason_page(request, ward, reverse("continuity-ward", args=[ward.pk]))
    try:
        packet = actions.open_packet(request.user, ward, reason=reason, ip=client_ip(request))
    except Forbidden as exc:
        return render(request, "continuity/denied.html", {"ward": ward, "message": exc.message}, status=403)
    if packet is None:
        return render(request, "continuity/no_packet.html", {"ward": ward})
    view = present(packet.data())
    age = int((timezone.now() - packet.as_of).total_seconds() // 60)
    banner = str(
        interpolate(
            _("Read-only copy from HISGuard, %(age)s min old. Opened by %(who)s: %(reason)s."),
            {"age": age, "who": request.user.get_username(), "reason": reason},
        )
    )
    links = [
        {"url": reverse("continuity-ward-pdf", args=[ward.pk]), "label": _("Print (PDF)")},
        {"url": reverse("continuity-home"), "label": _("All wards")},
    ]
    return HttpResponse(packet_html(view, banner=banner, banner_old=age > 120, links=links))


def _pdf_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def ward_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    if (denied := _login_required(request)) is not None:
        return denied
    ward = _ward(pk)
    reason = _reason(request)
    if not reason:
        return _reason_page(request, ward, reverse("continuity-ward-pdf", args=[ward.pk]))
    try:
        packet = actions.open_packet(
            request.user, ward, reason=reason, action=PacketAccess.Action.PRINT, ip=client_ip(request)
        )
    except Forbidden as exc:
        return render(request, "continuity/denied.html", {"ward": ward, "message": exc.message}, status=403)
    if packet is None:
        return render(request, "continuity/no_packet.html", {"ward": ward})
    try:
        if request.LANGUAGE_CODE == settings.LANGUAGE_CODE:
            data = rendered(packet).pdf
        else:
            data = packet_pdf(
                [present(packet.data())],
                printed_by=request.user.get_username(),
                printed_at=timezone.localtime(),
            )
    except FontMissing as exc:
        return HttpResponse(str(exc), status=500, content_type="text/plain; charset=utf-8")
    return _pdf_response(data, f"packet-{ward.code}-{packet.as_of:%Y%m%d%H%M}.pdf")


def print_all(request: HttpRequest) -> HttpResponse:
    """Every ward the user may see, one PDF (each ward numbered on its own)."""
    if (denied := _login_required(request)) is not None:
        return denied
    reason = _reason(request)
    if not reason:
        return _reason_page(request, None, reverse("continuity-print-all"))
    now = timezone.now()
    views = []
    for ward in access.visible_wards(request.user, now).order_by("hospital__code", "code"):
        packet = actions.open_packet(
            request.user,
            ward,
            reason=reason,
            action=PacketAccess.Action.PRINT_ALL,
            ip=client_ip(request),
            now=now,
        )
        if packet is not None:
            views.append(present(packet.data()))
    if not views:
        messages.error(request, _("There is no packet to print yet."))
        return redirect("continuity-home")
    from hisguard.continuity.pdf import SubsetFont, label_texts, view_texts

    with SubsetFont([*view_texts(views), *label_texts()]) as font:
        data = packet_pdf(
            views,
            printed_by=request.user.get_username(),
            printed_at=timezone.localtime(now),
            fonts=font.specs,
        )
    return _pdf_response(data, f"packets-all-{timezone.localtime(now):%Y%m%d%H%M}.pdf")


@require_http_methods(["GET", "POST"])
@require_perm("continuity.break_glass")
def break_glass(request: HttpRequest) -> HttpResponse:
    form = BreakGlassForm(request.POST or None, initial={"ward": request.GET.get("ward")})
    if request.method == "POST" and form.is_valid():
        try:
            grant = actions.break_glass(
                request.user,
                ward=form.cleaned_data["ward"],
                reason=form.cleaned_data["reason"],
                hours=form.cleaned_data["hours"],
                ip=client_ip(request),
            )
        except DomainError as exc:
            form.add_error(None, str(exc.message))
        else:
            messages.warning(
                request,
                interpolate(
                    _("Emergency access granted until %(until)s; the emergency office has been told."),
                    {"until": timezone.localtime(grant.expires_at).strftime("%Y-%m-%d %H:%M")},
                ),
            )
            if grant.ward_id:
                return redirect("continuity-ward", grant.ward_id)
            return redirect("continuity-home")
    return render(request, "continuity/break_glass.html", {"form": form})


@require_perm("continuity.print_forms")
def paper(request: HttpRequest) -> HttpResponse:
    form = PaperForm(request.GET or None, initial={"date": timezone.localdate()})
    if request.GET and form.is_valid():
        department = form.cleaned_data["department"]
        try:
            data = forms_pdf(
                form.cleaned_data["kinds"],
                department=f"{department.name} ({department.code})",
                hospital=department.hospital.name,
                date=form.cleaned_data["date"],
            )
        except FontMissing as exc:
            return HttpResponse(str(exc), status=500, content_type="text/plain; charset=utf-8")
        return _pdf_response(data, f"forms-{department.code}.pdf")
    return render(request, "continuity/paper.html", {"form": form})


# --- IT: connectors, snapshots, nodes, the access log ---------------------------------------------


@require_http_methods(["GET", "POST"])
def connector_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    connector = get_object_or_404(Connector, pk=pk) if pk else None
    perm = "continuity.change_connector" if connector else "continuity.add_connector"
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not request.user.has_perm(perm):
        raise PermissionDenied
    initial = (
        {"kind": request.GET.get("kind")} if not connector and request.GET.get("kind") in CONNECTORS else {}
    )
    form = ConnectorForm(request.POST or None, instance=connector, initial=initial)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, interpolate(_("Connector %(name)s saved."), {"name": saved.name}))
        return redirect("continuity-connector", saved.pk)
    examples = {
        kind: json.dumps(cls.defaults, ensure_ascii=False, indent=2) for kind, cls in CONNECTORS.items()
    }
    snapshots = connector.snapshots.order_by("-started_at")[:20] if connector else []
    return render(
        request,
        "continuity/connector.html",
        {
            "form": form,
            "connector": connector,
            "examples": examples,
            "kinds": Connector.Kind,
            "snapshots": snapshots,
        },
    )


@require_POST
@require_perm("continuity.run_snapshot")
def connector_try(request: HttpRequest, pk: int) -> HttpResponse:
    connector = get_object_or_404(Connector.objects.select_related("hospital"), pk=pk)
    result = actions.try_connector(connector)
    result["issue_texts"] = [f"{i['r']}: {issue_message(i)}" for i in result.get("issues", [])]
    return render(request, "continuity/_try.html", {"result": result, "connector": connector})


@require_POST
@require_perm("continuity.run_snapshot")
def connector_run(request: HttpRequest, pk: int) -> HttpResponse:
    connector = get_object_or_404(Connector.objects.select_related("hospital"), pk=pk)
    snapshot = actions.run_snapshot(connector, trigger=Snapshot.Trigger.MANUAL)
    if snapshot.status == Snapshot.Status.OK:
        messages.success(
            request,
            interpolate(
                _("Snapshot taken: %(patients)s patients, %(skipped)s records skipped."),
                {"patients": snapshot.patients, "skipped": snapshot.skipped},
            ),
        )
    else:
        messages.error(
            request,
            interpolate(
                _("The snapshot failed; the last good one stays. %(error)s"), {"error": snapshot.error}
            ),
        )
    return redirect("continuity-snapshot", snapshot.pk)


@require_perm("continuity.view_snapshot")
def snapshot_detail(request: HttpRequest, pk: int) -> HttpResponse:
    snapshot = get_object_or_404(Snapshot.objects.select_related("connector"), pk=pk)
    issues = []
    if request.user.has_perm("continuity.view_all_packets"):  # issues may quote patient data
        issues = [
            {
                "resource": i["r"],
                "ward": i.get("ward", ""),
                "message": issue_message(i),
                "warning": bool(i.get("w")),
            }
            for i in snapshot.issues()
        ]
    packets = snapshot.packets.select_related("ward").order_by("ward__code")
    return render(
        request, "continuity/snapshot.html", {"snapshot": snapshot, "issues": issues, "packets": packets}
    )


@require_http_methods(["GET", "POST"])
@require_perm("continuity.add_downtimenode")
def node_new(request: HttpRequest) -> HttpResponse:
    form = NodeForm(request.POST or None, initial={"ward": request.GET.get("ward")})
    if request.method == "POST" and form.is_valid():
        try:
            node, token = actions.register_node(
                form.cleaned_data["ward"],
                form.cleaned_data["name"],
                warn_after_minutes=form.cleaned_data["warn_after_minutes"],
            )
        except DomainError as exc:
            form.add_error("ward", str(exc.message))
        else:
            return _token_page(request, node, token)
    return render(request, "continuity/node_new.html", {"form": form})


def _token_page(request: HttpRequest, node: DowntimeNode, token: str) -> HttpResponse:
    command = f"hisguard downtime_node --server {settings.SITE_URL} --token {token}"
    return render(request, "continuity/node_token.html", {"node": node, "token": token, "command": command})


@require_POST
@require_perm("continuity.change_downtimenode")
def node_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    node = get_object_or_404(DowntimeNode, pk=pk)
    return _token_page(request, node, actions.rotate_node_token(node))


@require_POST
@require_perm("continuity.change_downtimenode")
def node_active(request: HttpRequest, pk: int) -> HttpResponse:
    node = get_object_or_404(DowntimeNode, pk=pk)
    node.is_active = not node.is_active
    node.save(update_fields=["is_active"])
    return redirect("continuity-home")


@require_perm("continuity.view_packetaccess")
def access_log(request: HttpRequest) -> HttpResponse:
    rows = PacketAccess.objects.select_related("ward", "emergency").order_by("-at", "-id")
    ward = request.GET.get("ward")
    if ward:
        rows = rows.filter(ward__code=ward)
    if request.GET.get("emergency"):
        rows = rows.filter(emergency__isnull=False)
    page = Paginator(rows, 100).get_page(request.GET.get("page"))
    emergencies = EmergencyAccess.objects.select_related("user", "ward").order_by("-started_at")[:20]
    query = urlencode([(k, str(v)) for k, v in request.GET.items() if k != "page"])
    return render(
        request,
        "continuity/access_log.html",
        {"page": page, "emergencies": emergencies, "ward": ward or "", "query": query},
    )
