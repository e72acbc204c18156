"""Rollups and retention.

Every complete hour of raw samples is rolled into one row per check (count, ok count,
min/avg/max latency) as soon as the hour is over (the checker does it every few minutes); raw
samples stay HISGUARD_MONITORING_RAW_DAYS (default 7) for the fine-grained 24-hour chart, the
hourly rows HISGUARD_MONITORING_ROLLUP_DAYS (90). Long windows (7 d, 30 d) read hourly rows up
to each check's last rolled-up hour (its *mark*) and raw samples only after it, so a page never
scans more than a few hours of raw rows however many millions are stored.

Rolling up is one INSERT … SELECT … GROUP BY per group of checks, computed by the database;
it never rolls an hour twice (ON CONFLICT DO NOTHING on the (check, hour) key).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from hisguard.monitoring.models import ActiveCheck, EarlyWarning, Rollup, Sample, StateChange

GROUP = 200
HOUR = datetime.timedelta(hours=1)


@dataclass
class PruneResult:
    rollups_written: int = 0
    samples_deleted: int = 0
    rollups_deleted: int = 0

    def __str__(self) -> str:
        return (
            f"{self.rollups_written} hourly rows written; {self.samples_deleted} raw samples and "
            f"{self.rollups_deleted} hourly rows past retention deleted"
        )


def floor_hour(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def marks(check_ids: list[int]) -> dict[int, datetime.datetime]:
    """Per check, the end of its last rolled-up hour: raw samples before it are in rollups."""
    rows = (
        Rollup.objects.filter(active_check_id__in=check_ids)
        .values("active_check_id")
        .annotate(last=Max("hour"))
    )
    return {row["active_check_id"]: row["last"] + HOUR for row in rows}


def _hour_sql() -> str:
    if connection.vendor == "postgresql":
        return "date_trunc('hour', at)"
    return "strftime('%%Y-%%m-%%d %%H:00:00', at)"  # the text form Django stores on SQLite


def roll_up(check_ids: list[int], start: datetime.datetime, end: datetime.datetime) -> int:
    """Hourly rows for the samples of these checks in [start, end) (whole hours)."""
    ops = connection.ops
    sample, rollup = ops.quote_name(Sample._meta.db_table), ops.quote_name(Rollup._meta.db_table)
    placeholders = ", ".join(["%s"] * len(check_ids))
    sql = (
        f"INSERT INTO {rollup} (active_check_id, hour, count, ok_count, latency_min, latency_avg, latency_max) "  # noqa: S608 - our tables
        f"SELECT active_check_id, {_hour_sql()} AS h, COUNT(*), SUM(CASE WHEN ok THEN 1 ELSE 0 END), "
        "MIN(CASE WHEN ok THEN latency_ms END), AVG(CASE WHEN ok THEN latency_ms END), "
        "MAX(CASE WHEN ok THEN latency_ms END) "
        f"FROM {sample} WHERE active_check_id IN ({placeholders}) AND at >= %s AND at < %s "
        "GROUP BY active_check_id, h ON CONFLICT DO NOTHING"
    )
    params = [*check_ids, ops.adapt_datetimefield_value(start), ops.adapt_datetimefield_value(end)]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def roll_up_complete_hours(now: datetime.datetime | None = None) -> int:
    """Roll every hour that is over and not yet rolled up, a day at a time per group of checks."""
    end = floor_hour(now or timezone.now())
    written = 0
    check_ids = list(ActiveCheck.objects.order_by("pk").values_list("pk", flat=True))
    for i in range(0, len(check_ids), GROUP):
        group = check_ids[i : i + GROUP]
        done = marks(group)
        pending = [
            pk for pk in group if done.get(pk, datetime.datetime.min.replace(tzinfo=datetime.UTC)) < end
        ]
        if not pending:
            continue
        # Start at the earliest mark among them (or their oldest sample when never rolled up).
        never = [pk for pk in pending if pk not in done]
        starts = [done[pk] for pk in pending if pk in done]
        if never:
            oldest = Sample.objects.filter(active_check_id__in=never, at__lt=end).aggregate(m=Min("at"))["m"]
            if oldest is not None:
                starts.append(floor_hour(oldest))
        if not starts:
            continue
        start = min(starts)
        while start < end:
            stop = min(start + datetime.timedelta(days=1), end)
            written += roll_up(pending, start, stop)
            start = stop
    return written


def prune(
    now: datetime.datetime | None = None, *, raw_days: int | None = None, rollup_days: int | None = None
) -> PruneResult:
    """Roll up what is complete, then delete raw samples and hourly rows past retention."""
    now = now or timezone.now()
    raw_days = settings.HISGUARD_MONITORING_RAW_DAYS if raw_days is None else max(1, raw_days)
    rollup_days = settings.HISGUARD_MONITORING_ROLLUP_DAYS if rollup_days is None else rollup_days
    result = PruneResult(rollups_written=roll_up_complete_hours(now))
    raw_cutoff = floor_hour(now - datetime.timedelta(days=raw_days))
    rollup_cutoff = floor_hour(now - datetime.timedelta(days=rollup_days))
    check_ids = list(ActiveCheck.objects.order_by("pk").values_list("pk", flat=True))
    for i in range(0, len(check_ids), GROUP):
        group = check_ids[i : i + GROUP]
        with transaction.atomic():
            deleted, _detail = Sample.objects.filter(active_check_id__in=group, at__lt=raw_cutoff).delete()
        result.samples_deleted += deleted
    with transaction.atomic():
        result.rollups_deleted, _ = Rollup.objects.filter(hour__lt=rollup_cutoff).delete()
        StateChange.objects.filter(at__lt=rollup_cutoff).delete()
        EarlyWarning.objects.filter(cleared_at__lt=rollup_cutoff).delete()
    return result
