"""`hisguard export_data assets out.xlsx`: export the hospital model to a spreadsheet."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from hisguard.organisation.imports import KINDS, ImportFileError, export_rows
from hisguard.organisation.models import Hospital


class Command(BaseCommand):
    help = "Export areas, departments, assets, systems or people to a CSV or XLSX file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("kind", choices=KINDS, help=_("What to export."))
        parser.add_argument("path", help=_("The .csv or .xlsx file to write."))
        parser.add_argument("--hospital", help=_("Only this hospital (its code); all hospitals by default."))

    def handle(self, *args, kind: str, path: str, hospital: str | None = None, **options) -> None:
        campus = None
        if hospital:
            campus = Hospital.objects.filter(code=hospital).first()
            if campus is None:
                raise CommandError(str(format_lazy(_("No hospital has the code “{value}”."), value=hospital)))
        try:
            count = export_rows(kind, path, hospital=campus)
        except ImportFileError as exc:
            raise CommandError(str(exc.message)) from exc
        self.stdout.write(
            self.style.SUCCESS(str(format_lazy(_("{count} rows written to {path}."), count=count, path=path)))
        )
