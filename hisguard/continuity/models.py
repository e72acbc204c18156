"""Downtime data continuity: connectors to the HIS, snapshots, ward packets, downtime nodes,
and the log of every look at a packet.

Patient data lives only in sealed (AES-256-GCM) columns, named ``sealed_*``; the audit log
never copies them (core/audit.py SECRET_FIELDS), and snapshots, packets and the access log are
records of their own rather than audited row by row.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from hisguard.continuity import crypto
from hisguard.organisation.models import Department, Hospital


class Connector(models.Model):
    class Kind(models.TextChoices):
        FHIR_REST = "fhir_rest", _("FHIR R4 REST server")
        FHIR_FILE = "fhir_file", _("FHIR bundle / ndjson files")
        SQL = "sql", _("SQL query on read-only HIS views")
        CSV = "csv", _("CSV files")

    class Health(models.TextChoices):
        OK = "ok", _("OK")
        WARNING = "warning", _("Late or failing (early warning)")
        ALERT = "alert", _("Alert: packets are out of date")
        NEVER = "never", _("No snapshot yet")

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="connectors", verbose_name=_("hospital")
    )
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    config = models.JSONField(_("settings"), default=dict, blank=True)
    sealed_secret = models.BinaryField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    interval_minutes = models.PositiveIntegerField(
        _("snapshot every (minutes)"),
        default=60,
        validators=[MinValueValidator(5), MaxValueValidator(24 * 60)],
    )
    keep = models.PositiveIntegerField(
        _("snapshots kept"), default=8, validators=[MinValueValidator(1), MaxValueValidator(200)]
    )
    warn_after_minutes = models.PositiveIntegerField(
        _("early warning when the last good snapshot is older than (minutes)"), default=90
    )
    alert_after_minutes = models.PositiveIntegerField(
        _("alert when the last good snapshot is older than (minutes)"), default=240
    )
    next_run_at = models.DateTimeField(_("next snapshot"), null=True, blank=True, db_index=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last good snapshot"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    consecutive_failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    health = models.CharField(_("health"), max_length=8, choices=Health.choices, default=Health.NEVER)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("HIS connector")
        verbose_name_plural = _("HIS connectors")
        ordering = ["hospital", "name"]
        constraints = [models.UniqueConstraint(fields=["hospital", "name"], name="unique_connector_name")]
        permissions = [("run_snapshot", _("Can run a snapshot now and try a connector"))]

    def __str__(self) -> str:
        return self.name

    def _aad(self) -> bytes:
        return f"connector-secret:{self.pk}".encode()

    @property
    def secret(self) -> str:
        if not self.sealed_secret or not self.pk:
            return ""
        return crypto.unseal_on_server(bytes(self.sealed_secret), self._aad()).decode()

    def set_secret(self, value: str) -> None:
        """Seal a password or token (the row must exist: the seal is bound to its id)."""
        assert self.pk, "save the connector first"
        self.sealed_secret = crypto.seal_for_server(value.encode(), self._aad()) if value else None


class Snapshot(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        OK = "ok", _("Good")
        FAILED = "failed", _("Failed")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Schedule")
        MANUAL = "manual", _("Run now")
        COMMAND = "command", _("Command line")

    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, related_name="snapshots", verbose_name=_("connector")
    )
    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="+", verbose_name=_("hospital")
    )
    started_at = models.DateTimeField(_("started"), db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    as_of = models.DateTimeField(_("data as of"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(_("trigger"), max_length=8, choices=Trigger.choices, default=Trigger.SCHEDULE)
    error = models.TextField(_("error"), blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    patients = models.PositiveIntegerField(_("patients"), default=0)
    skipped = models.PositiveIntegerField(_("records skipped"), default=0)
    issue_count = models.PositiveIntegerField(_("issues"), default=0)
    sealed_issues = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("snapshot")
        verbose_name_plural = _("snapshots")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["connector", "status", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.connector} {self.started_at:%Y-%m-%d %H:%M}"

    def _aad(self) -> bytes:
        return f"snapshot-issues:{self.pk}".encode()

    def issues(self) -> list[dict[str, Any]]:
        if not self.sealed_issues:
            return []
        return json.loads(crypto.unseal_on_server(bytes(self.sealed_issues), self._aad()))

    def set_issues(self, issues: list[dict[str, Any]]) -> None:
        self.sealed_issues = crypto.seal_for_server(
            json.dumps(issues, ensure_ascii=False).encode(), self._aad()
        )


class WardPacket(models.Model):
    """One ward's read-only packet from one snapshot: census, allergies, medication, results."""

    snapshot = models.ForeignKey(
        Snapshot, on_delete=models.CASCADE, related_name="packets", verbose_name=_("snapshot")
    )
    ward = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="downtime_packets", verbose_name=_("ward")
    )
    as_of = models.DateTimeField(_("as of"), db_index=True)
    patients = models.PositiveIntegerField(_("patients"), default=0)
    skipped = models.PositiveIntegerField(_("records skipped"), default=0)
    digest = models.CharField(_("digest"), max_length=64)
    sealed_payload = models.BinaryField(editable=False)
    sealed_render = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("ward packet")
        verbose_name_plural = _("ward packets")
        ordering = ["ward", "-as_of"]
        constraints = [models.UniqueConstraint(fields=["snapshot", "ward"], name="unique_packet_per_ward")]
        permissions = [
            ("view_ward_packets", _("Can see the downtime packets of their own ward")),
            ("view_all_packets", _("Can see every ward's downtime packets (IT)")),
            ("break_glass", _("Can open another ward's packets in an emergency, giving a reason")),
            ("print_forms", _("Can print blank downtime forms")),
        ]

    def __str__(self) -> str:
        return f"{self.ward} {self.as_of:%Y-%m-%d %H:%M}"

    @staticmethod
    def aad(snapshot_id: int, ward_id: int, part: str = "payload") -> bytes:
        return f"ward-packet:{part}:{snapshot_id}:{ward_id}".encode()

    @staticmethod
    def seal(snapshot_id: int, ward_id: int, packet: dict[str, Any]) -> tuple[bytes, str]:
        plain = json.dumps(packet, ensure_ascii=False, separators=(",", ":")).encode()
        return crypto.seal_for_server(plain, WardPacket.aad(snapshot_id, ward_id)), hashlib.sha256(
            plain
        ).hexdigest()

    def data(self) -> dict[str, Any]:
        return json.loads(
            crypto.unseal_on_server(bytes(self.sealed_payload), self.aad(self.snapshot_id, self.ward_id))
        )


