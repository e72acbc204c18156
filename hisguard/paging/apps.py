from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PagingConfig(AppConfig):
    name = "hisguard.paging"
    label = "paging"
    verbose_name = _("Paging and notifications")
    # Run by `hisguard worker` (see paging.worker.periodic_jobs): (function(now), seconds).
    worker_jobs = [("hisguard.paging.auditor.audit", 60)]

    def ready(self) -> None:
        from hisguard.paging import receivers  # noqa: F401 - connects the signal receivers
