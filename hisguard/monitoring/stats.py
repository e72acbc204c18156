"""What the monitoring pages show: uptime over 24 h / 7 d / 30 d, latency history, last result.

Long windows read hourly rollups up to each check's last rolled-up hour and raw samples after
it (see retention.py), so no page scans more than a few hours of raw rows per check.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, OuterRef, Q, Subquery, Sum

from hisguard.monitoring import retention
from hisguard.monitoring.models import Rollup, Sample

WINDOWS = {
    "24h": datetime.timedelta(hours=24),
    "7d": datetime.timedelta(days=7),
    "30d": datetime.timedelta(days=30),
}


@dataclass
class Point:
    at: datetime.datetime
    latency_ms: float | None
    ok_share: float  # 0..1 of the bucket's samples that were ok


def counts(
    check_ids: list[int], since: datetime.datetime, now: datetime.datetime
) -> dict[int, tuple[int, int]]:
    """(ok, total) per check between `since` and `now`."""
    return {pk: windows[0] for pk, windows in _window_counts(check_ids, [since], now).items()}


def _window_counts(
    check_ids: list[int], starts: list[datetime.datetime], now: datetime.datetime
) -> dict[int, list[tuple[int, int]]]:
    """(ok, total) per check for each start: hourly rollups up to each check's mark, raw samples
    after it (at most the last hour or so), one query each."""
    earliest = min(starts)
    totals = {pk: [(0, 0) for _ in starts] for pk in check_ids}
    if not check_ids:
        return totals
    done = retention.marks(check_ids)
    rolled = Q(pk__in=[])
    raw = Q(active_check_id__in=[pk for pk in check_ids if pk not in done])
    for pk, mark in done.items():
        rolled |= Q(active_check_id=pk, hour__lt=mark)
        raw |= Q(active_check_id=pk, at__gte=mark)
    for model, time_field, query in ((Sample, "at", raw), (Rollup, "hour", rolled)):
        aggregates: dict[str, Any] = {}
        for i, start in enumerate(starts):
            in_window = Q(**{f"{time_field}__gte": start})
            if model is Sample:
                aggregates[f"n{i}"] = Count("at", filter=in_window)
                aggregates[f"ok{i}"] = Count("at", filter=in_window & Q(ok=True))
            else:
                aggregates[f"n{i}"] = Sum("count", filter=in_window)
                aggregates[f"ok{i}"] = Sum("ok_count", filter=in_window)
        rows = (
            model.objects.filter(query, **{f"{time_field}__gte": earliest, f"{time_field}__lte": now})
            .values("active_check_id")
            .annotate(**aggregates)
        )
        for found in rows:
            row: dict[str, Any] = dict(found)
            current = totals[row["active_check_id"]]
            for i in range(len(starts)):
                ok, total = current[i]
                current[i] = (ok + (row[f"ok{i}"] or 0), total + (row[f"n{i}"] or 0))
    return totals


def uptime(check_ids: list[int], now: datetime.datetime) -> dict[int, dict[str, float | None]]:
    """Percent up per check and window; None when there is no sample in the window."""
    names = list(WINDOWS)
    found = _window_counts(check_ids, [now - WINDOWS[name] for name in names], now)
    return {
        pk: {
            name: (round(100.0 * ok / total, 2) if total else None)
            for name, (ok, total) in zip(names, windows, strict=True)
        }
        for pk, windows in found.items()
    }


def with_last(query):
    """Annotate checks with their last result (three index seeks per row, in one query)."""
    last = Sample.objects.filter(active_check=OuterRef("pk")).order_by("-at")
    return query.annotate(
        last_at=Subquery(last.values("at")[:1]),
        last_ok=Subquery(last.values("ok")[:1]),
        last_latency=Subquery(last.values("latency_ms")[:1]),
    )


def latest(check_ids: list[int]) -> dict[int, Sample]:
    found = {}
    for pk in check_ids:
        sample = Sample.objects.filter(active_check_id=pk).order_by("-at").first()
        if sample is not None:
            found[pk] = sample
    return found


def _bucket_sql() -> str:
    """The bucket number of a sample's time, computed by the database (no row reaches Python)."""
    if connection.vendor == "postgresql":
        return "FLOOR(EXTRACT(EPOCH FROM (at - %s)) / %s)"
    return "CAST((julianday(at) - julianday(%s)) * 86400.0 / %s AS INTEGER)"


