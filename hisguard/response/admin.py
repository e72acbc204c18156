"""Reference data in the admin: playbooks with their steps, procedures, forms, ranges, contacts.

Changes made here go through the model's validation and are audited like everything else; the
rules that need the whole picture (overlapping number ranges) are checked in `clean`."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from hisguard.response.models import (
    BackEntryWaiver,
    Contact,
    ContactLog,
    DowntimeProcedure,
    DowntimeRecord,
    EmergencyDeclaration,
    FollowUpAction,
    FormStock,
    PaperForm,
    Playbook,
    PlaybookStep,
    Review,
    TempNumberRange,
)


class StepInline(admin.StackedInline):
    model = PlaybookStep
    extra = 0
    fields = (
        ("order", "owner_role", "target_minutes", "contact_kind"),
        ("title", "title_en"),
        ("instructions", "instructions_en"),
        ("evidence", "evidence_en"),
    )


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "hospital", "auto_attach", "is_active", "order")
    list_filter = ("hospital", "is_active")
    search_fields = ("code", "name", "name_en")
    inlines = [StepInline]


@admin.register(DowntimeProcedure)
class DowntimeProcedureAdmin(admin.ModelAdmin):
    list_display = ("department", "system", "title", "switch_after_minutes", "is_active")
    list_filter = ("hospital", "code", "system")
    search_fields = ("title", "department__name", "department__code")
    filter_horizontal = ("forms",)


class StockInline(admin.TabularInline):
    model = FormStock
    extra = 0
    raw_id_fields = ("department",)


@admin.register(PaperForm)
class PaperFormAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "name_en", "hospital")
    inlines = [StockInline]


class RangeAdminForm(forms.ModelForm):
    class Meta:
        model = TempNumberRange
        fields = ["hospital", "department", "kind", "prefix", "first", "last", "note"]

    def clean(self):
        data = super().clean() or {}
        hospital, first, last = data.get("hospital"), data.get("first"), data.get("last")
        if hospital is not None and first is not None and last is not None:
            if first > last:
                raise ValidationError(_("The first number must not be greater than the last."))
            clash = TempNumberRange.objects.filter(
                hospital=hospital, prefix=(data.get("prefix") or "").upper(), first__lte=last, last__gte=first
            )
            if self.instance.pk:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                raise ValidationError(_("The range overlaps another range of the same prefix."))
        return data


@admin.register(TempNumberRange)
class TempNumberRangeAdmin(admin.ModelAdmin):
    form = RangeAdminForm
    list_display = ("department", "kind", "prefix", "first", "last", "note")
    list_filter = ("hospital", "kind")


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = (
        "organisation",
        "name",
        "kind",
        "phone",
        "contract_no",
        "sla_response_minutes",
        "is_active",
    )
    list_filter = ("hospital", "kind", "is_active")
    search_fields = ("organisation", "name", "phone")
    filter_horizontal = ("systems",)


@admin.register(EmergencyDeclaration)
class EmergencyDeclarationAdmin(admin.ModelAdmin):
    list_display = ("incident", "declared_at", "signed_by", "ended_at", "end_signed_by")
    readonly_fields = [f.name for f in EmergencyDeclaration._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(DowntimeRecord)
class DowntimeRecordAdmin(admin.ModelAdmin):
    list_display = ("incident", "department", "kind", "count", "occurred_at", "state", "entered_label")
    list_filter = ("state", "kind")
    readonly_fields = [f.name for f in DowntimeRecord._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(BackEntryWaiver)
class BackEntryWaiverAdmin(admin.ModelAdmin):
    list_display = ("incident", "department", "count", "waived_at", "waived_label")
    readonly_fields = [f.name for f in BackEntryWaiver._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ContactLog)
class ContactLogAdmin(admin.ModelAdmin):
    list_display = ("incident", "contact", "channel", "at", "by_label")
    readonly_fields = [f.name for f in ContactLog._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


class FollowUpInline(admin.TabularInline):
    model = FollowUpAction
    extra = 0
    raw_id_fields = ("owner",)


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("incident", "state", "updated_at", "finalized_at")
    list_filter = ("state",)
    inlines = [FollowUpInline]
