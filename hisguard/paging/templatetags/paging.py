"""The paging panel on the incident page, as a template tag so incidents need not import paging."""

from __future__ import annotations

from django import template

from hisguard.paging.models import EscalationRun, Notification

register = template.Library()


@register.inclusion_tag("paging/_incident_panel.html", takes_context=True)
def incident_paging(context, incident):
    notifications = (
        Notification.objects.filter(incident=incident)
        .select_related("person")
        .prefetch_related("deliveries__attempt_log")
        .order_by("-created_at")[:200]
    )
    return {
        "incident": incident,
        "perms": context.get("perms"),
        "csrf_token": context.get("csrf_token"),
        "runs": EscalationRun.objects.filter(incident=incident).select_related("acknowledged_by"),
        "active": EscalationRun.objects.filter(incident=incident, state=EscalationRun.State.ACTIVE).exists(),
        "notifications": notifications,
    }
