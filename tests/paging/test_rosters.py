"""Who is on duty — now, at night, on the Spring Festival, on a 调休 Saturday."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from django.test import Client

from hisguard.paging.models import DutyRoster, RosterOverride
from hisguard.paging.rosters import on_duty, schedule

from ..conftest import api

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def network_roster() -> DutyRoster:
    return DutyRoster.objects.get(code="network-admin")


def test_weekday_rotation_changes_at_the_handover(staff):
    roster = network_roster()
    # 2026-11-25 is a Wednesday, day 328 of the rotation (even → first in the weekday list).
    assert on_duty(roster, at("2026-11-25T10:00")).person == staff["NA1"]
    assert on_duty(roster, at("2026-11-26T10:00")).person == staff["NA2"]
    # 03:00 on the 26th still belongs to the 25th's shift: the handover is at 08:00.
    night = on_duty(roster, at("2026-11-26T03:00"))
    assert night.person == staff["NA1"]
    assert night.start == at("2026-11-25T08:00") and night.end == at("2026-11-26T08:00")


def test_spring_festival_night_uses_the_holiday_layer(staff):
    shift = on_duty(network_roster(), at("2026-02-17T03:00"))  # 正月初一 03:00
    assert shift.layer == "节假日轮班"
    assert shift.person == staff["NA2"]


def test_a_tiaoxiu_saturday_is_a_working_day(staff):
    shift = on_duty(network_roster(), at("2026-02-14T12:00"))  # Saturday made a working day
    assert shift.layer == "工作日轮班"
    ordinary_saturday = on_duty(network_roster(), at("2026-11-28T12:00"))
    assert ordinary_saturday.layer == "节假日轮班"


def test_an_override_wins_for_its_period(staff):
    roster = network_roster()
    RosterOverride.objects.create(
        roster=roster,
        person=staff["NA2"],
        start=at("2026-11-25T18:00"),
        end=at("2026-11-26T08:00"),
        reason="换班",
    )
    assert on_duty(roster, at("2026-11-25T10:00")).person == staff["NA1"]
    swapped = on_duty(roster, at("2026-11-25T23:00"))
    assert swapped.person == staff["NA2"] and swapped.override


def test_schedule_and_ical_feed(staff):
    roster = network_roster()
    shifts = schedule(roster, datetime.date(2026, 9, 30), 3)
    assert [s.layer for s in shifts] == ["工作日轮班", "节假日轮班", "节假日轮班"]  # National Day from Oct 1
    feed = Client().get(f"/paging/rosters/{roster.code}.ics", {"token": roster.feed_token})
    assert feed.status_code == 200
    assert feed["Content-Type"].startswith("text/calendar")
    body = feed.content.decode()
    assert body.count("BEGIN:VEVENT") >= 60 and "网管甲" in body
    assert Client().get(f"/paging/rosters/{roster.code}.ics", {"token": "wrong"}).status_code == 404


def test_on_duty_page_and_api(staff, actors):
    page = actors["network_admin"].client.get("/paging/rosters/", {"at": "2026-02-17T03:00"})
    assert page.status_code == 200 and "网管乙" in page.content.decode()
    it = actors["network_admin"]
    response = api(
        it.client, "get", "/api/v1/rosters/network-admin/on-duty?at=2026-02-17T03:00:00%2B08:00", it.token
    )
    assert response.status_code == 200, response.content
    assert response.json()["person"] == "网管乙"
    assert response.json()["layer"] == "节假日轮班"
    assert Client().get("/paging/rosters/").status_code == 302
