"""Monitoring actions shared by the pages, the API and the CLI."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from hisguard.core import audit
from hisguard.core.errors import DomainError, interpolate
from hisguard.monitoring import netguard
from hisguard.monitoring.forms import (
    CHECK_FIELDS,
    CheckForm,
    HeartbeatForm,
    SourceForm,
    WindowForm,
    form_errors,
)
from hisguard.monitoring.models import ActiveCheck, Heartbeat, IntakeSource, MaintenanceWindow

IMPORT_FIELDS = ["hospital_code", "asset_hostname", "system_code", *CHECK_FIELDS]


class FormInvalid(DomainError):
    status = 422
    code = "invalid_request"

    def __init__(self, errors: dict[str, list[str]], message=None) -> None:
        super().__init__(
            message
            or interpolate(_("Not valid: check the fields %(fields)s."), {"fields": ", ".join(errors)})
        )
        self.errors = errors


def _form_data(form_class: Any, data: dict[str, Any], instance: Any = None) -> dict[str, Any]:
    """JSON values into what a form expects: unset fields keep their stored value (or the
    model's default), booleans become checkbox values."""
    base: dict[str, Any] = {}
    if instance is not None and instance.pk:
        form = form_class(instance=instance)
        for name, field in form.fields.items():
            value = form.initial.get(name, field.initial)
            base[name] = "" if value is None else value
        base.pop("password", None)
    else:
        names = set(form_class._meta.fields)
        for field in form_class._meta.model._meta.fields:
            if field.name in names and field.has_default():
                base[field.name] = field.get_default()
    base.update({k: ("" if v is None else v) for k, v in data.items()})
    for key, value in list(base.items()):
        if isinstance(value, bool):
            if value:
                base[key] = "on"
            else:
                base.pop(key)
    return base


@transaction.atomic
def save_check(data: dict[str, Any], *, instance: ActiveCheck | None = None) -> ActiveCheck:
    form = CheckForm(_form_data(CheckForm, data, instance), instance=instance)
    if not form.is_valid():
        raise FormInvalid(form_errors(form))
    check = form.save()
    audit.record("check.save", check, kind=check.kind, target=check.target_label)
    return check


def parse_import(content: bytes | str, filename: str = "") -> list[dict[str, Any]]:
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    if filename.endswith(".json") or text.lstrip().startswith(("[", "{")):
        rows = json.loads(text)
        rows = rows.get("checks", []) if isinstance(rows, dict) else rows
        if not isinstance(rows, list):
            raise DomainError(_("Expected a list of checks."))
        return rows
    reader = csv.DictReader(io.StringIO(text))
    return [{k: v for k, v in row.items() if k and v not in (None, "")} for row in reader]


@transaction.atomic
def import_checks(rows: list[dict[str, Any]]) -> list[ActiveCheck]:
    """All rows or none. A row whose (hospital, name) exists updates that check."""
    errors: dict[str, list[str]] = {}
    saved = []
    netguard.forget_fence()
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            errors[f"row {number}"] = [str(_("Not an object."))]
            continue
        unknown = set(row) - set(IMPORT_FIELDS)
        if unknown:
            errors[f"row {number}"] = [
                str(interpolate(_("Unknown fields: %(fields)s"), {"fields": ", ".join(sorted(unknown))}))
            ]
            continue
        existing = ActiveCheck.objects.filter(name=row.get("name", "")).first()
        try:
            with transaction.atomic():
                saved.append(save_check(row, instance=existing))
        except FormInvalid as exc:
            errors[f"row {number}"] = [
                f"{field}: {'; '.join(messages)}" for field, messages in exc.errors.items()
            ]
    if errors:
        transaction.set_rollback(True)
        raise FormInvalid(errors, message=_("Nothing was imported: some rows are not valid."))
    return saved


@transaction.atomic
def save_heartbeat(data: dict[str, Any], *, instance: Heartbeat | None = None) -> Heartbeat:
    form = HeartbeatForm(_form_data(HeartbeatForm, data, instance), instance=instance)
    if not form.is_valid():
        raise FormInvalid(form_errors(form))
    return form.save()


@transaction.atomic
def create_source(data: dict[str, Any]) -> tuple[IntakeSource, str]:
    form = SourceForm(_form_data(SourceForm, data))
    if not form.is_valid():
        raise FormInvalid(form_errors(form))
    source = form.save(commit=False)
    source.hospital = form.cleaned_data["hospital"]
    raw = source.issue_token()
    source.save()
    return source, raw


@transaction.atomic
def rotate_source_token(source: IntakeSource) -> str:
    raw = source.issue_token()
    source.save(update_fields=["token_hash", "prefix"])
    audit.record("intake_source.rotate", source)
    return raw


@transaction.atomic
def save_window(data: dict[str, Any], *, user=None) -> MaintenanceWindow:
    form = WindowForm(_form_data(WindowForm, data))
    if not form.is_valid():
        raise FormInvalid(form_errors(form))
    window = form.save(commit=False)
    window.hospital = form.cleaned_data["hospital"]
    window.created_by = user if user is not None and user.is_authenticated else None
    window.save()
    if form.cleaned_data.get("asset"):
        window.assets.add(form.cleaned_data["asset"])
    if form.cleaned_data.get("system"):
        window.systems.add(form.cleaned_data["system"])
    return window
