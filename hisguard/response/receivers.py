"""Incident command reacts to what happens to incidents (signals sent inside their transaction)."""

from __future__ import annotations

from django.apps import apps
from django.db.models.signals import post_delete, post_save

from hisguard.core import audit
from hisguard.incidents.models import Status
from hisguard.incidents.signals import incident_class_raised, incident_closing, incident_status_changed

# Records that are logs themselves or copies made by an action that writes its own entry.
UNAUDITED = {"response.steprun", "response.recoverycheck"}


def on_status(sender, incident, old_status, new_status, now=None, **kwargs) -> None:
    from hisguard.response import actions

    if new_status in (Status.CONFIRMED, Status.RESPONDING):
        actions.auto_attach(incident, now=now)
    if new_status in (Status.RECOVERING, Status.RESOLVED):
        actions.ensure_recoveries(incident, now=now)


def on_class_raised(sender, incident, old_class, new_class, now=None, **kwargs) -> None:
    from hisguard.response import actions

    if old_class is not None and incident.is_open:
        actions.reconsider_playbook(incident, now=now)


def on_closing(sender, incident, new_status, **kwargs) -> None:
    from hisguard.response import actions

    if new_status == Status.CLOSED:
        actions.check_may_close(incident)


def _on_save(sender, instance, created, raw=False, **kwargs) -> None:
    if not raw:
        label = sender._meta.label_lower
        audit.record(
            f"{label}.{'create' if created else 'update'}", instance, values=audit.snapshot(instance)
        )


def _on_delete(sender, instance, **kwargs) -> None:
    audit.record(f"{sender._meta.label_lower}.delete", instance, values=audit.snapshot(instance))


def connect() -> None:
    incident_status_changed.connect(on_status, dispatch_uid="response-status")
    incident_class_raised.connect(on_class_raised, dispatch_uid="response-class")
    incident_closing.connect(on_closing, dispatch_uid="response-closing")
    # Every change to incident-command records is in the audit log, whoever makes it (admin too).
    for model in apps.get_app_config("response").get_models():
        label = model._meta.label_lower
        if label in UNAUDITED:
            continue
        post_save.connect(_on_save, sender=model, dispatch_uid=f"audit-save-{label}")
        post_delete.connect(_on_delete, sender=model, dispatch_uid=f"audit-del-{label}")
