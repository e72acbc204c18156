"""`hisguard demo`: load the demo hospital 示范市人民医院 with its logins."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from hisguard.core.audit import acting_as
from hisguard.organisation.demo import DEMO_HOSPITAL_CODE, DEMO_LOGINS, DemoConflict, demo_exists, load_demo
from hisguard.organisation.models import Hospital


class Command(BaseCommand):
    help = "Load the demo hospital 示范市人民医院 (the same data on every run) and its demo logins."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help=_("Load only when the database has no hospital at all (used by `make run`)."),
        )
        parser.add_argument("--logins", action="store_true", help=_("Only print the demo logins."))

    def handle(self, *args, if_empty: bool = False, logins: bool = False, **options) -> None:
        if logins:
            self.print_logins()
            return
        if if_empty and Hospital.objects.exists():
            self.stdout.write(str(_("The database already has a hospital; the demo was not loaded.")))
            return
        if demo_exists():
            self.stdout.write(
                str(
                    format_lazy(
                        _("The demo hospital {code} already exists; nothing to do."), code=DEMO_HOSPITAL_CODE
                    )
                )
            )
            return
        started = time.monotonic()
        try:
            with acting_as(label="hisguard demo"):
                summary = load_demo()
        except DemoConflict as exc:
            raise CommandError(str(exc.message)) from exc
        # Synthetic patients for the wards' downtime packets (about 10 s): a separate step so
        # the hospital model above stays quick to load in tests.
        from hisguard.continuity.demo import load_continuity_demo

        with acting_as(label="hisguard demo"):
            load_continuity_demo(hospital=summary.hospital)
        counts = ", ".join(f"{name}={value}" for name, value in summary.counts.items())
        self.stdout.write(
            self.style.SUCCESS(
                str(
                    format_lazy(
                        _("Loaded the demo hospital {name} ({code}) in {seconds:.1f} s: {counts}"),
                        name=summary.hospital.name,
                        code=summary.hospital.code,
                        seconds=time.monotonic() - started,
                        counts=counts,
                    )
                )
            )
        )
        if summary.skipped_logins:
            self.stdout.write(
                self.style.WARNING(
                    str(
                        format_lazy(
                            _("These usernames already existed and were left unchanged: {names}"),
                            names=", ".join(summary.skipped_logins),
                        )
                    )
                )
            )
        self.print_logins()

    def print_logins(self) -> None:
        self.stdout.write(str(_("Demo logins:")))
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {login.username:<10} {login.password:<15} {login.description}")
