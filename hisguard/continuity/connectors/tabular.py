"""Rows (from SQL views or CSV files) → the internal shape, through a column mapping.

Each kind of record has its own table (view, query or file) and its own fields. A mapping
names, for each field, the source column; without one the field's own name is used, so a HIS
view that already says ``mrn``, ``name``, ``bed`` … needs no mapping at all::

    {"patients": {"columns": {"mrn": "ZYH", "name": "XM", "ward": "BQDM", "bed": "CWH"}}}
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from hisguard.continuity.shape import (
    Administration,
    Allergy,
    Extract,
    Order,
    Patient,
    Pending,
    Result,
    normalise_frequency,
    parse_date,
    parse_datetime,
    text,
)

# kind -> (field -> required?)
FIELDS: dict[str, dict[str, bool]] = {
    "patients": {
        "id": True,
        "mrn": True,
        "name": True,
        "ward": True,
        "bed": True,
        "sex": False,
        "birth_date": False,
        "diagnosis": False,
        "admitted": False,
        "doctor": False,
    },
    "allergies": {
        "patient_id": True,
        "substance": True,
        "reaction": False,
        "criticality": False,
        "category": False,
    },
    "orders": {
        "id": False,
        "patient_id": True,
        "drug": True,
        "dose": False,
        "route": False,
        "frequency": False,
        "times": False,
        "prn": False,
        "start": False,
        "end": False,
        "note": False,
        "status": False,
    },
    "administrations": {"order_id": True, "patient_id": False, "at": True, "status": False},
    "results": {
        "patient_id": True,
        "name": True,
        "value": True,
        "unit": False,
        "range": False,
        "flag": False,
        "critical": False,
        "at": True,
    },
    "pending": {"patient_id": True, "text": True, "kind": False, "ordered_at": False, "priority": False},
}
KINDS = tuple(FIELDS)
_TRUE = {"1", "true", "t", "yes", "y", "是", "prn"}
_SEX = {
    "m": "M", "male": "M", "男": "M", "1": "M",
    "f": "F", "female": "F", "女": "F", "2": "F",
    "o": "O", "other": "O", "u": "U", "unknown": "U", "未知": "U", "0": "U", "9": "U",
}  # fmt: skip
_PENDING_STATUS = {"pending", "draft", "on-hold", "new", "待执行", "未执行", "新开"}
_CRITICAL_FLAGS = {"HH", "LL", "AA", "HU", "LU", "C", "CRIT", "危急"}


def columns_for(kind: str, mapping: Mapping[str, Any] | None) -> dict[str, str]:
    custom = dict((mapping or {}).get("columns") or {})
    return {name: str(custom.get(name, name)) for name in FIELDS[kind]}


class RowMapper:
    """Turns the rows of each kind into records, one issue per bad row naming the column."""

    def __init__(self, extract: Extract, tz: datetime.tzinfo, source: str) -> None:
        self.extract = extract
        self.tz = tz
        self.source = source

    def rows(self, kind: str, rows: Iterable[Mapping[str, Any]], mapping: Mapping[str, Any] | None) -> None:
        cols = columns_for(kind, mapping)
        required = [name for name, needed in FIELDS[kind].items() if needed]
        handler = getattr(self, f"_{kind}")
        for number, raw in enumerate(rows, start=1):
            self.extract.fetched[kind] += 1
            where = f"{self.source} {kind} row {number}"
            row = {name: raw.get(column) for name, column in cols.items()}
            missing = [name for name in required if text(row.get(name)) == ""]
            if missing:
                self.extract.issue(where, cols[missing[0]], "missing")
                if kind != "patients" and text(row.get("patient_id")):
                    self.extract.issues[-1].patient_id = text(row["patient_id"])
                elif kind == "patients" and text(row.get("id")):
                    issue = self.extract.issues[-1]
                    issue.census, issue.patient_id, issue.ward_key = (
                        True,
                        text(row["id"]),
                        text(row.get("ward")),
                    )
                continue
            try:
                handler(row, where)
            except _BadValue as bad:
                self.extract.issue(where, cols[bad.field], "invalid", value=bad.value)
                issue = self.extract.issues[-1]
                if kind == "patients":
                    issue.census, issue.patient_id, issue.ward_key = (
                        True,
                        text(row["id"]),
                        text(row.get("ward")),
                    )
                else:
                    issue.patient_id = text(row.get("patient_id"))

    def _when(self, row: Mapping[str, Any], name: str) -> datetime.datetime | None:
        try:
            return parse_datetime(row.get(name), self.tz)
        except (ValueError, TypeError):
            raise _BadValue(name, row.get(name)) from None

    def _patients(self, row: Mapping[str, Any], where: str) -> None:
        sex = text(row.get("sex"))
        if sex and sex.lower() not in _SEX:
            raise _BadValue("sex", sex)
        try:
            birth = parse_date(row.get("birth_date"))
        except (ValueError, TypeError):
            raise _BadValue("birth_date", row.get("birth_date")) from None
        self.extract.patients.append(
            Patient(
                source_id=text(row["id"]),
                mrn=text(row["mrn"]),
                name=text(row["name"]),
                ward_key=text(row["ward"]),
                bed=text(row["bed"]),
                sex=_SEX.get(sex.lower(), "") if sex else "",
                birth_date=birth,
                diagnosis=text(row.get("diagnosis")),
                admitted=self._when(row, "admitted"),
                doctor=text(row.get("doctor")),
                resource=where,
            )
        )

    def _allergies(self, row: Mapping[str, Any], where: str) -> None:
        self.extract.allergies.append(
            Allergy(
                patient_id=text(row["patient_id"]),
                substance=text(row["substance"]),
                reaction=text(row.get("reaction")),
                criticality=text(row.get("criticality")).lower(),
                category=text(row.get("category")),
                resource=where,
            )
        )

    def _orders(self, row: Mapping[str, Any], where: str) -> None:
        start, end = self._when(row, "start"), self._when(row, "end")
        frequency = normalise_frequency(text(row.get("frequency")))
        times = tuple(t.strip() for t in text(row.get("times")).replace("，", ",").split(",") if t.strip())
        for t in times:
            parts = t.split(":")
            if (
                len(parts) < 2
                or not all(p.isdigit() for p in parts[:2])
                or int(parts[0]) > 24
                or int(parts[1]) > 59
            ):
                raise _BadValue("times", text(row.get("times")))
        prn = text(row.get("prn")).lower() in _TRUE or frequency == "prn"
        patient_id = text(row["patient_id"])
        status = text(row.get("status")).lower()
        drug, dose, note = text(row["drug"]), text(row.get("dose")), text(row.get("note"))
        if status in _PENDING_STATUS:
            self.extract.pending.append(
                Pending(patient_id, f"{drug} {dose} {note}".strip(), "medication", start, "", where)
            )
            return
        if status and status not in ("active", "执行中", "在用", "1"):
            return  # stopped, completed, cancelled
        self.extract.orders.append(
            Order(
                source_id=text(row.get("id")) or where,
                patient_id=patient_id,
                drug=drug,
                dose=dose,
                route=text(row.get("route")),
                frequency=frequency,
                times=times,
                prn=prn,
                start=start,
                end=end,
                note=note,
                resource=where,
            )
        )

    def _administrations(self, row: Mapping[str, Any], where: str) -> None:
        at = self._when(row, "at")
        assert at is not None
        status = text(row.get("status")).lower()
        self.extract.administrations.append(
            Administration(
                patient_id=text(row.get("patient_id")),
                order_id=text(row["order_id"]),
                at=at,
                given=status in ("", "completed", "given", "done", "已执行", "1"),
                resource=where,
            )
        )

    def _results(self, row: Mapping[str, Any], where: str) -> None:
        at = self._when(row, "at")
        assert at is not None
        flag = text(row.get("flag")).upper()
        critical = text(row.get("critical")).lower() in _TRUE or flag in _CRITICAL_FLAGS
        self.extract.results.append(
            Result(
                patient_id=text(row["patient_id"]),
                name=text(row["name"]),
                value=text(row["value"]),
                at=at,
                unit=text(row.get("unit")),
                range=text(row.get("range")),
                flag=flag,
                critical=critical,
                resource=where,
            )
        )

    def _pending(self, row: Mapping[str, Any], where: str) -> None:
        self.extract.pending.append(
            Pending(
                patient_id=text(row["patient_id"]),
                text=text(row["text"]),
                kind=text(row.get("kind")),
                ordered_at=self._when(row, "ordered_at"),
                priority=text(row.get("priority")),
                resource=where,
            )
        )


class _BadValue(Exception):
    def __init__(self, field: str, value: Any) -> None:
        super().__init__(field)
        self.field = field
        self.value = value
