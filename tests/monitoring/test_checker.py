"""The checker's scheduler driven by a fake clock (no sleeping), then end to end: real probes
on loopback → samples and state changes written → alert → incident → recovery."""

from __future__ import annotations

import asyncio
import datetime
import random
from collections import Counter

import pytest

from hisguard.incidents.models import Incident, TimelineEntry
from hisguard.monitoring import writer
from hisguard.monitoring.checker import (
    DOWN,
    UNKNOWN,
    UP,
    Checker,
    FakeClock,
    Shard,
    Tracker,
    decide,
    owner_of,
)
from hisguard.monitoring.models import ActiveCheck, Alert, CheckState, Sample, StateChange
from hisguard.monitoring.probes import Result, Spec

T0 = datetime.datetime(2026, 11, 25, 2, 0, tzinfo=datetime.UTC)


class Scripted:
    """A probe answering from a script per check, counting how many run at once."""

    def __init__(self, script: dict[int, list[Result]] | None = None, default: Result | None = None) -> None:
        self.script = script or {}
        self.default = default or Result(True, 1.0)
        self.calls: Counter[int] = Counter()
        self.running = 0
        self.most = 0

    async def __call__(self, spec: Spec, fence) -> Result:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        self.running -= 1
        answers = self.script.get(spec.id)
        index = self.calls[spec.id]
        self.calls[spec.id] += 1
        if answers:
            return answers[min(index, len(answers) - 1)]
        return self.default


def checker(probe, *, concurrency: int = 100) -> Checker:
    return Checker(concurrency=concurrency, clock=FakeClock(T0), probe=probe, rng=random.Random(7))


def test_first_runs_are_spread_over_the_interval():
    c = checker(Scripted())
    c.set_specs([Spec(i, "tcp", interval=10) for i in range(1, 2001)])
    dues = sorted(due for due, *_ in c.heap)
    assert dues[0] >= 0 and dues[-1] < 10
    per_second = Counter(int(d) for d in dues)
    assert max(per_second.values()) < 2000 * 0.2  # no thundering herd in any one second


def test_every_check_runs_once_per_interval_with_bounded_concurrency():
    probe = Scripted()
    c = checker(probe, concurrency=5)
    c.set_specs([Spec(i, "tcp", interval=10) for i in range(1, 201)])
    asyncio.run(c.run_until(30.0))
    assert probe.most <= 5
    assert set(probe.calls.values()) <= {3, 4}  # 30 s at a 10 s interval, jittered first run
    assert len(c.samples) == sum(probe.calls.values())
    assert c.stats.percentile(0.99) < 0.3  # a fake clock is never late beyond the sleep step


def test_retries_before_down_then_recovery():
    fail, ok = Result(False, None, "connection refused"), Result(True, 2.0)
    probe = Scripted({1: [fail, fail, fail, ok]})
    c = checker(probe)
    c.set_specs([Spec(1, "tcp", interval=60, retries=2, retry_interval=5)])
    asyncio.run(c.run_until(200.0))
    states = [(e.old, e.new) for e in c.events if e.kind == "state"]
    assert states == [(UNKNOWN, DOWN), (DOWN, UP)]
    down_at = next(e.at for e in c.events if e.new == DOWN)
    first = c.samples[0].at
    assert (down_at - first).total_seconds() < 15  # retried at the retry interval, not 2 minutes


def test_one_failure_between_successes_is_not_an_outage():
    fail, ok = Result(False, None, "timeout"), Result(True, 2.0)
    probe = Scripted({1: [ok, fail, ok, fail, fail, ok, ok]})
    c = checker(probe)
    c.set_specs([Spec(1, "tcp", interval=10, retries=2, retry_interval=10)])
    asyncio.run(c.run_until(80.0))
    assert [(e.old, e.new) for e in c.events if e.kind == "state"] == [(UNKNOWN, UP)]


def test_degraded_needs_consecutive_slow_answers():
    spec = Spec(1, "http", latency_warn_ms=500, retries=2)
    tracker = Tracker(state=UP)
    at = T0
    slow, fast = Result(True, 900.0), Result(True, 100.0)
    assert decide(tracker, spec, slow, at) == []
    assert decide(tracker, spec, fast, at) == []
    assert decide(tracker, spec, slow, at) == [] and decide(tracker, spec, slow, at) == []
    events = decide(tracker, spec, slow, at)
    assert [(e.kind, e.on) for e in events] == [("degraded", True)]
    assert decide(tracker, spec, fast, at) == [] and decide(tracker, spec, fast, at) == []
    assert [(e.kind, e.on) for e in decide(tracker, spec, fast, at)] == [("degraded", False)]