def new_node_token() -> str:
    return "hgn_" + secrets.token_urlsafe(32)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class DowntimeNode(models.Model):
    """A designated PC in a ward that keeps the ward's latest packet for when the server is gone."""

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="+", verbose_name=_("hospital")
    )
    ward = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="downtime_nodes", verbose_name=_("ward")
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("The PC, e.g. its hostname or asset tag."))
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("token prefix"), max_length=12, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    warn_after_minutes = models.PositiveIntegerField(_("warn when no sync for (minutes)"), default=90)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_sync_at = models.DateTimeField(_("last sync"), null=True, blank=True)
    last_packet_as_of = models.DateTimeField(_("its packet is as of"), null=True, blank=True)
    last_digest = models.CharField(max_length=64, blank=True, editable=False)
    last_ip = models.GenericIPAddressField(_("last address"), null=True, blank=True)
    last_version = models.CharField(_("node version"), max_length=40, blank=True)
    behind = models.BooleanField(_("behind"), default=False)

    class Meta:
        verbose_name = _("downtime node")
        verbose_name_plural = _("downtime nodes")
        ordering = ["ward", "name"]

    def __str__(self) -> str:
        return f"{self.ward} · {self.name}"

    def issue_token(self) -> str:
        raw = new_node_token()
        self.token_hash, self.prefix = hash_token(raw), raw[:10]
        return raw


class EmergencyAccess(models.Model):
    """Break-glass: someone opened packets they would not normally see, with a reason."""

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="+", verbose_name=_("hospital")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("who")
    )
    ward = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("ward"),
        help_text=_("Empty: every ward."),
    )
    reason = models.TextField(_("reason"))
    started_at = models.DateTimeField(_("from"))
    expires_at = models.DateTimeField(_("until"))
    alerted = models.PositiveIntegerField(_("people alerted"), default=0)

    class Meta:
        verbose_name = _("emergency access")
        verbose_name_plural = _("emergency accesses")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.user} {self.started_at:%Y-%m-%d %H:%M}"


class PacketAccess(models.Model):
    """Who opened or printed which ward's packet, when, from where and why. Never changed."""

    class Action(models.TextChoices):
        VIEW = "view", _("Opened")
        PRINT = "print", _("Printed (PDF)")
        PRINT_ALL = "print_all", _("Printed with all wards")
        API = "api", _("Read through the API")
        SYNC = "sync", _("Copied to a downtime node")
        NODE_VIEW = "node_view", _("Opened on a downtime node")
        NODE_PRINT = "node_print", _("Printed on a downtime node")
        DENIED = "denied", _("Refused")

    at = models.DateTimeField(_("time"), db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("who"),
    )  # fmt: skip
    actor_label = models.CharField(_("who (as recorded)"), max_length=150)
    node = models.ForeignKey(
        DowntimeNode, null=True, blank=True, on_delete=models.SET_NULL, related_name="accesses",
        verbose_name=_("downtime node"),
    )  # fmt: skip
    ward = models.ForeignKey(
        Department, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("ward")
    )
    ward_label = models.CharField(_("ward (as recorded)"), max_length=150)
    packet = models.ForeignKey(
        WardPacket,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("packet"),
    )
    packet_as_of = models.DateTimeField(_("packet as of"), null=True, blank=True)
    action = models.CharField(_("action"), max_length=12, choices=Action.choices)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    emergency = models.ForeignKey(
        EmergencyAccess, null=True, blank=True, on_delete=models.SET_NULL, related_name="accesses",
        verbose_name=_("under emergency access"),
    )  # fmt: skip
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta:
        verbose_name = _("packet access")
        verbose_name_plural = _("packet accesses")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["ward", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.ward_label}"
