"""Who is told, how, and the proof that they were: the notification outbox.

A Notification is one message to one person; each Delivery is one try on one channel. Both
are rows written in the transaction of the change that causes them, and the worker sends
them afterwards (the outbox pattern), so a crash never loses a message.
"""

from __future__ import annotations

import datetime
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from hisguard.organisation.models import Hospital, Person


def new_feed_token() -> str:
    return secrets.token_urlsafe(18)


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    WECOM = "wecom", _("WeCom bot")
    DINGTALK = "dingtalk", _("DingTalk bot")
    FEISHU = "feishu", _("Feishu bot")
    WEBHOOK = "webhook", _("Webhook")
    SMS_HTTP = "sms_http", _("SMS (HTTP gateway)")
    SMS_GSM = "sms_gsm", _("SMS (local GSM modem)")
    APPRISE = "apprise", _("Other service (Apprise URL)")


class ContactMethod(models.Model):
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="contact_methods", verbose_name=_("person")
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    address = models.CharField(
        _("address"),
        max_length=500,
        help_text=_("Email address, phone number, or the bot's / webhook's URL."),
    )
    priority = models.PositiveSmallIntegerField(_("order"), default=1, help_text=_("Tried lowest first."))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("contact method")
        verbose_name_plural = _("contact methods")
        ordering = ["person", "priority", "id"]

    def __str__(self) -> str:
        return f"{self.person} {self.get_channel_display()} {self.address}"

    def clean(self) -> None:
        from hisguard.paging.channels import validate_address

        validate_address(self.channel, self.address)


class Urgency(models.TextChoices):
    HIGH = "high", _("High")
    NORMAL = "normal", _("Normal")
    LOW = "low", _("Low")


class Notification(models.Model):
    class Kind(models.TextChoices):
        ESCALATION = "escalation", _("Escalation")
        BROADCAST = "broadcast", _("All-hospital notice")
        UPDATE = "update", _("Incident update")
        WARNING = "warning", _("Early warning")
        DIGEST = "digest", _("Digest of several incidents")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed on every channel")
        BUNDLED = "bundled", _("Sent in a digest")
        CANCELLED = "cancelled", _("Cancelled")
        UNREACHABLE = "unreachable", _("No channel reaches this person")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="notifications")
    # A person from the hospital model, or (person empty) a reporter known only by a phone number.
    person = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("person"),
    )
    recipient = models.CharField(_("recipient"), max_length=100, blank=True)
    language = models.CharField(_("language"), max_length=8, default="zh-hans")
    incident = models.ForeignKey(
        "incidents.Incident",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("incident"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    urgency = models.CharField(_("urgency"), max_length=8, choices=Urgency.choices, default=Urgency.HIGH)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("message"))
    state = models.CharField(
        _("state"), max_length=12, choices=State.choices, default=State.PENDING, db_index=True
    )
    # The same logical message is never created twice (a step re-run after a crash, say).
    dedup_key = models.CharField(max_length=200, unique=True)
    escalation_run = models.ForeignKey(
        "paging.EscalationRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    created_at = models.DateTimeField(_("created"), db_index=True)
    bundle = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="bundled"
    )

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.person or self.recipient} {self.subject}"


