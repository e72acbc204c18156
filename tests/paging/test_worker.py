"""The outbox delivered: retries, fallback, idempotency, a crash, two workers."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.db import connection

from hisguard.organisation.models import Person
from hisguard.paging.actions import notify
from hisguard.paging.models import Channel, ContactMethod, Delivery, DeliveryAttempt, Notification
from hisguard.paging.worker import Worker, backoff

T0 = datetime.datetime(2026, 11, 25, 2, 0, tzinfo=datetime.UTC)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker():
    w = Worker(threads=4, name="test")
    yield w
    w.pool.shutdown()


def message(person: Person, key: str) -> Notification:
    return notify(person, kind=Notification.Kind.ESCALATION, subject="s", body="b", dedup_key=key)


def test_a_failing_channel_is_retried_with_capped_backoff_then_succeeds(staff, receiver, worker):
    receiver.fail["/p/NA1"] = [500, 503]
    with time_machine.travel(T0, tick=False) as clock:
        message(staff["NA1"], "k1")
        worker.run_once()
        delivery = Delivery.objects.get()
        assert delivery.state == Delivery.State.QUEUED and delivery.attempts == 1
        assert delivery.next_attempt_at == T0 + backoff(1)
        clock.shift(backoff(1))
        worker.run_once()
        clock.shift(backoff(2))
        worker.run_once()
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT and delivery.attempts == 3
    assert [a.ok for a in DeliveryAttempt.objects.order_by("at")] == [False, False, True]
    assert len(receiver.requests) == 1
    assert backoff(30) == datetime.timedelta(seconds=300)  # the cap


def test_a_channel_that_finally_fails_hands_over_to_the_next(staff, receiver, worker, smtp, settings):
    settings.HISGUARD_DELIVERY_MAX_ATTEMPTS = 2
    ContactMethod.objects.create(
        person=staff["NA1"], channel=Channel.EMAIL, address="na1@h.local", priority=2
    )
    receiver.fail["/p/NA1"] = [500] * 10
    with time_machine.travel(T0, tick=False) as clock:
        notification = message(staff["NA1"], "k1")
        worker.run_once()
        clock.shift(backoff(1))
        worker.run_once()  # second failure: webhook gives up, email takes over at once
        worker.run_once()
    channels = list(notification.deliveries.order_by("id").values_list("channel", "state"))
    assert channels == [("webhook", "failed"), ("email", "sent")]
    assert len(smtp.messages) == 1
    notification.refresh_from_db()
    assert notification.state == Notification.State.SENT


def test_a_person_nobody_can_reach_is_visible(staff, tiny):
    person = Person.objects.create(hospital=tiny.hospital, employee_no="NOCH", name="无渠道")
    notification = message(person, "k1")
    assert notification.state == Notification.State.UNREACHABLE
    assert not notification.deliveries.exists()


def test_a_delivery_whose_worker_died_is_sent_again_with_the_same_key(staff, receiver, worker):
    with time_machine.travel(T0, tick=False) as clock:
        message(staff["NA1"], "k1")
        delivery = Delivery.objects.get()
        # A worker claimed it and died before recording anything.
        Delivery.objects.filter(pk=delivery.pk).update(
            state=Delivery.State.SENDING, lease_until=T0, attempts=1
        )
        clock.shift(datetime.timedelta(seconds=1))
        worker.run_once()
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT
    assert receiver.keys() == [str(delivery.idempotency_key)]


def _worker_process(database_url: str | None, name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hisguard.settings",
        "HISGUARD_WORKER_POLL_SECONDS": "0.05",
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.Popen(
        [sys.executable, "-m", "hisguard.cli", "worker", "--name", name, "--threads", "4"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _test_database_url() -> str | None:
    """The URL of the database this test runs in, for worker processes to share it."""
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        user = settings["USER"] or "postgres"
        return f"postgres://{user}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    return f"sqlite:///{settings['NAME']}"


def _make_people(tiny, receiver, count: int) -> list[Person]:
    people = Person.objects.bulk_create(
        [Person(hospital=tiny.hospital, employee_no=f"W{i:04d}", name=f"员工{i}") for i in range(count)]
    )
    ContactMethod.objects.bulk_create(
        [
            ContactMethod(person=p, channel=Channel.WEBHOOK, address=f"{receiver.url}/p/{p.employee_no}")
            for p in people
        ]
    )
    return people


@pytest.mark.django_db(transaction=True)
def test_kill_9_mid_escalation_loses_nothing_and_sends_nothing_twice(receiver, tmp_path, settings):
    """A real worker process is killed -9 while delivering 200 messages; a second one takes
    over. Every message arrives; a repeat carries the same idempotency key."""
    from ..conftest import build_tiny_hospital

    tiny = build_tiny_hospital()
    people = _make_people(tiny, receiver, 200)
    for person in people:
        message(person, f"crash:{person.pk}")
    first = _worker_process(_test_database_url(), "victim")
    assert receiver.wait_for(40, timeout=60), first.stderr.read().decode() if first.poll() is not None else ""
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert len(receiver.requests) < 200, "the worker finished before it could be killed"
    Delivery.objects.filter(state=Delivery.State.SENDING).update(
        lease_until=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    )
    second = _worker_process(_test_database_url(), "survivor")
    try:
        assert receiver.wait_for(200, timeout=60)
        deadline_ok = _wait_until_all_sent(200)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert deadline_ok
    keys = receiver.keys()
    assert len(set(keys)) == 200  # every delivery arrived
    assert set(keys) == {str(k) for k in Delivery.objects.values_list("idempotency_key", flat=True)}
    repeats = len(keys) - len(set(keys))
    assert repeats <= 8  # at most the batch in flight when it died, each with its own key again
    assert Notification.objects.filter(state=Notification.State.SENT).count() == 200


def _wait_until_all_sent(count: int) -> bool:
    import threading

    done = threading.Event()
    for _ in range(600):
        if Delivery.objects.filter(state=Delivery.State.SENT).count() >= count:
            return True
        done.wait(0.1)
    return False


@pytest.mark.django_db(transaction=True)
def test_two_workers_deliver_500_messages_exactly_once(receiver):
    from ..conftest import build_tiny_hospital

    if connection.vendor != "postgresql":
        pytest.skip("several workers run only on PostgreSQL (SKIP LOCKED)")
    tiny = build_tiny_hospital()
    for person in _make_people(tiny, receiver, 500):
        message(person, f"pair:{person.pk}")
    workers = [_worker_process(_test_database_url(), f"w{i}") for i in (1, 2)]
    try:
        assert receiver.wait_for(500, timeout=90)
        assert _wait_until_all_sent(500)
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            process.wait(timeout=30)
    keys = receiver.keys()
    assert len(keys) == 500 == len(set(keys))
    by_worker = set(DeliveryAttempt.objects.values_list("worker", flat=True))
    assert by_worker == {"w1", "w2"}


def test_the_auditor_repairs_a_stalled_escalation_and_requeues_a_lost_message(
    staff, tiny, receiver, worker, actors
):
    from django.test import Client

    from hisguard.paging.auditor import audit
    from hisguard.paging.models import EscalationRun

    from ..conftest import api_report

    with time_machine.travel(T0, tick=False) as clock:
        api_report(Client(), tiny.ws("PC-A1-1"))
        run = EscalationRun.objects.get()
        EscalationRun.objects.filter(pk=run.pk).update(next_due_at=None)  # a run that would never move
        lost = message(staff["NA2"], "lost")
        lost.deliveries.all().delete()  # a message whose delivery row vanished
        clock.shift(datetime.timedelta(minutes=5))
        stale = actors["it_head"].client.get("/paging/readiness/").content.decode()
        assert 'id="stuck"' not in stale  # the run has no due time, so only the auditor sees it
        report = audit(T0 + datetime.timedelta(minutes=5))
        assert report.repaired_runs == 1 and report.requeued_notifications == 1
        assert 'id="stuck"' in actors["it_head"].client.get("/paging/readiness/").content.decode()
        worker.run_once()
    assert set(receiver.paths()) == {"/p/NA1", "/p/NA2"}
