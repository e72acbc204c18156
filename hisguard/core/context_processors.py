from __future__ import annotations

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav": {
            "console": user.has_perm("incidents.view_incident"),
            "intake": user.has_perm("reporting.add_faultreport"),
            "organisation": user.has_perm("organisation.view_department"),
            "audit": user.has_perm("core.view_auditlog"),
            "paging": user.has_perm("paging.view_dutyroster"),
            "response": user.has_perm("response.view_playbook"),
            "monitoring": user.has_perm("incidents.view_incident"),
            "continuity": _continuity(user),
            "admin": user.is_staff,
        }
    }


def _continuity(user) -> bool:
    from hisguard.continuity.access import may_use_continuity

    return may_use_continuity(user)
