"""Paging actions: notify (write to the outbox), escalate, acknowledge, broadcast.

Everything here runs inside the caller's transaction: the notification rows commit with the
incident change that caused them, and the worker delivers them afterwards.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Prefetch
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hisguard.core import audit, sql
from hisguard.core.errors import DomainError
from hisguard.incidents import timeline
from hisguard.incidents.models import Incident, TimelineEntry
from hisguard.organisation.models import Hospital, Person
from hisguard.paging import messages
from hisguard.paging.models import (
    AckToken,
    Channel,
    ContactMethod,
    Delivery,
    EscalationPolicy,
    EscalationRun,
    Notification,
    StepTarget,
    Urgency,
)
from hisguard.paging.targets import HEADS, resolve_all, snapshot_target

Kind = TimelineEntry.Kind
ESCALATING = [EscalationRun.State.ACTIVE, EscalationRun.State.ACKNOWLEDGED]


# --- The outbox ----------------------------------------------------------------------------


def contact_methods(person: Person, channels: list[str] | None = None) -> list[ContactMethod]:
    methods = [m for m in person.contact_methods.all() if m.is_active]
    if channels:
        methods = [m for m in methods if m.channel in channels]
        methods.sort(key=lambda m: (channels.index(m.channel), m.priority))
    return methods


def _storm_digest(person: Person, now: datetime.datetime) -> Notification | None:
    """Storm control: past the limit within the window, further messages to this person wait
    in one digest (sent after a short hold) instead of each paging them separately."""
    window_start = now - datetime.timedelta(seconds=settings.HISGUARD_STORM_WINDOW_SECONDS)
    recent = (
        Notification.objects.filter(person=person, created_at__gte=window_start, bundle__isnull=True)
        .exclude(kind=Notification.Kind.DIGEST)
        .exclude(state__in=[Notification.State.UNREACHABLE, Notification.State.CANCELLED])
        .count()
    )
    if recent < settings.HISGUARD_STORM_LIMIT:
        return None
    digest = Notification.objects.filter(
        person=person, kind=Notification.Kind.DIGEST, state=Notification.State.PENDING
    ).first()
    if digest is None:
        digest = Notification.objects.create(
            hospital=person.hospital,
            person=person,
            language=person.language,
            kind=Notification.Kind.DIGEST,
            subject="",
            body="",
            dedup_key=f"digest:{person.pk}:{now.timestamp()}",
            created_at=now,
        )
        _queue(
            digest,
            contact_methods(person)[0],
            now + datetime.timedelta(seconds=settings.HISGUARD_DIGEST_HOLD_SECONDS),
        )
    return digest


def _queue(notification: Notification, method: ContactMethod, due: datetime.datetime) -> Delivery:
    return Delivery.objects.create(
        notification=notification,
        contact_method=method,
        channel=method.channel,
        address=method.address,
        next_attempt_at=due,
    )


def notify(
    person: Person,
    *,
    kind: str,
    subject: str,
    body: str,
    dedup_key: str,
    incident: Incident | None = None,
    urgency: str = Urgency.HIGH,
    channels: list[str] | None = None,
    run: EscalationRun | None = None,
    now: datetime.datetime | None = None,
) -> Notification:
    """Put one message to one person in the outbox (idempotent by `dedup_key`)."""
    now = now or timezone.now()
    existing = Notification.objects.filter(dedup_key=dedup_key).first()
    if existing is not None:
        return existing
    methods = contact_methods(person, channels)
    digest = _storm_digest(person, now) if methods else None
    notification = Notification.objects.create(
        hospital=person.hospital,
        person=person,
        language=person.language,
        incident=incident,
        kind=kind,
        urgency=urgency,
        subject=subject[:200],
        body=body,
        dedup_key=dedup_key,
        escalation_run=run,
        created_at=now,
    )
    if not methods:
        notification.state = Notification.State.UNREACHABLE
        notification.save(update_fields=["state"])
        return notification
    if digest is not None:
        notification.state, notification.bundle = Notification.State.BUNDLED, digest
        notification.save(update_fields=["state", "bundle"])
        return notification
    _queue(notification, methods[0], now)
    return notification


def notify_reporters(incident: Incident, text: str, now: datetime.datetime) -> int:
    """Reporters who left a phone number get IT's update by SMS when a gateway is set up;
    all reporters see it on their status page either way."""
    if not settings.HISGUARD_SMS_GATEWAY_URL:
        return 0
    phones = set(incident.reports.exclude(contact_phone="").values_list("contact_phone", flat=True))
    subject, body = messages.update_message(incident, text, settings.LANGUAGE_CODE)
    for phone in phones:
        key = hashlib.sha256(f"{incident.pk}:{phone}:{text}:{now.isoformat()}".encode()).hexdigest()
        notification = Notification.objects.create(
            hospital=incident.hospital,
            recipient=phone,
            incident=incident,
            kind=Notification.Kind.UPDATE,
            urgency=Urgency.NORMAL,
            subject=subject,
            body=body,
            dedup_key=f"reporter:{key}",
            created_at=now,
        )
        Delivery.objects.create(
            notification=notification, channel=Channel.SMS_HTTP, address=phone, next_attempt_at=now
        )
    return len(phones)


ACK_SALT = "hisguard.paging.ack"


def ack_url_for(notification: Notification) -> str:
    """A signed link: nothing to store per message; it expires and works once."""
    token = signing.dumps({"n": notification.pk}, salt=ACK_SALT, compress=True)
    return settings.SITE_URL + reverse("ack-link", args=[token])


# --- Escalation ----------------------------------------------------------------------------


def policy_snapshot(policy: EscalationPolicy) -> dict[str, Any]:
    """The policy as it is now, expanded into timed firings, frozen onto the run."""
    firings = []
    # Targets with the person or roster their label names: one query, not one per target (a
    # storm starts dozens of escalations a second, each under the correlation lock).
    targets_with_names = Prefetch("targets", queryset=StepTarget.objects.select_related("person", "roster"))
    steps = policy.steps.prefetch_related(targets_with_names).order_by("order", "delay_minutes")
    for index, step in enumerate(steps):
        targets = [snapshot_target(t) for t in step.targets.all()]
        for repeat in range(step.repeat_times + 1):
            firings.append(
                {
                    "step": index,
                    "repeat": repeat,
                    "offset_minutes": step.delay_minutes + repeat * step.repeat_every_minutes,
                    "targets": targets,
                    "channels": list(step.channels or []),
                    "requires_ack": step.requires_ack,
                }
            )
    firings.sort(key=lambda f: (f["offset_minutes"], f["step"], f["repeat"]))
    return {"policy": policy.pk, "name": policy.name, "firings": firings}


def start_escalation(
    incident: Incident, now: datetime.datetime, *, new_incident: bool = False
) -> EscalationRun | None:
    """Escalate by the policy of the incident's class; a higher class supersedes a lower one.

    The run is stored due at once with its policy still to be frozen onto it: the worker that
    fires its first step takes the snapshot (`expand`), as it would have sent that step anyway.
    This runs inside the report that opened or raised the incident, under the correlation
    lock, where reading and expanding the policy cost more than the rest of the report; the
    run row, committed with the incident, is what guarantees the escalation happens.

    A new incident has nothing running to check or supersede (it saves two queries on the
    report path, where a storm's first second opens dozens of incidents)."""
    if not new_incident:
        running = EscalationRun.objects.filter(incident=incident, state__in=ESCALATING)
        if running.filter(hospital_class__lte=incident.hospital_class).exists():
            return None  # already escalating at this class or above
        running.update(state=EscalationRun.State.SUPERSEDED, ended_at=now, next_due_at=None)
    run = EscalationRun(
        incident=incident,
        hospital_class=incident.hospital_class,
        snapshot={},
        started_at=now,
        next_due_at=now,
        state=EscalationRun.State.ACTIVE,
    )
    sql.insert(run)  # the run is its own log (not audited, no signals): one prepared INSERT
    return run


def expand(run: EscalationRun, now: datetime.datetime) -> None:
    """Freeze the policy of the run's class onto it, as it is now (`fire_due` then plans it).
    A hospital without a policy for the class gets a timeline note instead and no paging."""
    incident = run.incident
    policy = EscalationPolicy.objects.filter(
        hospital_id=incident.hospital_id, hospital_class=run.hospital_class
    ).first()
    if policy is None:
        run.snapshot = {"policy": None, "name": "", "firings": []}
        timeline.add(
            incident, Kind.ESCALATION, data={"event": "no_policy", "level": run.hospital_class}, at=now
        )
    else:
        run.snapshot = policy_snapshot(policy)
        timeline.add(
            incident,
            Kind.ESCALATION,
            data={"event": "started", "policy": policy.name, "level": run.hospital_class},
            at=now,
        )


def fire_due(run: EscalationRun, now: datetime.datetime) -> int:
    """Send every firing of the run that is due; returns the notifications created."""
    if not run.is_expanded:
        expand(run, now)
    firings = run.snapshot["firings"]
    incident = run.incident
    created = 0
    while run.next_index < len(firings):
        firing = firings[run.next_index]
        due = run.started_at + datetime.timedelta(minutes=firing["offset_minutes"])
        if due > now:
            break
        if run.state == EscalationRun.State.ACTIVE or not firing["requires_ack"]:
            created += _fire(run, incident, firing, now)
        run.next_index += 1
    remaining = [
        f
        for f in firings[run.next_index :]
        if run.state == EscalationRun.State.ACTIVE or not f["requires_ack"]
    ]
    if remaining:
        run.next_index = firings.index(remaining[0])
        run.next_due_at = run.started_at + datetime.timedelta(minutes=remaining[0]["offset_minutes"])
    else:
        run.next_index = len(firings)
        run.next_due_at = None
        if run.state == EscalationRun.State.ACTIVE:
            run.state, run.ended_at = EscalationRun.State.FINISHED, now
    run.lease_until = None
    run.save(update_fields=["snapshot", "next_index", "next_due_at", "state", "ended_at", "lease_until"])
    return created


def _fire(run: EscalationRun, incident: Incident, firing: dict[str, Any], now: datetime.datetime) -> int:
    people = resolve_all(firing["targets"], incident.hospital_id, now, incident)
    informational = not firing["requires_ack"]
    names = []
    for person in people:
        subject, body = (
            messages.broadcast_message(
                incident, _escalation_notice(incident, person.language), person.language
            )
            if informational
            else messages.escalation_message(incident, person.language)
        )
        notification = notify(
            person,
            kind=Notification.Kind.BROADCAST if informational else Notification.Kind.ESCALATION,
            subject=subject,
            body=body,
            dedup_key=f"run:{run.pk}:{firing['step']}:{firing['repeat']}:{person.pk}",
            incident=incident,
            urgency=Urgency.NORMAL if informational else Urgency.HIGH,
            channels=firing["channels"] or None,
            run=run,
            now=now,
        )
        names.append(
            f"{person.name}" + ("" if notification.state != Notification.State.UNREACHABLE else " ✗")
        )
    timeline.add(
        incident,
        Kind.NOTIFICATION,
        data={"step": firing["step"] + 1, "repeat": firing["repeat"], "people": names, "count": len(names)},
        at=now,
    )
    return len(people)


def _escalation_notice(incident: Incident, language: str) -> str:
    from django.utils import translation

    with translation.override(language):
        return str(
            _("An information-system fault affects the hospital; follow your department's manual procedure.")
        )


def process_due_escalations(now: datetime.datetime, *, limit: int = 50, worker: str = "") -> int:
    """Claim due runs (SKIP LOCKED, so workers share them) and fire their due steps."""
    done = 0
    with transaction.atomic():
        runs = list(
            EscalationRun.objects.select_for_update(skip_locked=True)
            .select_related("incident__hospital")
            .filter(state__in=ESCALATING, next_due_at__lte=now)
            .order_by("next_due_at")[:limit]
        )
        for run in runs:
            with audit.acting_as(None, label=f"worker {worker}".strip()):
                done += fire_due(run, now)
    return done


@transaction.atomic
def acknowledge(
    incident: Incident, *, user=None, person: Person | None = None, via: str = "page", now=None
) -> int:
    """Stop the escalation: nobody else is paged for it. Informational steps still go out."""
    now = now or timezone.now()
    if person is None and user is not None:
        person = getattr(user, "person", None)
    runs = list(
        EscalationRun.objects.select_for_update().filter(incident=incident, state=EscalationRun.State.ACTIVE)
    )
    if not runs:
        raise DomainError(
            _("There is no running escalation to acknowledge."), code="nothing_to_ack", status=409
        )
    for run in runs:
        run.state = EscalationRun.State.ACKNOWLEDGED
        run.acknowledged_by, run.acknowledged_at = person, now
        run.acknowledged_user = user if user is not None and user.is_authenticated else None
        run.save(update_fields=["state", "acknowledged_by", "acknowledged_at", "acknowledged_user"])
        fire_due(run, now)  # re-plan: only informational firings remain
    cancelled = _cancel_pending(incident, kinds=[Notification.Kind.ESCALATION])
    who = person.name if person else audit.current_actor().label
    timeline.add(incident, Kind.ACKNOWLEDGED, data={"who": who, "via": via, "cancelled": cancelled}, at=now)
    audit.record("incident.acknowledge", incident, who=who, via=via)
    return len(runs)


def _cancel_pending(incident: Incident, kinds: list[str]) -> int:
    """Messages not yet out that no longer need to go."""
    queued = Delivery.objects.filter(
        notification__incident=incident, notification__kind__in=kinds, state=Delivery.State.QUEUED
    )
    cancelled = queued.update(state=Delivery.State.CANCELLED)
    Notification.objects.filter(incident=incident, kind__in=kinds, state=Notification.State.PENDING).exclude(
        deliveries__state__in=[Delivery.State.SENDING, Delivery.State.SENT]
    ).update(state=Notification.State.CANCELLED)
    return cancelled


def stop_escalations(incident: Incident, now: datetime.datetime) -> None:
    stopped = EscalationRun.objects.filter(incident=incident, state__in=ESCALATING).update(
        state=EscalationRun.State.STOPPED, ended_at=now, next_due_at=None
    )
    if stopped:
        _cancel_pending(incident, kinds=[Notification.Kind.ESCALATION])
        timeline.add(incident, Kind.ESCALATION, data={"event": "stopped"}, at=now)


@transaction.atomic
def acknowledge_by_token(raw: str, now=None) -> Incident:
    now = now or timezone.now()
    try:
        data = signing.loads(
            raw, salt=ACK_SALT, max_age=datetime.timedelta(hours=settings.HISGUARD_ACK_LINK_HOURS)
        )
    except signing.SignatureExpired as exc:
        raise DomainError(
            _("This acknowledgement link has expired."), code="link_expired", status=410
        ) from exc
    except signing.BadSignature as exc:
        raise DomainError(_("This acknowledgement link is not valid."), code="bad_link", status=404) from exc
    notification = (
        Notification.objects.select_related("incident", "person").filter(pk=int(data.get("n") or 0)).first()
        if isinstance(data, dict)
        else None
    )
    if notification is None or notification.incident is None:
        raise DomainError(_("This acknowledgement link is not valid."), code="bad_link", status=404)
    _use, created = AckToken.objects.get_or_create(notification=notification, defaults={"used_at": now})
    if not created:
        raise DomainError(_("This acknowledgement link was already used."), code="link_used", status=409)
    incident, person = notification.incident, notification.person
    with audit.acting_as(None, label=f"{person.name if person else '?'} (link)"):
        try:
            acknowledge(incident, person=person, via="link", now=now)
        except DomainError:
            # Someone else acknowledged first; the link still did its job.
            timeline.add(
                incident, Kind.ACKNOWLEDGED, data={"who": person.name if person else "?", "via": "link"}
            )
    return incident


@transaction.atomic
def broadcast(incident: Incident, text: str, *, now=None) -> int:
    """全院通知: every department head and head nurse, and the reporters; on the status page too."""
    text = text.strip()
    if not text:
        raise DomainError(_("The message is empty."))
    if len(text) > 1000:
        raise DomainError(_("Keep an all-hospital notice under 1000 characters."))
    now = now or timezone.now()
    recipients = Person.objects.filter(
        hospital=incident.hospital, is_active=True, position__in=HEADS
    ).prefetch_related("contact_methods")
    key = hashlib.sha256(f"{incident.pk}:{text}:{now.isoformat()}".encode()).hexdigest()[:24]
    worded: dict[str, tuple[str, str]] = {}  # one wording per language, not per person
    for person in recipients:
        if person.language not in worded:
            worded[person.language] = messages.broadcast_message(incident, text, person.language)
        subject, body = worded[person.language]
        notify(
            person,
            kind=Notification.Kind.BROADCAST,
            subject=subject,
            body=body,
            dedup_key=f"broadcast:{key}:{person.pk}",
            incident=incident,
            urgency=Urgency.NORMAL,
            now=now,
        )
    notify_reporters(incident, text, now)
    timeline.add(incident, Kind.BROADCAST, data={"count": recipients.count()}, text=text, public=True, at=now)
    audit.record("incident.broadcast", incident, text=text, recipients=recipients.count())
    return recipients.count()


def notify_position(
    hospital: Hospital,
    positions: list[str],
    *,
    subject: str,
    body: str,
    key: str,
    urgency: str = Urgency.NORMAL,
) -> int:
    """A message to everyone in some positions (e.g. the emergency office), not tied to an incident."""
    people = Person.objects.filter(hospital=hospital, is_active=True, position__in=positions)
    for person in people:
        notify(
            person,
            kind=Notification.Kind.WARNING,
            subject=subject,
            body=body,
            dedup_key=f"{key}:{person.pk}",
            urgency=urgency,
        )
    return people.count()
