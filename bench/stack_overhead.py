#!/usr/bin/env python
"""What the request stack costs before the report path does any work: server CPU per request.

Starts HISGuard and the report storm's floor (``bench/floor/``) as ``report_storm.py`` does
(gunicorn with ``hisguard.gunicorn_conf``, a fresh SQLite database with the demo hospital in a
temporary directory), sends each kind of request 3,000 times, 64 at a time, and prints the
answers per second and the CPU time the server's processes used per request:

- HISGuard ``GET /api/v1/health`` (middleware, django-ninja, one SELECT) against the floor's
  GET (no middleware, one SELECT): the price of the framework;
- HISGuard ``POST /api/v1/reports`` with a valid workstation token and an empty symptom
  (token check, body parsing, a bilingual 400; nothing stored) and with an unknown token (401);
- the floor's POST (one INSERT in a transaction): the floor of the report storm.

    .venv/bin/python bench/stack_overhead.py [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench import rawhttp  # noqa: E402
from bench import report_storm as storm  # noqa: E402

CONCURRENCY = 64


async def _hammer(url: str, count: int, send) -> tuple[float, Counter[int]]:
    host, port = url.split("//")[1].split(":")
    pool = rawhttp.Pool(host, int(port), CONCURRENCY)
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int) -> int:
        async with slots:
            return (await send(pool, index)).status_code

    started = time.perf_counter()
    codes = await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - started, Counter(codes)


def measure(server: storm.Server, label: str, send, count: int) -> None:
    asyncio.run(_hammer(server.url, 300, send))  # warm every thread up
    cpu = server.cpu_seconds()
    wall, codes = asyncio.run(_hammer(server.url, count, send))
    per_request = (server.cpu_seconds() - cpu) / count * 1000
    answers = ", ".join(f"{code}×{n}" for code, n in sorted(codes.items()))
    print(f"  {label:<52} {count / wall:6.0f}/s  server CPU {per_request:.2f} ms a request  ({answers})")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hisguard-overhead-"))
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG"}}
    env.update(HISGUARD_VAR_DIR=str(tmp), PYTHONPATH=str(PROJECT_DIR), PYTHONUNBUFFERED="1")
    env.setdefault("SECRET_KEY", "stack-overhead-benchmark")
    os.environ.update(HISGUARD_VAR_DIR=str(tmp), SECRET_KEY=env["SECRET_KEY"])
    os.environ.pop("DATABASE_URL", None)
    ours_env = {**env, "DJANGO_SETTINGS_MODULE": "hisguard.settings"}
    floor_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.floor.settings"}
    servers: list[storm.Server] = []
    try:
        storm.run_manage(["manage.py", "migrate", "--noinput", "-v0"], ours_env)
        storm.run_manage(["manage.py", "demo"], ours_env)
        storm.run_manage(["-m", "django", "migrate", "--run-syncdb", "--noinput", "-v0"], floor_env)
        storm.django_setup()
        workstations, _, _ = storm.load_workstations("HIS")

        def refused(pool, i):
            ws = workstations[i % len(workstations)]
            body = {"workstation": ws.hostname, "symptom": ""}
            return pool.post_json("/api/v1/reports", body, headers={"Authorization": f"Bearer {ws.token}"})

        def unknown_token(pool, i):
            body = {"workstation": "nobody", "symptom": ""}
            return pool.post_json("/api/v1/reports", body, headers={"Authorization": "Bearer not-a-token"})

        ours = storm.Server(
            "hisguard", "hisguard.wsgi:application", "/api/v1/health", {}, ours_env, tmp / "h.log"
        )
        servers.append(ours)
        ours.start()
        print(f"HISGuard ({ours.url}), {args.requests} requests each, {CONCURRENCY} at a time")
        measure(
            ours, "GET /api/v1/health (one SELECT)", lambda pool, i: pool.get("/api/v1/health"), args.requests
        )
        measure(ours, "POST /api/v1/reports, token ok, empty symptom (400)", refused, args.requests)
        measure(ours, "POST /api/v1/reports, unknown token (401)", unknown_token, args.requests)
        ours.stop()
        floor = storm.Server(
            "floor", "bench.floor.wsgi:application", "/api/v1/reports", {}, floor_env, tmp / "f.log"
        )
        servers.append(floor)
        floor.start()
        print(f"Floor ({floor.url})")
        measure(
            floor,
            "GET (one SELECT, no middleware)",
            lambda pool, i: pool.get("/api/v1/reports"),
            args.requests,
        )
        body = {"workstation": "PC", "symptom": "no_network"}
        measure(
            floor, "POST (one INSERT)", lambda pool, i: pool.post_json("/api/v1/reports", body), args.requests
        )
    finally:
        for server in servers:
            server.stop()
        storm.close_db()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
