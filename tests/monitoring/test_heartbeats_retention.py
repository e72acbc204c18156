"""Heartbeats (dead man's switch) over simulated time, and sample retention."""

from __future__ import annotations

import datetime

import time_machine
from django.core.management import call_command

from hisguard.incidents.models import Incident
from hisguard.monitoring import retention, stats
from hisguard.monitoring.models import ActiveCheck, Alert, EarlyWarning, Heartbeat, Rollup, Sample
from hisguard.monitoring.writer import evaluate_heartbeats

T0 = datetime.datetime(2026, 11, 25, 2, 0, tzinfo=datetime.UTC)


def test_heartbeat_ping_late_dead_and_back(tiny, client):
    with time_machine.travel(T0, tick=False) as clock:
        beat = Heartbeat.objects.create(
            hospital=tiny.hospital, name="HIS nightly backup", asset=tiny.assets["DB-1"],
            period_seconds=3600, grace_seconds=600,
        )  # fmt: skip
        assert client.get(f"/hb/{beat.ping_token}").content == b"up\n"
        clock.shift(datetime.timedelta(minutes=59))
        assert evaluate_heartbeats() == 0
        clock.shift(datetime.timedelta(minutes=2))  # past the period: an early warning
        assert evaluate_heartbeats() == 1
        beat.refresh_from_db()
        assert beat.state == "late"
        warning = EarlyWarning.objects.get(cleared_at__isnull=True)
        assert warning.kind == "heartbeat_late" and warning.heartbeat == beat
        assert not Alert.objects.exists()
        clock.shift(datetime.timedelta(minutes=10))  # past the grace: an alert, an incident
        assert evaluate_heartbeats() == 1
        alert = Alert.objects.get()
        assert alert.source == "heartbeat" and alert.status == "firing" and alert.asset == tiny.assets["DB-1"]
        assert alert.incident.hospital_class == 1  # the HIS database server
        assert not EarlyWarning.objects.filter(cleared_at__isnull=True).exists()
        assert evaluate_heartbeats() == 0  # no repeat while down
        client.post(f"/hb/{beat.ping_token}")  # the job ran again
        alert.refresh_from_db()
        assert alert.status == "resolved"
        beat.refresh_from_db()
        assert beat.state == "up"


def test_heartbeat_fail_url_and_unknown_token(tiny, client):
    beat = Heartbeat.objects.create(
        hospital=tiny.hospital, name="interface engine", system=tiny.systems["LIS"]
    )
    assert client.get(f"/hb/{beat.ping_token}/fail").content == b"down\n"
    assert Alert.objects.get().system.code == "LIS"
    assert Incident.objects.get().hospital_class == 2
    assert client.get("/hb/not-a-token").status_code == 404


def _samples(check: ActiveCheck, start: datetime.datetime, hours: int, every_minutes: int = 10) -> None:
    rows = []
    for i in range(hours * 60 // every_minutes):
        at = start + datetime.timedelta(minutes=every_minutes * i)
        ok = i % 6 != 0
        rows.append(Sample(active_check=check, at=at, ok=ok, latency_ms=float(10 + i % 5) if ok else None))
    Sample.objects.bulk_create(rows)


def test_complete_hours_roll_up_and_raw_samples_expire(tiny):
    check = ActiveCheck.objects.create(
        hospital=tiny.hospital, name="core ping", kind="ping", host="127.0.0.1"
    )
    now = T0
    _samples(check, now - datetime.timedelta(days=10), 24)  # past raw retention
    _samples(check, now - datetime.timedelta(hours=12), 12)  # recent: raw and rolled up
    _samples(check, now - datetime.timedelta(days=100), 2)  # past even the rollups' retention
    before = stats.counts([check.pk], now - datetime.timedelta(days=30), now)[check.pk]
    result = retention.prune(now, raw_days=7, rollup_days=90)
    assert result.rollups_written == 24 + 12 + 2
    assert result.samples_deleted == 144 + 12 and result.rollups_deleted == 2
    assert Sample.objects.filter(active_check=check).count() == 72
    rollups = Rollup.objects.filter(active_check=check)
    assert rollups.count() == 36
    hour = rollups.order_by("hour").first()
    assert (hour.count, hour.ok_count, hour.latency_min, hour.latency_max) == (6, 5, 10.0, 14.0)
    # Windows read hourly rows up to the mark and raw samples after it: nothing counted twice.
    assert retention.marks([check.pk])[check.pk] == now
    assert stats.counts([check.pk], now - datetime.timedelta(days=30), now)[check.pk] == before
    assert stats.uptime([check.pk], now)[check.pk]["24h"] == round(100 * 60 / 72, 2)
    again = retention.prune(now, raw_days=7, rollup_days=90)
    assert again.samples_deleted == 0 and again.rollups_written == 0


def test_only_complete_hours_are_rolled_and_never_twice(tiny):
    check = ActiveCheck.objects.create(hospital=tiny.hospital, name="x", kind="ping", host="127.0.0.1")
    Sample.objects.create(active_check=check, at=T0 - datetime.timedelta(minutes=30), ok=True, latency_ms=10)
    Sample.objects.create(
        active_check=check, at=T0 + datetime.timedelta(minutes=5), ok=False, latency_ms=None
    )
    Sample.objects.create(active_check=check, at=T0 + datetime.timedelta(minutes=6), ok=True, latency_ms=30)
    assert retention.roll_up_complete_hours(T0 + datetime.timedelta(minutes=10)) == 1
    assert retention.roll_up_complete_hours(T0 + datetime.timedelta(minutes=20)) == 0
    now = T0 + datetime.timedelta(minutes=20)
    assert stats.counts([check.pk], T0 - datetime.timedelta(hours=2), now)[check.pk] == (2, 3)
    assert retention.roll_up_complete_hours(T0 + datetime.timedelta(hours=1, minutes=1)) == 1
    row = Rollup.objects.get(active_check=check, hour=T0)
    assert (row.count, row.ok_count, row.latency_avg, row.latency_max) == (2, 1, 30.0, 30.0)
    later = T0 + datetime.timedelta(hours=1, minutes=30)
    assert stats.counts([check.pk], T0 - datetime.timedelta(hours=2), later)[check.pk] == (2, 3)
    points = stats.series(check.pk, later, "7d")
    assert sum(1 for p in points if p.latency_ms is not None) == 2


def test_prune_command(tiny, capsys):
    call_command("monitoring_prune", "--raw-days", "7")
    assert "hourly rows" in capsys.readouterr().out
