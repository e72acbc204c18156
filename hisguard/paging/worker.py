"""The delivery side of the outbox, and the loop `hisguard worker` runs.

Claiming uses SELECT … FOR UPDATE SKIP LOCKED (PostgreSQL), so any number of workers share
the work and none takes a row another holds; on SQLite one worker runs. A claimed delivery
is marked `sending` with a lease before anything leaves the machine; a worker that dies
mid-send leaves the lease to expire and the delivery is sent again with the same
idempotency key, which the peer uses to recognise the repeat.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.module_loading import import_string

from hisguard.incidents import timeline
from hisguard.incidents.models import TimelineEntry
from hisguard.paging import messages
from hisguard.paging.actions import ack_url_for, contact_methods, process_due_escalations
from hisguard.paging.channels import Outgoing, SendError, send
from hisguard.paging.models import Delivery, DeliveryAttempt, Notification, WorkerHeartbeat

log = logging.getLogger("hisguard.worker")


def periodic_jobs() -> list[tuple[str, float, Callable[[datetime.datetime], object]]]:
    """Jobs declared by the apps themselves: an AppConfig may list `worker_jobs` as
    (dotted path of a function taking `now`, interval in seconds). No central registry."""
    jobs = []
    for config in apps.get_app_configs():
        for path, interval in getattr(config, "worker_jobs", ()):
            jobs.append((path, float(interval), import_string(path)))
    return jobs


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Job:
    delivery_id: int
    channel: str
    message: Outgoing


@dataclass
class Outcome:
    delivery_id: int
    ok: bool
    detail: str
    retryable: bool
    duration_ms: int


def claim(now: datetime.datetime, limit: int) -> list[int]:
    lease = now + datetime.timedelta(seconds=settings.HISGUARD_WORKER_LEASE_SECONDS)
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(
                Q(state=Delivery.State.QUEUED, next_attempt_at__lte=now)
                | Q(state=Delivery.State.SENDING, lease_until__lt=now)  # its worker died
            )
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            Delivery.objects.filter(pk__in=ids).update(
                state=Delivery.State.SENDING, lease_until=lease, attempts=F("attempts") + 1
            )
    return ids


def prepare(ids: list[int]) -> list[Job]:
    """Everything that needs the database, done before the network part (one query)."""
    deliveries = Delivery.objects.select_related("notification__incident", "notification__person").filter(
        pk__in=ids
    )
    return [_job(delivery) for delivery in deliveries]


def _job(delivery: Delivery) -> Job:
    notification = delivery.notification
    subject, body = notification.subject, notification.body
    if notification.kind == Notification.Kind.DIGEST:
        items = list(notification.bundled.order_by("created_at"))
        subject, body = messages.digest_message(items, notification.language)
    ack_url = ""
    if notification.kind == Notification.Kind.ESCALATION and notification.incident_id:
        ack_url = ack_url_for(notification)
    return Job(
        delivery.pk,
        delivery.channel,
        Outgoing(
            address=delivery.address,
            subject=subject,
            body=body,
            idempotency_key=str(delivery.idempotency_key),
            urgency=notification.urgency,
            ack_url=ack_url,
        ),
    )


def attempt(job: Job) -> Outcome:
    """The network part: runs in a thread, touches no database."""
    started = time.monotonic()
    try:
        send(job.channel, job.message)
    except SendError as exc:
        return Outcome(
            job.delivery_id, False, str(exc), exc.retryable, int((time.monotonic() - started) * 1000)
        )
    except Exception as exc:
        log.exception("channel %s crashed", job.channel)
        return Outcome(
            job.delivery_id,
            False,
            f"{type(exc).__name__}: {exc}",
            True,
            int((time.monotonic() - started) * 1000),
        )
    return Outcome(job.delivery_id, True, "", False, int((time.monotonic() - started) * 1000))


def backoff(attempts: int) -> datetime.timedelta:
    seconds = settings.HISGUARD_DELIVERY_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)
    return datetime.timedelta(seconds=min(seconds, settings.HISGUARD_DELIVERY_BACKOFF_CAP_SECONDS))


@transaction.atomic
def record(outcomes: list[Outcome], worker: str) -> None:
    """Write results in one transaction: the attempts, then each delivery's new state."""
    now = timezone.now()
    deliveries = {
        d.pk: d
        for d in Delivery.objects.select_for_update(of=("self",))
        .select_related("notification__person", "notification__incident")
        .filter(pk__in=[o.delivery_id for o in outcomes])
    }
    DeliveryAttempt.objects.bulk_create(
        [
            DeliveryAttempt(
                delivery_id=o.delivery_id,
                at=now,
                ok=o.ok,
                detail=o.detail[:2000],
                duration_ms=o.duration_ms,
                worker=worker,
            )
            for o in outcomes
        ]
    )
    sent = [o.delivery_id for o in outcomes if o.ok]
    if sent:
        Delivery.objects.filter(pk__in=sent).update(
            state=Delivery.State.SENT, sent_at=now, last_error="", lease_until=None
        )
        Notification.objects.filter(
            deliveries__pk__in=sent, state__in=[Notification.State.PENDING, Notification.State.CANCELLED]
        ).update(state=Notification.State.SENT)
    for outcome in outcomes:
        if not outcome.ok:
            _record_failure(deliveries[outcome.delivery_id], outcome, now)


