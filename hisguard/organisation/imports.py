"""Importing and exporting the hospital model as CSV or XLSX files, all or nothing.

`import_rows("assets", "assets.xlsx")` reads the file, imports every row inside one
transaction and keeps the result only if every row was valid; otherwise nothing is saved and
the outcome lists each problem with its row (the header is row 1), column and message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tablib
from django.db import transaction
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from import_export.formats import base_formats

from hisguard.core.errors import DomainError, bilingual
from hisguard.organisation.models import Hospital
from hisguard.organisation.resources import RESOURCES, error_items

KINDS = tuple(RESOURCES)
FORMATS = {".csv": base_formats.CSV, ".xlsx": base_formats.XLSX}
CSV_ENCODINGS = ("utf-8-sig", "gb18030")  # Excel in China saves CSV as GBK


class ImportFileError(DomainError):
    """The file as a whole cannot be imported (unknown kind or format, unreadable)."""

    code = "bad_file"


@dataclass(frozen=True)
class RowError:
    row: int | None  # row in the file, the header being row 1; None for the file as a whole
    field: str  # column name, "" for the row as a whole
    message: str | Promise  # lazy: rendered in whichever language is asked for

    def bilingual(self) -> dict[str, str]:
        return bilingual(self.message)

    def describe(self) -> str | Promise:
        """The error as one translatable line."""
        if self.row is None:
            return self.message
        if self.field:
            return format_lazy(
                _("Row {row}, column “{field}”: {message}"),
                row=self.row,
                field=self.field,
                message=self.message,
            )
        return format_lazy(_("Row {row}: {message}"), row=self.row, message=self.message)

    def __str__(self) -> str:
        return str(self.describe())


@dataclass
class ImportOutcome:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _format_of(path: Path):
    format_class = FORMATS.get(path.suffix.lower())
    if format_class is None:
        raise ImportFileError(format_lazy(_("Use a .csv or .xlsx file, not “{name}”."), name=path.name))
    return format_class


def _resource(kind: str, **kwargs):
    try:
        return RESOURCES[kind](**kwargs)
    except KeyError:
        raise ImportFileError(
            format_lazy(_("Unknown kind “{kind}”; use one of: {kinds}."), kind=kind, kinds=", ".join(KINDS))
        ) from None


def read_dataset(path: str | Path) -> tablib.Dataset:
    path = Path(path)
    format_class = _format_of(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(format_lazy(_("Cannot read “{name}”: {error}"), name=path, error=exc)) from exc
    try:
        if format_class is base_formats.CSV:
            for encoding in CSV_ENCODINGS:
                try:
                    text = content.decode(encoding)
                    break
                except UnicodeDecodeError:
                    continue
            else:
                raise ImportFileError(_("The CSV file is neither UTF-8 nor GB18030 text."))
            return format_class().create_dataset(text)
        return format_class().create_dataset(content)
    except ImportFileError:
        raise
    except Exception as exc:  # a damaged or mislabelled file: openpyxl and csv raise many kinds
        raise ImportFileError(
            format_lazy(
                _("“{name}” is not a readable {format} file."),
                name=path.name,
                format=path.suffix.lstrip(".").upper(),
            )
        ) from exc


def import_dataset(kind: str, dataset: tablib.Dataset, *, dry_run: bool = False) -> ImportOutcome:
    """Import a dataset; keep it only when every row is valid (and not a dry run)."""
    resource = _resource(kind, skip_diff=True)
    with transaction.atomic():
        result = resource.import_data(
            dataset, dry_run=False, use_transactions=True, rollback_on_validation_errors=True
        )
        errors: list[RowError] = []
        for error in result.base_errors:
            message = error.error.args[0] if error.error.args else str(error.error)
            errors.append(RowError(None, "", message if isinstance(message, str | Promise) else str(message)))
        if not errors:
            for invalid in result.invalid_rows:
                errors += [
                    RowError(invalid.number, column, _render_lazily(error))
                    for column, error in error_items(invalid.error)
                ]
            for error_row in result.error_rows:
                errors += [RowError(error_row.number, "", str(error.error)) for error in error_row.errors]
        errors.sort(key=lambda e: (e.row or 0, e.field))
        outcome = ImportOutcome(errors=errors)
        if not errors:
            outcome.created = result.totals["new"]
            outcome.updated = result.totals["update"]
        if errors or dry_run:
            transaction.set_rollback(True)
    return outcome


def import_rows(kind: str, path: str | Path, *, dry_run: bool = False) -> ImportOutcome:
    """Import a CSV or XLSX file of `kind` (areas, departments, assets, systems, people).

    All or nothing: any bad row and nothing is saved. A file that cannot be read at all gives
    one error without a row number.
    """
    try:
        dataset = read_dataset(path)
        return import_dataset(kind, dataset, dry_run=dry_run)
    except ImportFileError as exc:
        return ImportOutcome(errors=[RowError(None, "", exc.message)])


def _render_lazily(error) -> Promise | str:
    """A ValidationError's message, still translatable (rendered when turned into text)."""
    from django.utils.functional import lazy

    message, params = error.message, error.params

    def render() -> str:
        text = str(message)
        return text % params if params else text

    return lazy(render, str)()


def export_rows(kind: str, path: str | Path, *, hospital: Hospital | None = None) -> int:
    """Write the rows of `kind` (of one hospital, or all) to a CSV or XLSX file; returns the count."""
    path = Path(path)
    format_class = _format_of(path)
    resource = _resource(kind)
    queryset = resource.get_queryset()
    if hospital is not None:
        queryset = queryset.filter(hospital=hospital)
    dataset = resource.export(queryset)
    data = format_class().export_data(dataset)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8-sig", newline="")  # the BOM lets Excel read Chinese
    else:
        path.write_bytes(data)
    return len(dataset)
