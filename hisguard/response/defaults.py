"""Default playbooks, manual procedures, paper forms and recovery checks, from data files.

The files (YAML, Chinese and English) live in hisguard/response/data/ or in the directory
HISGUARD_RESPONSE_DATA_DIR names. `ensure_defaults(hospital)` copies them into a hospital
that exists; it adds what is missing and never overwrites what the hospital has edited.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction

from hisguard.core import audit
from hisguard.incidents import gbt
from hisguard.organisation.models import Asset, Department, Hospital, InformationSystem
from hisguard.response.models import (
    Contact,
    ContactKind,
    CrisisRole,
    DowntimeProcedure,
    FormStock,
    PaperForm,
    Playbook,
    PlaybookStep,
)

DATA_DIR = Path(__file__).resolve().parent / "data"


class DataFileError(ValueError):
    """A default data file is malformed; the message names the file and the entry."""


def data_dir() -> Path:
    configured = getattr(settings, "HISGUARD_RESPONSE_DATA_DIR", "")
    return Path(configured) if configured else DATA_DIR


def _load(name: str) -> dict[str, Any]:
    path = data_dir() / name
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise DataFileError(f"{path}: expected a mapping at the top")
    return data


def _texts(value: Any, where: str, *, required: bool = True) -> tuple[str, str]:
    """{zh: …, en: …} → (zh, en)."""
    if value is None and not required:
        return "", ""
    if not isinstance(value, dict) or (required and not str(value.get("zh", "")).strip()):
        raise DataFileError(f"{where}: give the text as {{zh: …, en: …}}")
    return str(value.get("zh", "")).strip(), str(value.get("en", "")).strip()


@dataclass(frozen=True)
class StepSpec:
    title: tuple[str, str]
    instructions: tuple[str, str]
    owner_role: str
    target_minutes: int
    evidence: tuple[str, str]
    contact_kind: str


@dataclass(frozen=True)
class PlaybookSpec:
    code: str
    order: int
    name: tuple[str, str]
    description: tuple[str, str]
    categories: list[str]
    asset_kinds: list[str]
    classes: list[int]
    auto_attach: bool
    steps: list[StepSpec] = field(default_factory=list)


@dataclass(frozen=True)
class FormSpec:
    code: str
    name: tuple[str, str]
    min_stock: int


@dataclass(frozen=True)
class ProcedureSpec:
    code: str
    title: tuple[str, str]
    steps: tuple[str, str]
    kinds: list[str]
    codes: list[str]
    systems: list[str]
    switch_after: int
    switch_latest: int | None
    forms: list[str]


def _choice_list(values: Any, allowed: set, where: str) -> list:
    values = list(values or [])
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise DataFileError(f"{where}: unknown {unknown}")
    return values


@functools.cache
def playbook_specs() -> list[PlaybookSpec]:
    data = _load("playbooks.yaml")
    specs = []
    for index, entry in enumerate(data.get("playbooks") or []):
        where = f"playbooks.yaml playbook {index + 1} ({entry.get('code', '?')})"
        match = entry.get("match") or {}
        steps = []
        for number, step in enumerate(entry.get("steps") or [], start=1):
            at = f"{where} step {number}"
            role = step.get("owner")
            if role not in CrisisRole.values:
                raise DataFileError(f"{at}: owner must be one of {CrisisRole.values}")
            minutes = step.get("target_minutes")
            if not isinstance(minutes, int) or minutes < 0:
                raise DataFileError(f"{at}: target_minutes must be a whole number ≥ 0")
            contact = step.get("contact", "") or ""
            if contact and contact not in ContactKind.values:
                raise DataFileError(f"{at}: contact must be one of {ContactKind.values}")
            steps.append(
                StepSpec(
                    title=_texts(step.get("title"), at),
                    instructions=_texts(step.get("instructions"), at, required=False),
                    owner_role=role,
                    target_minutes=minutes,
                    evidence=_texts(step.get("evidence"), at, required=False),
                    contact_kind=contact,
                )
            )
        if not steps:
            raise DataFileError(f"{where}: a playbook needs steps")
        specs.append(
            PlaybookSpec(
                code=str(entry["code"]),
                order=int(entry.get("order", 100)),
                name=_texts(entry.get("name"), where),
                description=_texts(entry.get("description"), where, required=False),
                categories=_choice_list(match.get("categories"), set(gbt.Category.values), where),
                asset_kinds=_choice_list(match.get("asset_kinds"), set(Asset.Kind.values), where),
                classes=_choice_list(match.get("classes"), {1, 2, 3}, where),
                auto_attach=bool(entry.get("auto_attach", True)),
                steps=steps,
            )
        )
    return specs


@functools.cache
def _procedure_data() -> tuple[list[FormSpec], list[ProcedureSpec]]:
    data = _load("procedures.yaml")
    forms = [
        FormSpec(
            str(f["code"]),
            _texts(f.get("name"), f"procedures.yaml form {f.get('code')}"),
            int(f.get("min_stock", 0)),
        )
        for f in data.get("forms") or []
    ]
    form_codes = {f.code for f in forms}
    procedures = []
    for entry in data.get("procedures") or []:
        where = f"procedures.yaml procedure {entry.get('code', '?')}"
        departments = entry.get("departments") or {}
        unknown_forms = set(entry.get("forms") or []) - form_codes
        if unknown_forms:
            raise DataFileError(f"{where}: unknown forms {sorted(unknown_forms)}")
        switch_after = entry.get("switch_after_minutes")
        if not isinstance(switch_after, int) or switch_after < 0:
            raise DataFileError(f"{where}: switch_after_minutes must be a whole number ≥ 0")
        procedures.append(
            ProcedureSpec(
                code=str(entry["code"]),
                title=_texts(entry.get("title"), where),
                steps=_texts(entry.get("steps"), where),
                kinds=_choice_list(departments.get("kinds"), set(Department.Kind.values), where),
                codes=[str(c) for c in departments.get("codes") or []],
                systems=[str(s) for s in entry.get("systems") or []],
                switch_after=switch_after,
                switch_latest=entry.get("switch_latest_minutes"),
                forms=list(entry.get("forms") or []),
            )
        )
    return forms, procedures


def form_specs() -> list[FormSpec]:
    return _procedure_data()[0]


def procedure_specs() -> list[ProcedureSpec]:
    return _procedure_data()[1]


@functools.cache
def recovery_checks(system_code: str) -> list[tuple[str, str]]:
    data = _load("recovery.yaml")
    items = list(data.get("common") or []) + list((data.get("systems") or {}).get(system_code) or [])
    return [_texts(item, f"recovery.yaml {system_code}") for item in items]


def clear_cache() -> None:
    playbook_specs.cache_clear()
    _procedure_data.cache_clear()
    recovery_checks.cache_clear()


@dataclass
class DefaultsSummary:
    playbooks: int = 0
    steps: int = 0
    forms: int = 0
    procedures: int = 0
    stock_rows: int = 0
    contacts: int = 0


@transaction.atomic
def ensure_defaults(hospital: Hospital, *, stock: int | None = None) -> DefaultsSummary:
    """Load the default playbooks, forms and manual procedures into `hospital`.

    Idempotent: what exists (by code) is left as the hospital edited it. `stock`, when given,
    sets that many of each form in each department that has none counted yet (for a demo).
    """
    summary = DefaultsSummary()
    for spec in playbook_specs():
        playbook, created = Playbook.objects.get_or_create(
            hospital=hospital,
            code=spec.code,
            defaults={
                "name": spec.name[0],
                "name_en": spec.name[1],
                "description": spec.description[0],
                "description_en": spec.description[1],
                "match_categories": spec.categories,
                "match_asset_kinds": spec.asset_kinds,
                "match_classes": spec.classes,
                "auto_attach": spec.auto_attach,
                "order": spec.order,
            },
        )
        if not created:
            continue
        summary.playbooks += 1
        PlaybookStep.objects.bulk_create(
            PlaybookStep(
                playbook=playbook,
                order=(number + 1) * 10,
                title=step.title[0],
                title_en=step.title[1],
                instructions=step.instructions[0],
                instructions_en=step.instructions[1],
                owner_role=step.owner_role,
                target_minutes=step.target_minutes,
                evidence=step.evidence[0],
                evidence_en=step.evidence[1],
                contact_kind=step.contact_kind,
            )
            for number, step in enumerate(spec.steps)
        )
        summary.steps += len(spec.steps)

    forms: dict[str, PaperForm] = {}
    minimum = {spec.code: spec.min_stock for spec in form_specs()}
    for form_spec in form_specs():
        form, created = PaperForm.objects.get_or_create(
            hospital=hospital,
            code=form_spec.code,
            defaults={"name": form_spec.name[0], "name_en": form_spec.name[1]},
        )
        forms[form_spec.code] = form
        summary.forms += int(created)

    systems = {s.code: s for s in InformationSystem.objects.filter(hospital=hospital)}
    code_of = {s.pk: c for c, s in systems.items()}
    uses: dict[int, set[str]] = {}
    for system_id, department_id in InformationSystem.departments.through.objects.filter(
        informationsystem__hospital=hospital
    ).values_list("informationsystem_id", "department_id"):
        uses.setdefault(department_id, set()).add(code_of[system_id])
    for department in Department.objects.filter(hospital=hospital):
        for proc in procedure_specs():
            if department.kind not in proc.kinds and department.code not in proc.codes:
                continue
            for code in proc.systems:
                if code not in systems or code not in uses.get(department.pk, set()):
                    continue
                procedure, created = DowntimeProcedure.objects.get_or_create(
                    department=department,
                    system=systems[code],
                    code=proc.code,
                    defaults={
                        "hospital": hospital,
                        "title": proc.title[0],
                        "title_en": proc.title[1],
                        "steps": proc.steps[0],
                        "steps_en": proc.steps[1],
                        "switch_after_minutes": proc.switch_after,
                        "switch_latest_minutes": proc.switch_latest,
                    },
                )
                if not created:
                    continue
                summary.procedures += 1
                procedure.forms.set([forms[c] for c in proc.forms])
                for form_code in proc.forms:
                    _row, made = FormStock.objects.get_or_create(
                        form=forms[form_code],
                        department=department,
                        defaults={"min_quantity": minimum[form_code], "quantity": stock or 0},
                    )
                    summary.stock_rows += int(made)

    # Every system vendor the hospital model names becomes a contact to complete.
    for vendor in sorted({s.vendor for s in systems.values() if s.vendor}):
        contact, created = Contact.objects.get_or_create(
            hospital=hospital, kind=ContactKind.VENDOR, organisation=vendor
        )
        if created:
            summary.contacts += 1
            contact.systems.set([s for s in systems.values() if s.vendor == vendor])
    audit.record("response.defaults", hospital, **summary.__dict__)
    return summary
