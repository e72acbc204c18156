#!/usr/bin/env python
"""Notification latency: state change → first delivery attempt at a receiver, with real workers.

All on this machine (127.0.0.1 only, every loop bounded):

1. A fresh database (SQLite in a temp dir, or PostgreSQL with --database-url, which this
   script creates and drops), migrated, with a small hospital whose people are reachable
   by webhook at a receiver this script runs (a threaded HTTP server recording arrival times).
2. Starts N real `hisguard worker` processes (1, then 2 on PostgreSQL).
3. Opens incidents one by one (a fault report through the same action the API uses, committed),
   at a fixed rate, each paging the administrator on duty; latency = commit → the first
   request for that incident at the receiver.
4. Broadcast: one all-hospital notice to 2,000 department heads; time to the last attempt.
5. The floor, measured in the same run: a bare POST from this process to the same receiver
   (the network and receiver cost), plus the worker's poll interval (the designed wait).

    .venv/bin/python bench/notify_latency.py
    .venv/bin/python bench/notify_latency.py --database-url postgres://postgres@127.0.0.1:5432/bench_notify
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.25
INCIDENT_NUMBER = re.compile(r"INC-\d{8}-\d+")


class Receiver:
    def __init__(self) -> None:
        self.first_seen: dict[str, float] = {}
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                now = time.perf_counter()
                subject = body.get("subject", "")
                with receiver.lock:
                    receiver.count += 1
                    for number in INCIDENT_NUMBER.findall(subject):
                        receiver.first_seen.setdefault(number, now)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_postgres(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_postgres(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_hospital(receiver_url: str, heads: int, incidents: int):
    from hisguard.core.audit import acting_as
    from hisguard.incidents.models import ClassificationPolicy
    from hisguard.organisation.models import Area, Asset, Department, Hospital, Person
    from hisguard.paging.defaults import ensure_defaults
    from hisguard.paging.models import Channel, ContactMethod

    with acting_as(None, label="bench"):
        hospital = Hospital.objects.create(code="BENCH", name="基准医院")
        ClassificationPolicy.objects.create(hospital=hospital)
        area = Area.objects.create(hospital=hospital, code="B", name="楼")
        dept = Department.objects.create(hospital=hospital, code="D", name="科室", area=area)
        core = Asset.objects.create(hospital=hospital, hostname="B-CORE", kind="core_switch")
        # One workstation behind each switch, each on its own floor: every report is its own incident.
        switches = Asset.objects.bulk_create(
            [
                Asset(hospital=hospital, hostname=f"B-SW-{n}", kind="access_switch", upstream=core)
                for n in range(incidents)
            ]
        )
        floors = Area.objects.bulk_create(
            [
                Area(hospital=hospital, code=f"F{n}", name=f"{n}层", kind="floor", parent=area)
                for n in range(incidents)
            ]
        )
        workstations = Asset.objects.bulk_create(
            [
                Asset(
                    hospital=hospital,
                    hostname=f"B-PC-{n}",
                    kind="workstation",
                    upstream=switch,
                    area=floors[n],
                    department=dept,
                    report_token=f"t{n}",
                )
                for n, switch in enumerate(switches)
            ]
        )
        admins = [
            Person.objects.create(
                hospital=hospital, employee_no=f"NA{i}", name=f"网管{i}", position="network_admin"
            )
            for i in range(2)
        ]
        head_people = Person.objects.bulk_create(
            [
                Person(
                    hospital=hospital, employee_no=f"H{i:05d}", name=f"主任{i}", position="department_head"
                )
                for i in range(heads)
            ]
        )
        ContactMethod.objects.bulk_create(
            [
                ContactMethod(person=p, channel=Channel.WEBHOOK, address=f"{receiver_url}/p/{p.employee_no}")
                for p in admins + head_people
            ]
        )
        ensure_defaults(hospital)
    return workstations


def start_workers(count: int, env: dict[str, str]) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "hisguard.cli", "worker", "--name", f"bench-{i}", "--threads", "16"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(count)
    ]


def stop(workers: list[subprocess.Popen]) -> None:
    for w in workers:
        w.terminate()
    for w in workers:
        try:
            w.wait(timeout=20)
        except subprocess.TimeoutExpired:
            w.kill()


def measure_incidents(receiver: Receiver, workstations, count: int, rate: float, offset: int) -> list[float]:
    from hisguard.core.audit import acting_as
    from hisguard.reporting.actions import ReportInput, submit_report

    committed: dict[str, float] = {}
    interval = 1 / rate
    start = time.perf_counter()
    for i in range(count):
        target = start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        ws = workstations[i + offset]
        with acting_as(None, label="bench"):
            report = submit_report(ReportInput(symptom="cannot_enter", workstation=ws))
        committed[report.incident.number] = time.perf_counter()
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline and len(set(committed) & set(receiver.first_seen)) < len(committed):
        time.sleep(0.05)
    return [receiver.first_seen[n] - t for n, t in committed.items() if n in receiver.first_seen]


def measure_broadcast(receiver: Receiver, heads: int) -> tuple[float, int]:
    from hisguard.core.audit import acting_as
    from hisguard.incidents.models import Incident
    from hisguard.paging.actions import broadcast

    incident = Incident.objects.order_by("-id").first()
    before = receiver.count
    start = time.perf_counter()
    with acting_as(None, label="bench"):
        broadcast(incident, "全院通知：HIS 故障，请按手工流程操作")
    deadline = start + 300
    while time.perf_counter() < deadline and receiver.count - before < heads:
        time.sleep(0.02)
    return time.perf_counter() - start, receiver.count - before


def floor(receiver: Receiver, n: int = 200) -> float:
    import httpx

    samples = []
    with httpx.Client() as client:
        for _ in range(n):
            t = time.perf_counter()
            client.post(receiver.url + "/floor", json={"subject": "floor"})
            samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default="", help="PostgreSQL URL (created and dropped); SQLite if empty"
    )
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="incidents per second")
    parser.add_argument("--heads", type=int, default=2000, help="broadcast recipients")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="hisguard-notify-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hisguard.settings",
        "HISGUARD_VAR_DIR": tmp,
        "HISGUARD_WORKER_POLL_SECONDS": str(POLL_SECONDS),
        # Storm control would (rightly) bundle hundreds of pages to one person into a digest;
        # here each page is measured on its own.
        "HISGUARD_STORM_LIMIT": "1000000",
        "LOG_LEVEL": "WARNING",
    }
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
        create_postgres(args.database_url)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    setup_django(env)
    from django.db import connection

    receiver = Receiver()
    workstations = build_hospital(receiver.url, args.heads, args.incidents * 2)
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, database {connection.vendor}"
    )
    print(
        f"poll interval {POLL_SECONDS}s; {args.incidents} incidents at {args.rate}/s; broadcast to {args.heads}"
    )
    floor_post = floor(receiver)
    print(
        f"floor: bare POST to the receiver p50 {floor_post * 1000:.1f} ms; + poll interval ≤ {POLL_SECONDS * 1000:.0f} ms"
    )
    worker_counts = [1, 2] if connection.vendor == "postgresql" else [1]
    rows = []
    try:
        for count in worker_counts:
            workers = start_workers(count, env)
            try:
                time.sleep(2)  # let the workers start
                latencies = measure_incidents(
                    receiver, workstations, args.incidents, args.rate, offset=(count - 1) * args.incidents
                )
                broadcast_seconds, delivered = measure_broadcast(receiver, args.heads)
            finally:
                stop(workers)
            rows.append((count, latencies, broadcast_seconds, delivered))
    finally:
        connection.close()
        if args.database_url:
            drop_postgres(args.database_url)
    print()
    print("workers | incidents paged | p50 ms | p99 ms | max ms | broadcast: delivered, seconds to last")
    worst = 0.0
    for count, latencies, seconds, delivered in rows:
        if not latencies:
            print(f"{count:>7} | nothing arrived: is the worker running?")
            continue
        p99 = percentile(latencies, 99) * 1000
        worst = max(worst, p99)
        print(
            f"{count:>7} | {len(latencies):>15} | {percentile(latencies, 50) * 1000:6.0f} | {p99:6.0f} | "
            f"{max(latencies) * 1000:6.0f} | {delivered}, {seconds:.1f} s"
        )
    print(f"target: p99 < 2000 ms → {'met' if worst < 2000 else 'MISSED'}")
    return 0 if all(len(r[1]) == args.incidents for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
