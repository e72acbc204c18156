"""The checker's scheduler: asyncio, bounded concurrency, jitter, per-check due times.

Kept free of the database: it takes `Spec`s, runs probes, decides states (with retries before
"down", so one lost packet is not an outage) and queues what must be written — samples and
state changes — for the writer (`writer.py`), which runs in its own thread. Time comes from
an injectable clock, so tests drive it without sleeping.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import heapq
import itertools
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from hisguard.monitoring.netguard import Fence
from hisguard.monitoring.probes import Result, Spec, run_probe

UP, DOWN, UNKNOWN = "up", "down", "unknown"


class Clock:
    """Real time: monotonic for scheduling, UTC wall time for stored samples."""

    def monotonic(self) -> float:
        import time

        return time.monotonic()

    def wall(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock(Clock):
    """A clock tests move by hand; `sleep` advances it instead of waiting."""

    def __init__(self, start: datetime.datetime) -> None:
        self.t = 0.0
        self.start = start

    def monotonic(self) -> float:
        return self.t

    def wall(self) -> datetime.datetime:
        return self.start + datetime.timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)
        await asyncio.sleep(0)


def stable_hash(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big")


def owner_of(check_id: int, nodes: list[str]) -> str:
    """Rendezvous hashing: each check goes to the live node scoring highest for it, so a node
    joining or leaving moves only its share of the checks."""
    return max(nodes, key=lambda node: stable_hash(f"{node}/{check_id}"))


@dataclass(frozen=True)
class Shard:
    """Which checks this process runs: all, a fixed slice (`--shard i/n`), or its rendezvous
    share among the live checker nodes."""

    index: int = 0
    count: int = 1
    node: str = ""
    nodes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, _sep, count = text.partition("/")
        shard = cls(int(index), int(count))
        if not 0 <= shard.index < shard.count:
            raise ValueError("shard must be i/n with 0 <= i < n")
        return shard

    def owns(self, check_id: int) -> bool:
        if self.nodes and self.node:
            return owner_of(check_id, list(self.nodes)) == self.node
        return self.count <= 1 or stable_hash(str(check_id)) % self.count == self.index


@dataclass
class Tracker:
    """A check's state as the checker sees it between writes."""

    state: str = UNKNOWN
    failures: int = 0
    slow: int = 0
    fast: int = 0
    degraded: bool = False
    cert_warning: bool = False


@dataclass(frozen=True)
class SampleRow:
    check_id: int
    at: datetime.datetime
    ok: bool
    latency_ms: float | None


@dataclass(frozen=True)
class Event:
    """Something the writer must act on beyond storing the sample."""

    kind: str  # "state", "degraded", "cert"
    check_id: int
    at: datetime.datetime
    old: str = ""
    new: str = ""
    error: str = ""
    latency_ms: float | None = None
    cert_expires_at: datetime.datetime | None = None
    on: bool = False


def decide(tracker: Tracker, spec: Spec, result: Result, at: datetime.datetime) -> list[Event]:
    """Update the tracker with one result; return the events it causes."""
    events: list[Event] = []
    if result.ok:
        tracker.failures = 0
        if tracker.state != UP:
            events.append(Event("state", spec.id, at, tracker.state, UP, latency_ms=result.latency_ms))
            tracker.state = UP
    else:
        tracker.failures += 1
        if tracker.state != DOWN and tracker.failures > spec.retries:
            events.append(Event("state", spec.id, at, tracker.state, DOWN, error=result.error))
            tracker.state = DOWN
    # Degraded (slow) needs the same number of slow answers in a row to open, and of fast ones
    # to clear, as a failure needs to count as down: no warning flaps on one slow answer.
    if spec.latency_warn_ms and result.ok and result.latency_ms is not None:
        needed = spec.retries + 1
        if result.latency_ms > spec.latency_warn_ms:
            tracker.slow, tracker.fast = tracker.slow + 1, 0
            if not tracker.degraded and tracker.slow >= needed:
                tracker.degraded = True
                events.append(Event("degraded", spec.id, at, latency_ms=result.latency_ms, on=True))
        else:
            tracker.fast, tracker.slow = tracker.fast + 1, 0
            if tracker.degraded and tracker.fast >= needed:
                tracker.degraded = False
                events.append(Event("degraded", spec.id, at, latency_ms=result.latency_ms, on=False))
    if result.cert_expires_at is not None:
        soon = result.cert_expires_at - at < datetime.timedelta(days=spec.warn_days)
        if soon != tracker.cert_warning or soon:
            # Re-sent while it lasts so the warning's "days left" stays current; the writer
            # opens it once and refreshes it.
            events.append(Event("cert", spec.id, at, cert_expires_at=result.cert_expires_at, on=soon))
            tracker.cert_warning = soon
    return events


@dataclass
class Stats:
    started: int = 0
    finished: int = 0
    failed: int = 0
    lateness: deque[float] = field(default_factory=lambda: deque(maxlen=50_000))

    def percentile(self, q: float) -> float:
        if not self.lateness:
            return 0.0
        ordered = sorted(self.lateness)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