def series(check_id: int, now: datetime.datetime, span: str = "24h", buckets: int = 144) -> list[Point]:
    """Latency history in `buckets` equal slices (average latency of ok samples, ok share)."""
    length = WINDOWS.get(span, WINDOWS["24h"])
    since = now - length
    width = length / buckets
    sums = [0.0] * buckets
    oks = [0] * buckets
    totals = [0] * buckets
    latencies = [0] * buckets
    adapt = connection.ops.adapt_datetimefield_value
    table = connection.ops.quote_name(Sample._meta.db_table)
    sql = (
        f"SELECT {_bucket_sql()} AS b, COUNT(*), SUM(CASE WHEN ok THEN 1 ELSE 0 END), "  # noqa: S608 - our table
        "SUM(CASE WHEN ok AND latency_ms IS NOT NULL THEN latency_ms ELSE 0 END), "
        "SUM(CASE WHEN ok AND latency_ms IS NOT NULL THEN 1 ELSE 0 END) "
        f"FROM {table} WHERE active_check_id = %s AND at >= %s AND at <= %s GROUP BY b"
    )
    # The 24-hour chart reads raw samples (kept for days); longer ones read hourly rows up to the
    # check's mark and raw samples only after it.
    mark = retention.marks([check_id]).get(check_id) if length > WINDOWS["24h"] else None
    raw_from = max(since, mark) if mark else since
    with connection.cursor() as cursor:
        cursor.execute(sql, [adapt(since), width.total_seconds(), check_id, adapt(raw_from), adapt(now)])
        for bucket, count, ok_count, latency_sum, latency_count in cursor.fetchall():
            i = min(buckets - 1, max(0, int(bucket)))
            totals[i] += count
            oks[i] += ok_count or 0
            sums[i] += latency_sum or 0.0
            latencies[i] += latency_count or 0
    hourly = (
        Rollup.objects.filter(active_check_id=check_id, hour__gte=since, hour__lt=mark)
        if mark
        else Rollup.objects.none()
    )
    for hour, count, ok_count, average in hourly.values_list("hour", "count", "ok_count", "latency_avg"):
        i = min(buckets - 1, max(0, int((hour - since) / width)))
        totals[i] += count
        oks[i] += ok_count
        if average is not None and ok_count:
            sums[i] += average * ok_count
            latencies[i] += ok_count
    return [
        Point(
            since + width * i,
            round(sums[i] / latencies[i], 2) if latencies[i] else None,
            oks[i] / totals[i] if totals[i] else 1.0,
        )
        for i in range(buckets)
        if totals[i]
    ]


def svg_path(
    points: list[Point],
    since: datetime.datetime,
    span: datetime.timedelta,
    width: int = 600,
    height: int = 120,
) -> dict:
    """Coordinates for an inline SVG chart (no JavaScript, nothing from a CDN)."""
    values = [p.latency_ms for p in points if p.latency_ms is not None]
    top = max(values) if values else 1.0
    top = top if top > 0 else 1.0
    segments: list[list[str]] = [[]]
    failures = []
    for point in points:
        x = (point.at - since) / span * width
        if point.ok_share < 1.0:
            failures.append({"x": round(x, 1), "opacity": round(1 - point.ok_share, 2)})
        if point.latency_ms is None:
            if segments[-1]:
                segments.append([])
            continue
        y = height - (point.latency_ms / top) * (height - 10) - 5
        segments[-1].append(f"{x:.1f},{y:.1f}")
    return {
        "width": width,
        "height": height,
        "lines": [" ".join(s) for s in segments if s],
        "failures": failures,
        "top_ms": round(top, 1),
    }
