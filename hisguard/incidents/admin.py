from __future__ import annotations

from django.contrib import admin

from hisguard.incidents.models import ClassificationPolicy, Incident, MaintenanceLog, TimelineEntry


@admin.register(ClassificationPolicy)
class ClassificationPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "hospital",
        "window_minutes",
        "class2_same_switch",
        "class2_same_area",
        "class2_system_departments",
        "class1_buildings",
        "class1_department_share",
    )


class TimelineInline(admin.TabularInline):
    model = TimelineEntry
    extra = 0
    can_delete = False
    readonly_fields = ("at", "actor_label", "kind", "data", "text", "public")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    """For reference only: incidents change through the incident page, which keeps the rules."""

    list_display = ("number", "title", "hospital_class", "status", "gbt_grade", "opened_at", "is_drill")
    list_filter = ("hospital_class", "status", "is_drill", "gbt_category")
    search_fields = ("number", "title")
    date_hierarchy = "opened_at"
    inlines = [TimelineInline]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MaintenanceLog)
class MaintenanceLogAdmin(admin.ModelAdmin):
    list_display = ("performed_at", "asset", "fault", "action", "performed_by", "incident")
    search_fields = ("asset__hostname", "fault", "action")
    raw_id_fields = ("asset", "incident")
    date_hierarchy = "performed_at"
