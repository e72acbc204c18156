from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "hisguard.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from hisguard.core import audit, roles

        audit.connect_model_signals()
        post_migrate.connect(roles.sync_role_groups, sender=self)
