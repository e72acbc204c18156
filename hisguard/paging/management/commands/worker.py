"""`hisguard worker`: deliver notifications and run escalations until stopped."""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand

from hisguard.paging.worker import Worker


class Command(BaseCommand):
    help = "Run escalations and deliver notifications (any number may run on PostgreSQL)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument("--threads", type=int, default=8, help="parallel sends")
        parser.add_argument("--name", default=None)

    def handle(self, *args, once: bool, threads: int, name: str | None, **options) -> None:
        worker = Worker(threads=threads, name=name)
        if once:
            worker.run_once()
            return
        stopping = False

        def stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        worker.run_forever(lambda: stopping)
