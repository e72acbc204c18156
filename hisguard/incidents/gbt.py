"""GB/T 20986 (GB/Z 20986-2007 §5–6): event category, and grade from importance × loss."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Category(models.TextChoices):
    MALWARE = "MI", _("Harmful program (malware, virus, ransomware)")
    NETWORK_ATTACK = "NAI", _("Network attack")
    INFORMATION_DESTRUCTION = "IDI", _("Information destruction (data tampering, loss)")
    CONTENT_SECURITY = "ICSI", _("Information content security")
    FACILITY_FAULT = "FF", _("Equipment and facility fault")
    DISASTER = "DI", _("Disaster")
    OTHER = "OI", _("Other information security event")


class Loss(models.TextChoices):
    EXTREME = "extreme", _("Especially serious loss")
    SERIOUS = "serious", _("Serious loss")
    CONSIDERABLE = "considerable", _("Considerable loss")
    MINOR = "minor", _("Minor loss")


class Grade(models.IntegerChoices):
    I = 1, _("Grade I (especially major)")  # noqa: E741
    II = 2, _("Grade II (major)")
    III = 3, _("Grade III (large)")
    IV = 4, _("Grade IV (general)")


# Rows: system importance (InformationSystem.Criticality values); columns: loss.
GRADE_TABLE: dict[str, dict[str, int]] = {
    "critical": {"extreme": 1, "serious": 2, "considerable": 3, "minor": 4},
    "important": {"extreme": 2, "serious": 3, "considerable": 4, "minor": 4},
    "general": {"extreme": 3, "serious": 4, "considerable": 4, "minor": 4},
}


def grade(importance: str, loss: str) -> int:
    return GRADE_TABLE[importance][loss]


# The loss a hospital class implies until a person assesses it.
DEFAULT_LOSS_BY_CLASS = {1: Loss.SERIOUS, 2: Loss.CONSIDERABLE, 3: Loss.MINOR}

IMPORTANCE_ORDER = ["critical", "important", "general"]


def highest_importance(values: list[str]) -> str:
    for level in IMPORTANCE_ORDER:
        if level in values:
            return level
    return "general"