def _record_failure(delivery: Delivery, outcome: Outcome, now: datetime.datetime) -> None:
    delivery.lease_until = None
    delivery.last_error = outcome.detail[:2000]
    if outcome.retryable and delivery.attempts < settings.HISGUARD_DELIVERY_MAX_ATTEMPTS:
        delivery.state, delivery.next_attempt_at = Delivery.State.QUEUED, now + backoff(delivery.attempts)
        delivery.save(update_fields=["state", "next_attempt_at", "last_error", "lease_until"])
        return
    delivery.state = Delivery.State.FAILED
    delivery.save(update_fields=["state", "last_error", "lease_until"])
    _fall_back(delivery.notification, now)


def _fall_back(notification: Notification, now: datetime.datetime) -> None:
    """This channel gave up: the person's next channel takes over, or the failure is shown."""
    if notification.person is not None:
        tried = set(notification.deliveries.values_list("contact_method_id", flat=True))
        for method in contact_methods(notification.person):
            if method.pk not in tried:
                Delivery.objects.create(
                    notification=notification,
                    contact_method=method,
                    channel=method.channel,
                    address=method.address,
                    next_attempt_at=now,
                )
                return
    notification.state = Notification.State.FAILED
    notification.save(update_fields=["state"])
    if notification.incident is not None:
        with translation.override(settings.LANGUAGE_CODE):
            who = notification.person.name if notification.person else notification.recipient
        timeline.add(
            notification.incident,
            TimelineEntry.Kind.NOTIFICATION,
            data={"event": "failed", "people": [who], "count": 1},
            at=now,
        )


class Worker:
    def __init__(self, *, batch: int = 50, threads: int = 8, name: str | None = None) -> None:
        self.batch = batch
        self.threads = threads
        self.name = name or worker_name()
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="deliver")
        self.processed = 0
        self._last_beat = 0.0
        self._jobs = periodic_jobs()
        self._last_run: dict[str, float] = {}

    def run_once(self) -> int:
        """One pass: due escalation steps, then due deliveries. Returns the work done."""
        now = timezone.now()
        work = process_due_escalations(now, worker=self.name)
        ids = claim(now, self.batch)
        if ids:
            self._send_all(prepare(ids))
            work += len(ids)
        self.processed += work
        self._heartbeat()
        self._run_periodic_jobs()
        return work

    def _run_periodic_jobs(self) -> None:
        """Each app's periodic work (auditor, overdue playbook steps, snapshots …), when due."""
        for path, interval, job in self._jobs:
            if time.monotonic() - self._last_run.get(path, float("-inf")) < interval:
                continue
            self._last_run[path] = time.monotonic()
            try:
                job(timezone.now())
            except Exception:
                log.exception("periodic job %s failed", path)

    def _send_all(self, jobs: list[Job]) -> None:
        """Send with at most `threads` messages out but not yet recorded, and record each result
        the moment it is known: a crash repeats at most the sends in flight, never a batch."""
        pending = list(reversed(jobs))
        in_flight: set = set()
        while pending or in_flight:
            while pending and len(in_flight) < self.threads:
                in_flight.add(self.pool.submit(attempt, pending.pop()))
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                record([future.result()], self.name)

    def _heartbeat(self) -> None:
        if time.monotonic() - self._last_beat < 5:
            return
        self._last_beat = time.monotonic()
        WorkerHeartbeat.objects.update_or_create(
            name=self.name, defaults={"last_seen": timezone.now(), "processed": self.processed}
        )

    def run_forever(self, stop) -> None:
        log.info("worker %s started", self.name)
        while not stop():
            close_old_connections()
            try:
                busy = self.run_once()
            except Exception:
                log.exception("worker pass failed; retrying")
                busy = 0
            if not busy:
                time.sleep(settings.HISGUARD_WORKER_POLL_SECONDS)
        self.pool.shutdown(wait=True)
        log.info("worker %s stopped", self.name)
