"""Who may see which ward's packet.

- IT (``continuity.view_all_packets``: network administrators, the IT head) sees every ward;
- ward staff (``continuity.view_ward_packets``, the ``ward_staff`` role) see the ward of the
  Person linked to their login — a nurse moved to another ward sees the new ward at once;
- anyone with ``continuity.break_glass`` may open other wards for a few hours by giving a
  reason (an `EmergencyAccess`), which alerts the emergency office.

Everyone else sees nothing, and every look — allowed or refused — is in the access log.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from hisguard.continuity.models import EmergencyAccess
from hisguard.organisation.models import Department, Person

IT, WARD, EMERGENCY = "it", "ward", "emergency"

REASONS = [
    ("downtime", _("HIS downtime: caring for patients")),
    ("drill", _("Downtime drill")),
    ("handover", _("Shift handover during downtime")),
    ("check", _("Checking the packet is complete (IT)")),
    ("other", _("Other (say what)")),
]
REASON_LABELS = dict(REASONS)


@dataclass(frozen=True)
class Grant:
    kind: str
    emergency: EmergencyAccess | None = None


def person_of(user) -> Person | None:
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        person = user.person
    except Person.DoesNotExist:
        return None
    return person if person.is_active else None


def own_ward_id(user) -> int | None:
    person = person_of(user)
    if person is None or person.department_id is None:
        return None
    if not user.has_perm("continuity.view_ward_packets"):
        return None
    return person.department_id


def active_emergencies(user, now: datetime.datetime) -> QuerySet[EmergencyAccess]:
    return EmergencyAccess.objects.filter(user=user, started_at__lte=now, expires_at__gt=now)


def grant_for(user, ward: Department, now: datetime.datetime) -> Grant | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.has_perm("continuity.view_all_packets"):
        return Grant(IT)
    if own_ward_id(user) == ward.pk:
        return Grant(WARD)
    emergency = active_emergencies(user, now).filter(Q(ward=ward) | Q(ward__isnull=True)).first()
    if emergency is not None:
        return Grant(EMERGENCY, emergency)
    return None


def visible_wards(user, now: datetime.datetime) -> QuerySet[Department]:
    wards = Department.objects.filter(kind=Department.Kind.WARD).select_related("hospital")
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return wards.none()
    if user.has_perm("continuity.view_all_packets"):
        return wards
    emergencies = list(active_emergencies(user, now))
    if any(e.ward_id is None for e in emergencies):
        return wards
    ids: set[int] = {e.ward_id for e in emergencies if e.ward_id is not None}
    own = own_ward_id(user)
    if own is not None:
        ids.add(own)
    return wards.filter(pk__in=ids)


def may_use_continuity(user) -> bool:
    """Whether the continuity pages are in the user's menu at all."""
    return bool(getattr(user, "is_authenticated", False)) and any(
        user.has_perm(p)
        for p in (
            "continuity.view_all_packets",
            "continuity.view_ward_packets",
            "continuity.break_glass",
            "continuity.print_forms",
            "continuity.view_connector",
        )
    )
