"""Writing and reading the incident timeline."""

from __future__ import annotations

import contextlib
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hisguard.core.audit import current_actor
from hisguard.incidents.classification import describe
from hisguard.incidents.models import Incident, TimelineEntry

Kind = TimelineEntry.Kind

TEMPLATES = {
    Kind.OPENED: _("Incident opened as class %(level)s"),
    Kind.REPORT: _("Report %(tracking)s from %(where)s: %(symptom)s"),
    Kind.REPORT_DETACHED: _("Report %(tracking)s detached"),
    Kind.ASSET_DOWN: _("%(asset)s marked down"),
    Kind.ASSET_UP: _("%(asset)s marked up again"),
    Kind.CLASS: _("Class %(old)s → %(new)s"),
    Kind.GRADE: _("GB/T 20986: %(category)s, %(loss)s → grade %(grade)s"),
    Kind.STATUS: _("Status %(old)s → %(new)s"),
    Kind.NOTE: _("Note"),
    Kind.FEEDBACK: _("Message to reporters"),
    Kind.MAINTENANCE: _("Maintenance on %(asset)s: %(action)s"),
}


def add(
    incident: Incident,
    kind: str,
    *,
    data: dict[str, Any] | None = None,
    text: str = "",
    public: bool = False,
    at=None,
) -> TimelineEntry:
    actor = current_actor()
    return TimelineEntry.objects.create(
        incident=incident,
        at=at or timezone.now(),
        actor=actor.user,
        actor_label=actor.label,
        kind=kind,
        data=data or {},
        text=text,
        public=public,
    )


def headline(entry: TimelineEntry) -> str:
    """The entry in the reader's language; the stored data holds values, not sentences."""
    template = TEMPLATES.get(entry.kind)  # type: ignore[call-overload]
    data = dict(entry.data)
    for key, value in list(data.items()):
        if isinstance(value, dict) and "code" in value:
            data[key] = describe(value)
    text = str(template) if template is not None else str(Kind(entry.kind).label)
    with contextlib.suppress(KeyError, TypeError, ValueError):
        text = text % _display_values(entry.kind, data)
    reasons = [describe(reason) for reason in data.get("reasons", [])]
    if reasons:
        text += " (" + "; ".join(reasons) + ")"
    return text


def _display_values(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    from hisguard.incidents.models import Status
    from hisguard.reporting.models import Symptom

    from . import gbt

    roman = {1: "I", 2: "II", 3: "III"}
    values = dict(data)
    if kind in (Kind.CLASS, Kind.OPENED):
        for key in ("old", "new", "level"):
            if key in values:
                values[key] = roman.get(values[key], values[key])
    if kind == Kind.STATUS:
        for key in ("old", "new"):
            if key in values:
                values[key] = Status(values[key]).label
    if kind == Kind.REPORT and "symptom" in values:
        values["symptom"] = Symptom(values["symptom"]).label
    if kind == Kind.GRADE:
        values["category"] = gbt.Category(values["category"]).label
        values["loss"] = gbt.Loss(values["loss"]).label
        values["grade"] = {1: "I", 2: "II", 3: "III", 4: "IV"}.get(values["grade"], values["grade"])
    return values
