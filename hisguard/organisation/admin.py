"""Admin for the hospital model, with spreadsheet import/export (CSV, XLSX) of every list."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin
from import_export.formats import base_formats

from hisguard.organisation.models import Area, Asset, Department, Hospital, InformationSystem, Person
from hisguard.organisation.resources import (
    AreaResource,
    AssetResource,
    DepartmentResource,
    InformationSystemResource,
    PersonResource,
)


class SpreadsheetAdmin(ImportExportModelAdmin):
    """Import and export as CSV or XLSX; an import with any invalid row is refused as a whole."""

    formats = [base_formats.XLSX, base_formats.CSV]
    list_per_page = 100


@admin.register(Hospital)
class HospitalAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "time_zone"]
    search_fields = ["code", "name"]


@admin.register(Area)
class AreaAdmin(SpreadsheetAdmin):
    resource_classes = [AreaResource]
    list_display = ["code", "name", "kind", "parent", "hospital"]
    list_filter = ["hospital", "kind"]
    list_select_related = ["parent", "hospital"]
    search_fields = ["code", "name", "parent__name"]
    autocomplete_fields = ["parent"]


@admin.register(Department)
class DepartmentAdmin(SpreadsheetAdmin):
    resource_classes = [DepartmentResource]
    list_display = ["code", "name", "kind", "area", "beds", "phone", "hospital"]
    list_filter = ["hospital", "kind"]
    list_select_related = ["area__parent", "hospital"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["area"]


class BuildingFilter(admin.SimpleListFilter):
    title = _("building")
    parameter_name = "building"

    def lookups(self, request, model_admin):
        return [
            (str(area.pk), f"{area.name} ({area.code})")
            for area in Area.objects.filter(parent__isnull=True).order_by("hospital__code", "code")
        ]

    def queryset(self, request, queryset):
        building = self.value()
        if not building:
            return queryset
        # A building, its floors, and the zones on those floors.
        return queryset.filter(
            Q(area_id=building) | Q(area__parent_id=building) | Q(area__parent__parent_id=building)
        )


@admin.register(Asset)
class AssetAdmin(SpreadsheetAdmin):
    resource_classes = [AssetResource]
    list_display = ["hostname", "name", "kind", "area", "department", "upstream", "ip_address", "is_active"]
    list_filter = ["kind", "is_active", BuildingFilter, "hospital"]
    list_select_related = ["area__parent", "department", "upstream"]
    search_fields = ["hostname", "name", "location"]
    autocomplete_fields = ["area", "department", "upstream", "depends_on"]


@admin.register(InformationSystem)
class InformationSystemAdmin(SpreadsheetAdmin):
    resource_classes = [InformationSystemResource]
    list_display = ["code", "name", "criticality", "dr_level", "rto_minutes", "rpo_minutes", "hospital"]
    list_filter = ["criticality", "dr_level", "hospital"]
    list_select_related = ["hospital"]
    search_fields = ["code", "name", "vendor"]
    autocomplete_fields = ["depends_on", "departments"]


@admin.register(Person)
class PersonAdmin(SpreadsheetAdmin):
    resource_classes = [PersonResource]
    list_display = ["employee_no", "name", "position", "department", "phone", "user", "is_active"]
    list_filter = ["position", "is_active", "hospital"]
    list_select_related = ["department", "user"]
    search_fields = ["employee_no", "name", "phone", "department__name"]
    autocomplete_fields = ["department", "user"]
