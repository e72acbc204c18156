"""Paging reacts to what happens to incidents (signals sent inside the incident's transaction)."""

from __future__ import annotations

from django.dispatch import receiver
from django.utils import translation
from django.utils.translation import gettext as _

from hisguard.incidents.models import Status
from hisguard.incidents.signals import incident_class_raised, incident_feedback, incident_status_changed
from hisguard.paging.actions import notify_reporters, start_escalation, stop_escalations


@receiver(incident_class_raised, dispatch_uid="paging-escalate")
def escalate(sender, incident, old_class, new_class, now, **kwargs) -> None:
    if incident.is_open:
        start_escalation(incident, now, new_incident=old_class is None)


@receiver(incident_status_changed, dispatch_uid="paging-status")
def on_status(sender, incident, old_status, new_status, message, now, **kwargs) -> None:
    if new_status in (Status.RESOLVED, Status.CLOSED):
        stop_escalations(incident, now)
    if old_status == Status.RESOLVED and new_status == Status.RESPONDING:
        # Reopened: the fault is back, so its people are paged again from the first step.
        start_escalation(incident, now)
    if new_status in (Status.CONFIRMED, Status.RESOLVED):
        with translation.override("zh-hans"):
            text = message or (
                _("IT has confirmed the fault.")
                if new_status == Status.CONFIRMED
                else _("The fault is fixed.")
            )
        notify_reporters(incident, text, now)


@receiver(incident_feedback, dispatch_uid="paging-feedback")
def on_feedback(sender, incident, message, now, **kwargs) -> None:
    notify_reporters(incident, message, now)
