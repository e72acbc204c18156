"""Incidents (事件): the class, the GB/T 20986 grade, the lifecycle and the timeline."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from hisguard.incidents import gbt
from hisguard.organisation.models import Area, Asset, Department, Hospital, InformationSystem


class HospitalClass(models.IntegerChoices):
    """The plan's fault classes; a lower number is more severe."""

    I = 1, _("Class I (whole hospital)")  # noqa: E741
    II = 2, _("Class II (area)")
    III = 3, _("Class III (single point)")


class Status(models.TextChoices):
    REPORTED = "reported", _("Reported")
    CONFIRMED = "confirmed", _("Confirmed")
    RESPONDING = "responding", _("Responding")
    RECOVERING = "recovering", _("Recovering")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


OPEN_STATUSES = [Status.REPORTED, Status.CONFIRMED, Status.RESPONDING, Status.RECOVERING]


class ClassificationPolicy(models.Model):
    """The thresholds of DESIGN §4 for one hospital; defaults are the seed plan's."""

    hospital = models.OneToOneField(
        Hospital, on_delete=models.CASCADE, related_name="classification_policy", verbose_name=_("hospital")
    )
    window_minutes = models.PositiveIntegerField(
        _("correlation window (minutes)"),
        default=10,
        help_text=_("Reports and alerts this close together are counted together and may join one incident."),
    )
    class2_same_switch = models.PositiveIntegerField(_("class II: workstations behind one switch"), default=2)
    class2_same_area = models.PositiveIntegerField(_("class II: workstations in one area"), default=2)
    class2_system_departments = models.PositiveIntegerField(
        _("class II: departments reporting one system"), default=2
    )
    class1_buildings = models.PositiveIntegerField(_("class I: buildings reporting"), default=3)
    class1_department_share = models.PositiveIntegerField(
        _("class I: share of a system's departments reporting (%)"), default=30
    )

    class Meta:
        verbose_name = _("classification policy")
        verbose_name_plural = _("classification policies")

    def __str__(self) -> str:
        return str(self.hospital)


class Incident(models.Model):
    AUDIT_BOOKKEEPING_FIELDS = frozenset({"last_evidence_at", "system_importance", "loss", "gbt_grade"})

    hospital = models.ForeignKey(
        Hospital, on_delete=models.PROTECT, related_name="incidents", verbose_name=_("hospital")
    )
    number = models.CharField(_("number"), max_length=32, unique=True)
    title = models.CharField(_("title"), max_length=200)
    hospital_class = models.PositiveSmallIntegerField(
        _("class"), choices=HospitalClass.choices, default=HospitalClass.III, db_index=True
    )
    class_reasons = models.JSONField(_("classification basis"), default=list, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.REPORTED, db_index=True
    )
    gbt_category = models.CharField(
        _("GB/T 20986 category"),
        max_length=8,
        choices=gbt.Category.choices,
        default=gbt.Category.FACILITY_FAULT,
    )
    system_importance = models.CharField(
        _("system importance"),
        max_length=16,
        choices=InformationSystem.Criticality.choices,
        default=InformationSystem.Criticality.GENERAL,
    )
    loss = models.CharField(_("system loss"), max_length=16, choices=gbt.Loss.choices, default=gbt.Loss.MINOR)
    loss_set_manually = models.BooleanField(default=False)
    gbt_grade = models.PositiveSmallIntegerField(
        _("GB/T 20986 grade"), choices=gbt.Grade.choices, default=gbt.Grade.IV
    )
    is_drill = models.BooleanField(_("drill"), default=False)
    opened_at = models.DateTimeField(_("opened"), db_index=True)
    last_evidence_at = models.DateTimeField(_("last evidence"), db_index=True)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    expected_recovery_at = models.DateTimeField(_("expected recovery"), null=True, blank=True)
    systems = models.ManyToManyField(
        InformationSystem, blank=True, related_name="incidents", verbose_name=_("affected systems")
    )
    areas = models.ManyToManyField(
        Area, blank=True, related_name="incidents", verbose_name=_("affected areas")
    )
    departments = models.ManyToManyField(
        Department, blank=True, related_name="incidents", verbose_name=_("affected departments")
    )
    assets = models.ManyToManyField(
        Asset, blank=True, through="IncidentAsset", related_name="incidents", verbose_name=_("assets")
    )

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["hospital_class", "-opened_at"]
        permissions = [
            ("triage_incident", _("Triage incidents: confirm, note, feedback, work class III")),
            ("classify_incident", _("Change an incident's class and grade")),
            ("command_incident", _("Command class I/II incidents and declare recovery")),
            ("mark_asset_down", _("Mark an asset down or up")),
        ]
        indexes = [models.Index(fields=["hospital", "status", "last_evidence_at"])]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def class_roman(self) -> str:
        return {1: "I", 2: "II", 3: "III"}[self.hospital_class]

    @property
    def owner_role_label(self) -> str:
        """Who the plan makes responsible (处理原则)."""
        from hisguard.core.roles import IT_HEAD, LEADERSHIP, NETWORK_ADMIN, ROLE_LABELS

        role = {1: LEADERSHIP, 2: IT_HEAD, 3: NETWORK_ADMIN}[self.hospital_class]
        return str(ROLE_LABELS[role])


