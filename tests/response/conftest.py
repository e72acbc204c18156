"""Incident command fixtures: the tiny hospital with the default plans loaded, people for the
crisis team, and one incident of each class."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User

from hisguard.core import audit
from hisguard.incidents import actions as incident_actions
from hisguard.incidents.models import Incident, Status
from hisguard.organisation.models import Person
from hisguard.reporting.actions import ReportInput, submit_report
from hisguard.reporting.models import Channel
from hisguard.response import actions
from hisguard.response.defaults import ensure_defaults
from hisguard.response.models import Contact, ContactKind

# The browser fixtures (chromium, contexts, screenshots) come from tests/conftest.py.


@pytest.fixture(autouse=True)
def _messages_in_english():
    """These tests read refusals by their English words; the product's default is Chinese
    (and tests/test_i18n.py checks every message has its Chinese translation)."""
    from django.utils import translation

    with translation.override("en"):
        yield


T0 = datetime.datetime(2026, 11, 25, 1, 30, tzinfo=datetime.UTC)  # 09:30 in Shanghai, a Wednesday


@dataclass
class Plans:
    tiny: object
    people: dict[str, Person]
    vendor: Contact
    isp: Contact
    regulator: Contact


@pytest.fixture
def plans(tiny) -> Plans:
    ensure_defaults(tiny.hospital, stock=40)
    hospital = tiny.hospital
    people = {
        key: Person.objects.create(
            hospital=hospital, employee_no=f"E{index:03d}", name=name, position=position, phone="13800000000"
        )
        for index, (key, name, position) in enumerate(
            [
                ("leader", "张院长", Person.Position.HOSPITAL_LEADER),
                ("it_head", "李科长", Person.Position.IT_HEAD),
                ("admin", "王工", Person.Position.NETWORK_ADMIN),
                ("office", "赵干事", Person.Position.EMERGENCY_OFFICER),
                ("nurse", "刘护士长", Person.Position.HEAD_NURSE),
            ]
        )
    }
    his = tiny.systems["HIS"]
    vendor = actions.save_contact(
        hospital,
        actions.ContactInput(
            kind=ContactKind.VENDOR,
            organisation="示范软件公司",
            name="陈工",
            phone="400-800-1234",
            contract_no="HT-2026-01",
            sla_response_minutes=30,
            sla_onsite_hours=4,
            system_ids=[his.pk],
        ),
    )
    isp = actions.save_contact(
        hospital, actions.ContactInput(kind=ContactKind.ISP, organisation="电信政企", phone="10000")
    )
    regulator = actions.save_contact(
        hospital,
        actions.ContactInput(kind=ContactKind.REGULATOR, organisation="市卫健委信息中心", phone="12320"),
    )
    return Plans(tiny, people, vendor, isp, regulator)


def report(tiny, hostname: str, system: str | None = "HIS", symptom: str = "cannot_enter") -> Incident:
    ws = tiny.ws(hostname)
    result = submit_report(
        ReportInput(
            workstation=ws,
            symptom=symptom,
            system=tiny.systems[system] if system else None,
            channel=Channel.WORKSTATION,
        )
    )
    return Incident.objects.get(pk=result.incident.pk)


def class_iii(tiny) -> Incident:
    """One workstation cannot enter HIS."""
    return report(tiny, "PC-A1-1")


def class_ii(tiny) -> Incident:
    """An access switch is down (a class II, area fault) and a PC behind it reports HIS gone."""
    incident = incident_actions.mark_asset_down(tiny.assets["SW-B1"], note="交换机无响应")
    joined = report(tiny, "PC-B1-1")
    assert joined.pk == incident.pk
    return Incident.objects.get(pk=incident.pk)


def class_i(tiny) -> Incident:
    """The database server behind HIS is down: a class I fault."""
    return incident_actions.mark_asset_down(tiny.assets["DB-1"], note="数据库宕机")


@pytest.fixture
def actors(db):
    """One logged-in user (client and API token) per role; the role table is synced once."""
    from django.contrib.auth.models import Group
    from django.test import Client

    from hisguard.core import roles
    from hisguard.core.models import ApiToken
    from tests.conftest import PASSWORD, Actor

    roles.sync_role_groups()
    result = {}
    for role in roles.ROLE_PERMISSIONS:
        account = User.objects.create_user(
            username=role, password=PASSWORD, is_superuser=role == roles.ADMIN, is_staff=role == roles.ADMIN
        )
        account.groups.add(Group.objects.get(name=role))
        client = Client()
        client.force_login(account)
        _token, raw = ApiToken.issue(f"{role} token", account)
        result[role] = Actor(account, client, raw)
    return result


def user(role: str) -> User:
    from tests.conftest import make_actor

    return make_actor(role).user


def confirm(incident: Incident, actor: User | None = None) -> Incident:
    with audit.acting_as(actor, label=actor.username if actor else "it"):
        return incident_actions.change_status(incident, Status.CONFIRMED, user=actor)


def move(incident: Incident, status: str, actor: User | None = None) -> Incident:
    with audit.acting_as(actor, label=actor.username if actor else "it"):
        return incident_actions.change_status(incident, status, user=actor)
