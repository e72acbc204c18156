"""Spreadsheet import/export of the hospital model (django-import-export).

Rows refer to each other by natural keys, never by database id: the hospital by its code,
areas, departments and systems by their code within the hospital, assets by hostname,
people by employee number. Lists (``depends_on``, ``departments``) are comma-separated.

Each resource reports problems per row and column: a reference that does not resolve, a value
the model's validators refuse (``full_clean``), a key that appears twice in the file. Rows
may come in any order: before importing, rows are sorted so that a row comes after the rows
it refers to, and errors still carry the row number of the file (the header is row 1).
Whether a file with errors is saved at all is up to the caller; ``hisguard.organisation.imports``
and the admin save nothing unless every row is valid.
"""

from __future__ import annotations

import copy
import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.utils import translation
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources, widgets
from import_export.results import Result

from hisguard.organisation.models import Area, Asset, Department, Hospital, InformationSystem, Person

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# Added to every imported row: the row's number in the file, kept through re-ordering.
LINE_COLUMN = "__line__"
LIST_SEPARATORS = (",", "，", ";", "；", "\n")


def cell_text(value: Any) -> str:
    """A spreadsheet cell as text: None → "", 12.0 → "12", surrounding blanks removed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def split_list(value: Any) -> list[str]:
    text = cell_text(value)
    for separator in LIST_SEPARATORS[1:]:
        text = text.replace(separator, ",")
    items: list[str] = []
    for item in text.split(","):
        item = item.strip()
        if item and item not in items:
            items.append(item)
    return items


# ---------------------------------------------------------------------------------------------
# Widgets


class TextWidget(widgets.CharWidget):
    def __init__(self, *, null: bool = False) -> None:
        super().__init__(allow_blank=not null)
        self.null = null

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value)
        if not text and self.null:
            return None
        return text


class ChoiceWidget(TextWidget):
    """A choice by its code, or by its label in Chinese or English; exported as the code."""

    def __init__(self, choices: Iterable[tuple[Any, Any]], *, integer: bool = False) -> None:
        super().__init__()
        self.choices = list(choices)
        self.integer = integer

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value)
        for code, _label in self.choices:
            if text == str(code):
                return code
        for code, label in self.choices:
            for language in ("zh-hans", "en"):
                with translation.override(language):
                    if text.casefold() == str(label).casefold():
                        return code
        if self.integer and text.isdigit():
            return int(text)
        return text  # full_clean reports the invalid choice for this column


class IntegerWidget(widgets.IntegerWidget):
    def clean(self, value, row=None, **kwargs):
        text = cell_text(value)
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            raise ValueError(format_lazy(_("“{value}” is not a whole number."), value=text)) from None


class BooleanWidget(widgets.BooleanWidget):
    TRUE_TEXTS = {"1", "true", "yes", "y", "是", "在用", "t"}
    FALSE_TEXTS = {"0", "false", "no", "n", "否", "停用", "f"}

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, bool):
            return value
        text = cell_text(value).casefold()
        if not text:
            return None
        if text in self.TRUE_TEXTS:
            return True
        if text in self.FALSE_TEXTS:
            return False
        raise ValueError(format_lazy(_("“{value}” is neither yes (1) nor no (0)."), value=cell_text(value)))


class StrictForeignKeyWidget(widgets.ForeignKeyWidget):
    """A related row by natural key; an unknown key is an error of this column, not a silent blank.

    With ``hospital_scoped`` the row is looked up within the hospital named in the row's
    ``hospital`` column.
    """

    def __init__(
        self, model: type[models.Model], field: str, not_found: StrOrPromise, *, hospital_scoped: bool = True
    ):
        super().__init__(model, field)
        self.not_found = not_found
        self.hospital_scoped = hospital_scoped

    def get_queryset(self, value, row, *args, **kwargs):
        queryset = self.model._default_manager.all()
        if self.hospital_scoped:
            queryset = queryset.filter(hospital__code=cell_text((row or {}).get("hospital")))
        return queryset

    def clean(self, value, row=None, **kwargs):
        key = cell_text(value)
        if not key:
            return None
        try:
            return self.get_queryset(key, row).get(**{self.field: key})
        except self.model.DoesNotExist:
            raise ValueError(format_lazy(self.not_found, value=key)) from None

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else getattr(value, self.field)


class StrictManyToManyWidget(widgets.ManyToManyWidget):
    """Comma-separated natural keys; any unknown key is an error naming the unknown keys."""

    def __init__(
        self, model: type[models.Model], field: str, not_found: StrOrPromise, *, hospital_scoped: bool = True
    ):
        super().__init__(model, separator=",", field=field)
        self.not_found = not_found
        self.hospital_scoped = hospital_scoped

    def clean(self, value, row=None, **kwargs):
        keys = split_list(value)
        if not keys:
            return []
        queryset = self.model._default_manager.filter(**{f"{self.field}__in": keys})
        if self.hospital_scoped:
            queryset = queryset.filter(hospital__code=cell_text((row or {}).get("hospital")))
        found = {getattr(obj, self.field): obj for obj in queryset}
        missing = [key for key in keys if key not in found]
        if missing:
            raise ValueError(format_lazy(self.not_found, value=", ".join(missing)))
        return [found[key] for key in keys]

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return self.separator.join(sorted(str(getattr(item, self.field)) for item in value.all()))


# ---------------------------------------------------------------------------------------------
# Ordering rows so that references point backwards


def topological(
    items: list[Any], key_of: Callable[[Any], Any], refs_of: Callable[[Any], Iterable[Any]]
) -> list[Any]:
    """Items ordered so each comes after the items it refers to; otherwise in their given order.

    References to keys outside ``items`` are ignored; items caught in a cycle keep their order
    at the end (the import then reports the unresolved reference).
    """
    index_of: dict[Any, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        index_of[key_of(item)].append(index)
    waiting = [0] * len(items)
    followers: dict[int, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        own = key_of(item)
        for ref in set(refs_of(item)):
            if ref == own:
                continue
            for before in index_of.get(ref, ()):
                followers[before].append(index)
                waiting[index] += 1
    ready = [index for index, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for follower in followers.get(index, ()):
            waiting[follower] -= 1
            if waiting[follower] == 0:
                heapq.heappush(ready, follower)
    placed = set(order)
    order += [index for index in range(len(items)) if index not in placed]
    return [items[index] for index in order]


# ---------------------------------------------------------------------------------------------
# Resources


class RowResult(Result):
    """Reports rows by their number in the file, even after the rows were re-ordered."""

    def append_invalid_row(self, number, row, validation_error):
        super().append_invalid_row(row.get(LINE_COLUMN, number), row, validation_error)

    def append_error_row(self, number, row, errors):
        super().append_error_row(row.get(LINE_COLUMN, number), row, errors)

    def row_errors(self):
        return [(row.errors[0].number, row.errors) for row in self.rows if row.errors]


class OrganisationResource(resources.ModelResource):
    """Shared behaviour: natural keys, per-column errors, file order, duplicate keys."""

    #: Columns that make up a row's key (duplicates within a file are refused).
    key_columns: tuple[str, ...] = ()
    #: Required columns besides the key.
    required_columns: tuple[str, ...] = ()

    class Meta:
        clean_model_instances = True
        skip_unchanged = False
        report_skipped = False
        skip_diff = False
        use_transactions = True

    def __init__(self, *, skip_diff: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self._duplicates: dict[int, int] = {}
        if skip_diff:  # no before/after comparison (the admin's preview): much faster for big files
            meta = copy.copy(self._meta)  # type: ignore[has-type]
            meta.skip_diff = True
            self._meta = meta

    def get_result_class(self):
        return RowResult

    # Ordering: the key of a row and the keys of rows in the same file it refers to.
    def row_key(self, row: dict[str, Any]) -> Any:
        return tuple(cell_text(row.get(column)) for column in self.key_columns)

    def row_refs(self, row: dict[str, Any]) -> list[Any]:
        return []

    def instance_key(self, instance: models.Model) -> Any:
        return instance.pk

    def instance_refs(self, instance: models.Model) -> list[Any]:
        return []

    def before_import(self, dataset, **kwargs):
        headers = [cell_text(header) for header in (dataset.headers or [])]
        missing = [column for column in (*self.key_columns, *self.required_columns) if column not in headers]
        if missing:
            raise ValueError(
                format_lazy(_("The file has no column “{columns}”."), columns="”, “".join(missing))
            )
        if LINE_COLUMN in headers:
            rows = [dict(zip(headers, values, strict=False)) for values in dataset]
        else:
            rows = [
                {**dict(zip(headers, values, strict=False)), LINE_COLUMN: number}
                for number, values in enumerate(dataset, start=2)
            ]
            headers = [*headers, LINE_COLUMN]
        rows = [row for row in rows if any(cell_text(v) for k, v in row.items() if k != LINE_COLUMN)]
        first_line: dict[Any, int] = {}
        self._duplicates = {}
        for row in rows:
            key = self.row_key(row)
            if key in first_line:
                self._duplicates[row[LINE_COLUMN]] = first_line[key]
            else:
                first_line[key] = row[LINE_COLUMN]
        rows = topological(rows, self.row_key, self.row_refs)
        dataset.wipe()
        dataset.headers = headers
        for row in rows:
            dataset.append([row.get(header) for header in headers])

    def import_row(self, row, instance_loader, **kwargs):
        kwargs["row_number"] = row.get(LINE_COLUMN, kwargs.get("row_number"))
        return super().import_row(row, instance_loader, **kwargs)

    def before_import_row(self, row, **kwargs):
        first = self._duplicates.get(row.get(LINE_COLUMN))
        if first is not None:
            column = self.key_columns[-1]
            raise ValidationError(
                {
                    column: ValidationError(
                        format_lazy(
                            _("“{value}” appears twice in the file (first in row {row})."),
                            value=cell_text(row.get(column)),
                            row=first,
                        ),
                        code="duplicate",
                    )
                }
            )

    def get_instance(self, instance_loader, row):
        try:
            return super().get_instance(instance_loader, row)
        except ValueError as exc:
            # A key column that does not resolve (an unknown hospital) is an error of that column.
            field = next(f for f in self.get_import_id_fields())
            raise ValidationError({field: _as_validation_error(exc)}) from None

    def import_instance(self, instance, row, **kwargs):
        """Set every column, collecting each column's error with its (lazy, translatable) message.

        Many-to-many columns are checked here too (they are saved after the row, by save_m2m).
        """
        errors: dict[str, ValidationError] = {}
        hospital_before = getattr(instance, "hospital_id", None) if instance.pk else None
        for field in self.get_import_fields():
            if field.column_name not in row or not field.attribute or field.readonly:
                continue
            if "hospital" in errors and getattr(field.widget, "hospital_scoped", False):
                continue  # looked up within an unknown hospital: the hospital column says it all
            try:
                if isinstance(field.widget, widgets.ManyToManyWidget):
                    field.clean(row, **kwargs)
                else:
                    self.import_field(field, instance, row, **kwargs)
            except ValueError as exc:
                errors[field.attribute] = _as_validation_error(exc)
        if (
            hospital_before is not None
            and "hospital" not in errors
            and instance.hospital_id != hospital_before
        ):
            column = self.key_columns[-1]
            errors.setdefault(
                column,
                ValidationError(
                    format_lazy(
                        _("“{value}” already belongs to another hospital."), value=cell_text(row.get(column))
                    ),
                    code="other_hospital",
                ),
            )
        self.check_row(instance, row, errors)
        if errors:
            raise ValidationError(errors)

    def check_row(
        self, instance: models.Model, row: dict[str, Any], errors: dict[str, ValidationError]
    ) -> None:
        """Rules across columns; add errors per column."""

    def export_queryset(self, queryset):
        return queryset

    def export(self, queryset=None, **kwargs):
        if queryset is None:
            queryset = self.get_queryset()
        return super().export(self.export_queryset(queryset), **kwargs)

    def iter_queryset(self, queryset) -> Iterator[models.Model]:
        yield from topological(list(queryset), self.instance_key, self.instance_refs)


def _as_validation_error(exc: Exception) -> ValidationError:
    message = exc.args[0] if exc.args else str(exc)
    if isinstance(message, ValidationError):
        return message
    if isinstance(message, Promise):  # keep it lazy: rendered later in Chinese and in English
        return ValidationError(message, code="invalid")  # type: ignore[arg-type]
    return ValidationError(str(message), code="invalid")


def hospital_field() -> fields.Field:
    return fields.Field(
        attribute="hospital",
        column_name="hospital",
        widget=StrictForeignKeyWidget(
            Hospital, "code", _("No hospital has the code “{value}”."), hospital_scoped=False
        ),
    )


def text_field(name: str, *, null: bool = False) -> fields.Field:
    return fields.Field(attribute=name, column_name=name, widget=TextWidget(null=null))


def choice_field(name: str, model: type[models.Model], *, integer: bool = False) -> fields.Field:
    model_field = model._meta.get_field(name)
    assert isinstance(model_field, models.Field)
    return fields.Field(
        attribute=name,
        column_name=name,
        widget=ChoiceWidget(model_field.choices or [], integer=integer),
        default=model_field.default,
    )


def integer_field(name: str, default: int) -> fields.Field:
    return fields.Field(attribute=name, column_name=name, widget=IntegerWidget(), default=default)


def boolean_field(name: str, default: bool = True) -> fields.Field:
    return fields.Field(attribute=name, column_name=name, widget=BooleanWidget(), default=default)


def area_field(name: str = "area") -> fields.Field:
    return fields.Field(
        attribute=name,
        column_name=name,
        widget=StrictForeignKeyWidget(Area, "code", _("This hospital has no area with the code “{value}”.")),
    )


def department_field() -> fields.Field:
    return fields.Field(
        attribute="department",
        column_name="department",
        widget=StrictForeignKeyWidget(
            Department, "code", _("This hospital has no department with the code “{value}”.")
        ),
    )


class AreaResource(OrganisationResource):
    key_columns = ("hospital", "code")
    required_columns = ("name",)

    hospital = hospital_field()
    code = text_field("code")
    name = text_field("name")
    kind = choice_field("kind", Area)
    parent = area_field("parent")

    class Meta(OrganisationResource.Meta):
        model = Area
        name = _("Areas")
        fields = ("hospital", "code", "name", "kind", "parent")
        import_id_fields = ("hospital", "code")

    def row_refs(self, row):
        parent = cell_text(row.get("parent"))
        return [(cell_text(row.get("hospital")), parent)] if parent else []

    def instance_key(self, instance):
        return instance.pk

    def instance_refs(self, instance):
        return [instance.parent_id] if instance.parent_id else []

    def export_queryset(self, queryset):
        return queryset.select_related("hospital", "parent").order_by("hospital__code", "code")

    def check_row(self, instance, row, errors):
        if (
            "parent" not in errors
            and instance.parent_id
            and instance.pk
            and instance.parent_id == instance.pk
        ):
            errors["parent"] = ValidationError(_("An area cannot be within itself."), code="cycle")


class DepartmentResource(OrganisationResource):
    key_columns = ("hospital", "code")
    required_columns = ("name",)

    hospital = hospital_field()
    code = text_field("code")
    name = text_field("name")
    kind = choice_field("kind", Department)
    area = area_field()
    beds = integer_field("beds", 0)
    phone = text_field("phone")

    class Meta(OrganisationResource.Meta):
        model = Department
        name = _("Departments")
        fields = ("hospital", "code", "name", "kind", "area", "beds", "phone")
        import_id_fields = ("hospital", "code")

    def export_queryset(self, queryset):
        return queryset.select_related("hospital", "area").order_by("hospital__code", "code")


class AssetResource(OrganisationResource):
    key_columns = ("hostname",)
    required_columns = ("hospital", "kind")

    hospital = hospital_field()
    hostname = text_field("hostname")
    name = text_field("name")
    kind = choice_field("kind", Asset)
    area = area_field()
    department = department_field()
    upstream = fields.Field(
        attribute="upstream",
        column_name="upstream",
        widget=StrictForeignKeyWidget(
            Asset, "hostname", _("This hospital has no asset with the hostname “{value}”.")
        ),
    )
    depends_on = fields.Field(
        attribute="depends_on",
        column_name="depends_on",
        widget=StrictManyToManyWidget(
            Asset, "hostname", _("This hospital has no asset with the hostname “{value}”.")
        ),
    )
    ip_address = text_field("ip_address", null=True)
    location = text_field("location")
    is_active = boolean_field("is_active")

    class Meta(OrganisationResource.Meta):
        model = Asset
        name = _("Assets")
        fields = (
            "hospital",
            "hostname",
            "name",
            "kind",
            "area",
            "department",
            "upstream",
            "depends_on",
            "ip_address",
            "location",
            "is_active",
        )
        import_id_fields = ("hostname",)

    def row_refs(self, row):
        upstream = cell_text(row.get("upstream"))
        return [(ref,) for ref in ([upstream] if upstream else []) + split_list(row.get("depends_on"))]

    def instance_key(self, instance):
        return instance.pk

    def instance_refs(self, instance):
        refs = [other.pk for other in instance.depends_on.all()]
        return [instance.upstream_id, *refs] if instance.upstream_id else refs

    def export_queryset(self, queryset):
        return (
            queryset.select_related("hospital", "area", "department", "upstream")
            .prefetch_related(models.Prefetch("depends_on", queryset=Asset.objects.only("id", "hostname")))
            .order_by("hospital__code", "hostname")
        )

    def check_row(self, instance, row, errors):
        hostname = cell_text(row.get("hostname"))
        if "upstream" not in errors and cell_text(row.get("upstream")) == hostname and hostname:
            errors["upstream"] = ValidationError(_("An asset cannot be its own upstream."), code="cycle")
        if "depends_on" not in errors and hostname in split_list(row.get("depends_on")):
            errors["depends_on"] = ValidationError(_("An asset cannot depend on itself."), code="cycle")


class InformationSystemResource(OrganisationResource):
    key_columns = ("hospital", "code")
    required_columns = ("name",)

    hospital = hospital_field()
    code = text_field("code")
    name = text_field("name")
    criticality = choice_field("criticality", InformationSystem)
    dr_level = choice_field("dr_level", InformationSystem, integer=True)
    rto_minutes = integer_field("rto_minutes", 240)
    rpo_minutes = integer_field("rpo_minutes", 15)
    vendor = text_field("vendor")
    depends_on = fields.Field(
        attribute="depends_on",
        column_name="depends_on",
        widget=StrictManyToManyWidget(
            Asset, "hostname", _("This hospital has no asset with the hostname “{value}”.")
        ),
    )
    departments = fields.Field(
        attribute="departments",
        column_name="departments",
        widget=StrictManyToManyWidget(
            Department, "code", _("This hospital has no department with the code “{value}”.")
        ),
    )

    class Meta(OrganisationResource.Meta):
        model = InformationSystem
        name = _("Information systems")
        fields = (
            "hospital",
            "code",
            "name",
            "criticality",
            "dr_level",
            "rto_minutes",
            "rpo_minutes",
            "vendor",
            "depends_on",
            "departments",
        )
        import_id_fields = ("hospital", "code")

    def export_queryset(self, queryset):
        return (
            queryset.select_related("hospital")
            .prefetch_related(
                models.Prefetch("depends_on", queryset=Asset.objects.only("id", "hostname")),
                models.Prefetch("departments", queryset=Department.objects.only("id", "code")),
            )
            .order_by("hospital__code", "code")
        )


class PersonResource(OrganisationResource):
    key_columns = ("employee_no",)
    required_columns = ("hospital", "name")

    hospital = hospital_field()
    employee_no = text_field("employee_no")
    name = text_field("name")
    position = choice_field("position", Person)
    department = department_field()
    phone = text_field("phone")
    email = text_field("email")
    is_active = boolean_field("is_active")

    class Meta(OrganisationResource.Meta):
        model = Person
        name = _("People")
        fields = ("hospital", "employee_no", "name", "position", "department", "phone", "email", "is_active")
        import_id_fields = ("employee_no",)

    def export_queryset(self, queryset):
        return queryset.select_related("hospital", "department").order_by("employee_no")


RESOURCES: dict[str, type[OrganisationResource]] = {
    "areas": AreaResource,
    "departments": DepartmentResource,
    "assets": AssetResource,
    "systems": InformationSystemResource,
    "people": PersonResource,
}


def error_items(validation_error: ValidationError) -> list[tuple[str, ValidationError]]:
    """(column, error) pairs of a row's ValidationError; a row-wide error has the column ""."""
    if hasattr(validation_error, "error_dict"):
        return [
            ("" if column == NON_FIELD_ERRORS else column, error)
            for column, errors in validation_error.error_dict.items()
            for error in errors
        ]
    return [("", error) for error in validation_error.error_list]
