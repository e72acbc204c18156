#!/usr/bin/env python
"""Alert intake benchmark: Alertmanager webhook batches of 50 against the real server.

    .venv/bin/python bench/intake.py [--fingerprints 2000] [--batches 1000] [--database-url …]

All on this machine (127.0.0.1), every loop bounded:
1. A fresh database (SQLite in a temporary HISGUARD_VAR_DIR, or a fresh PostgreSQL `bench_…`
   database), migrated, with the demo hospital and one Alertmanager intake source.
2. gunicorn as production runs it (hisguard.gunicorn_conf).
3. Phase "first sight": every fingerprint once (half map to demo switches and servers and open
   incidents, half match nothing and go to the unmapped queue). Phase "steady": a closed loop of
   batches drawn from the same fingerprints — what Alertmanager resends while an outage lasts.
   Phase "resolve": every fingerprint resolved. Each batch is a POST of 50 alerts (payload
   version 4); a 429 is retried after its Retry-After and counted.
4. Checks exact deduplication: one alert per fingerprint, received counts adding up to every
   notice sent, and every alert resolved at the end. Prints alerts/s and p50/p99 per batch.
Target: ≥ 2,000 alerts/s in the steady phase.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from checker import (
    PYTHON,
    BenchError,
    Process,
    close_db,
    free_port,
    machine_lines,
    percentile,
    prepare,
)

TARGET_PER_SECOND = 2000.0
BATCH = 50


@dataclass
class Phase:
    name: str
    alerts: int = 0
    batches: int = 0
    throttled: int = 0
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0

    @property
    def rate(self) -> float:
        return self.alerts / self.wall if self.wall else 0.0


def alert(fingerprint: tuple[str, str, str], status: str) -> dict:
    name, instance, fp = fingerprint
    return {
        "status": status,
        "labels": {"alertname": name, "instance": instance, "job": "snmp", "severity": "critical"},
        "annotations": {"summary": f"{name} on {instance}"},
        "startsAt": "2026-11-25T02:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-25T03:00:00Z",
        "generatorURL": "http://prometheus.hospital.local:9090/graph",
        "fingerprint": fp,
    }


def body(batch: list[dict], status: str) -> dict:
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "hisguard",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.hospital.local:9093",
        "alerts": batch,
    }


async def send(base: str, token: str, bodies: list[dict], concurrency: int, name: str) -> Phase:
    import httpx

    phase = Phase(name)
    queue = list(reversed(bodies))
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) as client:

        async def worker() -> None:
            while queue:
                payload = queue.pop()
                for _attempt in range(20):
                    started = time.perf_counter()
                    response = await client.post("/api/v1/intake/alertmanager", json=payload)
                    if response.status_code == 429:
                        phase.throttled += 1
                        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                        continue
                    if response.status_code != 200:
                        raise BenchError(f"HTTP {response.status_code}: {response.text[:500]}")
                    phase.latencies.append((time.perf_counter() - started) * 1000)
                    phase.alerts += len(payload["alerts"])
                    phase.batches += 1
                    break
                else:
                    raise BenchError("a batch was refused 20 times")

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        phase.wall = time.monotonic() - started
    return phase


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fingerprints", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=1000, help="steady-phase batches of 50")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    try:
        env = prepare(args.database_url, demo=True)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    server = None
    try:
        from hisguard.monitoring.models import Alert, IntakeSource
        from hisguard.organisation.models import Asset, Hospital

        hospital = Hospital.objects.first()
        source = IntakeSource(
            hospital=hospital, name="bench Alertmanager", kind="alertmanager", rate_limit_per_minute=0
        )
        token = source.issue_token()
        source.save()
        infra = list(
            Asset.objects.exclude(kind__in=["workstation", "terminal"]).values_list("hostname", flat=True)[
                :100
            ]
        )
        half = args.fingerprints // 2
        names = [f"Probe{i:02d}" for i in range(max(1, half // max(1, len(infra)) + 1))]
        mapped = [(n, f"{h}:9116") for h in infra for n in names][:half]
        unmapped = [
            (f"Unknown{i % 7}", f"10.250.{i // 250}.{i % 250}:9100")
            for i in range(args.fingerprints - len(mapped))
        ]
        fingerprints = [(n, i, f"{abs(hash((n, i))):016x}"[:16]) for n, i in mapped + unmapped]
        rng = random.Random(11)
        first = rng.sample(fingerprints, len(fingerprints))
        steady = [[rng.choice(fingerprints) for _ in range(BATCH)] for _ in range(args.batches)]
        close_db()
        port = free_port()
        command = [PYTHON, "-m", "gunicorn", "hisguard.wsgi:application"]
        command += ["--config", "python:hisguard.gunicorn_conf", "--bind", f"127.0.0.1:{port}"]
        server = Process("web", command, env.env, env.tmp / "web.log")
        base = f"http://127.0.0.1:{port}"
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(base + "/", timeout=2)
                break
            time.sleep(0.2)

        def batches(items: list, status: str) -> list[dict]:
            return [
                body([alert(f, status) for f in items[i : i + BATCH]], status)
                for i in range(0, len(items), BATCH)
            ]

        phases = [
            asyncio.run(send(base, token, batches(first, "firing"), args.concurrency, "first sight")),
            asyncio.run(
                send(
                    base,
                    token,
                    [body([alert(f, "firing") for f in b], "firing") for b in steady],
                    args.concurrency,
                    "steady",
                )
            ),
            asyncio.run(send(base, token, batches(fingerprints, "resolved"), args.concurrency, "resolve")),
        ]
        sent = sum(p.alerts for p in phases)
        stored = Alert.objects.count()
        received = sum(Alert.objects.values_list("received_count", flat=True))
        firing = Alert.objects.filter(status="firing").count()
        unmapped_stored = Alert.objects.filter(asset__isnull=True, system__isnull=True).count()
        from hisguard.incidents.models import Incident

        incidents = Incident.objects.count()
        close_db()
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        if server is not None:
            print(server.tail(), file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.stop()
        env.close()
    print("\n".join(machine_lines(env.database)))
    print(
        f"server     gunicorn as production (hisguard.gunicorn_conf); {args.concurrency} concurrent clients"
    )
    print(
        f"alerts     {len(fingerprints)} fingerprints ({len(mapped)} mapped to demo infrastructure, {len(unmapped)} unmapped)"
    )
    for phase in phases:
        print(
            f"  {phase.name:<12} {phase.alerts:>7,} alerts in {phase.batches:>5} batches: {phase.rate:>7,.0f} alerts/s, "
            f"batch p50 {percentile(phase.latencies, 0.5):6.1f} ms, p99 {percentile(phase.latencies, 0.99):6.1f} ms, "
            f"429s {phase.throttled}"
        )
    exact = stored == len(fingerprints) and received == sent and firing == 0
    print(
        f"dedup      {stored} alerts stored for {len(fingerprints)} fingerprints; notices counted {received:,} of "
        f"{sent:,} sent; {firing} still firing; {unmapped_stored} unmapped; {incidents} incidents"
    )
    steady_rate = phases[1].rate
    ok = exact and steady_rate >= TARGET_PER_SECOND
    print(
        f"verdict    steady {steady_rate:,.0f} alerts/s (target ≥ {TARGET_PER_SECOND:,.0f}); dedup "
        + ("exact" if exact else "NOT EXACT")
        + (": PASS" if ok else ": FAIL")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
