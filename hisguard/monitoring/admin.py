from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from hisguard.monitoring.forms import CheckForm
from hisguard.monitoring.models import (
    ActiveCheck,
    Alert,
    AllowedNetwork,
    CheckerNode,
    EarlyWarning,
    Heartbeat,
    IntakeSource,
    MaintenanceWindow,
    MappingRule,
)


@admin.register(AllowedNetwork)
class AllowedNetworkAdmin(admin.ModelAdmin):
    """The fence around the checker: only superusers change it."""

    list_display = ("cidr", "description", "created_at")

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(ActiveCheck)
class ActiveCheckAdmin(admin.ModelAdmin):
    form = CheckForm
    list_display = ("name", "kind", "target_label", "asset", "system", "interval_seconds", "enabled")
    list_filter = ("kind", "enabled", "hospital")
    search_fields = ("name", "host", "url", "asset__hostname")


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("name", "state", "period_seconds", "grace_seconds", "last_ping_at", "enabled")
    readonly_fields = ("state", "last_ping_at", "last_failure_at")
    raw_id_fields = ("asset",)


@admin.register(IntakeSource)
class IntakeSourceAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "hospital",
        "prefix",
        "rate_limit_per_minute",
        "last_received_at",
        "enabled",
    )
    readonly_fields = ("prefix", "last_received_at")
    actions = ["rotate_token"]

    def save_model(self, request, obj, form, change) -> None:
        if not obj.token_hash:
            raw = obj.issue_token()
            messages.warning(request, _("The token, shown this once: %(token)s") % {"token": raw})
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Issue a new token"))
    def rotate_token(self, request, queryset) -> None:
        for source in queryset:
            raw = source.issue_token()
            source.save(update_fields=["token_hash", "prefix"])
            messages.warning(request, _("%(source)s: new token %(token)s") % {"source": source, "token": raw})


@admin.register(MappingRule)
class MappingRuleAdmin(admin.ModelAdmin):
    list_display = ("order", "label", "pattern", "asset_template", "system_template", "enabled", "hospital")
    list_display_links = ("label",)
    list_editable = ("order", "enabled")
    list_filter = ("hospital", "enabled")


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    list_display = ("name", "starts_at", "ends_at", "repeat_weekly", "whole_hospital")
    filter_horizontal = ("systems",)
    raw_id_fields = ("assets",)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    """For reference: alerts change through intake, the checker and the unmapped queue."""

    list_display = ("name", "source", "status", "asset", "system", "incident", "starts_at", "received_count")
    list_filter = ("status", "source", "silenced")
    search_fields = ("name", "fingerprint")
    readonly_fields = [f.name for f in Alert._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(EarlyWarning)
class EarlyWarningAdmin(admin.ModelAdmin):
    list_display = ("kind", "subject", "opened_at", "cleared_at")
    list_filter = ("kind",)


@admin.register(CheckerNode)
class CheckerNodeAdmin(admin.ModelAdmin):
    list_display = ("name", "started_at", "last_seen", "checks")
