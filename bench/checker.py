#!/usr/bin/env python
"""Checker and monitoring-page benchmarks, on this machine only (127.0.0.1), every loop bounded.

    .venv/bin/python bench/checker.py run      [--targets 20000] [--interval 10] [--database-url …]
    .venv/bin/python bench/checker.py pages    [--samples 10000000] [--database-url …]

`run`:
1. A fresh database (SQLite in a temporary HISGUARD_VAR_DIR, or a fresh PostgreSQL database
   `bench_…` on 127.0.0.1), migrated, with N TCP checks (default 20,000) on loopback listeners
   served by a separate accept-and-close process (20 ports).
2. The floor: the raw asyncio TCP-connect rate (loop.create_connection + abort) against the same
   listeners at the same concurrency, from this process.
3. `hisguard checker` as production runs it (subprocess, real sample writes): first at the given
   interval (default 10 s: 2,000 checks/s are due), measuring checks/s written and the schedule
   lateness p99 the checker reports; then with the interval at 1 s (more is due than it can do),
   measuring its capacity. Prints capacity / floor (target ≥ 0.5).

`pages`: a fresh database with the demo hospital, 1,000 checks and 10 million samples (7 days at
60 s; COPY on PostgreSQL), gunicorn as production runs it, then each monitoring page requested
repeatedly (4 concurrent clients): p50/p95 per page (target p95 < 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

PROJECT_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
RATIO_TARGET = 0.5
PAGE_P95_TARGET_MS = 100.0


class BenchError(Exception):
    pass


# --- environment -----------------------------------------------------------------------------


@dataclass
class Postgres:
    url: str
    name: str
    connect: dict

    @classmethod
    def from_url(cls, url: str) -> Postgres:
        parts = urlsplit(url)
        if parts.scheme not in {"postgres", "postgresql"} or (parts.hostname or "") not in LOCAL_HOSTS:
            raise BenchError("--database-url must be postgres://user@127.0.0.1:5432/bench_…")
        name = parts.path.lstrip("/")
        if not name.startswith("bench"):
            raise BenchError("the benchmark creates and drops its database: its name must start with 'bench'")
        connect = {
            "host": parts.hostname,
            "port": parts.port or 5432,
            "user": unquote(parts.username or "postgres"),
            "password": unquote(parts.password or ""),
            "dbname": "postgres",
            "autocommit": True,
        }
        return cls(url, name, connect)

    def execute(self, sql: str) -> list[tuple]:
        import psycopg

        with psycopg.connect(**self.connect) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def create(self) -> str:
        self.drop()
        self.execute(f'CREATE DATABASE "{self.name}"')
        return self.execute("SHOW server_version")[0][0]

    def drop(self) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@dataclass
class Env:
    tmp: Path
    env: dict[str, str]
    postgres: Postgres | None
    database: str

    def close(self) -> None:
        close_db()
        if self.postgres is not None:
            with contextlib.suppress(Exception):
                self.postgres.drop()
        shutil.rmtree(self.tmp, ignore_errors=True)  # a pages run leaves a 1 GB database


def prepare(database_url: str | None, *, demo: bool = False) -> Env:
    tmp = Path(tempfile.mkdtemp(prefix="hisguard-bench-"))
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        HISGUARD_VAR_DIR=str(tmp), PYTHONPATH=str(PROJECT_DIR), PYTHONUNBUFFERED="1", LOG_LEVEL="WARNING"
    )
    postgres = None
    database = f"SQLite {__import__('sqlite3').sqlite_version} (WAL), {tmp}"
    if database_url:
        postgres = Postgres.from_url(database_url)
        database = f"PostgreSQL {postgres.create()}"
        env["DATABASE_URL"] = postgres.url
    os.environ.update(
        {k: v for k, v in env.items() if k in {"HISGUARD_VAR_DIR", "DATABASE_URL", "LOG_LEVEL"}}
    )
    run_manage(["manage.py", "migrate", "--noinput"], env)
    if demo:
        run_manage(["manage.py", "demo"], env)
    django_setup()
    return Env(tmp, env, postgres, database)


def run_manage(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [PYTHON, *args], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def django_setup() -> None:
    import logging

    import django

    sys.path.insert(0, str(PROJECT_DIR))
    os.environ["DJANGO_SETTINGS_MODULE"] = "hisguard.settings"
    django.setup()
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def close_db() -> None:
    with contextlib.suppress(Exception):
        from django.db import connections

        connections.close_all()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def machine_lines(database: str) -> list[str]:
    import django

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return [
        f"machine    {os.cpu_count()} cores, {cpu}",
        f"python     {platform.python_version()}, Django {django.get_version()}",
        f"database   {database}",
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A child in its own process group, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                command, cwd=PROJECT_DIR, env=env, stdout=out, stderr=out, start_new_session=True
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


# --- loopback listeners ------------------------------------------------------------------------


def listen(ports: int) -> None:
    """`bench/checker.py listen N`: accept and close on N loopback ports until stopped."""
    sockets = []
    for _ in range(ports):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(4096)
        sock.setblocking(False)
        sockets.append(sock)
    print(json.dumps([s.getsockname()[1] for s in sockets]), flush=True)
    poller = select.epoll()
    by_fd = {s.fileno(): s for s in sockets}
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    stop = False

    def on_term(signum, frame) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    deadline = time.monotonic() + 3600  # bounded even if nobody stops it
    while not stop and time.monotonic() < deadline:
        for fd, _event in poller.poll(0.5):
            sock = by_fd[fd]
            while True:
                try:
                    conn, _addr = sock.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                conn.close()


def start_listeners(env: Env, ports: int) -> tuple[Process, list[int]]:
    log = env.tmp / "listener.log"
    process = Process("listener", [PYTHON, str(Path(__file__).resolve()), "listen", str(ports)], env.env, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        if text.strip().startswith("["):
            return process, json.loads(text.splitlines()[0])
        time.sleep(0.1)
    raise BenchError("the listener did not start:\n" + process.tail())


# --- the floor ---------------------------------------------------------------------------------


async def raw_connect_rate(ports: list[int], concurrency: int, seconds: float) -> tuple[float, int]:
    loop = asyncio.get_running_loop()
    done = failed = 0
    deadline = time.monotonic() + seconds

    async def worker(offset: int) -> None:
        nonlocal done, failed
        i = offset
        while time.monotonic() < deadline:
            try:
                transport, _protocol = await loop.create_connection(
                    asyncio.Protocol, "127.0.0.1", ports[i % len(ports)]
                )
                transport.abort()
                done += 1
            except OSError:
                failed += 1
            i += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return done / (time.monotonic() - started), failed


# --- `run` ---------------------------------------------------------------------------------------


def make_checks(count: int, ports: list[int], interval: int) -> None:
    from hisguard.monitoring.models import ActiveCheck
    from hisguard.organisation.models import Hospital

    hospital = Hospital.objects.create(code="BENCH", name="Bench hospital")
    fields = {
        "hospital": hospital,
        "kind": "tcp",
        "host": "127.0.0.1",
        "interval_seconds": interval,
        "timeout_seconds": 2,
    }
    ActiveCheck.objects.bulk_create(
        [ActiveCheck(name=f"tcp {i}", port=ports[i % len(ports)], **fields) for i in range(count)],
        batch_size=2000,
    )


def sample_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM monitoring_sample")
        return cursor.fetchone()[0]


def node_detail() -> dict:
    from hisguard.monitoring.models import CheckerNode

    node = CheckerNode.objects.order_by("-last_seen").first()
    return dict(node.detail) if node else {}


def measure_checker(warm_up: float, window: float, checker: Process) -> tuple[float, dict]:
    time.sleep(warm_up)
    if not checker.alive():
        raise BenchError("the checker died:\n" + checker.tail())
    start_count, start = sample_count(), time.monotonic()
    time.sleep(window)
    end_count, end = sample_count(), time.monotonic()
    close_db()
    return (end_count - start_count) / (end - start), node_detail()


def run(args: argparse.Namespace) -> int:
    env = prepare(args.database_url)
    listener = checker = None
    try:
        listener, ports = start_listeners(env, args.ports)
        make_checks(args.targets, ports, args.interval)
        close_db()
        floor, floor_failed = asyncio.run(raw_connect_rate(ports, args.concurrency, args.floor_seconds))
        command = [PYTHON, "manage.py", "checker", "--concurrency", str(args.concurrency), "--name", "bench"]
        checker = Process("checker", command, env.env, env.tmp / "checker.log")
        scheduled, detail = measure_checker(args.interval * 1.5 + 5, args.window, checker)
        from hisguard.monitoring.models import ActiveCheck

        ActiveCheck.objects.update(interval_seconds=1, updated_at=datetime.datetime.now(datetime.UTC))
        close_db()
        capacity, capacity_detail = measure_checker(15, args.window, checker)
        checker.stop()
        rows = sample_count()
        close_db()
    finally:
        for process in (checker, listener):
            if process is not None:
                process.stop()
        env.close()
    due = args.targets / args.interval
    ratio = capacity / floor if floor else 0.0
    print("\n".join(machine_lines(env.database)))
    print(
        f"targets    {args.targets} TCP checks on {args.ports} loopback ports, concurrency {args.concurrency}"
    )
    print(
        f"floor      raw asyncio TCP connect: {floor:,.0f}/s ({floor_failed} failed), {args.floor_seconds:.0f} s"
    )
    print(
        f"schedule   interval {args.interval} s → {due:,.0f} checks/s due; written {scheduled:,.0f}/s; "
        f"lateness p50 {detail.get('lateness_p50_ms', '?')} ms, p99 {detail.get('lateness_p99_ms', '?')} ms"
    )
    print(
        f"capacity   interval 1 s (saturated): {capacity:,.0f} checks/s = {ratio:.2f} × floor "
        f"(target ≥ {RATIO_TARGET}); lateness p99 {capacity_detail.get('lateness_p99_ms', '?')} ms"
    )
    print(f"samples    {rows:,} rows written")
    ok = ratio >= RATIO_TARGET and scheduled >= 0.95 * due
    print("verdict    " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


# --- `pages` ---------------------------------------------------------------------------------------


def make_samples(checks: list[int], per_check: int, step: int, env: Env) -> float:
    """Bulk-load samples ending now (COPY on PostgreSQL, executemany on SQLite)."""
    from django.db import connection

    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    start = time.monotonic()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy("COPY monitoring_sample (active_check_id, at, ok, latency_ms) FROM STDIN") as copy:
                for check_id in checks:
                    for i in range(per_check):
                        ok = (i + check_id) % 97 != 0
                        copy.write_row(
                            (
                                check_id,
                                now - datetime.timedelta(seconds=step * i),
                                ok,
                                3.0 + (i % 17) if ok else None,
                            )
                        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE monitoring_sample")
    else:
        import sqlite3

        db = sqlite3.connect(str(env.tmp / "hisguard.sqlite3"))
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        naive = now.replace(tzinfo=None)
        for check_id in checks:
            rows = []
            for i in range(per_check):
                ok = (i + check_id) % 97 != 0
                rows.append(
                    (
                        check_id,
                        str(naive - datetime.timedelta(seconds=step * i)),
                        ok,
                        3.0 + (i % 17) if ok else None,
                    )
                )
            db.executemany(
                "INSERT INTO monitoring_sample (active_check_id, at, ok, latency_ms) VALUES (?, ?, ?, ?)",
                rows,
            )
            db.commit()
        db.execute("ANALYZE")
        db.close()
    return time.monotonic() - start


def session_cookie() -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    user = User.objects.create_superuser("bench", password="bench-pass-123")  # noqa: S106 - throwaway database
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key or ""


async def hit(base: str, cookie: str, paths: list[str], concurrency: int) -> list[float]:
    import httpx

    latencies: list[float] = []
    queue = list(paths)
    async with httpx.AsyncClient(base_url=base, cookies={"sessionid": cookie}, timeout=30) as client:

        async def worker() -> None:
            while queue:
                path = queue.pop()
                started = time.perf_counter()
                response = await client.get(path)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise BenchError(f"{path}: HTTP {response.status_code}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def pages(args: argparse.Namespace) -> int:
    import httpx

    env = prepare(args.database_url, demo=True)
    server = None
    try:
        from hisguard.monitoring.models import ActiveCheck
        from hisguard.organisation.models import Asset, Hospital, InformationSystem

        hospital = Hospital.objects.first()
        assets = list(
            Asset.objects.exclude(kind__in=["workstation", "terminal"]).order_by("pk")[: args.checks // 5]
        )
        assets += list(
            Asset.objects.filter(kind="workstation").order_by("pk")[: max(0, args.checks // 5 - len(assets))]
        )
        wanted = [(asset, kind) for asset in assets for kind in ("ping", "tcp", "tls", "ping", "tcp")]
        checks = ActiveCheck.objects.bulk_create(
            [
                ActiveCheck(
                    hospital=hospital,
                    name=f"{asset.hostname} {kind} {i}",
                    kind=kind,
                    host="127.0.0.1",
                    asset=asset,
                )
                for i, (asset, kind) in enumerate(wanted[: args.checks])
            ]
        )
        ids = [c.pk for c in checks]
        per_check = args.samples // len(ids)
        load_seconds = make_samples(ids, per_check, 60, env)
        from hisguard.monitoring.retention import roll_up_complete_hours

        started = time.monotonic()
        rolled = roll_up_complete_hours()  # what the checker does every few minutes
        rollup_seconds = time.monotonic() - started
        total = per_check * len(ids)
        cookie = session_cookie()
        his = InformationSystem.objects.filter(hospital=hospital).order_by("pk").first()
        close_db()
        port = free_port()
        command = [PYTHON, "-m", "gunicorn", "hisguard.wsgi:application"]
        command += ["--config", "python:hisguard.gunicorn_conf", "--bind", f"127.0.0.1:{port}"]
        server = Process("web", command, env.env, env.tmp / "web.log")
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(base + "/", timeout=2)
                break
            time.sleep(0.2)
        n = args.requests
        plan = {
            "overview /monitoring/": ["/monitoring/"] * n,
            "checks list": [f"/monitoring/checks/?page={1 + i % 10}" for i in range(n)],
            "check 24 h": [f"/monitoring/checks/{ids[i * 7 % len(ids)]}/" for i in range(n)],
            "check 7 d": [f"/monitoring/checks/{ids[i * 7 % len(ids)]}/?range=7d" for i in range(n)],
            "check 30 d": [f"/monitoring/checks/{ids[i * 7 % len(ids)]}/?range=30d" for i in range(n)],
            "asset (5 checks)": [f"/monitoring/assets/{assets[i % len(assets)].hostname}/" for i in range(n)],
            "system": [f"/monitoring/systems/{his.pk}/" for _ in range(n)] if his else [],
        }
        asyncio.run(hit(base, cookie, [p[0] for p in plan.values() if p], 1))  # warm up
        alone = {name: asyncio.run(hit(base, cookie, paths, 1)) for name, paths in plan.items() if paths}
        results = {
            name: asyncio.run(hit(base, cookie, paths, args.concurrency))
            for name, paths in plan.items()
            if paths
        }
    finally:
        if server is not None:
            server.stop()
        env.close()
    print("\n".join(machine_lines(env.database)))
    print(
        f"data       {len(ids):,} checks × {per_check:,} samples = {total:,} samples (60 s apart), loaded in {load_seconds:.0f} s"
    )
    print(
        f"rollups    {rolled:,} hourly rows rolled up in {rollup_seconds:.0f} s (the checker does this as hours end)"
    )
    print(
        f"load       {args.requests} requests per page, {args.concurrency} concurrent clients, gunicorn as production"
    )
    print(f"  {'page':<22} {'1 client':>24}   {f'{args.concurrency} clients':>24}")
    worst = 0.0
    for name, latencies in results.items():
        single = alone[name]
        p95 = percentile(single, 0.95)
        worst = max(worst, p95)
        print(
            f"  {name:<22} p50 {percentile(single, 0.5):6.1f} p95 {p95:6.1f} ms   "
            f"p50 {percentile(latencies, 0.5):6.1f} p95 {percentile(latencies, 0.95):6.1f} ms"
        )
    ok = worst < PAGE_P95_TARGET_MS
    print(
        f"verdict    worst p95 {worst:.1f} ms with one client (target < {PAGE_P95_TARGET_MS:.0f} ms): "
        + ("PASS" if ok else "FAIL")
    )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    run_parser = sub.add_parser("run", help="checks per second vs the raw asyncio TCP-connect floor")
    run_parser.add_argument("--targets", type=int, default=20000)
    run_parser.add_argument("--interval", type=int, default=10)
    run_parser.add_argument("--concurrency", type=int, default=500)
    run_parser.add_argument("--ports", type=int, default=20)
    run_parser.add_argument("--floor-seconds", type=float, default=10.0)
    run_parser.add_argument("--window", type=float, default=30.0)
    run_parser.add_argument("--database-url", default=None)
    pages_parser = sub.add_parser("pages", help="monitoring pages p95 with millions of samples")
    pages_parser.add_argument("--samples", type=int, default=10_000_000)
    pages_parser.add_argument("--checks", type=int, default=1000)
    pages_parser.add_argument("--requests", type=int, default=100)
    pages_parser.add_argument("--concurrency", type=int, default=4)
    pages_parser.add_argument("--database-url", default=None)
    listen_parser = sub.add_parser("listen", help=argparse.SUPPRESS)
    listen_parser.add_argument("ports", type=int)
    args = parser.parse_args()
    try:
        if args.command == "listen":
            listen(args.ports)
            return 0
        if args.command == "pages":
            return pages(args)
        if args.command in (None, "run"):
            if args.command is None:
                args = run_parser.parse_args([])
            return run(args)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
