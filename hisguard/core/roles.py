"""The plan's roles as Django groups, and what each may do.

The groups are rebuilt from this table after every migration, so the table is the single
truth; an administrator assigns people to groups in the admin.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

NETWORK_ADMIN = "network_admin"
IT_HEAD = "it_head"
LEADERSHIP = "leadership"
EMERGENCY_OFFICE = "emergency_office"
AUDITOR = "auditor"
ADMIN = "admin"

ROLE_LABELS = {
    NETWORK_ADMIN: _("Network administrator"),
    IT_HEAD: _("IT head"),
    LEADERSHIP: _("Hospital leadership"),
    EMERGENCY_OFFICE: _("Emergency office"),
    AUDITOR: _("Auditor"),
    ADMIN: _("Administrator"),
}

_VIEW_ORGANISATION = [
    "organisation.view_hospital",
    "organisation.view_area",
    "organisation.view_department",
    "organisation.view_asset",
    "organisation.view_informationsystem",
    "organisation.view_person",
]
_CHANGE_ORGANISATION = [
    f"organisation.{verb}_{model}"
    for verb in ("add", "change", "delete")
    for model in ("hospital", "area", "department", "asset", "informationsystem", "person")
] + ["incidents.change_classificationpolicy", "incidents.view_classificationpolicy"]
_VIEW_INCIDENTS = [
    "incidents.view_incident",
    "reporting.view_faultreport",
    "incidents.view_maintenancelog",
    "paging.view_dutyroster",
    "paging.view_escalationpolicy",
    "paging.view_notification",
    "paging.view_delivery",
]
_CHANGE_PAGING = [
    f"paging.{verb}_{model}"
    for verb in ("add", "change", "delete", "view")
    for model in (
        "dutyroster",
        "rosterlayer",
        "rostermember",
        "rosteroverride",
        "escalationpolicy",
        "escalationstep",
        "steptarget",
        "contactmethod",
    )
]
_SWAP_SHIFTS = ["paging.add_rosteroverride", "paging.change_rosteroverride", "paging.view_rosteroverride"]
_TRIAGE = [
    "incidents.triage_incident",  # confirm, notes, feedback, status of class III, attach reports
    "reporting.add_faultreport",  # phone intake
    "incidents.add_maintenancelog",
    "incidents.mark_asset_down",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    NETWORK_ADMIN: _VIEW_ORGANISATION + _VIEW_INCIDENTS + _TRIAGE + _SWAP_SHIFTS,
    IT_HEAD: _VIEW_ORGANISATION
    + _CHANGE_ORGANISATION
    + _VIEW_INCIDENTS
    + _TRIAGE
    + _CHANGE_PAGING
    + ["incidents.classify_incident", "incidents.command_incident", "core.view_auditlog"],
    LEADERSHIP: _VIEW_ORGANISATION + _VIEW_INCIDENTS + ["incidents.command_incident"],
    EMERGENCY_OFFICE: _VIEW_ORGANISATION + _CHANGE_ORGANISATION + _VIEW_INCIDENTS + _CHANGE_PAGING,
    AUDITOR: _VIEW_ORGANISATION + _VIEW_INCIDENTS + ["core.view_auditlog"],
    ADMIN: [],  # administrators are superusers; the group only names them
}


def sync_role_groups(**kwargs) -> None:
    from django.contrib.auth.models import Group, Permission

    for role, codes in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        permissions = []
        for code in codes:
            app_label, codename = code.split(".")
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:
                permissions.append(perm)
        group.permissions.set(permissions)


def roles_of(user) -> list[str]:
    if not user.is_authenticated:
        return []
    return [name for name in user.groups.values_list("name", flat=True) if name in ROLE_LABELS]
