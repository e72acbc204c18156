"""The plan's 处理原则 as escalation: the right people, in the right order, at the right minutes."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from hisguard.incidents import actions as incident_actions
from hisguard.incidents.models import Incident, TimelineEntry
from hisguard.paging import actions
from hisguard.paging.models import EscalationPolicy, EscalationRun, Notification, StepTarget
from hisguard.paging.worker import Worker

from ..conftest import api, api_report

SHANGHAI = ZoneInfo("Asia/Shanghai")
MINUTE = datetime.timedelta(minutes=1)


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def paged(receiver) -> list[str]:
    """Who got a message, in order (the receiver path is /p/<employee number>)."""
    return [path.removeprefix("/p/") for path in receiver.paths()]


@pytest.fixture
def worker():
    w = Worker(threads=4, name="test-worker")
    yield w
    w.pool.shutdown()


def test_class_iii_pages_the_administrator_on_duty_then_the_it_head_never_leadership(
    staff, receiver, worker, tiny
):
    with time_machine.travel(at("2026-11-25T10:00"), tick=False) as clock:
        api_report(Client(), tiny.ws("PC-A1-1"))
        worker.run_once()
        assert paged(receiver) == ["NA1"]
        clock.shift(10 * MINUTE)
        worker.run_once()
        assert paged(receiver) == ["NA1", "NA1"]  # repeat until acknowledged
        clock.shift(20 * MINUTE)
        worker.run_once()
        assert paged(receiver) == ["NA1", "NA1", "ITH"]  # +30 min: nobody acknowledged
        clock.shift(60 * MINUTE)
        worker.run_once()
    assert paged(receiver) == ["NA1", "NA1", "ITH"]
    assert not {"LDR", "DEP", "HL1"} & set(paged(receiver))
    run = EscalationRun.objects.get()
    assert run.state == EscalationRun.State.FINISHED


def test_acknowledging_stops_the_escalation(staff, receiver, worker, tiny):
    with time_machine.travel(at("2026-11-25T10:00"), tick=False) as clock:
        report = api_report(Client(), tiny.ws("PC-A1-1")).json()
        worker.run_once()
        clock.shift(3 * MINUTE)
        incident = Incident.objects.get(pk=report["incident"]["id"])
        actions.acknowledge(incident, person=staff["NA1"], via="test")
        clock.shift(60 * MINUTE)
        worker.run_once()
    assert paged(receiver) == ["NA1"]
    kinds = list(incident.timeline.values_list("kind", flat=True))
    assert TimelineEntry.Kind.ACKNOWLEDGED in kinds


def test_holiday_night_class_i_pages_leadership_at_once_and_tells_every_department(
    staff, receiver, worker, tiny, actors
):
    it = actors["network_admin"]
    with time_machine.travel(at("2026-02-17T03:00"), tick=False) as clock:  # 正月初一 03:00
        response = api(it.client, "post", "/api/v1/incidents/asset-down", it.token, {"asset": "DB-1"})
        assert response.json()["hospital_class"] == 1
        worker.run_once()
        first = set(paged(receiver))
        # IT head, the leading group (leader, deputy), the administrator and the leadership
        # on holiday duty (NA2, HL1), and every department head and head nurse (informational).
        assert first == {"ITH", "LDR", "DEP", "NA2", "HL1", "HA1", "HB1", "NC1"}
        assert "NA1" not in first
        clock.shift(5 * MINUTE)
        worker.run_once()
        repeats = paged(receiver)[len(first) :]
        assert sorted(repeats) == sorted(["ITH", "LDR", "DEP", "NA2", "HL1"])  # not the departments again
        actions.acknowledge(Incident.objects.get(), person=staff["LDR"], via="test")
        sent = len(receiver.requests)
        clock.shift(30 * MINUTE)
        worker.run_once()
    assert len(receiver.requests) == sent  # the +10 min step and the repeats never fired


def test_a_class_raised_mid_incident_escalates_further_at_once(staff, receiver, worker, tiny):
    with time_machine.travel(at("2026-11-25T10:00"), tick=False) as clock:
        api_report(Client(), tiny.ws("PC-A1-1"), "no_network")
        worker.run_once()
        assert paged(receiver) == ["NA1"]
        clock.shift(2 * MINUTE)
        second = api_report(Client(), tiny.ws("PC-A1-2"), "no_network").json()
        assert second["incident"]["hospital_class"] == 2
        worker.run_once()
    runs = list(EscalationRun.objects.order_by("started_at", "id"))
    assert [r.state for r in runs] == [EscalationRun.State.SUPERSEDED, EscalationRun.State.ACTIVE]
    assert set(paged(receiver)[1:]) >= {"ITH", "NA1"}


def test_the_policy_in_force_is_snapshotted(staff, receiver, worker, tiny):
    with time_machine.travel(at("2026-11-25T10:00"), tick=False) as clock:
        api_report(Client(), tiny.ws("PC-A1-1"))
        worker.run_once()
        # Someone edits the class III policy mid-incident: the IT head step now targets leadership.
        step = EscalationPolicy.objects.get(hospital_class=3).steps.get(order=1)
        step.targets.update(kind=StepTarget.Kind.LEADING_GROUP, position="")
        clock.shift(31 * MINUTE)
        worker.run_once()
    assert "ITH" in paged(receiver)
    assert not {"LDR", "DEP"} & set(paged(receiver))


def test_resolving_stops_everything_and_cancels_what_was_not_sent(staff, receiver, worker, tiny, actors):
    with time_machine.travel(at("2026-11-25T10:00"), tick=False) as clock:
        report = api_report(Client(), tiny.ws("PC-A1-1")).json()
        incident = Incident.objects.get(pk=report["incident"]["id"])
        incident_actions.change_status(incident, "resolved", user=actors["network_admin"].user)
        clock.shift(60 * MINUTE)
        worker.run_once()
    assert paged(receiver) == []
    assert EscalationRun.objects.get().state == EscalationRun.State.STOPPED
    assert set(Notification.objects.values_list("state", flat=True)) <= {Notification.State.CANCELLED}


def test_reopening_a_resolved_incident_pages_again_from_the_first_step(staff, receiver, worker, tiny, actors):
    admin = actors["network_admin"].user
    with time_machine.travel(at("2026-11-25T10:00"), tick=False) as clock:
        report = api_report(Client(), tiny.ws("PC-A1-1")).json()
        incident = Incident.objects.get(pk=report["incident"]["id"])
        worker.run_once()
        incident_actions.change_status(incident, "resolved", user=admin)
        clock.shift(15 * MINUTE)
        incident_actions.change_status(incident, "responding", user=admin)  # it came back
        worker.run_once()
        assert paged(receiver) == ["NA1", "NA1"]
        clock.shift(31 * MINUTE)
        worker.run_once()
    assert sorted(paged(receiver)[2:]) == ["ITH", "NA1"]  # the new run's repeat and step 2, on its clock
    runs = list(EscalationRun.objects.order_by("started_at").values_list("state", flat=True))
    assert runs == [EscalationRun.State.STOPPED, EscalationRun.State.FINISHED]


def test_a_step_never_fires_twice_even_if_processed_again(staff, receiver, worker, tiny):
    with time_machine.travel(at("2026-11-25T10:00"), tick=False):
        api_report(Client(), tiny.ws("PC-A1-1"))
        run = EscalationRun.objects.get()
        actions.fire_due(run, run.started_at)
        run.next_index = 0  # as if a crash lost the bookkeeping but not the notifications
        run.save()
        actions.fire_due(run, run.started_at)
        worker.run_once()
    assert Notification.objects.count() == 1
    assert paged(receiver) == ["NA1"]


def test_storm_control_bundles_many_incidents_for_one_person(staff, receiver, worker, tiny, settings):
    settings.HISGUARD_STORM_LIMIT = 3
    hosts = ["PC-A1-1", "PC-B1-1", "PC-C1-1", "PC-A2-1", "PC-B2-1", "PC-C2-1"]
    with time_machine.travel(at("2026-11-25T10:00"), tick=False) as clock:
        for host in hosts:  # six unrelated single-PC faults in a minute
            api_report(Client(), tiny.ws(host), "cannot_enter")
        worker.run_once()
        assert paged(receiver) == ["NA1"] * 3
        clock.shift(2 * MINUTE)
        worker.run_once()
    assert paged(receiver) == ["NA1"] * 4
    digest = receiver.requests[-1].body
    assert digest["text"].count("\n") == 2  # three incidents in one message
    assert Notification.objects.filter(state=Notification.State.BUNDLED).count() == 3


def test_drill_messages_are_marked(staff, receiver, worker, tiny):
    with time_machine.travel(at("2026-11-25T10:00"), tick=False):
        report = api_report(Client(), tiny.ws("PC-A1-1")).json()
        Incident.objects.filter(pk=report["incident"]["id"]).update(is_drill=True)
        Notification.objects.all().delete()
        EscalationRun.objects.update(next_index=0)
        worker.run_once()
    assert receiver.requests[0].body["subject"].startswith("【演练】")
    assert receiver.requests[0].body["ack_url"].startswith("http")


def test_the_report_stores_the_run_due_and_the_worker_freezes_the_policy_onto_it(
    staff, receiver, worker, tiny, actors
):
    with time_machine.travel(at("2026-11-25T10:00"), tick=False):
        report = api_report(Client(), tiny.ws("PC-A1-1")).json()
        run = EscalationRun.objects.get()
        # Committed with the incident, before the 201: the escalation cannot be lost.
        assert run.state == EscalationRun.State.ACTIVE and run.next_due_at == at("2026-11-25T10:00")
        assert run.snapshot == {} and paged(receiver) == []
        page = actors["it_head"].client.get(f"/incidents/{report['incident']['id']}/").content.decode()
        assert "启动中" in page  # the incident page: the run is starting
        worker.run_once()
    run.refresh_from_db()
    policy_name = EscalationPolicy.objects.get(hospital_class=3).name
    assert run.snapshot["name"] == policy_name
    page = actors["it_head"].client.get(f"/incidents/{report['incident']['id']}/").content.decode()
    assert policy_name in page and "启动中" not in page
    assert run.snapshot["firings"] and paged(receiver) == ["NA1"]
    events = TimelineEntry.objects.filter(
        incident_id=report["incident"]["id"], kind=TimelineEntry.Kind.ESCALATION
    )
    assert [e.data["event"] for e in events] == ["started"]


def test_a_class_without_a_policy_says_so_on_the_timeline_and_pages_nobody(staff, receiver, worker, tiny):
    EscalationPolicy.objects.filter(hospital_class=3).delete()
    with time_machine.travel(at("2026-11-25T10:00"), tick=False):
        report = api_report(Client(), tiny.ws("PC-A1-1")).json()
        worker.run_once()
    run = EscalationRun.objects.get()
    assert run.state == EscalationRun.State.FINISHED and run.next_due_at is None
    assert paged(receiver) == []
    events = TimelineEntry.objects.filter(
        incident_id=report["incident"]["id"], kind=TimelineEntry.Kind.ESCALATION
    )
    assert [e.data for e in events] == [{"event": "no_policy", "level": 3}]
