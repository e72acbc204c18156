"""The one internal shape every connector maps its source into, and the ward packets built from it.

A connector produces an `Extract`: flat lists of records (patients, allergies, orders,
administrations, results, pending orders) plus the `Issue`s it met while mapping. `build_packets`
checks what only the whole picture can check (a known ward, a bed, a patient in the census),
groups everything by ward and patient, works out the next 24 h of doses, and returns one
JSON-ready packet per ward. Nothing here touches the database.

Records that do not validate are *skipped*, each with an issue naming the resource and the
field; the rest still make the packet, and the packet says how many were skipped — per ward and
per patient, so a patient whose allergy could not be read carries a warning next to the allergy
box instead of a reassuring blank.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PACKET_VERSION = 1
MAX_ISSUES_STORED = 5000
MAX_ISSUES_PER_PACKET = 200


# --- Records ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Patient:
    source_id: str
    mrn: str
    name: str
    ward_key: str
    bed: str
    sex: str = ""  # M, F, O, U or ""
    birth_date: datetime.date | None = None
    diagnosis: str = ""
    admitted: datetime.datetime | None = None
    doctor: str = ""
    resource: str = ""  # where it came from, for issues: "Encounter/123", "patients row 7"


@dataclass(slots=True)
class Allergy:
    patient_id: str
    substance: str
    reaction: str = ""
    criticality: str = ""  # high, low, unable-to-assess or ""
    category: str = ""
    no_known: bool = False  # an explicit "no known allergy" statement
    resource: str = ""


@dataclass(slots=True)
class Order:
    source_id: str
    patient_id: str
    drug: str
    dose: str = ""
    route: str = ""
    frequency: str = ""  # a code such as tid, q8h, qn, prn
    times: tuple[str, ...] = ()  # explicit "HH:MM" times of day, when the source has them
    prn: bool = False
    start: datetime.datetime | None = None
    end: datetime.datetime | None = None
    note: str = ""
    resource: str = ""


@dataclass(slots=True)
class Administration:
    patient_id: str
    order_id: str
    at: datetime.datetime
    given: bool = True
    resource: str = ""


@dataclass(slots=True)
class Result:
    patient_id: str
    name: str
    value: str
    at: datetime.datetime
    unit: str = ""
    range: str = ""
    flag: str = ""  # H, L, HH, LL, A, AA (HL7 v3 ObservationInterpretation) or ""
    critical: bool = False
    resource: str = ""


@dataclass(slots=True)
class Pending:
    patient_id: str
    text: str
    kind: str = ""  # laboratory, imaging, medication, procedure, other
    ordered_at: datetime.datetime | None = None
    priority: str = ""  # routine, urgent, stat, asap
    resource: str = ""


@dataclass(slots=True)
class Issue:
    """One record that did not validate (or a warning about one). `code` picks a translated
    message at display time; `params` fill it (values may be patient data: issues are sealed)."""

    resource: str
    field: str
    code: str
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    skipped: bool = True
    ward: str = ""  # ward code, when known
    patient_id: str = ""
    census: bool = False  # a patient left out of the census (their other records go with them)
    ward_key: str = ""  # the source's ward of that patient, resolved while building

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"r": self.resource, "f": self.field, "c": self.code}
        if self.params:
            data["p"] = self.params
        if not self.skipped:
            data["w"] = 1
        if self.ward:
            data["ward"] = self.ward
        return data


@dataclass
class Extract:
    patients: list[Patient] = dataclasses.field(default_factory=list)
    allergies: list[Allergy] = dataclasses.field(default_factory=list)
    orders: list[Order] = dataclasses.field(default_factory=list)
    pending: list[Pending] = dataclasses.field(default_factory=list)
    administrations: list[Administration] = dataclasses.field(default_factory=list)
    results: list[Result] = dataclasses.field(default_factory=list)
    issues: list[Issue] = dataclasses.field(default_factory=list)
    fetched: dict[str, int] = dataclasses.field(
        default_factory=lambda: defaultdict(int)
    )  # raw records by type
    as_of: datetime.datetime | None = None  # the time the data describes, when the source says

    def issue(self, resource: str, field_name: str, code: str, **params: Any) -> None:
        self.issues.append(Issue(resource, field_name, code, {k: str(v)[:200] for k, v in params.items()}))


class PullError(Exception):
    """The source could not be read as a whole (unreachable, error page, truncated data).
    The snapshot fails and the last good one stays in place."""


# --- Times and texts --------------------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y-%m", "%Y")
_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y%m%d%H%M%S",
    "%Y%m%d %H:%M",
)


def parse_date(value: Any) -> datetime.date | None:
    """A date from a date, datetime or text; None when empty. ValueError when not a date."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = str(value).strip()
    if not text:
        return None
    if "T" in text:
        return parse_datetime(text, datetime.UTC).date()  # type: ignore[union-attr]
    for fmt in _DATE_FORMATS:
        try:
            return datetime.datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a date only
        except ValueError:
            continue
    raise ValueError(text)


