from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContinuityConfig(AppConfig):
    name = "hisguard.continuity"
    label = "continuity"
    verbose_name = _("Downtime data continuity")
    # Run by the worker (paging/worker.py: periodic_jobs): start due snapshots in a background
    # thread, check snapshot and node health. One indexed query when nothing is due.
    worker_jobs = [("hisguard.continuity.actions.run_due_snapshots", 30)]

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from hisguard.continuity import crypto

        def reset_keys(setting: str, **kwargs) -> None:
            if setting in ("HISGUARD_DATA_KEY", "HISGUARD_DATA_KEYS_OLD", "VAR_DIR"):
                crypto.reset_server_keys()

        setting_changed.connect(reset_keys, dispatch_uid="continuity-reset-keys", weak=False)
