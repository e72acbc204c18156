"""`hisguard response_tick`: put overdue playbook steps on their incidents' timelines.

The worker should call `hisguard.response.actions.note_overdue_steps()` in its loop; this
command does the same once, for cron or for a machine that runs no worker."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from hisguard.response.actions import note_overdue_steps


class Command(BaseCommand):
    help = "Note overdue playbook steps on the incident timelines (once)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"{note_overdue_steps()} overdue steps noted")
