"""Turning an escalation step's targets into the people to notify at this moment."""

from __future__ import annotations

import datetime
from typing import Any

from hisguard.organisation.models import Person
from hisguard.paging.models import DutyRoster, StepTarget
from hisguard.paging.rosters import on_duty

Kind = StepTarget.Kind
P = Person.Position
LEADING_GROUP = [P.LEADER, P.DEPUTY_LEADER, P.MEMBER]
HEADS = [P.DEPARTMENT_HEAD, P.HEAD_NURSE]


def snapshot_target(target: StepTarget) -> dict[str, Any]:
    return {
        "kind": target.kind,
        "person": target.person_id,
        "position": target.position,
        "roster": target.roster_id,
        "label": str(target),
    }


def resolve(target: dict[str, Any], hospital_id: int, at: datetime.datetime, incident=None) -> list[Person]:
    people = Person.objects.filter(hospital_id=hospital_id, is_active=True)
    kind = target["kind"]
    if kind == Kind.PERSON:
        return list(people.filter(pk=target["person"]))
    if kind == Kind.POSITION:
        return list(people.filter(position=target["position"]))
    if kind == Kind.LEADING_GROUP:
        return list(people.filter(position__in=LEADING_GROUP))
    if kind == Kind.DEPARTMENT_HEADS:
        return list(people.filter(position__in=HEADS))
    if kind == Kind.AFFECTED_HEADS:
        if incident is None:
            return []
        return list(people.filter(position__in=HEADS, department__in=incident.departments.all()))
    if kind == Kind.ROSTER:
        roster = DutyRoster.objects.filter(pk=target["roster"]).first()
        shift = on_duty(roster, at) if roster else None
        return [shift.person] if shift and shift.person else []
    return []


def resolve_all(
    targets: list[dict[str, Any]], hospital_id: int, at: datetime.datetime, incident=None
) -> list[Person]:
    seen: dict[int, Person] = {}
    for target in targets:
        for person in resolve(target, hospital_id, at, incident):
            seen.setdefault(person.pk, person)
    return list(seen.values())
