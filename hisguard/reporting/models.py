"""Fault reports (报告程序): what a workstation or a phone call tells IT."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from hisguard.organisation.models import Area, Asset, Department, Hospital, InformationSystem


def new_status_token() -> str:
    return secrets.token_urlsafe(12)


class Symptom(models.TextChoices):
    """The plan's wording: 不能进入相应程序、不能保存数据、不能访问网络、应用程序非连续性工作."""

    CANNOT_ENTER = "cannot_enter", _("Cannot enter the program")
    CANNOT_SAVE = "cannot_save", _("Cannot save data")
    NO_NETWORK = "no_network", _("Cannot reach the network")
    INTERMITTENT = "intermittent", _("Works intermittently")
    OTHER = "other", _("Other")


class Channel(models.TextChoices):
    WORKSTATION = "workstation", _("Workstation page")
    PHONE = "phone", _("Phone call to IT")
    API = "api", _("API")


class FaultReport(models.Model):
    hospital = models.ForeignKey(
        Hospital, on_delete=models.PROTECT, related_name="reports", verbose_name=_("hospital")
    )
    tracking_number = models.CharField(_("tracking number"), max_length=20, unique=True)
    status_token = models.CharField(max_length=24, unique=True, default=new_status_token, editable=False)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    workstation = models.ForeignKey(
        Asset,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reports",
        verbose_name=_("workstation"),
    )
    # Where the workstation stood when it reported, kept so later topology edits do not
    # rewrite history and so correlation needs no joins.
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reports",
        verbose_name=_("department"),
    )
    area = models.ForeignKey(Area, null=True, blank=True, on_delete=models.PROTECT, related_name="reports")
    building = models.ForeignKey(Area, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    access_switch = models.ForeignKey(
        Asset, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    system = models.ForeignKey(
        InformationSystem,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reports",
        verbose_name=_("affected system"),
    )
    symptom = models.CharField(_("symptom"), max_length=16, choices=Symptom.choices)
    text = models.TextField(_("description"), blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=20, blank=True)
    reporter_name = models.CharField(_("reporter"), max_length=50, blank=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("taken by"),
    )
    created_at = models.DateTimeField(_("reported at"), db_index=True)
    incident = models.ForeignKey(
        "incidents.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports",
        verbose_name=_("incident"),
        db_index=False,  # the (incident, …) indexes below lead with it
    )

    class Meta:
        verbose_name = _("fault report")
        verbose_name_plural = _("fault reports")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["workstation", "created_at"]),
            # Correlation asks, of each open incident, whether one of its reports names this
            # system, came from this workstation or from behind this switch: one seek each,
            # however many reports name that system over the years.
            models.Index(fields=["incident", "system"]),
            models.Index(fields=["incident", "workstation"]),
            models.Index(fields=["incident", "access_switch"]),
        ]

    def __str__(self) -> str:
        return self.tracking_number
