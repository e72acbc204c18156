"""The auditor: finds escalations and messages that stopped moving, repairs what it safely
can, and reports the rest (the readiness page and the worker's log show it)."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef

from hisguard.paging.models import Delivery, EscalationRun, Notification

log = logging.getLogger("hisguard.auditor")
GRACE = datetime.timedelta(minutes=2)


@dataclass
class AuditReport:
    repaired_runs: int = 0
    overdue_runs: int = 0
    requeued_notifications: int = 0
    overdue_deliveries: int = 0

    @property
    def clean(self) -> bool:
        return not (
            self.repaired_runs or self.overdue_runs or self.requeued_notifications or self.overdue_deliveries
        )


@transaction.atomic
def audit(now: datetime.datetime) -> AuditReport:
    report = AuditReport()
    # An active run with firings left but no due time would never move again: re-plan it.
    for run in EscalationRun.objects.select_for_update(skip_locked=True).filter(
        state=EscalationRun.State.ACTIVE, next_due_at__isnull=True
    ):
        firings = run.snapshot.get("firings", [])
        if not run.is_expanded:  # its policy is not frozen onto it yet: due at once
            run.next_due_at = run.started_at
        elif run.next_index < len(firings):
            offset = firings[run.next_index]["offset_minutes"]
            run.next_due_at = run.started_at + datetime.timedelta(minutes=offset)
        else:
            run.state, run.ended_at = EscalationRun.State.FINISHED, now
        run.save(update_fields=["next_due_at", "state", "ended_at"])
        report.repaired_runs += 1
    # Due long ago and still not fired: no worker is running, or one is stuck.
    report.overdue_runs = EscalationRun.objects.filter(
        state__in=[EscalationRun.State.ACTIVE, EscalationRun.State.ACKNOWLEDGED], next_due_at__lt=now - GRACE
    ).count()
    # A pending message with no delivery in flight or queued was lost between steps: queue it.
    live = Delivery.objects.filter(
        notification=OuterRef("pk"),
        state__in=[Delivery.State.QUEUED, Delivery.State.SENDING, Delivery.State.SENT],
    )
    for notification in (
        Notification.objects.filter(
            state=Notification.State.PENDING, person__isnull=False, created_at__lt=now - GRACE
        )
        .exclude(kind=Notification.Kind.DIGEST)
        .annotate(has_live=Exists(live))
        .filter(has_live=False)
        .select_related("person")
    ):
        person = notification.person
        assert person is not None  # filtered on person above
        method = person.contact_methods.filter(is_active=True).order_by("priority").first()
        if method is None:
            notification.state = Notification.State.UNREACHABLE
            notification.save(update_fields=["state"])
            continue
        Delivery.objects.create(
            notification=notification,
            contact_method=method,
            channel=method.channel,
            address=method.address,
            next_attempt_at=now,
        )
        report.requeued_notifications += 1
    report.overdue_deliveries = Delivery.objects.filter(
        state=Delivery.State.QUEUED, next_attempt_at__lt=now - GRACE
    ).count()
    if not report.clean:
        log.warning("auditor: %s", report)
    return report
