"""`hisguard continuity_demo [--refresh]`: downtime packets for the demo hospital."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from hisguard.continuity.demo import load_continuity_demo
from hisguard.core.audit import acting_as
from hisguard.organisation.models import Hospital


class Command(BaseCommand):
    help = "Synthetic inpatients for the demo hospital's wards, a file connector and a first snapshot."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--refresh", action="store_true", help=_("Write the synthetic files again, as of now.")
        )
        parser.add_argument("--hospital", default=None, help=_("Hospital code (default: the demo hospital)."))

    def handle(self, *args, refresh: bool = False, hospital: str | None = None, **options) -> None:
        chosen = None
        if hospital:
            chosen = Hospital.objects.filter(code=hospital).first()
            if chosen is None:
                raise CommandError(str(format_lazy(_("No hospital with the code {code}."), code=hospital)))
        with acting_as(label="hisguard continuity_demo"):
            try:
                demo = load_continuity_demo(hospital=chosen, refresh=refresh)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        snapshot = demo.snapshot
        self.stdout.write(
            self.style.SUCCESS(
                str(
                    format_lazy(
                        _(
                            "Downtime packets: {patients} patients in {files} ward files, {skipped} records skipped ({status})."
                        ),
                        patients=snapshot.patients,
                        files=len(demo.files),
                        skipped=snapshot.skipped,
                        status=snapshot.get_status_display(),
                    )
                )
            )
        )
        if demo.nurse:
            self.stdout.write(
                str(
                    format_lazy(
                        _("Ward nurse login: {login} (password as the other demo logins)"), login=demo.nurse
                    )
                )
            )
        if demo.node_token:
            self.stdout.write(str(_("A downtime node for the ward; run it on this machine with:")))
            self.stdout.write(
                f"  hisguard downtime_node --server {settings.SITE_URL} --token {demo.node_token} --insecure-http"
            )
