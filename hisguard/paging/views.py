from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods, require_POST

from hisguard.core.errors import DomainError
from hisguard.core.permissions import require_perm
from hisguard.incidents.models import OPEN_STATUSES, Incident
from hisguard.organisation.models import Hospital, Person
from hisguard.paging import actions, readiness
from hisguard.paging.calendar import roster_ical
from hisguard.paging.models import Delivery, DutyRoster, Notification
from hisguard.paging.rosters import on_duty, schedule


@require_http_methods(["GET", "POST"])
def ack_link(request: HttpRequest, token: str) -> HttpResponse:
    """The link in a message. GET only asks (link previews must not acknowledge); POST does."""
    if request.method == "POST":
        try:
            incident = actions.acknowledge_by_token(token)
        except DomainError as exc:
            return render(request, "paging/ack.html", {"error": exc.message}, status=exc.status)
        return render(request, "paging/ack.html", {"done": True, "incident": incident})
    return render(request, "paging/ack.html", {"token": token})


@require_POST
@require_perm("incidents.view_incident")
def acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    """Whoever is paged acknowledges: IT on duty, the IT head, leadership for class I."""
    if not (
        request.user.has_perm("incidents.triage_incident")
        or request.user.has_perm("incidents.command_incident")
    ):
        raise PermissionDenied
    incident = get_object_or_404(Incident, pk=pk)
    try:
        actions.acknowledge(incident, user=request.user, via="page")
    except DomainError as exc:
        messages.error(request, str(exc.message))
    return redirect("incident-detail", pk)


@require_POST
@require_perm("incidents.command_incident")
def broadcast(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    try:
        count = actions.broadcast(incident, request.POST.get("text", ""))
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, f"✓ {count}")
    return redirect("incident-detail", pk)


def _at(request: HttpRequest) -> datetime.datetime:
    value = request.GET.get("at", "")
    parsed = parse_datetime(value) if value else None
    if parsed is None:
        return timezone.now()
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


@require_perm("paging.view_dutyroster")
def rosters(request: HttpRequest) -> HttpResponse:
    at = _at(request)
    rows = [(roster, on_duty(roster, at)) for roster in DutyRoster.objects.order_by("code")]
    return render(request, "paging/rosters.html", {"rows": rows, "at": at})


@require_perm("paging.view_dutyroster")
def roster_detail(request: HttpRequest, code: str) -> HttpResponse:
    roster = get_object_or_404(DutyRoster, code=code)
    start = timezone.localdate()
    feed = settings.SITE_URL + f"/paging/rosters/{roster.code}.ics?token={roster.feed_token}"
    context = {
        "roster": roster,
        "shifts": schedule(roster, start, 21),
        "overrides": roster.overrides.all()[:20],
        "feed": feed,
        "now": on_duty(roster, timezone.now()),
    }
    return render(request, "paging/roster_detail.html", context)


def roster_feed(request: HttpRequest, code: str) -> HttpResponse:
    roster = DutyRoster.objects.filter(code=code, feed_token=request.GET.get("token", "")).first()
    if roster is None:
        raise Http404
    return HttpResponse(
        roster_ical(roster, timezone.localdate() - datetime.timedelta(days=7), 60),
        content_type="text/calendar; charset=utf-8",
    )


@require_perm("paging.view_escalationpolicy")
def readiness_page(request: HttpRequest) -> HttpResponse:
    hospitals = [(h, readiness.check_hospital(h)) for h in Hospital.objects.all()]
    unreachable = (
        Person.objects.filter(
            Q(roster_memberships__isnull=False)
            | Q(position__in=["it_head", "network_admin", "leader", "deputy_leader"])
        )
        .exclude(contact_methods__is_active=True)
        .distinct()
    )
    return render(
        request,
        "paging/readiness.html",
        {
            "hospitals": hospitals,
            "unreachable": unreachable,
            "workers": readiness.workers(),
            "failed": Delivery.objects.filter(state=Delivery.State.FAILED).count(),
            "stuck": readiness.stuck(),
        },
    )


@require_perm("paging.view_notification")
def deliveries(request: HttpRequest) -> HttpResponse:
    query = Delivery.objects.select_related("notification__person", "notification__incident").order_by(
        "-created_at"
    )
    state = request.GET.get("state", "")
    if state in Delivery.State.values:
        query = query.filter(state=state)
    page = Paginator(query, 100).get_page(request.GET.get("page"))
    return render(
        request, "paging/deliveries.html", {"page": page, "state": state, "states": Delivery.State.choices}
    )


@require_perm("paging.view_notification")
def person_history(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(Person, pk=pk)
    notes = (
        Notification.objects.filter(person=person)
        .select_related("incident")
        .prefetch_related("deliveries__attempt_log")
    )
    page = Paginator(notes.order_by("-created_at"), 50).get_page(request.GET.get("page"))
    return render(request, "paging/person.html", {"person": person, "page": page})


def status_page(request: HttpRequest) -> HttpResponse:
    """The intranet status page (全院状态): what is down, since when, expected recovery, and
    what each affected department does meanwhile. No login: every PC in the hospital sees it."""
    incidents = (
        Incident.objects.filter(status__in=OPEN_STATUSES, hospital_class__lte=2)
        .prefetch_related("systems", "departments")
        .order_by("hospital_class", "opened_at")
    )
    return render(request, "paging/status.html", {"incidents": incidents, "now": timezone.now()})
