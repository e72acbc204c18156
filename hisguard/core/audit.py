"""The audit log: who changed what, when, from where.

Two layers: every save/delete of a model from HISGuard's apps is logged by signal (so the
admin, imports and the API are covered without each remembering to), and domain actions add
a semantic entry ("incident.confirm") with the details that matter.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import decimal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models.signals import post_delete, post_save

from hisguard.core import sql

AUDITED_APPS = {"organisation", "reporting", "incidents", "core", "paging", "continuity"}
# Fields never copied into the log: credentials would otherwise leak to auditors.
SECRET_FIELDS = {"report_token", "token_hash", "password", "status_token", "feed_token"}
# Sealed (encrypted) patient data and connector credentials of the continuity app.
SECRET_FIELDS |= {"sealed_secret", "sealed_issues", "sealed_payload", "sealed_render"}
# Monitoring: the heartbeat URL's token is a credential.
SECRET_FIELDS |= {"ping_token"}
AUDITED_APPS |= {"monitoring"}
# Records that are themselves the log, or pure bookkeeping.
UNAUDITED_MODELS = {
    # Monitoring: samples, rollups and state are high-volume machine output; alerts and
    # warnings have their own history (timeline, warnings page); people's changes to the
    # configuration are audited.
    "monitoring.sample",
    "monitoring.rollup",
    "monitoring.checkstate",
    "monitoring.statechange",
    "monitoring.alert",
    "monitoring.earlywarning",
    "monitoring.checkernode",
    # Downtime data continuity: snapshots and packets are high-volume sealed patient data;
    # the packet access log is a log of its own.
    "continuity.snapshot",
    "continuity.wardpacket",
    "continuity.packetaccess",
    "core.auditlog",
    "core.sequence",
    "incidents.timelineentry",
    # The outbox and its bookkeeping are logs of their own (delivery log, timeline).
    "paging.notification",
    "paging.delivery",
    "paging.deliveryattempt",
    "paging.workerheartbeat",
    "paging.acktoken",
    "paging.escalationrun",
}


@dataclass(frozen=True)
class Actor:
    user: Any = None
    label: str = "system"
    ip: str | None = None


_current_actor: contextvars.ContextVar[Actor] = contextvars.ContextVar(
    "hisguard_actor",
    default=Actor(),  # noqa: B039 - Actor is a frozen dataclass
)


def current_actor() -> Actor:
    return _current_actor.get()


@contextlib.contextmanager
def acting_as(user: Any = None, label: str | None = None, ip: str | None = None) -> Iterator[Actor]:
    """Attribute every change made inside the block to this actor."""
    if label is None:
        label = user.get_username() if user is not None and user.is_authenticated else "anonymous"
    actor = Actor(user=user if user is not None and user.is_authenticated else None, label=label, ip=ip)
    token = _current_actor.set(actor)
    try:
        yield actor
    finally:
        _current_actor.reset(token)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The concrete field values of a row, minus secrets, as JSON-safe values."""
    data: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.name in SECRET_FIELDS:
            continue
        data[field.attname] = _plain(getattr(instance, field.attname))
    return data


def record(action: str, obj: models.Model | None = None, **details: Any) -> None:
    """Write one audit entry in the current transaction."""
    from hisguard.core.models import AuditLog

    actor = current_actor()
    sql.insert(
        AuditLog(
            actor=actor.user,
            actor_label=actor.label[:150],
            action=action,
            object_type=obj._meta.label_lower if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            object_repr=str(obj)[:200] if obj is not None else "",
            details={key: _plain(value) for key, value in details.items()},
            ip_address=actor.ip,
        )
    )


def _is_audited(sender: type[models.Model]) -> bool:
    meta = sender._meta
    return meta.app_label in AUDITED_APPS and meta.label_lower not in UNAUDITED_MODELS


def _on_save(sender, instance, created, raw=False, update_fields=None, **kwargs) -> None:
    if raw or not _is_audited(sender):
        return
    # Derived bookkeeping (e.g. an incident's "last evidence" time) is not a change anyone made;
    # the change that moved it is audited on its own.
    bookkeeping: frozenset[str] = getattr(sender, "AUDIT_BOOKKEEPING_FIELDS", frozenset())
    if not created and update_fields and set(update_fields) <= bookkeeping:
        return
    record_saved(instance, created=created)


def record_saved(instance: models.Model, *, created: bool) -> None:
    """The entry a save writes; for rows inserted without ``save()`` (see core.sql.insert)."""
    action = f"{instance._meta.label_lower}.{'create' if created else 'update'}"
    record(action, instance, values=snapshot(instance))


def _on_delete(sender, instance, **kwargs) -> None:
    if _is_audited(sender):
        record(f"{sender._meta.label_lower}.delete", instance, values=snapshot(instance))


def connect_model_signals() -> None:
    for model in apps.get_models():
        if _is_audited(model):
            post_save.connect(_on_save, sender=model, dispatch_uid=f"audit-save-{model._meta.label_lower}")
            post_delete.connect(_on_delete, sender=model, dispatch_uid=f"audit-del-{model._meta.label_lower}")


def set_actor(user: Any = None, label: str | None = None, ip: str | None = None) -> None:
    """Replace the actor for the rest of this request (the API learns who it is after the
    middleware ran). The middleware's `acting_as` restores the previous actor at the end."""
    if label is None:
        label = user.get_username() if user is not None and user.is_authenticated else "anonymous"
    _current_actor.set(
        Actor(user=user if user is not None and user.is_authenticated else None, label=label, ip=ip)
    )
