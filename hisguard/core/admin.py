from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from hisguard.core.models import ApiToken, AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """Read-only: nobody edits or deletes the audit log, not even an administrator."""

    list_display = ("at", "actor_label", "action", "object_repr", "ip_address")
    list_filter = ("action",)
    search_fields = ("actor_label", "action", "object_repr", "object_id")
    date_hierarchy = "at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked")
    list_filter = ("revoked",)
    fields = ("name", "user", "revoked")
    actions = ["revoke"]

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, raw = ApiToken.issue(obj.name, obj.user)
        obj.pk = token.pk
        messages.warning(request, _("The token is shown only once; copy it now: %(token)s") % {"token": raw})

    @admin.action(description=_("Revoke selected tokens"))
    def revoke(self, request, queryset) -> None:
        for token in queryset:
            token.revoked = True
            token.save(update_fields=["revoked"])