class IncidentAsset(models.Model):
    """An asset taking part in an incident: evidence (a reporting workstation) or known down."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="asset_links")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="incident_links")
    is_down = models.BooleanField(_("down"), default=False)
    since = models.DateTimeField(_("since"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["incident", "asset"], name="unique_incident_asset")]

    def __str__(self) -> str:
        return f"{self.incident_id}:{self.asset_id}"


class TimelineEntry(models.Model):
    """Everything that happened to an incident, written in the transaction of the change."""

    class Kind(models.TextChoices):
        OPENED = "opened", _("Opened")
        REPORT = "report", _("Report attached")
        REPORT_DETACHED = "report_detached", _("Report detached")
        ASSET_DOWN = "asset_down", _("Asset down")
        ASSET_UP = "asset_up", _("Asset up")
        CLASS = "class", _("Class changed")
        GRADE = "grade", _("Grade changed")
        STATUS = "status", _("Status changed")
        NOTE = "note", _("Note")
        FEEDBACK = "feedback", _("Feedback to reporters")
        MAINTENANCE = "maintenance", _("Maintenance logged")
        ALERT = "alert", _("Alert firing")
        ALERT_RESOLVED = "alert_resolved", _("Alert resolved")
        ESCALATION = "escalation", _("Escalation")
        NOTIFICATION = "notification", _("Notification")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        BROADCAST = "broadcast", _("Broadcast")
        EMERGENCY = "emergency", _("Emergency declared or ended")
        TASK = "task", _("Task")
        RECOVERY = "recovery", _("Recovery")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(_("time"), db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=150, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    data = models.JSONField(default=dict, blank=True)
    text = models.TextField(_("text"), blank=True)
    public = models.BooleanField(_("shown to reporters"), default=False)

    class Meta:
        verbose_name = _("timeline entry")
        verbose_name_plural = _("timeline entries")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M} {self.kind}"


class MaintenanceLog(models.Model):
    """维护登记: what was done to which asset. Closing a class III incident needs one."""

    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="maintenance_logs")
    asset = models.ForeignKey(
        Asset, on_delete=models.PROTECT, related_name="maintenance_logs", verbose_name=_("asset")
    )
    incident = models.ForeignKey(
        Incident,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="maintenance_logs",
        verbose_name=_("incident"),
    )
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, verbose_name=_("performed by")
    )
    performed_at = models.DateTimeField(_("performed at"))
    fault = models.CharField(_("fault found"), max_length=500)
    action = models.TextField(_("what was done"), max_length=2000)
    result = models.CharField(_("result"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("maintenance log entry")
        verbose_name_plural = _("maintenance log")
        ordering = ["-performed_at"]

    def __str__(self) -> str:
        return f"{self.performed_at:%Y-%m-%d} {self.asset}"
