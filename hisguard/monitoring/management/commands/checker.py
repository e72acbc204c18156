"""`hisguard checker`: run the active checks until stopped (started by `hisguard up`)."""

from __future__ import annotations

import asyncio
import signal

from django.core.management.base import BaseCommand, CommandError

from hisguard.monitoring.runner import Runner, parse_shard


class Command(BaseCommand):
    help = (
        "Run active checks (asyncio, bounded concurrency). Several checkers share the checks on "
        "PostgreSQL automatically, or take a fixed slice with --shard i/n."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--shard", help="a fixed slice i/n of the checks (0 <= i < n)")
        parser.add_argument("--concurrency", type=int, default=None, help="checks in flight at once")
        parser.add_argument("--name", default=None, help="this checker's name (default host:pid)")
        parser.add_argument("--once", action="store_true", help="run every check once, write, exit")

    def handle(
        self, *args, shard: str | None, concurrency: int | None, name: str | None, once: bool, **options
    ):
        try:
            fixed = parse_shard(shard)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        runner = Runner(shard=fixed, concurrency=concurrency, name=name)
        if once:
            count = asyncio.run(runner.run_once())
            self.stdout.write(f"{count} checks run")
            return
        stopping = False

        def stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        asyncio.run(runner.run(lambda: stopping))
