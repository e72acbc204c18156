"""Incident command (应急响应, 继续运营, 恢复与重建, 事后总结).

Reference data a hospital keeps between incidents — playbooks, department manual procedures,
paper forms, temporary number ranges, contacts — and the record of one incident's response:
crisis team, emergency declaration, assessment, playbook progress, paper work and its
back-entry, recovery checks and the post-incident review.

Texts a hospital edits are kept in two languages: the plain field is the hospital's own
(Chinese by default) and `<field>_en` the English one; `tr()` picks the reader's.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hisguard.incidents import gbt
from hisguard.incidents.models import Incident
from hisguard.organisation.models import Department, Hospital, InformationSystem, Person, code_validator
from hisguard.response.i18n import pick

USER = settings.AUTH_USER_MODEL


class Bilingual:
    def tr(self, field: str) -> str:
        return pick(getattr(self, field, "") or "", getattr(self, f"{field}_en", "") or "")


class CrisisRole(models.TextChoices):
    """危机应对小组: who does what during the incident."""

    COMMANDER = "commander", _("Commander")
    TECHNICAL_LEAD = "technical_lead", _("Technical lead")
    COMMUNICATIONS = "communications", _("Communications")
    SCRIBE = "scribe", _("Scribe")
    LIAISON = "liaison", _("Department liaison")


class ContactKind(models.TextChoices):
    VENDOR = "vendor", _("System vendor")
    ISP = "isp", _("Network operator (ISP)")
    REGULATOR = "regulator", _("Regulator")
    OTHER = "other", _("Other")


# --- Playbooks ---------------------------------------------------------------------------


class Playbook(Bilingual, models.Model):
    """The plan for one scenario, with its steps. Attached to an incident by its category."""

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="playbooks", verbose_name=_("hospital")
    )
    code = models.CharField(_("code"), max_length=32, validators=[code_validator])
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100, blank=True)
    description = models.TextField(_("description"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    match_categories = models.JSONField(_("GB/T 20986 categories it applies to"), default=list, blank=True)
    match_asset_kinds = models.JSONField(_("asset kinds down it applies to"), default=list, blank=True)
    match_classes = models.JSONField(_("classes it applies to"), default=list, blank=True)
    auto_attach = models.BooleanField(
        _("attach automatically"),
        default=True,
        help_text=_("Attach to a confirmed incident that matches; otherwise only by hand."),
    )
    order = models.PositiveSmallIntegerField(_("order"), default=100)
    is_active = models.BooleanField(_("in use"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("playbook")
        verbose_name_plural = _("playbooks")
        ordering = ["hospital", "order", "code"]
        constraints = [models.UniqueConstraint(fields=["hospital", "code"], name="unique_playbook_code")]
        permissions = [
            ("command_response", _("Command the response: crisis team, playbook, assessment, ETA")),
            ("declare_emergency", _("Declare and end the emergency (启动/结束应急预案)")),
            ("work_response", _("Work the response: steps, contacts, paper records, back-entry, recovery")),
            ("waive_backentry", _("Waive outstanding back-entry with a reason")),
            ("manage_plans", _("Edit playbooks, manual procedures, forms, number ranges and contacts")),
            ("review_incident", _("Write post-incident reviews and follow-up actions")),
        ]

    def __str__(self) -> str:
        return self.tr("name")

    def matches(self, category: str, asset_kinds: set[str], level: int) -> int | None:
        """How specifically this playbook fits (more criteria met = better), or None."""
        score = 0
        for wanted, have in (
            (self.match_categories, {category}),
            (self.match_asset_kinds, asset_kinds),
            (self.match_classes, {level}),
        ):
            if wanted:
                if not set(wanted) & have:
                    return None
                score += 1
        return score


class PlaybookStep(Bilingual, models.Model):
    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    title = models.CharField(_("step"), max_length=200)
    title_en = models.CharField(_("step (English)"), max_length=200, blank=True)
    instructions = models.TextField(_("instructions"), blank=True)
    instructions_en = models.TextField(_("instructions (English)"), blank=True)
    owner_role = models.CharField(_("owner role"), max_length=20, choices=CrisisRole.choices)
    target_minutes = models.PositiveIntegerField(
        _("target (minutes after the playbook starts)"), validators=[MinValueValidator(0)]
    )
    evidence = models.CharField(_("evidence expected"), max_length=300, blank=True)
    evidence_en = models.CharField(_("evidence expected (English)"), max_length=300, blank=True)
    contact_kind = models.CharField(
        _("contact to call"), max_length=16, choices=ContactKind.choices, blank=True
    )

    class Meta:
        verbose_name = _("playbook step")
        verbose_name_plural = _("playbook steps")
        ordering = ["playbook", "order", "id"]

    def __str__(self) -> str:
        return self.tr("title")


class IncidentPlaybook(Bilingual, models.Model):
    """The playbook an incident follows; its steps are copied so later edits keep history."""

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="response_playbook")
    playbook = models.ForeignKey(Playbook, null=True, on_delete=models.SET_NULL, related_name="uses")
    name = models.CharField(_("playbook"), max_length=100)
    name_en = models.CharField(max_length=100, blank=True)
    attached_at = models.DateTimeField(_("attached"))
    attached_label = models.CharField(max_length=150, blank=True)
    automatic = models.BooleanField(_("attached automatically"), default=False)

    class Meta:
        verbose_name = _("incident playbook")
        verbose_name_plural = _("incident playbooks")

    def __str__(self) -> str:
        return self.tr("name")


class StepRun(Bilingual, models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("To do")
        DONE = "done", _("Done")
        SKIPPED = "skipped", _("Not needed")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="step_runs")
    step = models.ForeignKey(PlaybookStep, null=True, blank=True, on_delete=models.SET_NULL)
    order = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(_("step"), max_length=200)
    title_en = models.CharField(max_length=200, blank=True)
    instructions = models.TextField(blank=True)
    instructions_en = models.TextField(blank=True)
    owner_role = models.CharField(_("owner role"), max_length=20, choices=CrisisRole.choices)
    evidence_expected = models.CharField(_("evidence expected"), max_length=300, blank=True)
    evidence_expected_en = models.CharField(max_length=300, blank=True)
    contact_kind = models.CharField(max_length=16, choices=ContactKind.choices, blank=True)
    due_at = models.DateTimeField(_("due"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    done_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL)
    done_label = models.CharField(_("done by"), max_length=150, blank=True)
    evidence = models.TextField(_("evidence"), blank=True)
    overdue_noted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("playbook step of an incident")
        verbose_name_plural = _("playbook steps of incidents")
        ordering = ["incident", "order", "id"]
        indexes = [models.Index(fields=["state", "due_at"])]

    def __str__(self) -> str:
        return self.tr("title")

    def tr_evidence_expected(self) -> str:
        return pick(self.evidence_expected, self.evidence_expected_en)

    def is_overdue(self, now: datetime.datetime | None = None) -> bool:
        return self.state == self.State.PENDING and self.due_at < (now or timezone.now())

    def late_minutes(self) -> int:
        if self.done_at is None or self.done_at <= self.due_at:
            return 0
        return int((self.done_at - self.due_at).total_seconds() // 60)


# --- Crisis team, emergency, assessment ---------------------------------------------------


class CrisisAssignment(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="crisis_team")
    role = models.CharField(_("role"), max_length=20, choices=CrisisRole.choices)
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="crisis_roles", verbose_name=_("person")
    )
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("for department")
    )
    assigned_at = models.DateTimeField(_("assigned"))
    assigned_label = models.CharField(max_length=150, blank=True)
    relieved_at = models.DateTimeField(_("relieved"), null=True, blank=True)

    class Meta:
        verbose_name = _("crisis team member")
        verbose_name_plural = _("crisis team")
        ordering = ["incident", "role", "assigned_at"]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.person}"


class EmergencyDeclaration(models.Model):
    """启动应急预案 / 应急结束, each signed off by hospital leadership."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="emergencies")
    declared_at = models.DateTimeField(_("declared"))
    declared_by = models.ForeignKey(USER, null=True, on_delete=models.SET_NULL, related_name="+")
    declared_label = models.CharField(max_length=150, blank=True)
    signed_by = models.CharField(_("signed off by"), max_length=50)
    basis = models.TextField(_("basis"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    ended_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ended_label = models.CharField(max_length=150, blank=True)
    end_signed_by = models.CharField(_("end signed off by"), max_length=50, blank=True)
    end_summary = models.TextField(_("summary at the end"), blank=True)

    class Meta:
        verbose_name = _("emergency declaration")
        verbose_name_plural = _("emergency declarations")
        ordering = ["incident", "declared_at"]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.declared_at:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None


SPECIAL_CONDITIONS = ("night", "holiday", "high_volume", "key_staff_away", "major_event")


class Assessment(models.Model):
    """事件评估: special conditions, patients affected, resources (影响评估, 资源评估)."""

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="response_assessment")
    night = models.BooleanField(_("night"), default=False)
    holiday = models.BooleanField(_("holiday or rest day"), default=False)
    high_volume = models.BooleanField(_("high patient volume"), default=False)
    key_staff_away = models.BooleanField(_("key staff away"), default=False)
    major_event = models.BooleanField(_("major hospital event"), default=False)
    patients_affected = models.PositiveIntegerField(_("patients affected"), null=True, blank=True)
    patients_source = models.CharField(_("patients counted by"), max_length=20, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    assessed_at = models.DateTimeField(_("assessed"))
    assessed_label = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name = _("assessment")
        verbose_name_plural = _("assessments")

    def __str__(self) -> str:
        return str(self.incident_id)

    @property
    def conditions(self) -> list[str]:
        return [name for name in SPECIAL_CONDITIONS if getattr(self, name)]

    @property
    def urgency(self) -> str:
        count = len(self.conditions)
        return "high" if count >= 2 else "raised" if count == 1 else "normal"


class ResourceNeed(models.Model):
    class Kind(models.TextChoices):
        PEOPLE = "people", _("People")
        EQUIPMENT = "equipment", _("Spare equipment")
        VENDOR = "vendor", _("Vendor engineers")
        OTHER = "other", _("Other")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="resource_needs")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    description = models.CharField(_("what"), max_length=200)
    quantity = models.PositiveIntegerField(_("how many"), default=1, validators=[MinValueValidator(1)])
    arranged = models.BooleanField(_("arranged"), default=False)
    created_at = models.DateTimeField(_("added"))
    created_label = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name = _("resource needed")
        verbose_name_plural = _("resources needed")
        ordering = ["incident", "created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.description} ×{self.quantity}"


# --- Manual procedures, forms, temporary numbers ------------------------------------------


class PaperForm(Bilingual, models.Model):
    """A paper form (手工单据) kept for downtime."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="paper_forms")
    code = models.CharField(_("code"), max_length=32, validators=[code_validator])
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("paper form")
        verbose_name_plural = _("paper forms")
        ordering = ["hospital", "code"]
        constraints = [models.UniqueConstraint(fields=["hospital", "code"], name="unique_paper_form")]

    def __str__(self) -> str:
        return self.tr("name")


class FormStock(models.Model):
    form = models.ForeignKey(PaperForm, on_delete=models.CASCADE, related_name="stock")
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="form_stock")
    quantity = models.PositiveIntegerField(_("in stock"), default=0)
    min_quantity = models.PositiveIntegerField(_("keep at least"), default=0)
    updated_at = models.DateTimeField(_("counted"), auto_now=True)

    class Meta:
        verbose_name = _("form stock")
        verbose_name_plural = _("form stock")
        ordering = ["department", "form"]
        constraints = [models.UniqueConstraint(fields=["form", "department"], name="unique_form_stock")]

    def __str__(self) -> str:
        return f"{self.department} {self.form} {self.quantity}"

    @property
    def is_low(self) -> bool:
        return self.quantity < self.min_quantity


class DowntimeProcedure(Bilingual, models.Model):
    """手工流程: what a department does on paper while a system is down, and when to switch."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="downtime_procedures")
    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="downtime_procedures", verbose_name=_("department")
    )
    system = models.ForeignKey(
        InformationSystem,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="downtime_procedures",
        verbose_name=_("system"),
    )
    code = models.CharField(_("code"), max_length=32, validators=[code_validator])
    title = models.CharField(_("title"), max_length=100)
    title_en = models.CharField(_("title (English)"), max_length=100, blank=True)
    steps = models.TextField(_("what to do on paper"))
    steps_en = models.TextField(_("what to do on paper (English)"), blank=True)
    switch_after_minutes = models.PositiveIntegerField(_("switch to paper after (minutes)"))
    switch_latest_minutes = models.PositiveIntegerField(
        _("switch at the latest after (minutes)"), null=True, blank=True
    )
    forms = models.ManyToManyField(
        PaperForm, blank=True, related_name="procedures", verbose_name=_("paper forms")
    )
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("manual procedure")
        verbose_name_plural = _("manual procedures")
        ordering = ["department", "switch_after_minutes", "code"]
        constraints = [
            models.UniqueConstraint(fields=["department", "system", "code"], name="unique_downtime_procedure")
        ]

    def __str__(self) -> str:
        return f"{self.department} {self.tr('title')}"

    def step_lines(self) -> list[str]:
        return [line.strip() for line in self.tr("steps").splitlines() if line.strip()]


class TempNumberRange(models.Model):
    """Temporary patient numbers reserved for a department's downtime (临时号段)."""

    class Kind(models.TextChoices):
        OUTPATIENT = "outpatient", _("Outpatient number")
        INPATIENT = "inpatient", _("Inpatient number")
        SPECIMEN = "specimen", _("Specimen / order number")
        OTHER = "other", _("Other")

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="temp_number_ranges")
    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="temp_number_ranges", verbose_name=_("department")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.OUTPATIENT)
    prefix = models.CharField(_("prefix"), max_length=8, blank=True)
    first = models.PositiveBigIntegerField(_("first number"))
    last = models.PositiveBigIntegerField(_("last number"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("reserved"), default=timezone.now)

    class Meta:
        verbose_name = _("temporary number range")
        verbose_name_plural = _("temporary number ranges")
        ordering = ["hospital", "prefix", "first"]
        constraints = [
            models.CheckConstraint(condition=models.Q(first__lte=models.F("last")), name="temp_range_ordered")
        ]

    def __str__(self) -> str:
        return f"{self.prefix}{self.first}–{self.prefix}{self.last}"

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def contains(self, number: str) -> bool:
        if self.prefix and not number.startswith(self.prefix):
            return False
        digits = number[len(self.prefix) :]
        return digits.isdigit() and self.first <= int(digits) <= self.last


# --- Paper records and back-entry (补录) ---------------------------------------------------


class DowntimeRecord(models.Model):
    """What a department did on paper during the downtime; entered into the system afterwards."""

    class Kind(models.TextChoices):
        REGISTRATION = "registration", _("Registration")
        BILLING = "billing", _("Billing")
        ORDER = "order", _("Orders / prescriptions")
        EXAM = "exam", _("Examinations and tests")
        DISPENSING = "dispensing", _("Dispensing")
        ADMISSION = "admission", _("Admission")
        DISCHARGE = "discharge", _("Discharge settlement")
        NURSING = "nursing", _("Nursing records")
        OTHER = "other", _("Other")

    class State(models.TextChoices):
        OUTSTANDING = "outstanding", _("To enter")
        ENTERED = "entered", _("Entered")
        WAIVED = "waived", _("Waived")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="downtime_records")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, verbose_name=_("department"))
    system = models.ForeignKey(
        InformationSystem, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("system")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    count = models.PositiveIntegerField(_("how many"), default=1, validators=[MinValueValidator(1)])
    occurred_at = models.DateTimeField(_("original time"))
    performed_by = models.CharField(_("done on paper by"), max_length=50)
    temp_numbers = models.CharField(_("temporary numbers used"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    recorded_at = models.DateTimeField(_("recorded"))
    recorded_label = models.CharField(max_length=150, blank=True)
    state = models.CharField(
        _("state"), max_length=12, choices=State.choices, default=State.OUTSTANDING, db_index=True
    )
    entered_at = models.DateTimeField(_("entered"), null=True, blank=True)
    entered_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    entered_label = models.CharField(_("entered by"), max_length=150, blank=True)
    entered_on_behalf_of = models.CharField(_("on behalf of"), max_length=50, blank=True)
    waiver = models.ForeignKey(
        "BackEntryWaiver", null=True, blank=True, on_delete=models.SET_NULL, related_name="records"
    )

    class Meta:
        verbose_name = _("paper record")
        verbose_name_plural = _("paper records")
        ordering = ["incident", "department", "occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.department} {self.get_kind_display()} ×{self.count}"


class BackEntryWaiver(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="backentry_waivers")
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField(_("reason"))
    waived_at = models.DateTimeField(_("waived"))
    waived_by = models.ForeignKey(USER, null=True, on_delete=models.SET_NULL, related_name="+")
    waived_label = models.CharField(max_length=150, blank=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("back-entry waiver")
        verbose_name_plural = _("back-entry waivers")
        ordering = ["incident", "waived_at"]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.waived_at:%Y-%m-%d %H:%M}"


# --- Contacts ------------------------------------------------------------------------------


class Contact(models.Model):
    """系统供应商, 网络运营商, 上级主管部门: whom to call, under which contract and SLA."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="contacts")
    kind = models.CharField(_("kind"), max_length=12, choices=ContactKind.choices)
    organisation = models.CharField(_("organisation"), max_length=100)
    name = models.CharField(_("contact person"), max_length=50, blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    phone_alt = models.CharField(_("other phone (24 h)"), max_length=30, blank=True)
    email = models.EmailField(_("email"), blank=True)
    systems = models.ManyToManyField(
        InformationSystem, blank=True, related_name="contacts", verbose_name=_("systems supported")
    )
    contract_no = models.CharField(_("contract number"), max_length=50, blank=True)
    contract_expires = models.DateField(_("contract expires"), null=True, blank=True)
    sla_response_minutes = models.PositiveIntegerField(_("SLA: response (minutes)"), null=True, blank=True)
    sla_onsite_hours = models.PositiveIntegerField(_("SLA: engineer on site (hours)"), null=True, blank=True)
    sla_notes = models.CharField(_("SLA notes"), max_length=300, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["hospital", "kind", "organisation"]

    def __str__(self) -> str:
        return f"{self.organisation} {self.name}".strip()


class ContactLog(models.Model):
    class Channel(models.TextChoices):
        PHONE = "phone", _("Phone call")
        SMS = "sms", _("SMS")
        EMAIL = "email", _("Email")
        IM = "im", _("WeCom / DingTalk / WeChat")
        ONSITE = "onsite", _("On site")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="contact_logs")
    contact = models.ForeignKey(
        Contact, on_delete=models.PROTECT, related_name="logs", verbose_name=_("contact")
    )
    channel = models.CharField(_("how"), max_length=10, choices=Channel.choices)
    at = models.DateTimeField(_("time"))
    summary = models.TextField(_("what was said"))
    ticket = models.CharField(_("their ticket number"), max_length=50, blank=True)
    by_label = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name = _("contact log entry")
        verbose_name_plural = _("contact log")
        ordering = ["incident", "at"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M} {self.contact}"


# --- Recovery (恢复与重建) -----------------------------------------------------------------


class SystemRecovery(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="recoveries")
    system = models.ForeignKey(InformationSystem, on_delete=models.PROTECT, verbose_name=_("system"))
    down_since = models.DateTimeField(_("down since"))
    backup_used = models.CharField(_("backup used"), max_length=200, blank=True)
    restore_point = models.DateTimeField(_("data restored up to"), null=True, blank=True)
    restored_at = models.DateTimeField(_("service restored"), null=True, blank=True)
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)
    verified_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    verified_label = models.CharField(_("verified by"), max_length=150, blank=True)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("system recovery")
        verbose_name_plural = _("system recoveries")
        ordering = ["incident", "system"]
        constraints = [models.UniqueConstraint(fields=["incident", "system"], name="unique_system_recovery")]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.system}"

    @property
    def data_loss_minutes(self) -> int | None:
        if self.restore_point is None:
            return None
        return max(0, int((self.down_since - self.restore_point).total_seconds() // 60))

    @property
    def downtime_minutes(self) -> int | None:
        if self.restored_at is None:
            return None
        return max(0, int((self.restored_at - self.down_since).total_seconds() // 60))

    @property
    def rpo_met(self) -> bool | None:
        loss = self.data_loss_minutes
        return None if loss is None else loss <= self.system.rpo_minutes

    @property
    def rto_met(self) -> bool | None:
        down = self.downtime_minutes
        return None if down is None else down <= self.system.rto_minutes


class RecoveryCheck(Bilingual, models.Model):
    recovery = models.ForeignKey(SystemRecovery, on_delete=models.CASCADE, related_name="checks")
    order = models.PositiveSmallIntegerField(default=0)
    text = models.CharField(_("check"), max_length=200)
    text_en = models.CharField(max_length=200, blank=True)
    done = models.BooleanField(_("done"), default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    done_label = models.CharField(max_length=150, blank=True)
    result = models.CharField(_("result"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("recovery check")
        verbose_name_plural = _("recovery checks")
        ordering = ["recovery", "order", "id"]

    def __str__(self) -> str:
        return self.tr("text")


# --- Post-incident review (事后总结) ------------------------------------------------------


class Review(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        FINAL = "final", _("Final")

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="review")
    began_at = models.DateTimeField(
        _("fault began"),
        null=True,
        blank=True,
        help_text=_("When the fault really began, if before the first report."),
    )
    summary = models.TextField(_("summary"), blank=True)
    root_cause = models.TextField(_("root cause"), blank=True)
    contributing_factors = models.TextField(_("contributing factors"), blank=True)
    lessons = models.TextField(_("lessons learned"), blank=True)
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.DRAFT)
    updated_at = models.DateTimeField(_("updated"))
    updated_label = models.CharField(max_length=150, blank=True)
    finalized_at = models.DateTimeField(_("finalised"), null=True, blank=True)
    finalized_label = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name = _("post-incident review")
        verbose_name_plural = _("post-incident reviews")

    def __str__(self) -> str:
        return str(self.incident)


class FollowUpAction(models.Model):
    class State(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="actions")
    description = models.CharField(_("action"), max_length=500)
    owner = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="follow_ups", verbose_name=_("owner")
    )
    due_date = models.DateField(_("due"))
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.OPEN, db_index=True
    )
    created_at = models.DateTimeField(_("added"))
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    done_label = models.CharField(max_length=150, blank=True)
    done_note = models.CharField(_("how it was done"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("follow-up action")
        verbose_name_plural = _("follow-up actions")
        ordering = ["state", "due_date", "id"]

    def __str__(self) -> str:
        return self.description

    @property
    def is_overdue(self) -> bool:
        return self.state == self.State.OPEN and self.due_date < timezone.localdate()


GBT_CATEGORY_CODES = set(gbt.Category.values)
