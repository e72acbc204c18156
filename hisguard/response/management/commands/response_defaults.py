"""`hisguard response_defaults`: load the default playbooks, manual procedures and forms."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from hisguard.organisation.models import Hospital
from hisguard.response.defaults import DataFileError, ensure_defaults


class Command(BaseCommand):
    help = (
        "Load the default playbooks, department manual procedures and paper forms (from "
        "hisguard/response/data) into a hospital. What the hospital already has is left as it is."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--hospital", help="hospital code (default: every hospital)")
        parser.add_argument(
            "--stock", type=int, default=None, help="set this many of each form in stock (demo)"
        )

    def handle(self, *args, hospital: str | None = None, stock: int | None = None, **options) -> None:
        hospitals = Hospital.objects.all()
        if hospital:
            hospitals = hospitals.filter(code=hospital)
            if not hospitals.exists():
                raise CommandError(f"No hospital is called {hospital}.")
        if not hospitals.exists():
            raise CommandError("There is no hospital yet: create one (or `hisguard demo`) first.")
        for row in hospitals:
            try:
                summary = ensure_defaults(row, stock=stock)
            except DataFileError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(
                f"{row.code}: {summary.playbooks} playbooks ({summary.steps} steps), {summary.forms} forms, "
                f"{summary.procedures} procedures, {summary.stock_rows} stock rows, {summary.contacts} contacts added"
            )
