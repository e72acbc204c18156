"""Correlation (DESIGN §4): which open incident a new report belongs to."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Model

from hisguard.core import sql
from hisguard.incidents.evidence import thresholds_for
from hisguard.incidents.models import OPEN_STATUSES, Incident, IncidentAsset

# How a candidate incident relates to a new report, strongest first. Among incidents of the
# same class the strongest relation wins, then the most recent evidence.
KNOWN_OUTAGE, SAME_SYSTEM, SAME_WORKSTATION, SAME_SWITCH = 0, 1, 2, 3

INCIDENT_ROWS = sql.ModelRows(Incident)
# The links a report gives its incident (see link_evidence): the report's field, then the
# link table and its column for that field's value.
LINKS: dict[str, tuple[type[Model], str]] = {
    "system_id": (Incident.systems.through, "informationsystem_id"),
    "area_id": (Incident.areas.through, "area_id"),
    "department_id": (Incident.departments.through, "department_id"),
    "workstation_id": (IncidentAsset, "asset_id"),
}


@dataclass
class Match:
    """The related incident, and which of the report's links it already has."""

    incident: Incident
    linked: frozenset[str] = frozenset()


def find_related_incident(report, now: datetime.datetime) -> Match | None:
    """The open incident a new report belongs to (DESIGN §4 correlation).

    An incident relates when it holds a known outage on the report's path (a down asset
    between the workstation and the core, or the report's system down hospital-wide: class
    I), or when it had evidence within the window and one of its reports came from the same
    workstation, named the same system, or came from behind the same access switch.

    The most severe related incident wins; within a class, the strongest relation: a report
    naming a system joins the incident where most reports name that system, before one that
    only shares its workstation or switch. Otherwise, when a system fails hospital-wide, its
    first reports would stay in the incidents of their workstations and switches (opened by
    unrelated single-PC reports in a busy hour) instead of gathering into one incident that
    reaches class I.

    Written as SQL by hand: it runs for every report while the correlation lock is held, and
    building the same query with the ORM took ten times as long as running it. Each
    "same …" lookup is a correlated EXISTS that seeks one (incident, column) index entry per
    open incident, so its cost grows neither with the incidents' size nor with the history
    (an uncorrelated ``IN (SELECT …)`` listed every report that ever named the system)."""
    from hisguard.reporting.models import FaultReport

    table = sql.tables(Incident, IncidentAsset, Incident.systems.through, FaultReport)
    cases: list[str] = []
    params: list[Any] = []
    if report.workstation_id:
        path = [report.workstation_id] + [a.pk for a in report.workstation.upstream_chain()]
        cases.append(
            f"WHEN EXISTS (SELECT 1 FROM {table[IncidentAsset]} l WHERE l.incident_id = i.id"
            f" AND l.is_down = %s AND l.asset_id IN ({sql.placeholders(len(path))})) THEN {KNOWN_OUTAGE}"
        )
        params += [True, *path]
    if report.system_id:
        cases.append(
            f"WHEN i.hospital_class = 1 AND EXISTS (SELECT 1 FROM {table[Incident.systems.through]} s"
            f" WHERE s.incident_id = i.id AND s.informationsystem_id = %s) THEN {KNOWN_OUTAGE}"
        )
        params.append(report.system_id)
    window_start = sql.datetime_param(now - thresholds_for(report.hospital).window)
    for relation, column, value in (
        (SAME_SYSTEM, "system_id", report.system_id),
        (SAME_WORKSTATION, "workstation_id", report.workstation_id),
        (SAME_SWITCH, "access_switch_id", report.access_switch_id),
    ):
        if value:
            cases.append(
                f"WHEN i.last_evidence_at >= %s AND EXISTS (SELECT 1 FROM {table[FaultReport]} r"
                f" WHERE r.incident_id = i.id AND r.{column} = %s) THEN {relation}"
            )
            params += [window_start, value]
    if not cases:
        return None
    flags, flag_params = _link_flags(report)
    # Among incidents that share the system, the one where most reports name it: the system's
    # outage has one home even before it reaches class I. Counted only for related incidents.
    system_reports, system_params = "", []
    if report.system_id:
        system_reports = (
            f" (SELECT COUNT(*) FROM {table[FaultReport]} n"
            " WHERE n.incident_id = candidate.id AND n.system_id = %s) DESC,"
        )
        system_params = [report.system_id]
    query = (
        f"SELECT c.*{flags} FROM (SELECT * FROM"
        f" (SELECT {INCIDENT_ROWS.select('i')}, CASE {' '.join(cases)} END AS relation"
        f" FROM {table[Incident]} i"
        f" WHERE i.hospital_id = %s AND i.status IN ({sql.placeholders(len(OPEN_STATUSES))})) candidate"
        " WHERE relation IS NOT NULL"
        f" ORDER BY hospital_class, relation,{system_reports} last_evidence_at DESC LIMIT 1) c"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, [*flag_params, *params, report.hospital_id, *OPEN_STATUSES, *system_params])
        row = cursor.fetchone()
    if row is None:
        return None
    width = INCIDENT_ROWS.width
    present = [link for link, flag in zip(_named_links(report), row[width + 1 :], strict=True) if flag]
    return Match(INCIDENT_ROWS.instance(row[:width]), frozenset(present))  # type: ignore[arg-type]


