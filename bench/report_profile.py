#!/usr/bin/env python
"""Where a fault report's time goes: the report storm's plan replayed in one process.

Not a benchmark of the server (``report_storm.py`` is): this replays the same seeded plan
one request after another through Django's full stack (middleware, django-ninja, the report
action) with the test client, on a fresh SQLite database in a temporary directory (or a
``bench_…`` PostgreSQL database), and prints the time and the SQL queries per report, by
phase. With ``--profile`` it writes a cProfile file of the replay.

    .venv/bin/python bench/report_profile.py [--reports 2000] [--closed 1000] [--profile out.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--closed", type=int, default=1000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--profile", default="", help="write a cProfile file of the replay here")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="hisguard-profile-")
    os.environ["HISGUARD_VAR_DIR"] = tmp
    os.environ.setdefault("SECRET_KEY", "report-profile")
    os.environ["DJANGO_SETTINGS_MODULE"] = "hisguard.settings"
    if args.database_url:
        if not Path(args.database_url).name.startswith("bench"):
            raise SystemExit("the PostgreSQL database's name must start with 'bench'")
        os.environ["DATABASE_URL"] = args.database_url
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    if args.database_url:
        _recreate_pg(args.database_url)
    call_command("migrate", verbosity=0)
    call_command("demo", verbosity=0)

    from bench.report_storm import build_plan, load_workstations

    workstations, users, limit = load_workstations("HIS")
    plan = build_plan(
        workstations,
        users,
        system="HIS",
        count=args.reports,
        rate=200.0,
        per_workstation=min(2, limit),
        closed_count=args.closed,
        seed=20240618,
    )
    phases = _time_phases()
    client = Client(HTTP_HOST="127.0.0.1")
    profiler = cProfile.Profile() if args.profile else None
    for phase, requests in (("storm", plan.storm), ("closed", plan.closed)):
        times: list[float] = []
        queries: list[int] = []
        failed = 0
        opened: list[float] = []  # reports that opened an incident
        seen_incidents: set[int] = set()
        for req in requests:
            counter = _QueryCounter()
            with connection.execute_wrapper(counter):
                start = time.perf_counter()
                if profiler:
                    profiler.enable()
                response = client.post(
                    "/api/v1/reports",
                    req.body,
                    content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {req.workstation.token}",
                )
                if profiler:
                    profiler.disable()
                times.append(time.perf_counter() - start)
            queries.append(counter.count)
            if response.status_code == 201:
                incident = response.json()["incident"]["id"]
                if incident not in seen_incidents:
                    seen_incidents.add(incident)
                    if phase != "storm" or len(times) > 1:  # the run's first request loads the app
                        opened.append(times[-1])
            if response.status_code != 201:
                failed += 1
                if failed <= 3:
                    print(f"  {response.status_code}: {response.content[:200]!r}")
        _print_phase(phase, times, queries, failed)
        if opened:
            print(
                f"  {len(opened)} opened an incident: mean {statistics.mean(opened) * 1000:.2f} ms"
                f" (the run's first request left out)"
            )
    total = sum(len(r) for r in (plan.storm, plan.closed))
    print("time inside (ms per report, nested phases are counted in their parents too):")
    for name, seconds in sorted(phases.items(), key=lambda item: -item[1]):
        print(f"  {name:55s} {seconds * 1000 / total:6.2f}")
    if profiler:
        profiler.dump_stats(args.profile)
        print(f"profile written to {args.profile}")
    return 0


PHASES = [
    "hisguard.core.api_auth.ReportTokenOrApiTokenAuth.authenticate",
    "hisguard.reporting.api.find_system",
    "hisguard.reporting.actions.submit_report",
    "hisguard.reporting.flood.check_flood",
    "hisguard.reporting.actions.validate",
    "hisguard.core.sequences.next_in_sequence",
    "hisguard.incidents.actions.attach_report",
    "hisguard.incidents.actions.find_related_incident",
    "hisguard.incidents.actions._new_incident",
    "hisguard.incidents.actions._link_report",
    "hisguard.incidents.actions.link_evidence",
    "hisguard.incidents.actions.reclassify_from_evidence",
    "hisguard.incidents.actions._refresh_grade",
    "hisguard.incidents.actions._announce_if_new",
    "hisguard.incidents.evidence.gather",
    "hisguard.incidents.timeline.add",
    "hisguard.core.audit.record",
    "hisguard.reporting.api.report_out",
]


def _time_phases() -> dict[str, float]:
    """Wrap the report path's functions with timers (module globals, so callers see them)."""
    import functools
    import importlib

    totals: dict[str, float] = {}
    for dotted in PHASES:
        module_name, _, attr = dotted.rpartition(".")
        owner_name = None
        try:
            owner = importlib.import_module(module_name)
        except ModuleNotFoundError:
            module_name, _, owner_name = module_name.rpartition(".")
            owner = getattr(importlib.import_module(module_name), owner_name)
        original = getattr(owner, attr)
        short = dotted.replace("hisguard.", "")

        def timed(*args, __original=original, __name=short, **kwargs):
            start = time.perf_counter()
            try:
                return __original(*args, **kwargs)
            finally:
                totals[__name] = totals.get(__name, 0.0) + time.perf_counter() - start

        wrapper = functools.wraps(original)(timed)
        setattr(owner, attr, wrapper)
        if owner_name is None:  # modules that imported the function by name see the wrapper too
            for module in list(sys.modules.values()):
                if (
                    getattr(module, "__name__", "").startswith("hisguard")
                    and getattr(module, attr, None) is original
                ):
                    setattr(module, attr, wrapper)
    return totals


class _QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _print_phase(phase: str, times: list[float], queries: list[int], failed: int) -> None:
    ms = sorted(t * 1000 for t in times)
    n = len(ms)
    quarter = max(1, n // 4)
    print(
        f"{phase}: {n} reports, {failed} not 201; ms per report mean {statistics.mean(ms):.2f} "
        f"p50 {ms[n // 2]:.2f} p99 {ms[int(n * 0.99) - 1]:.2f}; "
        f"first quarter {statistics.mean(t * 1000 for t in times[:quarter]):.2f}, "
        f"last quarter {statistics.mean(t * 1000 for t in times[-quarter:]):.2f}; "
        f"queries mean {statistics.mean(queries):.1f} max {max(queries)}; "
        f"{n / sum(times):.0f} reports/s in one thread"
    )


def _recreate_pg(url: str) -> None:
    from django.db import connection

    name = connection.settings_dict["NAME"]
    connection.close()
    import psycopg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    sys.exit(main())
