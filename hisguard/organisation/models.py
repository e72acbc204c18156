"""The hospital as the plan sees it: campuses, areas, departments, assets, systems, people."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

code_validator = RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", _("Use letters, digits, '.', '-' or '_'."))
phone_validator = RegexValidator(r"^\+?[0-9][0-9\- ]{2,19}$", _("Enter a phone number of digits (3 to 20)."))


def new_report_token() -> str:
    return secrets.token_urlsafe(16)


class Hospital(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True, validators=[code_validator])
    name = models.CharField(_("name"), max_length=100)
    time_zone = models.CharField(_("time zone"), max_length=50, default="Asia/Shanghai")

    class Meta:
        verbose_name = _("hospital")
        verbose_name_plural = _("hospitals")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Area(models.Model):
    """A building, floor or zone (片区). Buildings are the areas without a parent."""

    class Kind(models.TextChoices):
        BUILDING = "building", _("Building")
        FLOOR = "floor", _("Floor")
        ZONE = "zone", _("Zone")

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="areas", verbose_name=_("hospital")
    )
    code = models.CharField(_("code"), max_length=32, validators=[code_validator])
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.BUILDING)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("within"),
    )

    class Meta:
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        ordering = ["hospital", "code"]
        constraints = [models.UniqueConstraint(fields=["hospital", "code"], name="unique_area_code")]

    def __str__(self) -> str:
        return f"{self.parent.name} {self.name}" if self.parent_id and self.parent else self.name

    @property
    def building(self) -> Area:
        area = self
        while area.parent_id is not None and area.parent is not None:
            area = area.parent
        return area


class Department(models.Model):
    class Kind(models.TextChoices):
        CLINICAL = "clinical", _("Clinical (outpatient)")
        WARD = "ward", _("Ward")
        MEDTECH = "medtech", _("Medical technology")
        ADMINISTRATIVE = "administrative", _("Administrative")
        SUPPORT = "support", _("Support")

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="departments", verbose_name=_("hospital")
    )
    code = models.CharField(_("code"), max_length=32, validators=[code_validator])
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.CLINICAL)
    area = models.ForeignKey(
        Area,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="departments",
        verbose_name=_("area"),
    )
    beds = models.PositiveIntegerField(_("beds"), default=0)
    phone = models.CharField(_("phone"), max_length=20, blank=True, validators=[phone_validator])

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["hospital", "code"]
        constraints = [models.UniqueConstraint(fields=["hospital", "code"], name="unique_department_code")]

    def __str__(self) -> str:
        return self.name


class Asset(models.Model):
    """Anything that can fail: a workstation, a switch, a server, a link, the machine-room power."""

    class Kind(models.TextChoices):
        WORKSTATION = "workstation", _("Workstation")
        TERMINAL = "terminal", _("Terminal (printer, kiosk, handheld)")
        ACCESS_SWITCH = "access_switch", _("Access switch")
        DISTRIBUTION_SWITCH = "distribution_switch", _("Distribution switch")
        CORE_SWITCH = "core_switch", _("Core switch")
        AREA_LINK = "area_link", _("Area link")
        BACKBONE_LINK = "backbone_link", _("Backbone link (fibre)")
        SERVER = "server", _("Server")
        DATABASE = "database", _("Database")
        STORAGE = "storage", _("Storage")
        POWER = "power", _("Machine-room power / UPS")
        COOLING = "cooling", _("Machine-room cooling")

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="assets", verbose_name=_("hospital")
    )
    hostname = models.CharField(
        _("hostname / code"),
        max_length=64,
        unique=True,
        validators=[code_validator],
        help_text=_("Unique name of the asset, used by reports and the API."),
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices, db_index=True)
    area = models.ForeignKey(
        Area, null=True, blank=True, on_delete=models.PROTECT, related_name="assets", verbose_name=_("area")
    )
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assets",
        verbose_name=_("owner department"),
    )
    upstream = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="downstream",
        verbose_name=_("upstream (network uplink)"),
    )
    depends_on = models.ManyToManyField(
        "self", blank=True, symmetrical=False, related_name="dependents", verbose_name=_("depends on")
    )
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    location = models.CharField(_("location"), max_length=100, blank=True, help_text=_("Room, bed or desk."))
    report_token = models.CharField(max_length=32, unique=True, default=new_report_token, editable=False)
    is_active = models.BooleanField(_("in service"), default=True)

    class Meta:
        verbose_name = _("asset")
        verbose_name_plural = _("assets")
        ordering = ["hostname"]

    def __str__(self) -> str:
        return (
            f"{self.hostname} {self.name}".strip()
            if self.name and self.name != self.hostname
            else self.hostname
        )

    @property
    def is_reporting_point(self) -> bool:
        return self.kind in REPORTING_KINDS

    def upstream_chain(self) -> list[Asset]:
        """The network path from this asset up to the core, nearest first."""
        chain: list[Asset] = []
        seen = {self.pk}
        node = self.upstream
        while node is not None and node.pk not in seen:
            chain.append(node)
            seen.add(node.pk)
            node = node.upstream
        return chain


REPORTING_KINDS = {Asset.Kind.WORKSTATION, Asset.Kind.TERMINAL}
# What taking a report from a workstation reads, loaded with it in one query: its place, its
# network path up to the core (access → distribution → core) and its hospital's thresholds.
REPORTER_RELATIONS = (
    "hospital__classification_policy",
    "department",
    "area__parent__parent",
    "upstream__upstream__upstream",
)
SWITCH_KINDS = {Asset.Kind.ACCESS_SWITCH, Asset.Kind.DISTRIBUTION_SWITCH, Asset.Kind.CORE_SWITCH}


class InformationSystem(models.Model):
    class Criticality(models.TextChoices):
        # GB/T 20986 importance of the system, which drives the event grade.
        CRITICAL = "critical", _("Especially important")
        IMPORTANT = "important", _("Important")
        GENERAL = "general", _("General")

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="systems", verbose_name=_("hospital")
    )
    code = models.CharField(_("code"), max_length=32, validators=[code_validator])
    name = models.CharField(_("name"), max_length=100)
    criticality = models.CharField(
        _("criticality"), max_length=16, choices=Criticality.choices, default=Criticality.IMPORTANT
    )
    dr_level = models.PositiveSmallIntegerField(
        _("disaster recovery level (GB/T 20988, 1–6)"), default=3, choices=[(i, str(i)) for i in range(1, 7)]
    )
    rto_minutes = models.PositiveIntegerField(_("RTO (minutes)"), default=240)
    rpo_minutes = models.PositiveIntegerField(_("RPO (minutes)"), default=15)
    vendor = models.CharField(_("vendor"), max_length=100, blank=True)
    depends_on = models.ManyToManyField(
        Asset, blank=True, related_name="systems", verbose_name=_("depends on assets")
    )
    departments = models.ManyToManyField(
        Department, blank=True, related_name="systems", verbose_name=_("used by departments")
    )

    class Meta:
        verbose_name = _("information system")
        verbose_name_plural = _("information systems")
        ordering = ["hospital", "code"]
        constraints = [models.UniqueConstraint(fields=["hospital", "code"], name="unique_system_code")]

    def __str__(self) -> str:
        return self.name if self.name == self.code else f"{self.code} {self.name}"


class Person(models.Model):
    class Position(models.TextChoices):
        LEADER = "leader", _("Leading group leader")
        DEPUTY_LEADER = "deputy_leader", _("Leading group deputy leader")
        MEMBER = "member", _("Leading group member")
        HOSPITAL_LEADER = "hospital_leader", _("Hospital leader")
        IT_HEAD = "it_head", _("IT head")
        NETWORK_ADMIN = "network_admin", _("Network administrator")
        IT_ENGINEER = "it_engineer", _("IT engineer")
        DEPARTMENT_HEAD = "department_head", _("Department head")
        HEAD_NURSE = "head_nurse", _("Head nurse")
        DOCTOR = "doctor", _("Doctor")
        NURSE = "nurse", _("Nurse")
        CASHIER = "cashier", _("Registration / billing clerk")
        EMERGENCY_OFFICER = "emergency_officer", _("Emergency office staff")
        OTHER = "other", _("Other")

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="people", verbose_name=_("hospital")
    )
    employee_no = models.CharField(
        _("employee number"), max_length=32, unique=True, validators=[code_validator]
    )
    name = models.CharField(_("name"), max_length=50)
    position = models.CharField(
        _("position"), max_length=24, choices=Position.choices, default=Position.OTHER
    )
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="people",
        verbose_name=_("department"),
    )
    phone = models.CharField(_("mobile phone"), max_length=20, blank=True, validators=[phone_validator])
    email = models.EmailField(_("email"), blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="person",
        verbose_name=_("login"),
    )
    language = models.CharField(
        _("message language"), max_length=8, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["employee_no"]

    def __str__(self) -> str:
        return self.name
