"""The plan's escalation defaults (处理原则, DESIGN §4) and duty rosters built from the people.

Class III → the network administrator on duty (then the IT head if nobody acknowledges).
Class II → the IT head and the administrator on duty (then the IT on-call lead, then leadership).
Class I → the IT head and hospital leadership at once, the leading group, and every department
told (informational, not stopped by acknowledgement).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from django.db import transaction

from hisguard.organisation.models import Hospital, Person
from hisguard.paging.models import (
    DutyRoster,
    EscalationPolicy,
    EscalationStep,
    RosterLayer,
    RosterMember,
    StepTarget,
)

P = Person.Position
T = StepTarget.Kind
ROSTERS = [
    ("network-admin", "网络管理员值班", [P.NETWORK_ADMIN, P.IT_ENGINEER]),
    ("it-oncall", "信息科二线值班", [P.IT_HEAD, P.IT_ENGINEER]),
    ("leadership-oncall", "行政总值班", [P.HOSPITAL_LEADER, P.LEADER, P.DEPUTY_LEADER]),
]


def _roster(
    hospital: Hospital, code: str, name: str, positions: Sequence[str], start: datetime.date
) -> DutyRoster:
    roster, created = DutyRoster.objects.get_or_create(hospital=hospital, code=code, defaults={"name": name})
    if not created:
        return roster
    people = list(
        Person.objects.filter(hospital=hospital, position__in=positions, is_active=True).order_by(
            "employee_no"
        )
    )
    if not people:
        return roster
    weekdays = RosterLayer.objects.create(
        roster=roster,
        name="工作日轮班",
        applies_on=RosterLayer.AppliesOn.WORKDAYS,
        priority=1,
        start_date=start,
    )
    rest = RosterLayer.objects.create(
        roster=roster,
        name="节假日轮班",
        applies_on=RosterLayer.AppliesOn.REST_DAYS,
        priority=2,
        start_date=start,
    )
    RosterMember.objects.bulk_create(
        [RosterMember(layer=weekdays, person=p, position=i) for i, p in enumerate(people)]
    )
    # On rest days the rotation starts from the other end, so holiday duty is spread too.
    RosterMember.objects.bulk_create(
        [RosterMember(layer=rest, person=p, position=i) for i, p in enumerate(reversed(people))]
    )
    return roster


def _step(policy: EscalationPolicy, order: int, delay: int, targets: list[dict], **options) -> None:
    step = EscalationStep.objects.create(policy=policy, order=order, delay_minutes=delay, **options)
    StepTarget.objects.bulk_create([StepTarget(step=step, **target) for target in targets])


@transaction.atomic
def ensure_defaults(hospital: Hospital, start: datetime.date | None = None) -> None:
    """Create the rosters and the three policies when the hospital has none (idempotent)."""
    start = start or datetime.date(2026, 1, 1)
    rosters = {code: _roster(hospital, code, name, positions, start) for code, name, positions in ROSTERS}
    on_duty = {"kind": T.ROSTER, "roster": rosters["network-admin"]}
    if not EscalationPolicy.objects.filter(hospital=hospital, hospital_class=3).exists():
        policy = EscalationPolicy.objects.create(
            hospital=hospital, hospital_class=3, name="三类故障：值班网管"
        )
        _step(policy, 0, 0, [on_duty], repeat_every_minutes=10, repeat_times=1)
        _step(policy, 1, 30, [{"kind": T.POSITION, "position": P.IT_HEAD}])
    if not EscalationPolicy.objects.filter(hospital=hospital, hospital_class=2).exists():
        policy = EscalationPolicy.objects.create(
            hospital=hospital, hospital_class=2, name="二类故障：信息科长"
        )
        _step(
            policy,
            0,
            0,
            [{"kind": T.POSITION, "position": P.IT_HEAD}, on_duty],
            repeat_every_minutes=5,
            repeat_times=2,
        )
        _step(policy, 1, 10, [{"kind": T.ROSTER, "roster": rosters["it-oncall"]}])
        _step(policy, 2, 20, [{"kind": T.ROSTER, "roster": rosters["leadership-oncall"]}])
        _step(policy, 3, 0, [{"kind": T.AFFECTED_HEADS}], requires_ack=False)
    if not EscalationPolicy.objects.filter(hospital=hospital, hospital_class=1).exists():
        policy = EscalationPolicy.objects.create(
            hospital=hospital, hospital_class=1, name="一类故障：院领导与全院"
        )
        _step(
            policy,
            0,
            0,
            [
                {"kind": T.POSITION, "position": P.IT_HEAD},
                {"kind": T.LEADING_GROUP},
                on_duty,
                {"kind": T.ROSTER, "roster": rosters["leadership-oncall"]},
            ],
            repeat_every_minutes=5,
            repeat_times=2,
        )
        _step(policy, 1, 0, [{"kind": T.DEPARTMENT_HEADS}], requires_ack=False)
        _step(policy, 2, 10, [{"kind": T.POSITION, "position": P.HOSPITAL_LEADER}])
