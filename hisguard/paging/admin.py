from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from hisguard.paging.models import (
    Channel,
    ContactMethod,
    Delivery,
    DutyRoster,
    EscalationPolicy,
    EscalationStep,
    Notification,
    RosterLayer,
    RosterMember,
    RosterOverride,
    StepTarget,
)


@admin.register(ContactMethod)
class ContactMethodAdmin(admin.ModelAdmin):
    list_display = ("person", "channel", "address", "priority", "is_active")
    list_filter = ("channel", "is_active")
    search_fields = ("person__name", "address")
    raw_id_fields = ("person",)


class LayerInline(admin.StackedInline):
    model = RosterLayer
    extra = 0


@admin.register(DutyRoster)
class DutyRosterAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "hospital", "handover_time")
    inlines = [LayerInline]


class MemberInline(admin.TabularInline):
    model = RosterMember
    extra = 1
    raw_id_fields = ("person",)


@admin.register(RosterLayer)
class RosterLayerAdmin(admin.ModelAdmin):
    list_display = ("roster", "name", "applies_on", "priority", "rotation_days", "start_date")
    inlines = [MemberInline]


@admin.register(RosterOverride)
class RosterOverrideAdmin(admin.ModelAdmin):
    list_display = ("roster", "person", "start", "end", "reason")
    raw_id_fields = ("person",)

    def save_model(self, request, obj, form, change) -> None:
        if obj.end <= obj.start:
            raise ValidationError(_("An override must end after it starts."))
        super().save_model(request, obj, form, change)


class StepTargetForm(forms.ModelForm):
    class Meta:
        model = StepTarget
        fields = ["kind", "person", "position", "roster"]

    def clean(self):
        data = super().clean() or {}
        kind = data.get("kind")
        if kind == StepTarget.Kind.PERSON:
            person = data.get("person")
            if person is None:
                raise ValidationError(_("Choose the person."))
            if not person.contact_methods.filter(is_active=True).exists():
                raise ValidationError(
                    _("%(person)s has no working contact method; add one before paging them.")
                    % {"person": person}
                )
        if kind == StepTarget.Kind.POSITION and not data.get("position"):
            raise ValidationError(_("Choose the position."))
        if kind == StepTarget.Kind.ROSTER and data.get("roster") is None:
            raise ValidationError(_("Choose the roster."))
        return data


class StepTargetFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        alive = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if not alive:
            raise ValidationError(_("A step needs at least one target: who is paged?"))


class StepTargetInline(admin.TabularInline):
    model = StepTarget
    form = StepTargetForm
    formset = StepTargetFormSet
    extra = 1
    raw_id_fields = ("person",)


class EscalationStepForm(forms.ModelForm):
    class Meta:
        model = EscalationStep
        fields = [
            "policy",
            "order",
            "delay_minutes",
            "channels",
            "repeat_every_minutes",
            "repeat_times",
            "requires_ack",
        ]

    def clean_channels(self):
        channels = self.cleaned_data.get("channels") or []
        if not isinstance(channels, list) or any(c not in Channel.values for c in channels):
            raise ValidationError(
                _("Channels must be a list of: %(choices)s.") % {"choices": ", ".join(Channel.values)}
            )
        return channels

    def clean(self):
        data = super().clean() or {}
        if data.get("repeat_times") and not data.get("repeat_every_minutes"):
            raise ValidationError(_("Say how many minutes apart the repeats are."))
        return data


@admin.register(EscalationStep)
class EscalationStepAdmin(admin.ModelAdmin):
    form = EscalationStepForm
    list_display = (
        "policy",
        "order",
        "delay_minutes",
        "repeat_every_minutes",
        "repeat_times",
        "requires_ack",
    )
    inlines = [StepTargetInline]


class StepInline(admin.TabularInline):
    model = EscalationStep
    form = EscalationStepForm
    extra = 0
    show_change_link = True


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "hospital", "hospital_class")
    inlines = [StepInline]


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    readonly_fields = ("channel", "address", "state", "attempts", "next_attempt_at", "last_error", "sent_at")
    fields = readonly_fields


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "person", "recipient", "kind", "state", "incident")
    list_filter = ("kind", "state")
    inlines = [DeliveryInline]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False
