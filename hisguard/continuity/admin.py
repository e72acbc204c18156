"""Admin: connectors and nodes are managed on the Downtime packets pages (sealed secrets, tokens
shown once); here they, the snapshots and the logs can be looked at. No patient data is shown."""

from __future__ import annotations

from django.contrib import admin

from hisguard.continuity.models import Connector, DowntimeNode, EmergencyAccess, PacketAccess, Snapshot


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "hospital",
        "kind",
        "is_active",
        "health",
        "interval_minutes",
        "keep",
        "last_success_at",
    )
    list_filter = ("kind", "is_active", "health")
    readonly_fields = (
        "next_run_at",
        "last_attempt_at",
        "last_success_at",
        "last_error",
        "consecutive_failures",
        "health",
    )
    exclude = ("sealed_secret",)


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnly):
    list_display = ("connector", "started_at", "status", "as_of", "patients", "skipped", "issue_count")
    list_filter = ("status", "connector")
    exclude = ("sealed_issues",)


@admin.register(DowntimeNode)
class DowntimeNodeAdmin(admin.ModelAdmin):
    list_display = ("name", "ward", "is_active", "last_sync_at", "last_packet_as_of", "behind", "prefix")
    list_filter = ("is_active", "behind")
    readonly_fields = ("prefix", "last_sync_at", "last_packet_as_of", "last_ip", "last_version", "behind")


@admin.register(EmergencyAccess)
class EmergencyAccessAdmin(ReadOnly):
    list_display = ("user", "ward", "started_at", "expires_at", "alerted", "reason")


@admin.register(PacketAccess)
class PacketAccessAdmin(ReadOnly):
    list_display = ("at", "actor_label", "ward_label", "action", "reason", "ip_address")
    list_filter = ("action",)
    search_fields = ("actor_label", "ward_label", "reason")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
