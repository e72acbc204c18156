"""`hisguard checker`: the scheduler's event loop plus one database thread.

The loop only runs probes; every database call (loading checks, writing samples and state
changes, housekeeping) goes to a single dedicated thread, one batch at a time, so a slow
write never delays a check and the database sees one connection per checker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Count, Max
from django.utils import timezone

from hisguard.monitoring import netguard, retention, writer
from hisguard.monitoring.alerts import release_silenced
from hisguard.monitoring.checker import Checker, Clock, Event, SampleRow, Shard
from hisguard.monitoring.models import ActiveCheck

log = logging.getLogger("hisguard.checker")
MAX_BUFFERED_SAMPLES = 500_000


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Runner:
    def __init__(
        self,
        *,
        shard: Shard | None = None,
        concurrency: int | None = None,
        name: str | None = None,
        flush_seconds: float | None = None,
        housekeeping_seconds: float = 10.0,
        prune_seconds: float = 3600.0,
        clock: Clock | None = None,
    ) -> None:
        self.fixed_shard = shard
        self.name = name or node_name()
        self.clock = clock or Clock()
        self.checker = Checker(
            concurrency=concurrency or settings.HISGUARD_CHECKER_CONCURRENCY, clock=self.clock
        )
        self.flush_seconds = flush_seconds or settings.HISGUARD_CHECKER_FLUSH_SECONDS
        self.housekeeping_seconds = housekeeping_seconds
        self.prune_seconds = prune_seconds
        self.started_at = timezone.now()
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checker-db")
        self.shard = shard or Shard()
        self._config_mark: tuple[Any, ...] | None = None
        self.flushed_samples = 0

    # --- database thread ---------------------------------------------------------------------

    async def db_call(self, fn: Callable[..., Any], *args: Any) -> Any:
        def job() -> Any:
            close_old_connections()
            return fn(*args)

        return await asyncio.get_running_loop().run_in_executor(self.db, job)

    def _housekeeping(self, detail: dict) -> tuple[Shard, Any, list, dict, netguard.Fence]:
        """Runs in the database thread: membership, configuration, heartbeats, windows."""
        nodes = writer.register_node(
            self.name, self.started_at, checks=len(self.checker.specs), detail=detail
        )
        if self.fixed_shard is not None:
            shard = self.fixed_shard
        elif connection.vendor == "postgresql" and len(nodes) > 1:
            shard = Shard(node=self.name, nodes=nodes)
        else:
            shard = Shard()
        fence = netguard.current_fence(max_age=0)
        mark = (shard, tuple(ActiveCheck.objects.aggregate(n=Count("pk"), m=Max("updated_at")).values()))
        specs: list = []
        states: dict = {}
        if mark != self._config_mark:
            specs, states = writer.load_specs(shard)
        now = timezone.now()
        writer.evaluate_heartbeats(now)
        release_silenced(now)
        return shard, mark, specs, states, fence

    # --- the loop ----------------------------------------------------------------------------

    def detail(self) -> dict:
        stats = self.checker.stats
        return {
            "lateness_p50_ms": round(stats.percentile(0.50) * 1000, 1),
            "lateness_p99_ms": round(stats.percentile(0.99) * 1000, 1),
            "started": stats.started,
            "failed": stats.failed,
            "shard": f"{self.shard.index}/{self.shard.count}"
            if not self.shard.nodes
            else f"rendezvous of {len(self.shard.nodes)}",
        }

    async def housekeeping(self) -> None:
        shard, mark, specs, states, fence = await self.db_call(self._housekeeping, self.detail())
        self.checker.fence = fence
        if mark != self._config_mark:
            self.shard = shard
            self.checker.set_specs(specs, states)
            self._config_mark = mark
            log.info("checker %s runs %d checks (%s)", self.name, len(specs), self.detail()["shard"])

    async def flush(self) -> None:
        samples, events = self.checker.take()
        if not samples and not events:
            return
        started = self.clock.monotonic()
        try:
            await self.db_call(writer.flush, samples, events)
            self.flushed_samples += len(samples)
            log.debug(
                "wrote %d samples, %d events in %.0f ms",
                len(samples),
                len(events),
                (self.clock.monotonic() - started) * 1000,
            )
        except Exception:
            log.exception(
                "writing %d samples and %d events failed; keeping them for the next try",
                len(samples),
                len(events),
            )
            self._requeue(samples, events)

    def _requeue(self, samples: list[SampleRow], events: list[Event]) -> None:
        room = max(0, MAX_BUFFERED_SAMPLES - len(self.checker.samples))
        self.checker.samples[:0] = samples[-room:] if room else []
        self.checker.events[:0] = events  # state changes are never dropped

    async def prune(self) -> None:
        try:
            result = await self.db_call(retention.prune)
            log.info("retention: %s", result)
        except Exception:
            log.exception("retention failed")

    async def periodic(self, should_stop: Callable[[], bool]) -> None:
        """Writes, housekeeping and retention, on their own timers: a saturated scheduler
        must not starve them."""
        clock = self.clock
        last_housekeeping = clock.monotonic()
        last_prune = clock.monotonic() - self.prune_seconds + 60  # first pruning a minute in
        last_rollup = clock.monotonic()
        while not should_stop():
            await clock.sleep(self.flush_seconds)
            await self.flush()
            now = clock.monotonic()
            if now - last_housekeeping >= self.housekeeping_seconds:
                await self._safe(self.housekeeping())
                last_housekeeping = now
            if now - last_prune >= self.prune_seconds:
                await self.prune()
                last_prune = last_rollup = now
            elif now - last_rollup >= 300:  # complete hours become hourly rows within minutes
                await self._safe(self.db_call(retention.roll_up_complete_hours))
                last_rollup = now

    async def run(self, should_stop: Callable[[], bool]) -> None:
        await self.housekeeping()
        clock = self.clock
        duties = asyncio.ensure_future(self.periodic(should_stop))
        while not should_stop():
            started = await self.checker.dispatch_due()
            due = self.checker.next_due()
            wait = 0.2 if due is None else min(max(due - clock.monotonic(), 0.0), 0.2)
            await clock.sleep(0.0 if started >= 1000 else wait)
        await self.checker.drain()
        await duties
        await self.flush()
        await self.db_call(writer.leave, self.name)
        self.db.shutdown(wait=True)

    async def _safe(self, coroutine) -> None:
        try:
            await coroutine
        except Exception:
            log.exception("checker housekeeping failed")

    async def run_once(self) -> int:
        """Every owned check once, then write and stop (for cron-style use and tests)."""
        await self.housekeeping()
        self.checker.heap = [
            (self.clock.monotonic(), i, check_id, self.checker.generation[check_id])
            for i, check_id in enumerate(self.checker.specs)
        ]
        await self.checker.dispatch_due()
        await self.checker.drain()
        count = len(self.checker.samples)
        await self.flush()
        await self.db_call(writer.leave, self.name)
        self.db.shutdown(wait=True)
        return count


def parse_shard(text: str | None) -> Shard | None:
    return Shard.parse(text) if text else None
