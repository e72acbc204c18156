from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from hisguard.core.models import AuditLog
from hisguard.core.permissions import require_perm


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.user.has_perm("incidents.view_incident"):
        return redirect("console")
    if request.user.is_authenticated:
        return redirect("departments")
    return redirect("login")


@require_perm("core.view_auditlog")
def audit_log(request: HttpRequest) -> HttpResponse:
    query = AuditLog.objects.select_related("actor")
    action = request.GET.get("action", "").strip()
    actor = request.GET.get("actor", "").strip()
    if action:
        query = query.filter(action__startswith=action)
    if actor:
        query = query.filter(actor_label__icontains=actor)
    page = Paginator(query, 100).get_page(request.GET.get("page"))
    return render(request, "core/audit.html", {"page": page, "action": action, "actor": actor})
