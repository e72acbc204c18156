#!/usr/bin/env python
"""Report storm: fault-report intake of the real server, against a floor measured in the same run.

What it does, all on this machine (only 127.0.0.1 traffic, every loop bounded):

1. Makes a temporary directory with a fresh SQLite database (HISGUARD_VAR_DIR points the
   settings there) or, with ``--database-url postgres://...@127.0.0.1/bench_...``, creates a
   fresh PostgreSQL database; runs ``manage.py migrate`` and ``manage.py demo`` (the demo
   hospital, about 1,000 workstations) and creates the floor's table.
2. Starts HISGuard exactly as production does (gunicorn, ``hisguard.gunicorn_conf``) and sends
   an open-loop storm: N reports on a fixed schedule (default 2,000 at 200/s), each from a
   demo workstation with its own report token, no workstation more than twice (the flood
   limit is 5 per 10 minutes). Mostly scattered single-PC problems, plus clusters: several
   PCs behind one access switch within seconds, and one system reported from many
   departments in all three buildings. Then a closed loop: a fixed number of requests at the
   same client concurrency, as fast as the server answers, for the throughput.
3. Checks every 201's tracking number against FaultReport rows (lost must be 0), counts the
   incidents formed by class and whether each cluster landed in one incident.
4. Starts the floor (``bench/floor``: one view inserting one row in a transaction, same
   database, same gunicorn config) and sends it the same open and closed loops.
5. Prints ours vs floor. Exits 1 if any accepted report was lost, 2 if the run failed.

    .venv/bin/python bench/report_storm.py
    .venv/bin/python bench/report_storm.py --database-url postgres://postgres@127.0.0.1:5432/bench_storm
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import logging
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rawhttp

PROJECT_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
P99_TARGET_MS = 250.0
RATIO_TARGET = 0.5

SYMPTOMS = [("cannot_enter", 35), ("cannot_save", 25), ("intermittent", 25), ("no_network", 15)]
SCATTERED_TEXTS = [
    "打开医生站报错，重启后仍不行",
    "保存病历时一直转圈",
    "打印腕带没反应",
    "登录后白屏",
    "刷卡后界面卡住",
    "系统时断时续，一会儿能用一会儿不能用",
    "开医嘱提示超时",
    "网络图标有感叹号",
    "",
]


class BenchError(RuntimeError):
    """The benchmark cannot run as asked (exit status 2)."""


# --------------------------------------------------------------------------------------------
# The plan: who reports what, when.


@dataclass(frozen=True)
class Workstation:
    hostname: str
    token: str
    switch: str | None
    department: str | None
    building: str | None


@dataclass(frozen=True)
class Request:
    at: float  # seconds after the start of the loop (open loop only)
    workstation: Workstation
    body: dict
    group: str  # "scattered", "switch <hostname>" or "system <code>"


@dataclass
class Result:
    request: Request
    status: int | None  # None: no answer (timeout, connection error)
    error: str
    issued: float  # perf_counter when the client issued it (open loop: its scheduled time, or late)
    started: float  # perf_counter when it left on a connection
    finished: float  # perf_counter when the answer (or the error) came
    latency: float  # seconds from the scheduled send (open loop) or the send (closed loop) to the answer
    key: str | None  # tracking number (ours) or row id (floor) of a 201


@dataclass
class Plan:
    storm: list[Request]
    closed: list[Request]
    clusters: dict[str, list[Request]] = field(default_factory=dict)


def _scattered_body(ws: Workstation, rng: random.Random) -> dict:
    symptom = rng.choices([s for s, _ in SYMPTOMS], weights=[w for _, w in SYMPTOMS])[0]
    return {"workstation": ws.hostname, "symptom": symptom, "text": rng.choice(SCATTERED_TEXTS)}


def build_plan(
    workstations: list[Workstation],
    system_users: set[str],
    *,
    system: str,
    count: int,
    rate: float,
    per_workstation: int,
    closed_count: int,
    seed: int,
) -> Plan:
    """A fixed, seeded schedule: `count` arrivals at `rate`/s, clusters placed in time windows."""
    rng = random.Random(seed)
    duration = count / rate
    slots = [i / rate for i in range(count)]
    free = set(range(count))
    used: Counter[str] = Counter()
    storm: dict[int, Request] = {}
    clusters: dict[str, list[Request]] = {}

    def take_slots(start: float, span: float, n: int) -> list[int]:
        window = [i for i in sorted(free) if start <= slots[i] < start + span]
        if len(window) < n:
            raise BenchError(f"the schedule has no room for a cluster of {n} at {start:.1f}s")
        chosen = [window[(k * len(window)) // n] for k in range(n)]
        free.difference_update(chosen)
        return chosen

    by_switch: dict[str, list[Workstation]] = defaultdict(list)
    for ws in workstations:
        if ws.switch:
            by_switch[ws.switch].append(ws)

    # Three access-switch clusters, one per building where possible: 8 PCs within 2 seconds.
    switch_clusters: list[str] = []
    seen_buildings: set[str | None] = set()
    candidates = sorted((s for s, members in by_switch.items() if len(members) >= 12), key=lambda s: s)
    rng.shuffle(candidates)
    for switch in candidates:
        building = by_switch[switch][0].building
        if building not in seen_buildings:
            switch_clusters.append(switch)
            seen_buildings.add(building)
        if len(switch_clusters) == 3:
            break
    span = min(2.0, duration / 5)
    for index, switch in enumerate(switch_clusters):
        members = rng.sample(by_switch[switch], 8)
        group = f"switch {switch}"
        clusters[group] = []
        for slot, ws in zip(take_slots(duration * (0.15 + 0.3 * index), span, 8), members, strict=True):
            used[ws.hostname] += 1
            body = {"workstation": ws.hostname, "symptom": "no_network", "text": "整个诊室都上不了网"}
            storm[slot] = Request(slots[slot], ws, body, group)
            clusters[group].append(storm[slot])

    # One system named from many departments in all three buildings within 3 seconds,
    # from PCs behind other switches than the switch clusters (so the clusters stay apart).
    by_department: dict[str, list[Workstation]] = defaultdict(list)
    for ws in workstations:
        if ws.department in system_users and ws.switch not in switch_clusters:
            by_department[ws.department].append(ws)
    departments = sorted(by_department)
    rng.shuffle(departments)
    chosen_departments = departments[:30]
    buildings = {by_department[d][0].building for d in chosen_departments}
    all_buildings = {ws.building for ws in workstations if ws.building}
    if buildings != all_buildings:
        raise BenchError(
            f"the {system} cluster reaches buildings {sorted(buildings)} of {sorted(all_buildings)}"
        )
    group = f"system {system}"
    clusters[group] = []
    span = min(3.0, duration / 3)
    for slot, department in zip(
        take_slots(duration * 0.3, span, len(chosen_departments)), chosen_departments, strict=True
    ):
        ws = rng.choice(by_department[department])
        used[ws.hostname] += 1
        body = {"workstation": ws.hostname, "symptom": "cannot_enter", "system": system, "text": "进不去系统"}
        storm[slot] = Request(slots[slot], ws, body, group)
        clusters[group].append(storm[slot])

    # The rest: scattered single-PC problems, no workstation over `per_workstation`.
    pool = [ws for ws in workstations for _ in range(per_workstation - used[ws.hostname])]
    if len(pool) < len(free):
        raise BenchError(
            f"{len(workstations)} workstations cannot send {count} reports at {per_workstation} each"
        )
    rng.shuffle(pool)
    for slot, ws in zip(sorted(free), pool, strict=False):
        used[ws.hostname] += 1
        storm[slot] = Request(slots[slot], ws, _scattered_body(ws, rng), "scattered")

    # The closed loop: one more scattered report from distinct workstations (3 per PC at most).
    if closed_count > len(workstations):
        raise BenchError(
            f"the closed loop needs {closed_count} workstations, the demo has {len(workstations)}"
        )
    closed = [
        Request(0.0, ws, _scattered_body(ws, rng), "closed") for ws in rng.sample(workstations, closed_count)
    ]
    return Plan([storm[i] for i in range(count)], closed, clusters)


# --------------------------------------------------------------------------------------------
# The load: open loop on a fixed schedule, closed loop at a fixed concurrency.


async def _send(
    client: rawhttp.Pool, req: Request, scheduled: float | None, gate: asyncio.Semaphore | None = None
) -> Result:
    issued = time.perf_counter()
    if gate is not None:  # wait for a free connection here, so `started` says when it left
        await gate.acquire()
    try:
        return await _post(client, req, issued, scheduled if scheduled is not None else issued)
    finally:
        if gate is not None:
            gate.release()


async def _post(client: rawhttp.Pool, req: Request, issued: float, origin: float) -> Result:
    started = time.perf_counter()
    try:
        response = await client.post_json(
            "/api/v1/reports", req.body, headers={"Authorization": f"Bearer {req.workstation.token}"}
        )
    except rawhttp.HttpError as exc:
        now = time.perf_counter()
        return Result(req, None, type(exc).__name__, issued, started, now, now - origin, None)
    finished = time.perf_counter()
    key, error = None, ""
    if response.status_code == 201:
        data = response.json()
        key = str(data.get("tracking_number") or data.get("id"))
    else:
        error = response.text[:300]
    return Result(req, response.status_code, error, issued, started, finished, finished - origin, key)


@contextlib.asynccontextmanager
async def _client(base_url: str, concurrency: int):
    """The load generator's connections (see bench/rawhttp.py: httpx cost the server ~2.8 ms
    of CPU per request on these shared cores)."""
    address = urlsplit(base_url)
    pool = rawhttp.Pool(address.hostname or "127.0.0.1", address.port or 80, concurrency, timeout=60.0)
    try:
        yield pool
    finally:
        await pool.close()


async def warm_up(
    base_url: str, path: str, concurrency: int, workstations: list[Workstation], refused_body: dict
) -> None:
    """Let every worker thread import the app, resolve its URLs, open its database connection
    and load its translations before the clock starts, as on a server that has been running:
    GETs, then reports the server must refuse (HISGuard: an empty symptom, after checking
    the workstation's token; the floor: no symptom), which store nothing."""
    async with _client(base_url, concurrency) as client:
        await asyncio.gather(*(client.get(path) for _ in range(4 * concurrency)), return_exceptions=True)
        refused = [
            client.post_json(
                "/api/v1/reports",
                {"workstation": ws.hostname, **refused_body},
                headers={"Authorization": f"Bearer {ws.token}"},
            )
            for ws in workstations[: 4 * concurrency]
        ]
        answers = await asyncio.gather(*refused, return_exceptions=True)
        stored = [a for a in answers if isinstance(a, rawhttp.Response) and a.status_code < 400]
        if stored:
            raise BenchError(f"the warm-up's refused reports were accepted: {stored[0].text[:200]}")


async def open_loop(base_url: str, plan: list[Request], concurrency: int, deadline: float) -> list[Result]:
    """Each request leaves at its scheduled time whatever the server does; latency counts from then."""
    gate = asyncio.Semaphore(concurrency)
    async with _client(base_url, concurrency) as client:
        start = time.perf_counter() + 0.1
        tasks = []
        for req in plan:
            delay = start + req.at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_send(client, req, start + req.at, gate)))
        done, pending = await asyncio.wait(tasks, timeout=deadline)
        for task in pending:
            task.cancel()
        results = [task.result() for task in tasks if task in done]
        for task in tasks:
            if task in pending:
                req = plan[tasks.index(task)]
                now = time.perf_counter()
                due = start + req.at
                results.append(Result(req, None, "deadline", due, due, now, now - due, None))
        return results


