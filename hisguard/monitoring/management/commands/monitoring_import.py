"""`hisguard monitoring_import FILE`: create or update checks from CSV or JSON (all or nothing)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from hisguard.core.audit import acting_as
from hisguard.core.errors import DomainError
from hisguard.monitoring.actions import FormInvalid, import_checks, parse_import


class Command(BaseCommand):
    help = (
        "Import active checks from a CSV (header row of field names) or JSON list. Fields: "
        "hospital_code, asset_hostname, system_code, name, kind, host, port, url, … (see docs/monitoring.md)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")

    def handle(self, *args, path: str, **options) -> None:
        file = Path(path)
        if not file.exists():
            raise CommandError(f"{path}: no such file")
        try:
            with acting_as(None, label="import (CLI)"):
                saved = import_checks(parse_import(file.read_bytes(), file.name))
        except FormInvalid as exc:
            lines = [f"  {row}: {'; '.join(messages)}" for row, messages in exc.errors.items()]
            raise CommandError(str(exc.message) + "\n" + "\n".join(lines)) from exc
        except (DomainError, ValueError) as exc:
            raise CommandError(str(getattr(exc, "message", exc))) from exc
        self.stdout.write(f"{len(saved)} checks imported")