def test_certificate_expiring_within_warn_days_is_an_event():
    spec = Spec(1, "tls", warn_days=30)
    tracker = Tracker(state=UP)
    soon = Result(True, 3.0, cert_expires_at=T0 + datetime.timedelta(days=12))
    later = Result(True, 3.0, cert_expires_at=T0 + datetime.timedelta(days=300))
    assert [(e.kind, e.on) for e in decide(tracker, spec, soon, T0)] == [("cert", True)]
    assert [(e.kind, e.on) for e in decide(tracker, spec, later, T0)] == [("cert", False)]
    assert decide(tracker, spec, later, T0) == []


def test_changing_and_removing_checks_reschedules_them():
    probe = Scripted()
    c = checker(probe)
    c.set_specs([Spec(1, "tcp", interval=10), Spec(2, "tcp", interval=10)])
    asyncio.run(c.run_until(25.0))
    c.set_specs([Spec(1, "tcp", interval=10, port=99)])
    before = probe.calls[2]
    asyncio.run(c.run_until(60.0))
    assert probe.calls[2] == before
    assert set(c.specs) == {1}


def test_fixed_shards_split_checks_evenly_and_stably():
    shards = [Shard.parse(f"{i}/3") for i in range(3)]
    owners = [[s.owns(check_id) for s in shards] for check_id in range(1, 3001)]
    assert all(sum(row) == 1 for row in owners)
    counts = [sum(row[i] for row in owners) for i in range(3)]
    assert min(counts) > 900


def test_rendezvous_moves_only_the_leaving_nodes_checks():
    nodes = ["a:1", "b:2", "c:3"]
    before = {i: owner_of(i, nodes) for i in range(1, 3001)}
    after = {i: owner_of(i, ["a:1", "c:3"]) for i in range(1, 3001)}
    moved = [i for i in before if before[i] != after[i]]
    assert moved and all(before[i] == "b:2" for i in moved)
    shard = Shard(node="a:1", nodes=tuple(nodes))
    assert sum(shard.owns(i) for i in range(1, 3001)) == sum(1 for o in before.values() if o == "a:1")


def test_real_checks_to_incident_and_back(tiny, loopback):
    switch = tiny.assets["SW-A1"]
    check = ActiveCheck.objects.create(
        hospital=tiny.hospital, name="SW-A1 telnet", kind="tcp", host="127.0.0.1",
        port=loopback.closed_port, asset=switch, interval_seconds=30, timeout_seconds=1,
        retries=1, retry_interval_seconds=5,
    )  # fmt: skip
    specs, states = writer.load_specs(Shard())
    assert [s.id for s in specs] == [check.pk] and states == {}
    clock = FakeClock(T0)
    c = Checker(clock=clock, rng=random.Random(1))
    c.set_specs(specs, states)
    asyncio.run(c.run_until(45.0))
    writer.flush(*c.take())

    assert Sample.objects.filter(active_check=check).count() >= 2
    assert not Sample.objects.filter(active_check=check, ok=True).exists()
    assert CheckState.objects.get(active_check=check).state == DOWN
    change = StateChange.objects.get(active_check=check)
    assert (change.old_state, change.new_state, change.error) == (UNKNOWN, DOWN, "connection refused")
    alert = Alert.objects.get(active_check=check)
    assert alert.status == "firing" and alert.asset == switch
    incident = alert.incident
    assert incident.hospital_class == 2
    assert set(incident.departments.values_list("code", flat=True)) == {"DA1"}
    assert incident.class_reasons[0]["code"] == "area_asset_down"

    # The switch answers again: the alert resolves, the switch is up, the incident stays open.
    check.port = loopback.tcp_port
    check.save()
    specs, states = writer.load_specs(Shard())
    c.set_specs(specs, states)
    asyncio.run(c.run_until(120.0))
    writer.flush(*c.take())
    alert.refresh_from_db()
    incident.refresh_from_db()
    assert alert.status == "resolved"
    assert CheckState.objects.get(active_check=check).state == UP
    assert not incident.asset_links.filter(is_down=True).exists()
    assert incident.is_open
    resolved = incident.timeline.filter(kind=TimelineEntry.Kind.ALERT_RESOLVED).get()
    assert resolved.data["all_clear"] is True
    assert Incident.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_checker_command_runs_checks_and_writes_through_its_database_thread(loopback, capsys):
    from django.core.management import call_command

    from hisguard.monitoring.models import CheckerNode
    from hisguard.organisation.models import Hospital

    hospital = Hospital.objects.create(code="C", name="C")
    up = ActiveCheck.objects.create(
        hospital=hospital, name="up", kind="tcp", host="127.0.0.1", port=loopback.tcp_port
    )
    down = ActiveCheck.objects.create(
        hospital=hospital, name="down", kind="tcp", host="127.0.0.1", port=loopback.closed_port, retries=0
    )
    call_command("checker", "--once")
    assert "2 checks run" in capsys.readouterr().out
    assert Sample.objects.get(active_check=up).ok
    assert CheckState.objects.get(active_check=down).state == DOWN
    assert Alert.objects.get(active_check=down).status == "firing"  # no asset: waits in the unmapped queue
    assert not CheckerNode.objects.exists()  # it said goodbye
