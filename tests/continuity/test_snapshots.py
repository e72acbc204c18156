"""Snapshots on a schedule, run by the worker's hook; the last N kept; a late or failed snapshot
is an early warning and, past a threshold, an alert; a node falling behind is a warning."""

from __future__ import annotations

import datetime

from django.core.management import call_command

from hisguard.continuity import actions
from hisguard.continuity.models import Connector, DowntimeNode, Snapshot, WardPacket
from hisguard.paging.models import Notification

from .conftest import NOW


def _subjects(position_user: str) -> list[str]:
    return list(
        Notification.objects.filter(person__user__username=position_user)
        .order_by("id")
        .values_list("subject", flat=True)
    )


def test_scheduled_snapshots_and_retention(h3, file_connector, clock):
    file_connector.keep = 3
    file_connector.save()
    assert actions.run_due_snapshots(wait=True) == 1  # never run: due at once
    assert actions.run_due_snapshots(wait=True) == 0  # next one in an hour
    file_connector.refresh_from_db()
    assert file_connector.next_run_at == NOW + datetime.timedelta(minutes=60)
    for _hour in range(5):
        clock.shift(datetime.timedelta(minutes=61))
        assert actions.run_due_snapshots(wait=True) == 1
    good = Snapshot.objects.filter(connector=file_connector, status=Snapshot.Status.OK)
    assert good.count() == 3
    assert WardPacket.objects.count() == 3 * len(h3.wards)
    newest = good.order_by("-started_at").first()
    assert newest.started_at == NOW + datetime.timedelta(minutes=5 * 61)


def test_inactive_connectors_are_not_run(h3, file_connector, clock):
    file_connector.is_active = False
    file_connector.save()
    assert actions.run_due_snapshots(wait=True) == 0
    assert not Snapshot.objects.exists()


def test_failure_warns_then_late_alerts(h3, file_connector, tmp_path, clock):
    assert actions.run_snapshot(file_connector).status == Snapshot.Status.OK
    actions.check_health()
    file_connector.refresh_from_db()
    assert file_connector.health == Connector.Health.OK
    assert _subjects("it") == []

    # The export folder disappears: the next pull fails -> early warning to IT, not the office.
    file_connector.config["path"] = str(tmp_path / "gone")
    file_connector.save()
    clock.shift(datetime.timedelta(minutes=30))
    assert actions.run_snapshot(file_connector).status == Snapshot.Status.FAILED
    actions.check_health()
    file_connector.refresh_from_db()
    assert file_connector.health == Connector.Health.WARNING
    assert len(_subjects("it")) == 1 and "预警" in _subjects("it")[0]  # in the hospital's language
    assert _subjects("office") == []
    actions.check_health()  # no repeat for the same episode
    assert len(_subjects("it")) == 1

    # Four hours and more without a good one: an alert, to IT and the emergency office.
    clock.shift(datetime.timedelta(minutes=220))
    actions.check_health()
    file_connector.refresh_from_db()
    assert file_connector.health == Connector.Health.ALERT
    assert "告警" in _subjects("it")[-1]
    assert len(_subjects("office")) == 1

    # It comes back: OK again, the packets are fresh.
    file_connector.config["path"] = str(tmp_path / "fhir")
    file_connector.save()
    clock.shift(datetime.timedelta(minutes=1))
    assert actions.run_snapshot(file_connector).status == Snapshot.Status.OK


def test_abandoned_run_is_failed(h3, file_connector, clock):
    claimed = actions.claim_due(NOW)
    assert len(claimed) == 1
    snapshot = Snapshot.objects.get(pk=claimed[0][1])
    assert snapshot.status == Snapshot.Status.RUNNING
    clock.shift(datetime.timedelta(minutes=31))
    actions.check_health()
    snapshot.refresh_from_db()
    assert snapshot.status == Snapshot.Status.FAILED and "did not finish" in snapshot.error


def test_node_falling_behind_is_a_warning(h3, file_connector, clock):
    actions.run_snapshot(file_connector)
    node, _token = actions.register_node(h3.wards["W1"], "W1-PC-01", warn_after_minutes=60)
    packet, changed = actions.node_sync(node, ip="127.0.0.1")
    assert changed and packet is not None
    node.refresh_from_db()
    assert node.last_sync_at == NOW and node.last_packet_as_of == packet.as_of
    clock.shift(datetime.timedelta(minutes=61))
    actions.check_health()
    node.refresh_from_db()
    assert node.behind
    assert any("停机节点未同步" in s for s in _subjects("ithead"))
    actions.node_sync(node)
    node.refresh_from_db()
    assert not node.behind
    assert DowntimeNode.objects.filter(behind=True).count() == 0


def test_snapshot_command(h3, file_connector, clock, capsys):
    call_command("continuity_snapshot", ward="W1")
    out = capsys.readouterr().out
    assert "W1" in out and "名病人" in out
    assert Snapshot.objects.filter(status=Snapshot.Status.OK).count() == 1


def test_background_run_is_claimed_once(h3, file_connector, clock, monkeypatch):
    """The worker's call returns at once; the pull runs in the background thread."""
    started = []
    monkeypatch.setattr(
        actions, "_pool", type("P", (), {"submit": lambda self, fn, *a: started.append(a) or _Done()})()
    )
    assert actions.run_due_snapshots(NOW) == 1
    assert len(started) == 1
    assert actions.run_due_snapshots(NOW) == 0  # claimed: next_run_at moved on
    actions._running.clear()


class _Done:
    def done(self) -> bool:
        return True
