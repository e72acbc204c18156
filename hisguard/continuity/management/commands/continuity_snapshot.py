"""`hisguard continuity_snapshot [--ward CODE] [--connector NAME]`: take snapshots now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from hisguard.continuity import actions
from hisguard.continuity.models import Connector, Snapshot
from hisguard.core.audit import acting_as
from hisguard.organisation.models import Department


class Command(BaseCommand):
    help = "Take a snapshot of the HIS now for the wards' downtime packets (the worker does it on schedule)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--ward", help=_("Only the connectors whose hospital has this ward (code)."))
        parser.add_argument("--connector", help=_("Only this connector (name)."))
        parser.add_argument(
            "--due", action="store_true", help=_("Only the connectors that are due (as the worker does).")
        )

    def handle(
        self, *args, ward: str | None = None, connector: str | None = None, due: bool = False, **options
    ):
        with acting_as(label="hisguard continuity_snapshot"):
            if due:
                started = actions.run_due_snapshots(wait=True)
                self.stdout.write(str(format_lazy(_("{count} snapshots taken."), count=started)))
                return
            connectors = Connector.objects.filter(is_active=True).select_related("hospital")
            if connector:
                connectors = connectors.filter(name=connector)
            wards = []
            if ward:
                wards = list(Department.objects.filter(code=ward, kind=Department.Kind.WARD))
                if not wards:
                    raise CommandError(str(format_lazy(_("No ward with the code {code}."), code=ward)))
                connectors = connectors.filter(hospital__in=[w.hospital_id for w in wards])
            if not connectors:
                raise CommandError(str(_("No active connector: add one on the Downtime packets page.")))
            failed = 0
            for model in connectors:
                snapshot = actions.run_snapshot(model, trigger=Snapshot.Trigger.COMMAND)
                if snapshot.status == Snapshot.Status.OK:
                    packets = snapshot.packets.filter(ward__in=wards) if wards else snapshot.packets.all()
                    for packet in packets.select_related("ward").order_by("ward__code"):
                        self.stdout.write(
                            f"  {packet.ward.code:<8} {packet.patients:>4}  skipped {packet.skipped}"
                        )
                    self.stdout.write(
                        self.style.SUCCESS(
                            str(
                                format_lazy(
                                    _(
                                        "{name}: {patients} patients, {skipped} records skipped, as of {as_of}."
                                    ),
                                    name=model.name,
                                    patients=snapshot.patients,
                                    skipped=snapshot.skipped,
                                    as_of=snapshot.as_of,
                                )
                            )
                        )
                    )
                else:
                    failed += 1
                    self.stderr.write(
                        str(
                            format_lazy(
                                _("{name}: failed, the last good snapshot stays: {error}"),
                                name=model.name,
                                error=snapshot.error,
                            )
                        )
                    )
            if failed:
                raise CommandError(str(format_lazy(_("{count} snapshots failed."), count=failed)))
