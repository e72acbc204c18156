from __future__ import annotations

from django.contrib import admin

from hisguard.reporting.models import FaultReport


@admin.register(FaultReport)
class FaultReportAdmin(admin.ModelAdmin):
    """Reports are evidence: readable here, never edited."""

    list_display = (
        "tracking_number",
        "created_at",
        "workstation",
        "department",
        "system",
        "symptom",
        "incident",
    )
    list_filter = ("symptom", "channel", "system")
    search_fields = ("tracking_number", "workstation__hostname", "text", "contact_phone")
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
