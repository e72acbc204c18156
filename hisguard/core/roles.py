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

# Incident command (hisguard.response): leadership declares the emergency; the IT head and
# leadership command; IT works the playbook; the emergency office keeps the plans.
_VIEW_RESPONSE = [
    f"response.view_{model}"
    for model in (
        "playbook",
        "playbookstep",
        "downtimeprocedure",
        "paperform",
        "formstock",
        "tempnumberrange",
        "contact",
        "review",
        "followupaction",
    )
]
_MANAGE_PLANS = ["response.manage_plans"] + [
    f"response.{verb}_{model}"
    for verb in ("add", "change", "delete")
    for model in (
        "playbook",
        "playbookstep",
        "downtimeprocedure",
        "paperform",
        "formstock",
        "tempnumberrange",
        "contact",
    )
]
_RESPONSE_PERMISSIONS: dict[str, list[str]] = {
    NETWORK_ADMIN: [*_VIEW_RESPONSE, "response.work_response"],
    IT_HEAD: _VIEW_RESPONSE
    + _MANAGE_PLANS
    + [
        "response.work_response",
        "response.command_response",
        "response.waive_backentry",
        "response.review_incident",
    ],
    LEADERSHIP: [
        *_VIEW_RESPONSE,
        "response.command_response",
        "response.declare_emergency",
        "response.waive_backentry",
        "response.review_incident",
    ],
    EMERGENCY_OFFICE: _VIEW_RESPONSE + _MANAGE_PLANS + ["response.work_response", "response.review_incident"],
    AUDITOR: _VIEW_RESPONSE,
}
for _role, _codes in _RESPONSE_PERMISSIONS.items():
    ROLE_PERMISSIONS[_role] = ROLE_PERMISSIONS[_role] + _codes

# Downtime data continuity (hisguard.continuity). Ward staff see the packets of their own ward
# (the ward of the Person linked to their login); IT sees every ward; anyone else only through
# break-glass, with a reason, which alerts the emergency office.
WARD_STAFF = "ward_staff"
ROLE_LABELS[WARD_STAFF] = _("Ward staff (downtime packets of their ward)")
_CONTINUITY_STATUS = ["continuity.view_connector", "continuity.view_snapshot", "continuity.view_downtimenode"]
_CONTINUITY_MANAGE = [
    f"continuity.{verb}_{model}"
    for verb in ("add", "change", "delete")
    for model in ("connector", "downtimenode")
]
_CONTINUITY_AUDIT = ["continuity.view_packetaccess", "continuity.view_emergencyaccess"]
_CONTINUITY_IT = ["continuity.view_all_packets", "continuity.run_snapshot", "continuity.print_forms"]
_CONTINUITY_PERMISSIONS: dict[str, list[str]] = {
    WARD_STAFF: ["continuity.view_ward_packets", "continuity.break_glass", "continuity.print_forms"],
    NETWORK_ADMIN: _CONTINUITY_STATUS + _CONTINUITY_IT,
    IT_HEAD: _CONTINUITY_STATUS + _CONTINUITY_IT + _CONTINUITY_MANAGE + _CONTINUITY_AUDIT,
    LEADERSHIP: [*_CONTINUITY_STATUS, "continuity.break_glass", "continuity.print_forms"],
    EMERGENCY_OFFICE: [*_CONTINUITY_STATUS, *_CONTINUITY_AUDIT, "continuity.print_forms"],
    AUDITOR: _CONTINUITY_STATUS + _CONTINUITY_AUDIT,
}
ROLE_PERMISSIONS.setdefault(WARD_STAFF, [])
for _role, _codes in _CONTINUITY_PERMISSIONS.items():
    ROLE_PERMISSIONS[_role] = ROLE_PERMISSIONS[_role] + _codes

# Monitoring (hisguard.monitoring): everyone who sees incidents sees the monitoring pages (they
# need incidents.view_incident); the network administrator and the IT head manage checks,
# heartbeats, intake sources, mapping rules and maintenance windows. Allowed networks (what the
# checker may contact) are for superusers only.
_MANAGE_MONITORING = ["monitoring.manage_monitoring"] + [
    f"monitoring.{verb}_{model}"
    for verb in ("add", "change", "delete", "view")
    for model in ("activecheck", "heartbeat", "intakesource", "mappingrule", "maintenancewindow")
]
for _role in (NETWORK_ADMIN, IT_HEAD):
    ROLE_PERMISSIONS[_role] = ROLE_PERMISSIONS[_role] + _MANAGE_MONITORING


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
