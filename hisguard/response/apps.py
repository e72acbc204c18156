from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ResponseConfig(AppConfig):
    name = "hisguard.response"
    label = "response"
    verbose_name = _("Incident command")
    worker_jobs = [("hisguard.response.actions.note_overdue_steps", 60)]

    def ready(self) -> None:
        from hisguard.response import receivers

        receivers.connect()
