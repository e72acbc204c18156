"""`hisguard import_data assets file.xlsx`: import a spreadsheet, all rows or none."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from hisguard.core.audit import acting_as
from hisguard.core.errors import bilingual
from hisguard.organisation.imports import KINDS, import_rows


class Command(BaseCommand):
    help = (
        "Import areas, departments, assets, systems or people from a CSV or XLSX file. "
        "Nothing is saved unless every row is valid."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("kind", choices=KINDS, help=_("What the file holds."))
        parser.add_argument("path", help=_("The .csv or .xlsx file."))
        parser.add_argument("--dry-run", action="store_true", help=_("Check the file but save nothing."))

    def handle(self, *args, kind: str, path: str, dry_run: bool = False, **options) -> None:
        with acting_as(label="hisguard import_data"):
            outcome = import_rows(kind, path, dry_run=dry_run)
        if outcome.errors:
            for error in outcome.errors:
                texts = bilingual(error.describe())
                self.stderr.write(texts["zh-hans"])
                if texts["en"] != texts["zh-hans"]:
                    self.stderr.write(f"  {texts['en']}")
            summary = bilingual(
                format_lazy(
                    _("{count} problem(s) found in {path}; nothing was saved."),
                    count=len(outcome.errors),
                    path=path,
                )
            )
            raise CommandError(f"{summary['zh-hans']}\n{summary['en']}", returncode=1)
        message = (
            _("{path}: {created} new and {updated} changed rows are valid (dry run, nothing saved).")
            if dry_run
            else _("{path}: {created} rows created, {updated} rows updated.")
        )
        texts = bilingual(format_lazy(message, path=path, created=outcome.created, updated=outcome.updated))
        self.stdout.write(self.style.SUCCESS(texts["zh-hans"]))
        if texts["en"] != texts["zh-hans"]:
            self.stdout.write(self.style.SUCCESS(texts["en"]))
