"""`hisguard monitoring_prune`: roll old samples into hourly rows and expire what is too old
(the checker also does this every hour)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from hisguard.monitoring.retention import prune


class Command(BaseCommand):
    help = "Downsample raw check samples older than the retention into hourly rollups; expire old rollups."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--raw-days", type=int, default=settings.HISGUARD_MONITORING_RAW_DAYS)
        parser.add_argument("--rollup-days", type=int, default=settings.HISGUARD_MONITORING_ROLLUP_DAYS)

    def handle(self, *args, raw_days: int, rollup_days: int, **options) -> None:
        self.stdout.write(str(prune(raw_days=raw_days, rollup_days=rollup_days)))
