"""Monitoring (监测和检测, 预警): active checks, heartbeats, alerts from existing monitors.

High-volume tables (samples, rollups, state, alerts) are kept narrow and are not copied into
the audit log; the configuration (checks, heartbeats, sources, rules, windows, networks) is.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from hisguard.organisation.models import Asset, Hospital, InformationSystem


def validate_cidr(value: str) -> None:
    try:
        ipaddress.ip_network(value.strip(), strict=False)
    except ValueError as exc:
        raise ValidationError(_("Enter a network such as 10.1.0.0/16 or an address.")) from exc


def validate_regex(value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(_("Not a valid regular expression: %(error)s"), params={"error": exc}) from exc


def new_ping_token() -> str:
    return secrets.token_urlsafe(18)


class AllowedNetwork(models.Model):
    """A network the checker may contact. Loopback is always allowed (settings); the rest is
    what the administrator adds here — an active checker is a server-side request tool."""

    cidr = models.CharField(_("network (CIDR)"), max_length=49, unique=True, validators=[validate_cidr])
    description = models.CharField(_("description"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        verbose_name = _("allowed network")
        verbose_name_plural = _("allowed networks")
        ordering = ["cidr"]

    def __str__(self) -> str:
        return self.cidr

    def save(self, *args, **kwargs) -> None:
        self.cidr = str(ipaddress.ip_network(self.cidr.strip(), strict=False))
        super().save(*args, **kwargs)


class State(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    UP = "up", _("Up")
    DOWN = "down", _("Down")


class ActiveCheck(models.Model):
    """One thing HISGuard checks itself, every `interval_seconds`."""

    class Kind(models.TextChoices):
        PING = "ping", _("Ping (ICMP)")
        TCP = "tcp", _("TCP port")
        HTTP = "http", _("HTTP(S)")
        TLS = "tls", _("TLS certificate")
        DNS = "dns", _("DNS")
        DATABASE = "database", _("Database query")
        SNMP = "snmp", _("SNMP interface")

    class Engine(models.TextChoices):
        POSTGRESQL = "postgresql", "PostgreSQL"
        SQLITE = "sqlite", "SQLite"
        MYSQL = "mysql", "MySQL / MariaDB"
        SQLSERVER = "sqlserver", "SQL Server"
        ORACLE = "oracle", "Oracle"

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="active_checks", verbose_name=_("hospital")
    )
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    asset = models.ForeignKey(
        Asset,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="active_checks",
        verbose_name=_("asset"),
        help_text=_("When the check is down, this asset is down."),
    )
    system = models.ForeignKey(
        InformationSystem,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="active_checks",
        verbose_name=_("information system"),
        help_text=_("When the check is down, this system is down."),
    )
    host = models.CharField(
        _("host"), max_length=255, blank=True, help_text=_("Name or address; for SQLite the file path.")
    )
    port = models.PositiveIntegerField(
        _("port"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    url = models.CharField(_("URL"), max_length=500, blank=True, help_text=_("For HTTP(S) checks."))
    expected_status = models.CharField(
        _("expected HTTP status"), max_length=50, default="200-399", help_text=_("e.g. 200 or 200-299,302")
    )
    keyword = models.CharField(_("expected keyword"), max_length=200, blank=True)
    verify_tls = models.BooleanField(_("verify the TLS certificate"), default=True)
    warn_days = models.PositiveSmallIntegerField(_("warn days before certificate expiry"), default=30)
    dns_name = models.CharField(_("DNS name to resolve"), max_length=255, blank=True)
    dns_type = models.CharField(_("DNS record type"), max_length=10, default="A")
    expected = models.CharField(
        _("expected answer"), max_length=255, blank=True, help_text=_("DNS answer or first query value.")
    )
    db_engine = models.CharField(_("database engine"), max_length=16, choices=Engine.choices, blank=True)
    db_name = models.CharField(_("database name"), max_length=100, blank=True)
    db_user = models.CharField(_("database user"), max_length=100, blank=True)
    password = models.CharField(
        _("password / SNMP community"),
        max_length=200,
        blank=True,
        help_text=_("Use a read-only monitoring account. Never shown in the audit log."),
    )
    query = models.CharField(_("query"), max_length=1000, default="SELECT 1", blank=True)
    snmp_if_index = models.PositiveIntegerField(_("SNMP interface index"), null=True, blank=True)
    interval_seconds = models.PositiveIntegerField(
        _("interval (seconds)"), default=60, validators=[MinValueValidator(5), MaxValueValidator(86400)]
    )
    timeout_seconds = models.FloatField(
        _("timeout (seconds)"), default=5, validators=[MinValueValidator(0.1), MaxValueValidator(120)]
    )
    retries = models.PositiveSmallIntegerField(
        _("retries before down"),
        default=2,
        validators=[MaxValueValidator(20)],
        help_text=_("A failure is retried this many times before the check counts as down."),
    )
    retry_interval_seconds = models.PositiveIntegerField(
        _("retry interval (seconds)"), default=10, validators=[MinValueValidator(1)]
    )
    latency_warn_ms = models.PositiveIntegerField(
        _("latency warning threshold (ms)"),
        null=True,
        blank=True,
        help_text=_("Slower answers raise an early warning (degraded)."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("active check")
        verbose_name_plural = _("active checks")
        ordering = ["hospital", "name"]
        permissions = [
            ("manage_monitoring", _("Manage checks, heartbeats, intake sources and alert mapping"))
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def target_label(self) -> str:
        if self.kind == self.Kind.HTTP:
            return self.url
        if self.kind == self.Kind.DNS:
            return f"{self.dns_name} @{self.host}"
        return f"{self.host}:{self.port}" if self.port else self.host

    @property
    def failures_to_down(self) -> int:
        return self.retries + 1


class CheckState(models.Model):
    """What the checker last decided about a check; written only when something changes."""

    active_check = models.OneToOneField(
        ActiveCheck, primary_key=True, on_delete=models.CASCADE, related_name="status"
    )
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.UNKNOWN)
    since = models.DateTimeField(_("since"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    degraded = models.BooleanField(_("degraded"), default=False)
    cert_expires_at = models.DateTimeField(_("certificate expires"), null=True, blank=True)

    class Meta:
        verbose_name = _("check state")
        verbose_name_plural = _("check states")

    def __str__(self) -> str:
        return f"{self.active_check_id} {self.state}"


class StateChange(models.Model):
    active_check = models.ForeignKey(ActiveCheck, on_delete=models.CASCADE, related_name="state_changes")
    at = models.DateTimeField(_("time"))
    old_state = models.CharField(max_length=8, choices=State.choices)
    new_state = models.CharField(max_length=8, choices=State.choices)
    error = models.CharField(_("error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("state change")
        verbose_name_plural = _("state changes")
        indexes = [models.Index(fields=["active_check", "at"])]

    def __str__(self) -> str:
        return f"{self.active_check_id} {self.old_state}→{self.new_state}"


class Sample(models.Model):
    """One check result. Narrow on purpose: the primary key is (check, time), nothing else
    is indexed, and old rows become hourly rollups (see `retention.py`)."""

    pk = models.CompositePrimaryKey("active_check", "at")
    active_check = models.ForeignKey(
        ActiveCheck, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    at = models.DateTimeField()
    ok = models.BooleanField()
    latency_ms = models.FloatField(null=True)

    class Meta:
        verbose_name = _("sample")
        verbose_name_plural = _("samples")

    def __str__(self) -> str:
        return f"{self.active_check_id}@{self.at:%Y-%m-%d %H:%M:%S}"


class Rollup(models.Model):
    """One hour of samples of one check, kept after the raw samples expire."""

    pk = models.CompositePrimaryKey("active_check", "hour")
    active_check = models.ForeignKey(
        ActiveCheck, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    hour = models.DateTimeField()
    count = models.PositiveIntegerField()
    ok_count = models.PositiveIntegerField()
    latency_min = models.FloatField(null=True)
    latency_avg = models.FloatField(null=True)
    latency_max = models.FloatField(null=True)

    class Meta:
        verbose_name = _("hourly rollup")
        verbose_name_plural = _("hourly rollups")

    def __str__(self) -> str:
        return f"{self.active_check_id}@{self.hour:%Y-%m-%d %H}"


class Heartbeat(models.Model):
    """A push monitor (dead man's switch): a backup job or interface engine calls its URL."""

    class HState(models.TextChoices):
        NEW = "new", _("Waiting for the first ping")
        UP = "up", _("Up")
        LATE = "late", _("Late")
        DOWN = "down", _("Down")

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="heartbeats", verbose_name=_("hospital")
    )
    name = models.CharField(_("name"), max_length=100)
    asset = models.ForeignKey(
        Asset,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="heartbeats",
        verbose_name=_("asset"),
    )
    system = models.ForeignKey(
        InformationSystem,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="heartbeats",
        verbose_name=_("information system"),
    )
    ping_token = models.CharField(max_length=40, unique=True, default=new_ping_token, editable=False)
    period_seconds = models.PositiveIntegerField(
        _("expected every (seconds)"), default=86400, validators=[MinValueValidator(10)]
    )
    grace_seconds = models.PositiveIntegerField(
        _("grace (seconds)"), default=3600, help_text=_("Late for longer than this: an alert.")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    state = models.CharField(_("state"), max_length=8, choices=HState.choices, default=HState.NEW)
    last_ping_at = models.DateTimeField(_("last ping"), null=True, blank=True)
    last_failure_at = models.DateTimeField(_("last failure reported"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")
        ordering = ["hospital", "name"]

    def __str__(self) -> str:
        return self.name

    def due_at(self) -> datetime.datetime:
        start = self.last_ping_at or self.created_at
        return start + datetime.timedelta(seconds=self.period_seconds)

    def dead_at(self) -> datetime.datetime:
        return self.due_at() + datetime.timedelta(seconds=self.grace_seconds)


class IntakeSource(models.Model):
    """An existing monitor that sends alerts in, with its own token and rate limit."""

    class Kind(models.TextChoices):
        ALERTMANAGER = "alertmanager", _("Prometheus Alertmanager")
        GRAFANA = "grafana", _("Grafana alerting")
        ZABBIX = "zabbix", _("Zabbix")
        GENERIC = "generic", _("Generic JSON")

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="intake_sources", verbose_name=_("hospital")
    )
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("token prefix"), max_length=10, editable=False, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(
        _("alerts per minute (0 = no limit)"),
        default=60000,
        help_text=_("Past this, batches without resolve notices get 429 and Retry-After."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    window_start = models.DateTimeField(null=True, blank=True, editable=False)
    window_count = models.PositiveIntegerField(default=0, editable=False)
    last_received_at = models.DateTimeField(_("last received"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("alert intake source")
        verbose_name_plural = _("alert intake sources")
        ordering = ["hospital", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    def issue_token(self) -> str:
        """A new token (shown once); the old one stops working when the row is saved."""
        raw = "hgi_" + secrets.token_urlsafe(32)
        self.token_hash, self.prefix = self.hash(raw), raw[:10]
        return raw


class MappingRule(models.Model):
    """Ordered rule: when label `label` matches `pattern`, the alert belongs to the asset and/or
    system named by the templates ({group} from the pattern's named groups or {label})."""

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="mapping_rules", verbose_name=_("hospital")
    )
    order = models.PositiveIntegerField(_("order"), default=100)
    label = models.CharField(_("label"), max_length=100)
    pattern = models.CharField(_("regular expression"), max_length=300, validators=[validate_regex])
    asset_template = models.CharField(_("asset hostname template"), max_length=200, blank=True)
    system_template = models.CharField(_("system code template"), max_length=200, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    description = models.CharField(_("description"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("alert mapping rule")
        verbose_name_plural = _("alert mapping rules")
        ordering = ["hospital", "order", "id"]

    def __str__(self) -> str:
        return f"{self.label} =~ {self.pattern}"

    def clean(self) -> None:
        if not self.asset_template and not self.system_template:
            raise ValidationError(_("Give an asset template, a system template or both."))


class AlertSource(models.TextChoices):
    CHECK = "check", _("Active check")
    HEARTBEAT = "heartbeat", _("Heartbeat")
    ALERTMANAGER = "alertmanager", _("Prometheus Alertmanager")
    GRAFANA = "grafana", _("Grafana alerting")
    ZABBIX = "zabbix", _("Zabbix")
    GENERIC = "generic", _("Generic JSON")


class Alert(models.Model):
    """One alert occurrence: firing until a resolve notice (or the check's recovery) comes."""

    class Status(models.TextChoices):
        FIRING = "firing", _("Firing")
        RESOLVED = "resolved", _("Resolved")

    class Mapping(models.TextChoices):
        NONE = "", _("Unmapped")
        SOURCE = "source", _("By its check or heartbeat")
        RULE = "rule", _("By a mapping rule")
        LABEL = "label", _("By a label naming it")
        MANUAL = "manual", _("By a person")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="alerts")
    source = models.CharField(_("source"), max_length=16, choices=AlertSource.choices)
    intake_source = models.ForeignKey(
        IntakeSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    active_check = models.ForeignKey(
        ActiveCheck, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    heartbeat = models.ForeignKey(
        Heartbeat, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    fingerprint = models.CharField(_("fingerprint"), max_length=100)
    name = models.CharField(_("name"), max_length=200)
    severity = models.CharField(_("severity"), max_length=32, blank=True)
    summary = models.TextField(_("summary"), blank=True)
    labels = models.JSONField(_("labels"), default=dict, blank=True)
    annotations = models.JSONField(_("annotations"), default=dict, blank=True)
    generator_url = models.CharField(max_length=500, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.FIRING)
    starts_at = models.DateTimeField(_("started"))
    ends_at = models.DateTimeField(_("ended"), null=True, blank=True)
    first_received_at = models.DateTimeField(_("first received"))
    last_received_at = models.DateTimeField(_("last received"))
    received_count = models.PositiveIntegerField(_("notices received"), default=1)
    asset = models.ForeignKey(
        Asset,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alerts",
        verbose_name=_("asset"),
    )
    system = models.ForeignKey(
        InformationSystem,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alerts",
        verbose_name=_("system"),
    )
    mapping = models.CharField(_("mapped"), max_length=8, choices=Mapping.choices, default="", blank=True)
    silenced = models.BooleanField(_("silenced by a maintenance window"), default=False)
    dismissed = models.BooleanField(_("dismissed from the unmapped queue"), default=False)
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-last_received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["hospital", "fingerprint"],
                condition=Q(status="firing"),
                name="one_firing_alert_per_fingerprint",
            )
        ]
        indexes = [
            models.Index(fields=["hospital", "status", "last_received_at"]),
            models.Index(fields=["incident", "status"]),
            models.Index(fields=["fingerprint"]),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.status}]"

    @property
    def is_mapped(self) -> bool:
        return self.asset_id is not None or self.system_id is not None

    @property
    def target_label(self) -> str:
        parts = [str(x) for x in (self.asset, self.system) if x is not None]
        return " / ".join(parts)


class EarlyWarning(models.Model):
    """预警: something is about to go wrong. Shown on the warnings page, sent at low urgency."""

    class Kind(models.TextChoices):
        CERT_EXPIRING = "cert_expiring", _("Certificate expiring")
        HEARTBEAT_LATE = "heartbeat_late", _("Heartbeat late")
        CHECK_DEGRADED = "check_degraded", _("Check degraded (slow)")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="early_warnings")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=120)
    subject = models.CharField(_("subject"), max_length=200)
    detail = models.JSONField(default=dict, blank=True)
    active_check = models.ForeignKey(
        ActiveCheck, null=True, blank=True, on_delete=models.CASCADE, related_name="warnings"
    )
    heartbeat = models.ForeignKey(
        Heartbeat, null=True, blank=True, on_delete=models.CASCADE, related_name="warnings"
    )
    opened_at = models.DateTimeField(_("since"))
    updated_at = models.DateTimeField(_("updated"))
    cleared_at = models.DateTimeField(_("cleared"), null=True, blank=True)

    class Meta:
        verbose_name = _("early warning")
        verbose_name_plural = _("early warnings")
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(cleared_at__isnull=True), name="one_open_warning_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject}"


class MaintenanceWindow(models.Model):
    """Planned work: alerts for what it covers (and all that depends on it) are silenced."""

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="maintenance_windows", verbose_name=_("hospital")
    )
    name = models.CharField(_("name"), max_length=100)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    repeat_weekly = models.BooleanField(_("repeat every week"), default=False)
    whole_hospital = models.BooleanField(_("everything in the hospital"), default=False)
    assets = models.ManyToManyField(
        Asset,
        blank=True,
        related_name="maintenance_windows",
        verbose_name=_("assets (and what depends on them)"),
    )
    systems = models.ManyToManyField(
        InformationSystem, blank=True, related_name="maintenance_windows", verbose_name=_("systems")
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        verbose_name = _("maintenance window")
        verbose_name_plural = _("maintenance windows")
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError(_("The window must end after it starts."))
        if (
            self.repeat_weekly
            and self.starts_at
            and self.ends_at
            and self.ends_at - self.starts_at >= datetime.timedelta(days=7)
        ):
            raise ValidationError(_("A weekly window must be shorter than a week."))

    def is_active(self, now: datetime.datetime) -> bool:
        if not self.repeat_weekly:
            return self.starts_at <= now < self.ends_at
        if now < self.starts_at:
            return False
        week = datetime.timedelta(days=7)
        offset = (now - self.starts_at) % week
        return offset < self.ends_at - self.starts_at


class CheckerNode(models.Model):
    """A running checker process; live nodes share the checks by rendezvous hashing."""

    name = models.CharField(max_length=120, unique=True)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)
    checks = models.PositiveIntegerField(default=0)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("checker process")
        verbose_name_plural = _("checker processes")

    def __str__(self) -> str:
        return self.name
