import datetime

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Router, Schema, Status

from hisguard.core.api_auth import API_AUTH, require
from hisguard.core.errors import Forbidden
from hisguard.incidents.models import Incident
from hisguard.paging import actions
from hisguard.paging.models import DutyRoster, Notification
from hisguard.paging.rosters import on_duty

router = Router(tags=["paging"], auth=API_AUTH)


class AckOut(Schema):
    acknowledged: int


class BroadcastIn(Schema):
    text: str


class BroadcastOut(Schema):
    recipients: int


class OnDutyOut(Schema):
    roster: str
    at: datetime.datetime
    person: str | None
    phone: str | None
    shift_start: datetime.datetime
    shift_end: datetime.datetime
    layer: str
    override: bool


class DeliveryOut(Schema):
    channel: str
    address: str
    state: str
    attempts: int
    last_error: str
    sent_at: datetime.datetime | None


class NotificationOut(Schema):
    id: int
    to: str
    kind: str
    state: str
    subject: str
    created_at: datetime.datetime
    deliveries: list[DeliveryOut]


@router.post(
    "/incidents/{int:incident_id}/acknowledge", response=AckOut, summary="Acknowledge: stop escalation"
)
def acknowledge(request: HttpRequest, incident_id: int):
    user = require(request, "incidents.view_incident")
    if not (user.has_perm("incidents.triage_incident") or user.has_perm("incidents.command_incident")):
        raise Forbidden("forbidden")
    return {
        "acknowledged": actions.acknowledge(get_object_or_404(Incident, pk=incident_id), user=user, via="api")
    }


@router.post(
    "/incidents/{int:incident_id}/broadcast", response={201: BroadcastOut}, summary="All-hospital notice"
)
def broadcast(request: HttpRequest, incident_id: int, payload: BroadcastIn):
    require(request, "incidents.command_incident")
    count = actions.broadcast(get_object_or_404(Incident, pk=incident_id), payload.text)
    return Status(201, {"recipients": count})


@router.get(
    "/incidents/{int:incident_id}/notifications", response=list[NotificationOut], summary="Delivery log"
)
def notifications(request: HttpRequest, incident_id: int):
    require(request, "paging.view_notification")
    rows = (
        Notification.objects.filter(incident_id=incident_id)
        .select_related("person")
        .prefetch_related("deliveries")
    )
    return [
        {
            "id": n.pk,
            "to": n.person.name if n.person else n.recipient,
            "kind": n.kind,
            "state": n.state,
            "subject": n.subject,
            "created_at": n.created_at,
            "deliveries": list(n.deliveries.all()),
        }
        for n in rows.order_by("created_at")
    ]


@router.get("/rosters/{code}/on-duty", response=OnDutyOut, summary="Who is on duty (now or at a time)")
def who_is_on_duty(request: HttpRequest, code: str, at: datetime.datetime | None = None):
    require(request, "paging.view_dutyroster")
    roster = get_object_or_404(DutyRoster, code=code)
    moment = at or timezone.now()
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    shift = on_duty(roster, moment)
    return {
        "roster": roster.code,
        "at": moment,
        "person": shift.person.name if shift.person else None,
        "phone": shift.person.phone if shift.person else None,
        "shift_start": shift.start,
        "shift_end": shift.end,
        "layer": shift.layer,
        "override": shift.override,
    }
