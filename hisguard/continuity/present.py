"""A stored packet as people read it: times in the hospital's zone, ages, flags, labels in the
active language. The HTML page, the PDF and the node all print from this one shape."""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

from django.conf import settings
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from hisguard.core.errors import interpolate

# The fixed mark on every page, in both languages whatever the reader's language.
MARK = "停机应急 · 只读 / DOWNTIME · READ-ONLY"

SEX = {
    "M": pgettext_lazy("sex", "M"),
    "F": pgettext_lazy("sex", "F"),
    "O": pgettext_lazy("sex", "other"),
    "U": pgettext_lazy("sex", "unknown"),
}
CRITICALITY = {"high": _("high risk"), "low": _("low risk"), "unable-to-assess": _("risk not assessed")}
PRIORITY = {"stat": _("STAT"), "urgent": _("urgent"), "asap": _("ASAP"), "routine": ""}
KIND = {
    "laboratory": _("laboratory"),
    "imaging": _("imaging"),
    "medication": _("medication"),
    "procedure": _("procedure"),
    "other": _("other"),
}
FLAG_ARROWS = {"H": "↑", "L": "↓", "HH": "↑↑", "LL": "↓↓", "A": "*", "AA": "**", "HU": "↑↑", "LU": "↓↓"}
ISSUE_MESSAGES = {
    "missing": _("%(field)s is missing"),
    "invalid": _("%(field)s is not valid (%(value)s)"),
    "missing_ref": _("%(field)s refers to %(value)s, which the source did not return"),
    "unknown_ward": _("ward “%(value)s” is not a ward of this hospital (map it in the connector)"),
    "duplicate": _("the same patient appears twice (%(value)s)"),
    "shared_bed": _("bed %(value)s is also given to patient %(other)s"),
    "patient_skipped": _("its patient was left out of the census"),
    "unknown_frequency": _("frequency “%(value)s” has no ward times: no doses scheduled"),
    "not_object": _("%(field)s is not a JSON object"),
    "not_json": _("the line is not valid JSON"),
}


def issue_message(issue: dict[str, Any]) -> str:
    template = ISSUE_MESSAGES.get(issue.get("c", ""), _("%(field)s: problem"))
    params = {"field": issue.get("f", ""), "value": "", "other": ""}
    params.update(issue.get("p") or {})
    return str(interpolate(template, params))


def _tz(packet: dict[str, Any]) -> datetime.tzinfo:
    try:
        return zoneinfo.ZoneInfo(packet.get("tz") or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def age_text(birth: str | None, at: datetime.date) -> str:
    if not birth:
        return ""
    born = datetime.date.fromisoformat(birth)
    days = (at - born).days
    if days < 0:
        return ""
    if days < 31:
        return str(interpolate(_("%(n)s d"), {"n": days}))
    years = at.year - born.year - ((at.month, at.day) < (born.month, born.day))
    if years < 2:
        months = (at.year - born.year) * 12 + at.month - born.month - (at.day < born.day)
        return str(interpolate(_("%(n)s mo"), {"n": months}))
    return str(interpolate(_("%(n)s y"), {"n": years}))


def present(packet: dict[str, Any]) -> dict[str, Any]:
    tz = _tz(packet)
    as_of = datetime.datetime.fromisoformat(packet["as_of"]).astimezone(tz)
    as_of_date = as_of.date()
    next_day = gettext("next day")

    def local(value: str | None) -> datetime.datetime | None:
        return datetime.datetime.fromisoformat(value).astimezone(tz) if value else None

    def hm(value: str | None) -> str:
        at = local(value)
        if at is None:
            return ""
        if at.date() == as_of_date:
            return f"{at:%H:%M}"
        if at.date() == as_of_date + datetime.timedelta(days=1):
            return f"{next_day} {at:%H:%M}"
        return f"{at:%m-%d %H:%M}"

    def md_hm(value: str | None) -> str:
        at = local(value)
        return f"{at:%m-%d %H:%M}" if at else ""

    patients = []
    for p in packet["patients"]:
        allergies = []
        for a in p["allergies"]:
            detail = " · ".join(x for x in (a.get("r", ""), str(CRITICALITY.get(a.get("c", ""), ""))) if x)
            allergies.append({"text": a["s"], "detail": detail, "high": a.get("c") == "high"})
        orders = [
            {
                "drug": o["drug"],
                "dose": o["dose"],
                "route": o["route"],
                "freq": o["freq"] or ("prn" if o["prn"] else ""),
                "prn": o["prn"],
                "due": [hm(d) for d in o["due"]],
                "last": hm(o["last"]),
                "note": o["note"],
            }
            for o in p["orders"]
        ]
        results = [
            {
                "at": md_hm(r["at"]),
                "name": r["name"],
                "value": r["value"],
                "unit": r["unit"],
                "range": r["range"],
                "flag": FLAG_ARROWS.get(r["flag"], r["flag"] if r["flag"] not in ("N", "") else ""),
                "crit": r["crit"],
                "abn": r["flag"] not in ("", "N"),
            }
            for r in p["results"]
        ]
        pending = [
            {
                "kind": str(KIND.get(x["kind"], x["kind"])),
                "text": x["text"],
                "at": md_hm(x["at"]),
                "prio": str(PRIORITY.get(x["prio"], x["prio"])),
            }
            for x in p["pending"]
        ]
        sex = str(SEX.get(p["sex"], "")) if p["sex"] else ""
        patients.append(
            {
                "bed": p["bed"],
                "mrn": p["mrn"],
                "name": p["name"],
                "sex": sex,
                "age": age_text(p["birth"], as_of_date),
                "dx": p["dx"],
                "admitted": md_hm(p["admitted"]),
                "doctor": p["doctor"],
                "allergies": allergies,
                "allergy_state": "listed" if allergies else ("nka" if p["nka"] else "none"),
                "orders": orders,
                "results": results,
                "critical": sum(1 for r in results if r["crit"]),
                "pending": pending,
                "skipped": p["skipped"],
            }
        )
    return {
        "mark": MARK,
        "hospital": packet.get("hospital", ""),
        "ward": packet["ward"],
        "as_of": as_of,
        "as_of_text": f"{as_of:%Y-%m-%d %H:%M}",
        "source": packet.get("source", ""),
        "skipped": packet.get("skipped", 0),
        "unassigned": packet.get("unassigned", 0),
        "issues": [
            {"resource": i.get("r", ""), "message": issue_message(i), "warning": bool(i.get("w"))}
            for i in packet.get("issues", [])
        ],
        "patients": patients,
        "with_allergies": sum(1 for p in patients if p["allergies"]),
        "critical": sum(p["critical"] for p in patients),
    }


def empty_packet(ward_code: str, ward_name: str, hospital: str = "") -> dict[str, Any]:
    """What a packet says when no snapshot has ever succeeded: nothing, clearly."""
    return {
        "v": 1,
        "hospital": hospital,
        "ward": {"code": ward_code, "name": ward_name},
        "as_of": datetime.datetime.now(tz=datetime.UTC).isoformat(),
        "tz": settings.TIME_ZONE,
        "patients": [],
        "skipped": 0,
        "unassigned": 0,
        "issues": [],
    }