ProbeFn = Callable[[Spec, Fence], Awaitable[Result]]


class Checker:
    def __init__(
        self,
        *,
        concurrency: int = 500,
        clock: Clock | None = None,
        fence: Fence | None = None,
        probe: ProbeFn = run_probe,
        rng: random.Random | None = None,
    ) -> None:
        self.concurrency = concurrency
        self.clock = clock or Clock()
        self.fence = fence or Fence(["127.0.0.0/8", "::1/128"])
        self.probe = probe
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.specs: dict[int, Spec] = {}
        self.trackers: dict[int, Tracker] = {}
        self.heap: list[tuple[float, int, int, int]] = []
        self.generation: dict[int, int] = {}
        self._seq = itertools.count()
        self._semaphore: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task] = set()
        self.samples: list[SampleRow] = []
        self.events: list[Event] = []
        self.stats = Stats()

    # --- the set of checks -----------------------------------------------------------------

    def set_specs(self, specs: Iterable[Spec], states: dict[int, Tracker] | None = None) -> None:
        """Replace the checks this process runs; unchanged ones keep their schedule."""
        states = states or {}
        new = {spec.id: spec for spec in specs}
        now = self.clock.monotonic()
        for check_id in list(self.specs):
            if check_id not in new:
                self.specs.pop(check_id)
                self.trackers.pop(check_id, None)
                self.generation[check_id] = self.generation.get(check_id, 0) + 1
        for check_id, spec in new.items():
            old = self.specs.get(check_id)
            if old is not None and old == spec:
                continue
            self.specs[check_id] = spec
            if check_id not in self.trackers:
                self.trackers[check_id] = states.get(check_id) or Tracker()
            generation = self.generation.get(check_id, 0) + 1
            self.generation[check_id] = generation
            # Spread first runs over the interval: thousands of checks must not start at once.
            due = now + self.rng.uniform(0, spec.interval)
            heapq.heappush(self.heap, (due, next(self._seq), check_id, generation))

    def _jitter(self, spec: Spec) -> float:
        spread = min(0.5, spec.interval * 0.02)
        return self.rng.uniform(-spread, spread)

    # --- running -----------------------------------------------------------------------------

    def next_due(self) -> float | None:
        while self.heap:
            due, _seq, check_id, generation = self.heap[0]
            if self.generation.get(check_id) == generation and check_id in self.specs:
                return due
            heapq.heappop(self.heap)
        return None

    async def dispatch_due(self, limit: int = 1000) -> int:
        """Start the checks that are due (waiting for a free slot when all are busy); at most
        `limit` per call, so a saturated checker still returns to its other duties."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        started = 0
        while started < limit:
            due = self.next_due()
            if due is None or due > self.clock.monotonic():
                return started
            _due, _seq, check_id, generation = heapq.heappop(self.heap)
            await self._semaphore.acquire()
            if self.generation.get(check_id) != generation or check_id not in self.specs:
                self._semaphore.release()
                continue
            spec = self.specs[check_id]
            self.stats.lateness.append(max(0.0, self.clock.monotonic() - due))
            self.stats.started += 1
            task = asyncio.create_task(self._run_one(spec, due, generation))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    async def _run_one(self, spec: Spec, due: float, generation: int) -> None:
        assert self._semaphore is not None
        at = self.clock.wall()
        try:
            result = await self.probe(spec, self.fence)
        finally:
            self._semaphore.release()
        self.stats.finished += 1
        if not result.ok:
            self.stats.failed += 1
        if self.generation.get(spec.id) != generation:
            return  # the check changed or moved away meanwhile
        tracker = self.trackers.setdefault(spec.id, Tracker())
        self.samples.append(SampleRow(spec.id, at, result.ok, result.latency_ms))
        self.events.extend(decide(tracker, spec, result, at))
        retrying = 0 < tracker.failures <= spec.retries
        step = min(spec.retry_interval, spec.interval) if retrying else spec.interval
        next_due = due + step + self._jitter(spec)
        now = self.clock.monotonic()
        if next_due < now:  # fell behind by more than an interval: do not pile up, start afresh
            next_due = now + self.rng.uniform(0, min(step, 1.0))
        heapq.heappush(self.heap, (next_due, next(self._seq), spec.id, generation))

    async def drain(self) -> None:
        """Wait for the checks in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def run_until(self, deadline: float, *, max_sleep: float = 0.25) -> None:
        """Run the schedule until the clock reaches `deadline` (tests and `--once` use this)."""
        while self.clock.monotonic() < deadline:
            await self.dispatch_due()
            due = self.next_due()
            wait = max_sleep if due is None else min(max(due - self.clock.monotonic(), 0.0), max_sleep)
            if self._tasks and isinstance(self.clock, FakeClock):
                await self.drain()  # a fake clock must not run ahead of the probes
            await self.clock.sleep(min(wait, max(deadline - self.clock.monotonic(), 0.0)) or 0.0)
        await self.drain()

    def take(self) -> tuple[list[SampleRow], list[Event]]:
        samples, events = self.samples, self.events
        self.samples, self.events = [], []
        return samples, events
