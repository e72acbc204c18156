"""Could an escalation reach anybody right now? The answer the readiness page gives."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.utils import timezone

from hisguard.organisation.models import Hospital, Person
from hisguard.paging.models import EscalationPolicy, StepTarget, WorkerHeartbeat
from hisguard.paging.targets import resolve_all, snapshot_target


@dataclass
class StepCheck:
    order: int
    delay_minutes: int
    targets: list[str]
    reachable: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)


@dataclass
class ClassCheck:
    hospital_class: int
    policy: EscalationPolicy | None
    steps: list[StepCheck]

    @property
    def reaches_nobody(self) -> bool:
        return not any(step.reachable for step in self.steps)


def reachable(person: Person) -> bool:
    return any(method.is_active for method in person.contact_methods.all())


def check_hospital(hospital: Hospital, at: datetime.datetime | None = None) -> list[ClassCheck]:
    at = at or timezone.now()
    checks = []
    for level in (1, 2, 3):
        policy = EscalationPolicy.objects.filter(hospital=hospital, hospital_class=level).first()
        steps: list[StepCheck] = []
        if policy is not None:
            for step in policy.steps.prefetch_related("targets").order_by("order", "delay_minutes"):
                targets: list[StepTarget] = list(step.targets.all())
                people = resolve_all([snapshot_target(t) for t in targets], hospital.pk, at)
                check = StepCheck(step.order, step.delay_minutes, [str(t) for t in targets])
                for person in people:
                    (check.reachable if reachable(person) else check.unreachable).append(person.name)
                steps.append(check)
        checks.append(ClassCheck(level, policy, steps))
    return checks


def workers(now: datetime.datetime | None = None) -> list[tuple[WorkerHeartbeat, bool]]:
    now = now or timezone.now()
    return [
        (beat, now - beat.last_seen < datetime.timedelta(seconds=60))
        for beat in WorkerHeartbeat.objects.all()
    ]


def stuck(now: datetime.datetime | None = None) -> dict[str, int]:
    """What has waited past its time: a sign that no worker runs or one is stuck."""
    from hisguard.paging.auditor import GRACE
    from hisguard.paging.models import Delivery, EscalationRun

    now = now or timezone.now()
    return {
        "runs": EscalationRun.objects.filter(
            state__in=[EscalationRun.State.ACTIVE, EscalationRun.State.ACKNOWLEDGED],
            next_due_at__lt=now - GRACE,
        ).count(),
        "deliveries": Delivery.objects.filter(
            state=Delivery.State.QUEUED, next_attempt_at__lt=now - GRACE
        ).count(),
    }
