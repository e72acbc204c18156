from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    name = "hisguard.monitoring"
    label = "monitoring"
    verbose_name = _("Monitoring")

    def ready(self) -> None:
        from hisguard.incidents.evidence import DOWN_SYSTEM_PROVIDERS
        from hisguard.monitoring.evidence import down_systems

        if down_systems not in DOWN_SYSTEM_PROVIDERS:
            DOWN_SYSTEM_PROVIDERS.append(down_systems)