def parse_datetime(value: Any, tz: datetime.tzinfo) -> datetime.datetime | None:
    """An aware datetime; naive values are taken in the hospital's zone `tz`."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        result = value
    elif isinstance(value, datetime.date):
        result = datetime.datetime(value.year, value.month, value.day)  # noqa: DTZ001 - made aware below
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            result = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            for fmt in _DATETIME_FORMATS + _DATE_FORMATS:
                try:
                    result = datetime.datetime.strptime(text, fmt)  # noqa: DTZ007 - made aware below
                    break
                except ValueError:
                    continue
            else:
                raise ValueError(text) from None
    if result.tzinfo is None:
        result = result.replace(tzinfo=tz)
    return result


def text(value: Any) -> str:
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


_BED_SPLIT = re.compile(r"(\d+)")


def bed_sort_key(bed: str) -> tuple:
    """Natural order: 2床 before 10床, +1 (extra beds) after the numbered ones."""
    extra = bed.startswith("+") or "加" in bed
    parts = [int(p) if p.isdigit() else p for p in _BED_SPLIT.split(bed)]
    return (extra, [(0, p) if isinstance(p, int) else (1, p) for p in parts])


# --- Administration times ---------------------------------------------------------------------

# Standard ward times per frequency (a hospital overrides them with
# HISGUARD_CONTINUITY_ADMIN_TIMES). Codes are lower case; FHIR timing codes map onto them.
DEFAULT_ADMIN_TIMES: dict[str, tuple[str, ...]] = {
    "qd": ("08:00",),
    "am": ("08:00",),
    "qm": ("08:00",),
    "bid": ("08:00", "16:00"),
    "tid": ("08:00", "12:00", "16:00"),
    "qid": ("08:00", "12:00", "16:00", "20:00"),
    "q12h": ("08:00", "20:00"),
    "q8h": ("00:00", "08:00", "16:00"),
    "q6h": ("00:00", "06:00", "12:00", "18:00"),
    "q4h": ("00:00", "04:00", "08:00", "12:00", "16:00", "20:00"),
    "qn": ("20:00",),
    "pm": ("20:00",),
    "qhs": ("21:00",),
    "hs": ("21:00",),
    "qod": ("08:00",),
    "qw": ("08:00",),
}
_FREQ_ALIASES = {
    "once daily": "qd",
    "daily": "qd",
    "每日一次": "qd",
    "每日两次": "bid",
    "每日二次": "bid",
    "每日三次": "tid",
    "每日四次": "qid",
    "每晚一次": "qn",
    "睡前": "qhs",
    "必要时": "prn",
    "隔日一次": "qod",
    "立即": "st",
    "stat": "st",
}


def normalise_frequency(code: str) -> str:
    key = code.strip().lower().replace(" ", "")
    return _FREQ_ALIASES.get(code.strip().lower(), _FREQ_ALIASES.get(key, key))


def frequency_from_repeat(frequency: int, period: float, unit: str) -> str:
    """A FHIR Timing.repeat (frequency per period) as a ward code."""
    if unit == "d" and period == 1:
        return {1: "qd", 2: "bid", 3: "tid", 4: "qid"}.get(frequency, f"{frequency}/d")
    if unit == "h" and frequency == 1:
        return f"q{int(period)}h"
    if unit == "d" and period == 2 and frequency == 1:
        return "qod"
    if unit == "wk" and frequency == 1:
        return "qw"
    return f"{frequency}/{period:g}{unit}"


def due_times(
    order: Order,
    as_of: datetime.datetime,
    tz: datetime.tzinfo,
    table: dict[str, tuple[str, ...]],
    hours: int = 24,
) -> list[datetime.datetime]:
    """The doses due in [as_of, as_of + hours) by the order's times or its frequency."""
    if order.prn:
        return []
    times = order.times or table.get(order.frequency, ())
    if not times:
        return []
    end = as_of + datetime.timedelta(hours=hours)
    local = as_of.astimezone(tz)
    found: list[datetime.datetime] = []
    for day in range(0, hours // 24 + 2):
        date = local.date() + datetime.timedelta(days=day)
        every = {"qod": 2, "qw": 7}.get(order.frequency)
        if every and order.start is not None and (date - order.start.astimezone(tz).date()).days % every:
            continue
        for hhmm in times:
            try:
                hour, minute = (int(p) for p in hhmm.split(":")[:2])
            except ValueError:
                continue
            at = datetime.datetime(date.year, date.month, date.day, hour % 24, minute, tzinfo=tz)
            if not (as_of <= at < end):
                continue
            if order.start is not None and at < order.start:
                continue
            if order.end is not None and at >= order.end:
                continue
            found.append(at)
    return sorted(found)


# --- Building the ward packets ---------------------------------------------------------------


@dataclass
class Ward:
    code: str
    name: str


@dataclass
class PacketSet:
    packets: dict[str, dict[str, Any]]  # ward code -> packet
    issues: list[Issue]
    counts: dict[str, int]


class WardResolver:
    """Source ward keys (codes, names, location identifiers) to the hospital's wards."""

    def __init__(self, wards: Iterable[Ward], ward_map: dict[str, str] | None = None) -> None:
        self.wards = {w.code: w for w in wards}
        by_key: dict[str, str] = {}
        for w in self.wards.values():
            by_key[w.name.strip().lower()] = w.code
            by_key[w.code.lower()] = w.code
        for source, code in (ward_map or {}).items():
            if code in self.wards:
                by_key[str(source).strip().lower()] = code
        self.by_key = by_key

    def resolve(self, key: str) -> str | None:
        return self.by_key.get(key.strip().lower())


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def build_packets(
    extract: Extract,
    resolver: WardResolver,
    *,
    as_of: datetime.datetime,
    tz: datetime.tzinfo | str,
    hospital: str = "",
    source: str = "",
    admin_times: dict[str, tuple[str, ...]] | None = None,
    results_max: int = 30,
    wards_wanted: set[str] | None = None,
) -> PacketSet:
    """Validate across records, group by ward and patient, and produce one packet per ward.

    Every ward of `resolver` gets a packet, an empty census included (an empty ward is a fact
    worth printing); `wards_wanted` limits that to some wards.
    """
    if isinstance(tz, str):
        tz = zoneinfo.ZoneInfo(tz)
    table = dict(DEFAULT_ADMIN_TIMES)
    table.update({normalise_frequency(k): tuple(v) for k, v in (admin_times or {}).items()})
    issues = list(extract.issues)
    ward_of: dict[str, str] = {}  # patient id -> ward code
    skipped_patient: dict[str, str] = {}  # patient id -> ward code ("" unknown) of skipped patients
    patients: dict[str, dict[str, Any]] = {}
    by_ward: dict[str, list[dict[str, Any]]] = defaultdict(list)
    ward_skipped: dict[str, int] = defaultdict(int)
    unassigned = 0
    ignored = 0

    for issue in issues:  # connector-level issues about patients count against their ward later
        if issue.census and issue.patient_id:
            code = resolver.resolve(issue.ward_key) if issue.ward_key else None
            skipped_patient[issue.patient_id] = code or ""
            if code:
                issue.ward = code
                ward_skipped[code] += 1
                continue
        if issue.skipped and not issue.ward:
            unassigned += 1

    beds_seen: dict[tuple[str, str], str] = {}
    for p in extract.patients:
        code = resolver.resolve(p.ward_key) if p.ward_key else None
        problem: Issue | None = None
        if not p.ward_key:
            problem = Issue(p.resource, "ward", "missing", patient_id=p.source_id)
        elif code is None:
            problem = Issue(p.resource, "ward", "unknown_ward", {"value": p.ward_key}, patient_id=p.source_id)
        elif not p.bed:
            problem = Issue(p.resource, "bed", "missing", ward=code, patient_id=p.source_id)
        elif not p.mrn:
            problem = Issue(p.resource, "patient number", "missing", ward=code, patient_id=p.source_id)
        elif not p.name:
            problem = Issue(p.resource, "name", "missing", ward=code, patient_id=p.source_id)
        elif p.source_id in patients:
            problem = Issue(p.resource, "id", "duplicate", {"value": p.source_id}, ward=code)
        if problem is not None:
            issues.append(problem)
            if problem.code != "duplicate":
                skipped_patient[p.source_id] = code or ""
            if code:
                ward_skipped[code] += 1
            else:
                unassigned += 1
            continue
        assert code is not None
        if wards_wanted is not None and code not in wards_wanted:
            continue
        other = beds_seen.get((code, p.bed))
        if other is not None:
            issues.append(
                Issue(
                    p.resource,
                    "bed",
                    "shared_bed",
                    {"value": p.bed, "other": other},
                    skipped=False,
                    ward=code,
                )
            )
        beds_seen[(code, p.bed)] = p.mrn
        new_row: dict[str, Any] = {
            "id": p.source_id,
            "bed": p.bed,
            "mrn": p.mrn,
            "name": p.name,
            "sex": p.sex,
            "birth": p.birth_date.isoformat() if p.birth_date else None,
            "dx": p.diagnosis,
            "admitted": _iso(p.admitted),
            "doctor": p.doctor,
            "allergies": [],
            "nka": False,
            "orders": [],
            "results": [],
            "pending": [],
            "skipped": 0,
        }
        patients[p.source_id] = new_row
        ward_of[p.source_id] = code
        by_ward[code].append(new_row)

    def owner(patient_id: str, resource: str) -> dict[str, Any] | None:
        """The census row a record belongs to; None (and the count kept) when it has none."""
        nonlocal unassigned, ignored
        row = patients.get(patient_id)
        if row is not None:
            return row
        if patient_id in skipped_patient:
            ward = skipped_patient[patient_id]
            issues.append(Issue(resource, "patient", "patient_skipped", ward=ward, patient_id=patient_id))
            if ward:
                ward_skipped[ward] += 1
            else:
                unassigned += 1
        else:
            ignored += 1  # a patient not in the census (discharged, another campus): not an error
        return None

    def skip_for(row: dict[str, Any], issue: Issue) -> None:
        issue.ward = ward_of[row["id"]]
        issue.patient_id = row["id"]
        row["skipped"] += 1
        ward_skipped[issue.ward] += 1
        issues.append(issue)

    # Issues the connector raised about records of census patients count on their row.
    for issue in extract.issues:
        if not (issue.skipped and issue.patient_id) or issue.census:
            continue
        if issue.patient_id in patients:
            census_row = patients[issue.patient_id]
            issue.ward = ward_of[census_row["id"]]
            census_row["skipped"] += 1
            ward_skipped[issue.ward] += 1
            unassigned -= 1
        elif skipped_patient.get(issue.patient_id):
            issue.ward = skipped_patient[issue.patient_id]
            ward_skipped[issue.ward] += 1
            unassigned -= 1

    row: dict[str, Any] | None
    for a in extract.allergies:
        row = owner(a.patient_id, a.resource)
        if row is None:
            continue
        if a.no_known:
            row["nka"] = True
            continue
        if not a.substance:
            skip_for(row, Issue(a.resource, "substance", "missing"))
            continue
        row["allergies"].append({"s": a.substance, "r": a.reaction, "c": a.criticality, "cat": a.category})

    last_given: dict[str, datetime.datetime] = {}
    for adm in extract.administrations:
        if adm.given and (adm.order_id not in last_given or adm.at > last_given[adm.order_id]):
            last_given[adm.order_id] = adm.at

    for o in extract.orders:
        row = owner(o.patient_id, o.resource)
        if row is None:
            continue
        if not o.drug:
            skip_for(row, Issue(o.resource, "medication", "missing"))
            continue
        due = due_times(o, as_of, tz, table)
        if (
            not o.prn
            and not due
            and not o.times
            and o.frequency not in table
            and o.frequency not in ("st", "")
        ):
            issues.append(
                Issue(o.resource, "frequency", "unknown_frequency", {"value": o.frequency}, skipped=False,
                      ward=ward_of[row["id"]], patient_id=row["id"])
            )  # fmt: skip
        row["orders"].append(
            {
                "drug": o.drug,
                "dose": o.dose,
                "route": o.route,
                "freq": o.frequency,
                "prn": o.prn,
                "start": _iso(o.start),
                "end": _iso(o.end),
                "note": o.note,
                "due": [d.isoformat() for d in due],
                "last": _iso(last_given.get(o.source_id)),
            }
        )

    for r in sorted(extract.results, key=lambda r: r.at, reverse=True):
        row = owner(r.patient_id, r.resource)
        if row is None:
            continue
        if not r.name:
            skip_for(row, Issue(r.resource, "code", "missing"))
            continue
        if len(row["results"]) >= results_max:
            continue
        row["results"].append(
            {
                "name": r.name,
                "value": r.value,
                "unit": r.unit,
                "range": r.range,
                "flag": r.flag,
                "crit": r.critical,
                "at": r.at.isoformat(),
            }
        )

    for pend in extract.pending:
        row = owner(pend.patient_id, pend.resource)
        if row is None:
            continue
        if not pend.text:
            skip_for(row, Issue(pend.resource, "code", "missing"))
            continue
        row["pending"].append(
            {"kind": pend.kind, "text": pend.text, "at": _iso(pend.ordered_at), "prio": pend.priority}
        )

    ward_issues: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for issue in issues:
        if issue.ward and len(ward_issues[issue.ward]) < MAX_ISSUES_PER_PACKET:
            ward_issues[issue.ward].append(issue.as_json())

    packets: dict[str, dict[str, Any]] = {}
    codes = (
        resolver.wards.keys() if wards_wanted is None else [c for c in resolver.wards if c in wards_wanted]
    )
    for code in codes:
        ward = resolver.wards[code]
        rows = sorted(by_ward.get(code, []), key=lambda r: bed_sort_key(r["bed"]))
        for ward_row in rows:
            ward_row["orders"].sort(key=lambda o: (o["prn"], o["due"][0] if o["due"] else "~", o["drug"]))
        packets[code] = {
            "v": PACKET_VERSION,
            "hospital": hospital,
            "ward": {"code": ward.code, "name": ward.name},
            "as_of": as_of.isoformat(),
            "tz": str(tz),
            "source": source,
            "skipped": ward_skipped.get(code, 0),
            "unassigned": max(unassigned, 0),
            "issues": ward_issues.get(code, []),
            "patients": rows,
        }
    counts = {
        "patients": len(patients),
        "skipped": sum(ward_skipped.values()) + max(unassigned, 0),
        "unassigned": max(unassigned, 0),
        "ignored": ignored,
        "issues": len(issues),
        "wards": sum(1 for p in packets.values() if p["patients"]),
    }
    return PacketSet(packets, issues, counts)
