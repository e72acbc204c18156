#!/usr/bin/env python
"""Does correlating a report get slower as the hospital's history grows? (It must not.)

In one process, on a fresh SQLite database (or a ``bench_…`` PostgreSQL database) with the
test suite's small hospital: N earlier reports naming HIS in a closed incident (the history),
one open incident per workstation (a busy hour), then the time of
``incidents.correlation.find_related_incident`` for a new report naming HIS, averaged over
300 calls, for each N given.

    .venv/bin/python bench/correlation_history.py [N ...]      # default: 0 20000 100000
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def measure(history: int) -> str:
    sys.path.insert(0, str(PROJECT_DIR))
    os.environ.update(
        HISGUARD_VAR_DIR=tempfile.mkdtemp(prefix="hisguard-history-"),
        SECRET_KEY="correlation-history",  # noqa: S106 - a throwaway benchmark database
        DJANGO_SETTINGS_MODULE="hisguard.settings",
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import transaction
    from django.test import Client
    from django.utils import timezone

    from hisguard.incidents import correlation
    from hisguard.incidents.models import OPEN_STATUSES, Incident
    from hisguard.reporting.actions import ReportInput, _unsaved_report
    from hisguard.reporting.models import FaultReport
    from tests.conftest import api_report, build_tiny_hospital

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    tiny = build_tiny_hospital()
    his, first = tiny.systems["HIS"], tiny.ws("PC-A1-1")
    long_ago = timezone.now() - datetime.timedelta(days=200)
    closed = Incident.objects.create(
        hospital=tiny.hospital,
        number="INC-HISTORY",
        title="history",
        opened_at=long_ago,
        last_evidence_at=long_ago,
        status="closed",
    )
    FaultReport.objects.bulk_create(
        [
            FaultReport(
                hospital=tiny.hospital,
                tracking_number=f"H{i:08d}",
                status_token=f"h{i:020d}",
                channel="api",
                workstation=first,
                department=first.department,
                system=his,
                symptom="cannot_enter",
                created_at=long_ago + datetime.timedelta(seconds=i),
                incident=closed,
            )
            for i in range(history)
        ],
        batch_size=2000,
    )
    hosts = [a.hostname for a in tiny.assets.values() if a.kind == "workstation"]
    client = Client()
    for host in hosts:  # a busy hour: each workstation's own open incident
        api_report(client, tiny.ws(host), symptom="no_network")
    last = tiny.ws(hosts[-1])
    report = _unsaved_report(
        ReportInput(symptom="cannot_enter", workstation=last, system=his), timezone.now()
    )
    calls = 300
    with transaction.atomic():
        started = time.perf_counter()
        for _ in range(calls):
            correlation.find_related_incident(report, timezone.now())
        per_call = (time.perf_counter() - started) / calls * 1000
    open_incidents = Incident.objects.filter(status__in=OPEN_STATUSES).count()
    return f"{history:>7} earlier reports naming HIS, {open_incidents} open incidents: {per_call:.3f} ms a report"


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(measure(int(sys.argv[2])))
        return 0
    sizes = [int(a) for a in sys.argv[1:]] or [0, 20000, 100000]
    for size in sizes:  # each size in a fresh process and database
        subprocess.run([sys.executable, __file__, "--one", str(size)], check=True, cwd=PROJECT_DIR)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