class Delivery(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    contact_method = models.ForeignKey(
        ContactMethod, null=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    address = models.CharField(_("address"), max_length=500)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"))
    lease_until = models.DateTimeField(null=True, blank=True)
    # Sent with the message (Message-ID, Idempotency-Key header) so that a resend after a
    # crash between "sent" and "recorded" is recognisable as the same message by the peer.
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.channel}:{self.address} {self.state}"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(_("time"))
    ok = models.BooleanField(_("succeeded"))
    detail = models.TextField(_("detail"), blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    worker = models.CharField(_("worker"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {'ok' if self.ok else 'failed'}"


# --- Duty rosters (值班表) ------------------------------------------------------------------


class DutyRoster(models.Model):
    """A rotation of people for one duty, with handovers at a set time and the Chinese
    calendar deciding which layer applies on a given day."""

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="rosters", verbose_name=_("hospital")
    )
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    handover_time = models.TimeField(_("handover time"), default=datetime.time(8, 0))
    # The secret in the iCalendar feed's address: calendar apps cannot log in.
    feed_token = models.CharField(max_length=32, unique=True, default=new_feed_token, editable=False)

    class Meta:
        verbose_name = _("duty roster")
        verbose_name_plural = _("duty rosters")
        ordering = ["hospital", "code"]
        constraints = [models.UniqueConstraint(fields=["hospital", "code"], name="unique_roster_code")]

    def __str__(self) -> str:
        return self.name


class RosterLayer(models.Model):
    class AppliesOn(models.TextChoices):
        EVERY_DAY = "every_day", _("Every day")
        WORKDAYS = "workdays", _("Working days (incl. 调休 make-up days)")
        REST_DAYS = "rest_days", _("Weekends and statutory holidays")
        HOLIDAYS = "holidays", _("Statutory holidays only")

    roster = models.ForeignKey(DutyRoster, on_delete=models.CASCADE, related_name="layers")
    name = models.CharField(_("name"), max_length=100)
    applies_on = models.CharField(
        _("applies on"), max_length=12, choices=AppliesOn.choices, default=AppliesOn.EVERY_DAY
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=1, help_text=_("When several layers apply to a day, the highest number wins.")
    )
    rotation_days = models.PositiveSmallIntegerField(_("days per turn"), default=1)
    start_date = models.DateField(_("rotation starts"))

    class Meta:
        verbose_name = _("roster layer")
        verbose_name_plural = _("roster layers")
        ordering = ["roster", "-priority", "id"]

    def __str__(self) -> str:
        return f"{self.roster} · {self.name}"


class RosterMember(models.Model):
    layer = models.ForeignKey(RosterLayer, on_delete=models.CASCADE, related_name="members")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="roster_memberships")
    position = models.PositiveSmallIntegerField(_("turn"), default=0)

    class Meta:
        ordering = ["layer", "position", "id"]

    def __str__(self) -> str:
        return f"{self.layer} #{self.position} {self.person}"


class RosterOverride(models.Model):
    """A swap or cover: this person holds the duty for the period, whatever the rotation says."""

    roster = models.ForeignKey(DutyRoster, on_delete=models.CASCADE, related_name="overrides")
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="roster_overrides", verbose_name=_("person")
    )
    start = models.DateTimeField(_("from"))
    end = models.DateTimeField(_("until"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("roster override")
        verbose_name_plural = _("roster overrides")
        ordering = ["-start"]

    def __str__(self) -> str:
        return f"{self.roster} {self.person} {self.start:%Y-%m-%d %H:%M}"


# --- Escalation policies and runs ----------------------------------------------------------


class EscalationPolicy(models.Model):
    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="escalation_policies")
    hospital_class = models.PositiveSmallIntegerField(
        _("for class"), choices=[(1, _("Class I")), (2, _("Class II")), (3, _("Class III"))]
    )
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("escalation policy")
        verbose_name_plural = _("escalation policies")
        ordering = ["hospital", "hospital_class"]
        constraints = [
            models.UniqueConstraint(fields=["hospital", "hospital_class"], name="one_policy_per_class")
        ]

    def __str__(self) -> str:
        return self.name


class EscalationStep(models.Model):
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    delay_minutes = models.PositiveIntegerField(
        _("after (minutes)"),
        default=0,
        help_text=_("Minutes after escalation starts, if nobody has acknowledged."),
    )
    channels = models.JSONField(
        _("channels"),
        default=list,
        blank=True,
        help_text=_("Channels to use, in order; empty means each person's own preference."),
    )
    repeat_every_minutes = models.PositiveIntegerField(_("repeat every (minutes)"), default=0)
    repeat_times = models.PositiveSmallIntegerField(_("repeat times"), default=0)
    requires_ack = models.BooleanField(
        _("stops when acknowledged"),
        default=True,
        help_text=_("Informational steps (telling every department) are sent even after acknowledgement."),
    )

    class Meta:
        verbose_name = _("escalation step")
        verbose_name_plural = _("escalation steps")
        ordering = ["policy", "order", "delay_minutes"]

    def __str__(self) -> str:
        return f"{self.policy} +{self.delay_minutes}min"


class StepTarget(models.Model):
    class Kind(models.TextChoices):
        PERSON = "person", _("A person")
        POSITION = "position", _("Everyone in a position")
        ROSTER = "roster", _("Whoever is on duty in a roster")
        LEADING_GROUP = "leading_group", _("The emergency leading group")
        DEPARTMENT_HEADS = "department_heads", _("All department heads and head nurses")
        AFFECTED_HEADS = "affected_heads", _("Heads of the affected departments")

    step = models.ForeignKey(EscalationStep, on_delete=models.CASCADE, related_name="targets")
    kind = models.CharField(_("target"), max_length=20, choices=Kind.choices)
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    position = models.CharField(_("position"), max_length=24, choices=Person.Position.choices, blank=True)
    roster = models.ForeignKey(DutyRoster, null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("step target")
        verbose_name_plural = _("step targets")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.person or self.position or self.roster or ''}".strip()


class EscalationRun(models.Model):
    """One escalation of one incident, with the policy frozen at the moment it started."""

    class State(models.TextChoices):
        ACTIVE = "active", _("Escalating")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        SUPERSEDED = "superseded", _("Superseded by a higher class")
        STOPPED = "stopped", _("Stopped (incident resolved)")
        FINISHED = "finished", _("All steps done")

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="escalations")
    hospital_class = models.PositiveSmallIntegerField(_("class"))
    snapshot = models.JSONField(_("policy snapshot"))
    state = models.CharField(
        _("state"), max_length=12, choices=State.choices, default=State.ACTIVE, db_index=True
    )
    started_at = models.DateTimeField(_("started"))
    next_index = models.PositiveIntegerField(default=0)
    next_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )
    acknowledged_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.incident_id} class {self.hospital_class} {self.state}"

    @property
    def is_expanded(self) -> bool:
        """Whether the worker has frozen its policy onto it (a report only stores it due)."""
        return "firings" in self.snapshot


class AckToken(models.Model):
    """The use of a notification's acknowledgement link. The link itself is signed (it needs no
    row until it is used); this row makes it single-use."""

    notification = models.OneToOneField(Notification, on_delete=models.CASCADE, related_name="ack_use")
    used_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"ack {self.notification_id}"


class WorkerHeartbeat(models.Model):
    """Each worker says it is alive every loop; the readiness page shows a silent one."""

    name = models.CharField(max_length=100, unique=True)
    last_seen = models.DateTimeField()
    processed = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} {self.last_seen:%H:%M:%S}"
