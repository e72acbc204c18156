"""The roster as an iCalendar feed, for phones and Outlook."""

from __future__ import annotations

import datetime

from icalendar import Calendar, Event

from hisguard.paging.models import DutyRoster
from hisguard.paging.rosters import schedule


def roster_ical(roster: DutyRoster, start: datetime.date, days: int) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//HISGuard//duty roster//ZH")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", roster.name)
    for shift in schedule(roster, start, days):
        if shift.person is None:
            continue
        event = Event()
        event.add("uid", f"{roster.code}-{shift.start:%Y%m%dT%H%M}@hisguard")
        event.add("summary", f"{roster.name}: {shift.person.name}")
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        event.add("description", f"{shift.layer} {shift.person.phone}".strip())
        calendar.add_component(event)
    return calendar.to_ical()