def _named_links(report) -> list[str]:
    return [link for link in LINKS if getattr(report, link)]


def _link_flags(report) -> tuple[str, list[Any]]:
    """Whether the chosen incident already has each link the report would give it; asked of
    that one row only, so link_evidence can skip what is there."""
    flags, params = "", list[Any]()
    for link in _named_links(report):
        model, column = LINKS[link]
        flags += (
            f", EXISTS (SELECT 1 FROM {sql.table(model)} k WHERE k.incident_id = c.id AND k.{column} = %s)"
        )
        params.append(getattr(report, link))
    return flags, params


def link_evidence(
    incident: Incident, report, now: datetime.datetime, linked: frozenset[str] = frozenset()
) -> bool:
    """The report's system, area, department and workstation become the incident's, and its
    time the incident's latest evidence. Links in `linked` are known to exist and skipped.
    Returns whether the incident gained a system (its grade may change).

    One INSERT … ON CONFLICT DO NOTHING per link table instead of a read and a write each.
    These rows and the time follow from the report, whose creation is audited with its
    incident, so they are bookkeeping: not audited one by one."""
    statements: list[tuple[str, list]] = []
    for link in ("system_id", "area_id", "department_id"):
        model, column = LINKS[link]
        value = getattr(report, link)
        if value and link not in linked:
            statements.append(
                (
                    f"INSERT INTO {sql.table(model)} (incident_id, {column}) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    [incident.pk, value],
                )
            )
    if report.workstation_id and "workstation_id" not in linked:
        statements.append(
            (
                f"INSERT INTO {sql.table(IncidentAsset)} (incident_id, asset_id, is_down, since)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [incident.pk, report.workstation_id, False, sql.datetime_param(now)],
            )
        )
    if now > incident.last_evidence_at:
        incident.last_evidence_at = now
        statements.append(
            (
                f"UPDATE {sql.table(Incident)} SET last_evidence_at = %s WHERE id = %s",
                [sql.datetime_param(now), incident.pk],
            )
        )
    if statements:
        _execute_together(statements)
    return bool(report.system_id) and "system_id" not in linked


def _execute_together(statements: list[tuple[str, list]]) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(statements) > 1:
            # One round trip instead of up to five: the writes become data-modifying CTEs of
            # one statement (every one runs, whether or not the outer statement reads it).
            *ctes, (last, _) = statements
            prefix = ", ".join(f"w{n} AS ({statement})" for n, (statement, _) in enumerate(ctes))
            cursor.execute(f"WITH {prefix} {last}", [p for _, params in statements for p in params])
        else:
            for statement, params in statements:
                cursor.execute(statement, params)