async def closed_loop(
    base_url: str, plan: list[Request], concurrency: int, deadline: float
) -> tuple[list[Result], float]:
    """`concurrency` clients, each sending its next request when the previous one is answered."""
    results: list[Result] = []
    queue = iter(plan)
    async with _client(base_url, concurrency) as client:

        async def worker() -> None:
            for req in queue:  # one shared iterator: every request is sent once
                results.append(await _send(client, req, None))

        start = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), timeout=deadline)
        return results, time.perf_counter() - start


# --------------------------------------------------------------------------------------------
# Servers and databases.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A gunicorn started like production's, in its own process group so it can be stopped whole."""

    def __init__(
        self, name: str, app: str, warm_up_path: str, refused_body: dict, env: dict[str, str], log_path: Path
    ) -> None:
        self.name, self.app, self.env, self.log_path = name, app, env, log_path
        self.warm_up_path, self.refused_body = warm_up_path, refused_body
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            PYTHON, "-m", "gunicorn", self.app,
            "--config", "python:hisguard.gunicorn_conf",
            "--bind", f"127.0.0.1:{self.port}",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command, cwd=PROJECT_DIR, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                httpx.get(self.url + "/", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within 60 s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # gunicorn: graceful stop of the master and its workers
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server's processes have used so far: the master and
        its workers, found by their process group (the server was started in its own)."""
        if self.proc is None:
            return 0.0
        total, tick = 0, os.sysconf("SC_CLK_TCK")
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == self.proc.pid:  # field 5 of stat: the process group
                    total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick

    def log_errors(self) -> Counter[str]:
        """The exceptions in the server's log (the last line of each traceback), counted."""
        found: Counter[str] = Counter()
        with contextlib.suppress(OSError):
            for line in self.log_path.read_text(errors="replace").splitlines():
                head = line.split(":", 1)[0]
                if (
                    head
                    and not line[0].isspace()
                    and head.endswith(("Error", "Exception"))
                    and " " not in head
                ):
                    found[line[:160]] += 1
        return found

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Postgres:
    url: str
    name: str
    connect: dict

    @classmethod
    def from_url(cls, url: str) -> Postgres:
        parts = urlsplit(url)
        if parts.scheme not in {"postgres", "postgresql"}:
            raise BenchError("--database-url must be postgres://user@127.0.0.1:5432/bench_...")
        if (parts.hostname or "") not in LOCAL_HOSTS:
            raise BenchError("the benchmark only talks to a database on this machine (127.0.0.1)")
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

    def _execute(self, sql: str) -> list[tuple]:
        import psycopg

        with psycopg.connect(**self.connect) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def create(self) -> str:
        self.drop()  # left over from an interrupted run
        self._execute(f'CREATE DATABASE "{self.name}"')
        return self._execute("SHOW server_version")[0][0]

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def run_manage(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [PYTHON, *args], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout


# --------------------------------------------------------------------------------------------
# Reading the database (a small Django setup in this process, same environment as the server).


def django_setup() -> None:
    import django

    sys.path.insert(0, str(PROJECT_DIR))
    os.environ["DJANGO_SETTINGS_MODULE"] = "hisguard.settings"
    django.setup()
    for name in ("httpx", "httpcore"):  # the settings log at INFO: one line per request otherwise
        logging.getLogger(name).setLevel(logging.WARNING)


def close_db() -> None:
    from django.db import connections

    connections.close_all()


def load_workstations(system: str) -> tuple[list[Workstation], set[str], int]:
    from django.conf import settings

    from hisguard.organisation.models import Asset, InformationSystem

    workstations = []
    query = Asset.objects.filter(kind=Asset.Kind.WORKSTATION, is_active=True).select_related(
        "upstream", "department", "area__parent__parent"
    )
    for asset in query.order_by("hostname"):
        switch = (
            asset.upstream.hostname if asset.upstream and asset.upstream.kind == "access_switch" else None
        )
        workstations.append(
            Workstation(
                asset.hostname,
                asset.report_token,
                switch,
                asset.department.code if asset.department else None,
                asset.area.building.code if asset.area else None,
            )
        )
    users = set(InformationSystem.objects.filter(code=system).values_list("departments__code", flat=True))
    close_db()
    return workstations, users - {None}, settings.HISGUARD_REPORT_FLOOD_LIMIT


def stored_tracking_numbers() -> set[str]:
    from hisguard.reporting.models import FaultReport

    numbers = set(FaultReport.objects.values_list("tracking_number", flat=True))
    close_db()
    return numbers


def stored_floor_ids() -> set[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM bench_floor")
        ids = {str(row[0]) for row in cursor.fetchall()}
    close_db()
    return ids


def incidents_by_class() -> list[tuple[int, int, int, int]]:
    """(class, incidents, reports, largest incident's reports)."""
    from django.db.models import Count

    from hisguard.incidents.models import Incident

    rows = Incident.objects.values("hospital_class", "pk").annotate(n=Count("reports"))
    summary: dict[int, list[int]] = {}
    for row in rows:
        summary.setdefault(row["hospital_class"], []).append(row["n"])
    close_db()
    return [(cls, len(sizes), sum(sizes), max(sizes)) for cls, sizes in sorted(summary.items())]


def cluster_incidents(tracking: list[str]) -> Counter[tuple[str, int]]:
    from hisguard.reporting.models import FaultReport

    rows = FaultReport.objects.filter(tracking_number__in=tracking).values_list(
        "incident__number", "incident__hospital_class"
    )
    found = Counter(rows)
    close_db()
    return found


# --------------------------------------------------------------------------------------------
# Figures.


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Figures:
    sent: int
    accepted: int
    rejected: Counter
    samples: dict
    p50: float
    p95: float
    p99: float
    max: float
    issue_seconds: float
    issue_lag_ms: float
    send_seconds: float
    wall_seconds: float
    client_cpu: float
    server_cpu: float = 0.0
    slowest_seconds: list[tuple[int, float, int]] = field(default_factory=list)
    lost: int = 0
    unacknowledged_stored: int = 0

    @property
    def throughput(self) -> float:
        return self.accepted / self.wall_seconds if self.wall_seconds else 0.0


def figures(results: list[Result], wall: float, cpu: float) -> Figures:
    ok = [r for r in results if r.status == 201]
    latencies = [r.latency * 1000 for r in ok]
    rejected: Counter = Counter()
    samples: dict = {}
    for r in results:
        if r.status != 201:
            label = str(r.status) if r.status is not None else r.error
            rejected[label] += 1
            samples.setdefault(label, " ".join(r.error.split())[:160])
    starts = [r.started for r in results]
    issued = [r.issued for r in results]
    lag = [(r.issued - (r.finished - r.latency)) * 1000 for r in results]
    return Figures(
        sent=len(results),
        accepted=len(ok),
        rejected=rejected,
        samples=samples,
        p50=percentile(latencies, 50),
        p95=percentile(latencies, 95),
        p99=percentile(latencies, 99),
        max=max(latencies, default=float("nan")),
        issue_seconds=max(issued) - min(issued) if issued else 0.0,
        issue_lag_ms=max(lag, default=0.0),
        send_seconds=max(starts) - min(starts) if starts else 0.0,
        wall_seconds=wall,
        client_cpu=cpu,
        slowest_seconds=_slowest_seconds(ok),
    )


def _slowest_seconds(ok: list[Result]) -> list[tuple[int, float, int]]:
    """(second of the schedule, its worst latency in ms, answers in it): where the tail comes from."""
    by_second: dict[int, list[float]] = defaultdict(list)
    for r in ok:
        by_second[int(r.request.at)].append(r.latency * 1000)
    worst = sorted(by_second.items(), key=lambda item: -max(item[1]))[:3]
    return [(second, max(values), len(values)) for second, values in worst]


def print_phase(title: str, fig: Figures, open_loop: bool) -> None:
    rejected = ", ".join(f"{k}×{v}" for k, v in sorted(fig.rejected.items())) or "none"
    print(f"  {title}")
    print(f"    sent {fig.sent}, accepted (201) {fig.accepted}, rejected {rejected}")
    for label, sample in fig.samples.items():
        print(f"      {label}: {sample!r}")
    print(
        f"    latency ms  p50 {fig.p50:.1f}  p95 {fig.p95:.1f}  p99 {fig.p99:.1f}  max {fig.max:.1f}"
        f"   (of the 201s)"
    )
    if open_loop:
        print(
            f"    issued over {fig.issue_seconds:.2f} s (at most {fig.issue_lag_ms:.0f} ms behind schedule),"
            f" sent over {fig.send_seconds:.2f} s, last answer after {fig.wall_seconds:.2f} s"
        )
        worst = ", ".join(f"{second}–{second + 1} s: {ms:.0f} ms" for second, ms, _ in fig.slowest_seconds)
        print(f"    slowest seconds of the schedule (worst answer): {worst}")
    else:
        print(f"    first request to last answer {fig.wall_seconds:.2f} s")
    per_request = fig.server_cpu / fig.accepted * 1000 if fig.accepted else float("nan")
    print(
        f"    {fig.throughput:.1f} accepted/s, client CPU {fig.client_cpu:.1f} s,"
        f" server CPU {fig.server_cpu:.1f} s ({per_request:.2f} ms a request)"
    )


def machine(pg_version: str | None, workers: str, threads: str) -> list[str]:
    import django
    import gunicorn

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    code = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", str(PROJECT_DIR)]
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True, timeout=10)
        code = head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    lines = [
        f"date       {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"code       {code}",
        f"machine    nproc {len(os.sched_getaffinity(0))}, {cpu}, {memory} RAM, {platform.platform()}",
        f"python     {platform.python_version()}, Django {django.get_version()}, gunicorn {gunicorn.__version__},"
        " client bench/rawhttp.py (asyncio streams, keep-alive)",
        f"sqlite     {sqlite3.sqlite_version}",
        f"database   {'PostgreSQL ' + pg_version if pg_version else 'SQLite (WAL, IMMEDIATE transactions)'}",
        f"server     gunicorn gthread, {workers} workers × {threads} threads (hisguard.gunicorn_conf)",
        "load avg   {:.2f} {:.2f} {:.2f} before the run (other work on the machine skews the figures)".format(
            *os.getloadavg()
        ),
    ]
    return lines


# --------------------------------------------------------------------------------------------


def _wall(results: list[Result]) -> float:
    """From the first request leaving to the last answer arriving."""
    if not results:
        return 0.0
    return max(r.finished for r in results) - min(r.started for r in results)


@dataclass
class Run:
    storm: list[Result]
    closed: list[Result]
    storm_fig: Figures
    closed_fig: Figures
    after_storm: object = None


def measure(server: Server, plan: Plan, args: argparse.Namespace, after_storm=None) -> Run:
    """Warm up, the open-loop storm, `after_storm()` (reads the database), then the closed loop."""
    asyncio.run(
        warm_up(
            server.url,
            server.warm_up_path,
            min(args.concurrency, 32),
            [r.workstation for r in plan.closed],
            server.refused_body,
        )
    )
    cpu, server_cpu = time.process_time(), server.cpu_seconds()
    storm = asyncio.run(open_loop(server.url, plan.storm, args.concurrency, args.deadline))
    storm_fig = figures(storm, _wall(storm), time.process_time() - cpu)
    storm_fig.server_cpu = server.cpu_seconds() - server_cpu
    noted = after_storm(storm) if after_storm else None
    time.sleep(1)
    cpu, server_cpu = time.process_time(), server.cpu_seconds()
    closed, wall = asyncio.run(closed_loop(server.url, plan.closed, args.concurrency, args.deadline))
    closed_fig = figures(closed, wall, time.process_time() - cpu)
    closed_fig.server_cpu = server.cpu_seconds() - server_cpu
    return Run(storm, closed, storm_fig, closed_fig, noted)


def check_lost(run: Run, stored: set[str]) -> None:
    for fig, results in ((run.storm_fig, run.storm), (run.closed_fig, run.closed)):
        fig.lost = len({r.key for r in results if r.key} - stored)
    answered = {r.key for r in run.storm + run.closed if r.key}
    run.storm_fig.unacknowledged_stored = len(stored - answered)


CLASS_NAMES = {1: "I (whole hospital)", 2: "II (area)", 3: "III (single point)"}


def print_storm_db(run: Run, plan: Plan) -> bool:
    """The incidents the storm formed and where the clusters landed; True if each is in one incident."""
    incidents, clusters = run.after_storm  # type: ignore[misc]
    print("    incidents formed by the storm (class: incidents, their reports, largest):")
    for cls, count, reports, largest in incidents:
        print(
            f"      class {CLASS_NAMES.get(cls, cls):<20} {count:>4} incidents {reports:>6} reports  largest {largest}"
        )
    all_ok = True
    for group, (accepted, found) in clusters.items():
        sent = len(plan.clusters[group])
        ok = len(found) == 1 and sum(found.values()) == accepted
        all_ok &= ok
        where = ", ".join(f"{number} class {cls} ×{n}" for (number, cls), n in found.most_common())
        print(
            f"      cluster {group}: {accepted} of {sent} accepted, in {len(found)} incident(s)"
            f" {'OK' if ok else 'SPLIT'}: {where}"
        )
    return all_ok


def verdict(ours: Run, floor: Run, clusters_ok: bool, args: argparse.Namespace) -> int:
    ratio = ours.closed_fig.throughput / floor.closed_fig.throughput if floor.closed_fig.throughput else 0.0
    print(f"{'ours vs floor':<34}{'HISGuard':>10}{'floor':>10}   target")
    rows = [
        ("open loop p50 ms", ours.storm_fig.p50, floor.storm_fig.p50, ""),
        ("open loop p99 ms", ours.storm_fig.p99, floor.storm_fig.p99, f"HISGuard < {P99_TARGET_MS:.0f}"),
        ("closed loop p50 ms", ours.closed_fig.p50, floor.closed_fig.p50, ""),
        ("closed loop p99 ms", ours.closed_fig.p99, floor.closed_fig.p99, ""),
        ("throughput req/s (closed loop)", ours.closed_fig.throughput, floor.closed_fig.throughput, ""),
    ]
    for label, a, b, target in rows:
        print(f"  {label:<32}{a:>10.1f}{b:>10.1f}   {target}")
    print(f"  {'throughput ours/floor':<32}{ratio:>10.2f}{'':>10}   ≥ {RATIO_TARGET}")
    lost = ours.storm_fig.lost + ours.closed_fig.lost
    checks = [
        ("p99 < 250 ms", ours.storm_fig.p99 < P99_TARGET_MS and ours.storm_fig.accepted == args.reports),
        ("ours/floor ≥ 0.5", ratio >= RATIO_TARGET),
        ("each cluster in one incident", clusters_ok),
        ("nothing lost", lost == 0),
    ]
    print("  " + ";  ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks))
    print("load avg   {:.2f} {:.2f} {:.2f} after the run".format(*os.getloadavg()))
    return 1 if lost else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", help="postgres://user@127.0.0.1:5432/bench_storm (created and dropped)"
    )
    parser.add_argument("--reports", type=int, default=2000, help="reports in the storm (default 2000)")
    parser.add_argument("--rate", type=float, default=200.0, help="arrivals per second (default 200)")
    parser.add_argument(
        "--per-workstation", type=int, default=2, help="storm reports per workstation at most"
    )
    parser.add_argument("--closed", type=int, default=1000, help="requests of the closed loop (default 1000)")
    parser.add_argument("--concurrency", type=int, default=128, help="client connections (default 128)")
    parser.add_argument("--system", default="HIS", help="system of the many-department cluster")
    parser.add_argument("--seed", type=int, default=20240618)
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds a loop may take at most")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and database")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress shows when piped

    try:
        postgres = Postgres.from_url(args.database_url) if args.database_url else None
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="hisguard-storm-"))
    # The servers get this process's environment, minus what would point them elsewhere.
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(HISGUARD_VAR_DIR=str(tmp), PYTHONPATH=str(PROJECT_DIR), PYTHONUNBUFFERED="1")
    hisguard_env = {**env, "DJANGO_SETTINGS_MODULE": "hisguard.settings"}
    servers: list[Server] = []

    def on_term(signum, frame):  # `kill` stops the servers as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        pg_version = None
        if postgres:
            pg_version = postgres.create()
            env["DATABASE_URL"] = hisguard_env["DATABASE_URL"] = postgres.url
        # This process reads the same database through the same settings.
        for name in ("DATABASE_URL", "DEBUG"):
            os.environ.pop(name, None)
        os.environ.update({k: v for k, v in env.items() if k in {"HISGUARD_VAR_DIR", "DATABASE_URL"}})

        for line in machine(pg_version, env.get("WEB_WORKERS", "2"), env.get("WEB_THREADS", "8")):
            print(line)
        print(
            f"load       {args.reports} reports at {args.rate:.0f}/s open loop, then {args.closed} closed loop;"
            f" {args.concurrency} client connections; ≤{args.per_workstation} reports per workstation"
        )
        print()

        started = time.monotonic()
        run_manage(["manage.py", "migrate", "--noinput", "-v0"], hisguard_env)
        demo = run_manage(["manage.py", "demo"], hisguard_env)
        run_manage(["-m", "django", "migrate", "--run-syncdb", "--noinput", "-v0"], env | {
            "DJANGO_SETTINGS_MODULE": "bench.floor.settings"})  # fmt: skip
        print(f"setup      migrate, demo, floor table: {time.monotonic() - started:.1f} s")
        print(f"           {demo.splitlines()[0]}")

        django_setup()
        workstations, users, flood_limit = load_workstations(args.system)
        if args.per_workstation + 1 > flood_limit:
            raise BenchError(
                f"{args.per_workstation} + 1 reports per workstation reach the flood limit {flood_limit}"
            )
        plan = build_plan(
            workstations,
            users,
            system=args.system,
            count=args.reports,
            rate=args.rate,
            per_workstation=args.per_workstation,
            closed_count=args.closed,
            seed=args.seed,
        )
        print(
            f"plan       {len(plan.storm)} reports from {len({r.workstation.hostname for r in plan.storm})}"
            f" of {len(workstations)} workstations behind {len({r.workstation.switch for r in plan.storm})}"
            f" access switches, {sum(r.group == 'scattered' for r in plan.storm)} scattered (no system named)"
        )
        for group, reqs in plan.clusters.items():
            departments = len({r.workstation.department for r in reqs})
            buildings = sorted({r.workstation.building or "?" for r in reqs})
            print(
                f"           cluster {group}: {len(reqs)} PCs, {departments} departments in {'/'.join(buildings)},"
                f" {reqs[0].at:.2f}–{reqs[-1].at:.2f} s"
            )
        print()

        # --- HISGuard -------------------------------------------------------------------------
        ours = Server(
            "hisguard",
            "hisguard.wsgi:application",
            "/api/v1/health",
            {"symptom": ""},
            hisguard_env,
            tmp / "hisguard.log",
        )
        servers.append(ours)
        ours.start()
        print(f"HISGuard: POST /api/v1/reports ({ours.url})")

        def storm_in_db(storm: list[Result]):
            clusters = {}
            for group in plan.clusters:
                keys = [r.key for r in storm if r.request.group == group and r.key]
                clusters[group] = (len(keys), cluster_incidents(keys))
            return incidents_by_class(), clusters

        ours_run = measure(ours, plan, args, after_storm=storm_in_db)
        ours.stop()
        check_lost(ours_run, stored_tracking_numbers())
        print_phase(
            f"open loop: {args.reports} reports at {args.rate:.0f}/s", ours_run.storm_fig, open_loop=True
        )
        print(f"    lost (a 201 but no FaultReport row): {ours_run.storm_fig.lost}")
        clusters_ok = print_storm_db(ours_run, plan)
        print_phase(
            f"closed loop: {args.closed} reports, {args.concurrency} at a time",
            ours_run.closed_fig,
            open_loop=False,
        )
        print(
            f"    lost: {ours_run.closed_fig.lost};  stored without a 201 in either loop (errors, timeouts):"
            f" {ours_run.storm_fig.unacknowledged_stored}"
        )
        if any(k.startswith("5") for f in (ours_run.storm_fig, ours_run.closed_fig) for k in f.rejected):
            for line, count in ours.log_errors().most_common(5):
                print(f"    server log: {count}× {line}")
        print()

        # --- The floor ------------------------------------------------------------------------
        floor_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.floor.settings"}
        floor = Server(
            "floor", "bench.floor.wsgi:application", "/api/v1/reports", {}, floor_env, tmp / "floor.log"
        )
        servers.append(floor)
        floor.start()
        print(f"Floor: POST /api/v1/reports = one INSERT in a transaction, no middleware ({floor.url})")
        floor_run = measure(floor, plan, args)
        floor.stop()
        check_lost(floor_run, stored_floor_ids())
        print_phase(
            f"open loop: {args.reports} requests at {args.rate:.0f}/s", floor_run.storm_fig, open_loop=True
        )
        print_phase(
            f"closed loop: {args.closed} requests, {args.concurrency} at a time",
            floor_run.closed_fig,
            open_loop=False,
        )
        print(f"    lost: {floor_run.storm_fig.lost + floor_run.closed_fig.lost}")
        print()

        return verdict(ours_run, floor_run, clusters_ok, args)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the servers", file=sys.stderr)
        return 130
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        print(f"\nthe benchmark failed: {exc}", file=sys.stderr)
        return 2
    finally:
        for server in servers:
            server.stop()
        with contextlib.suppress(Exception):
            close_db()
        if postgres and not args.keep:
            try:
                postgres.drop()
            except Exception as exc:  # the run's own error matters more; say what is left behind
                print(f"could not drop database {postgres.name}: {exc}", file=sys.stderr)
        if args.keep:
            print(f"kept {tmp}" + (f" and database {postgres.name}" if postgres else ""))
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
