"""Who is on duty: rotations with handovers, overrides, and the Chinese calendar (调休 too)."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

import chinese_calendar
from django.utils import timezone

from hisguard.organisation.models import Person
from hisguard.paging.models import DutyRoster, RosterLayer, RosterOverride

log = logging.getLogger(__name__)
AppliesOn = RosterLayer.AppliesOn


def is_workday(day: datetime.date) -> bool:
    """A working day by the State Council's calendar: make-up Saturdays count, holidays don't."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # Years the calendar package does not know yet: fall back to Monday–Friday.
        log.warning("chinese-calendar does not cover %s; treating weekends as rest days", day.year)
        return day.weekday() < 5


def is_statutory_holiday(day: datetime.date) -> bool:
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return False
    return bool(on_holiday and name)


def layer_applies(layer: RosterLayer, day: datetime.date) -> bool:
    if layer.applies_on == AppliesOn.WORKDAYS:
        return is_workday(day)
    if layer.applies_on == AppliesOn.REST_DAYS:
        return not is_workday(day)
    if layer.applies_on == AppliesOn.HOLIDAYS:
        return is_statutory_holiday(day)
    return True


def duty_day(roster: DutyRoster, at: datetime.datetime) -> datetime.date:
    """The night before the morning handover still belongs to the previous day's turn."""
    local = timezone.localtime(at)
    return local.date() - datetime.timedelta(days=1) if local.time() < roster.handover_time else local.date()


@dataclass(frozen=True)
class Shift:
    person: Person | None
    start: datetime.datetime
    end: datetime.datetime
    layer: str
    override: bool = False


def _rotation_person(layer: RosterLayer, day: datetime.date) -> Person | None:
    members = [m.person for m in layer.members.all() if m.person.is_active]
    if not members:
        return None
    turn = (day - layer.start_date).days // max(layer.rotation_days, 1)
    return members[turn % len(members)]


def _shift_bounds(roster: DutyRoster, day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    zone = timezone.get_current_timezone()
    start = datetime.datetime.combine(day, roster.handover_time, tzinfo=zone)
    return start, start + datetime.timedelta(days=1)


def on_duty(roster: DutyRoster, at: datetime.datetime) -> Shift:
    override = (
        RosterOverride.objects.filter(roster=roster, start__lte=at, end__gt=at)
        .select_related("person")
        .order_by("-id")
        .first()
    )
    if override is not None:
        return Shift(override.person, override.start, override.end, override.reason, override=True)
    day = duty_day(roster, at)
    start, end = _shift_bounds(roster, day)
    for layer in roster.layers.prefetch_related("members__person").order_by("-priority", "id"):
        if layer_applies(layer, day):
            person = _rotation_person(layer, day)
            if person is not None:
                return Shift(person, start, end, layer.name)
    return Shift(None, start, end, "")


def schedule(roster: DutyRoster, start_day: datetime.date, days: int) -> list[Shift]:
    """The rotation day by day (overrides shown as their own shifts), for pages and iCalendar."""
    shifts: list[Shift] = []
    for offset in range(days):
        day = start_day + datetime.timedelta(days=offset)
        begin, _end = _shift_bounds(roster, day)
        shifts.append(on_duty(roster, begin + datetime.timedelta(minutes=1)))
    return shifts
