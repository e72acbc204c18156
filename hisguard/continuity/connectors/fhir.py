"""FHIR R4 resources → the internal shape. Shared by the REST connector and the file connector.

The census is the in-progress Encounters: each names its Patient (subject) and its
Locations (bed, room, ward — by `physicalType` on the encounter's location entry or on the
Location resource, following `partOf` from the bed up to the ward). Allergies, medication
requests and administrations, laboratory observations and service requests hang off the
patient. Each resource is checked field by field; a bad one becomes an `Issue` naming
``Type/id`` and the field (FHIRPath-like), and the rest go on.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from typing import Any

from hisguard.continuity.shape import (
    Administration,
    Allergy,
    Extract,
    Order,
    Patient,
    Pending,
    Result,
    frequency_from_repeat,
    normalise_frequency,
    parse_date,
    parse_datetime,
    text,
)

RESOURCE_TYPES = (
    "Encounter",
    "Patient",
    "Location",
    "AllergyIntolerance",
    "MedicationRequest",
    "MedicationAdministration",
    "Observation",
    "ServiceRequest",
)
NO_KNOWN_ALLERGY_CODES = {"716186003", "409137002", "428607008", "429625007"}  # SNOMED CT "no known …"
CRITICAL_FLAGS = {"HH", "LL", "AA", "HU", "LU"}
PHYSICAL_BED, PHYSICAL_WARD, PHYSICAL_ROOM = "bd", "wa", "ro"
MR_TYPE_CODES = {"MR", "IP"}  # medical record number; inpatient number (住院号) in some Chinese profiles


class Index:
    """Every resource of a pull, by type and id, with where it came from (for issues)."""

    def __init__(self) -> None:
        self.by_type: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.full_urls: dict[str, tuple[str, str]] = {}
        self.fetched: dict[str, int] = defaultdict(int)
        self.bad: list[tuple[str, str, str]] = []  # (origin, field, code) of unusable entries

    def add(self, resource: Any, origin: str, full_url: str | None = None) -> None:
        if not isinstance(resource, dict):
            self.bad.append((origin, "resource", "not_object"))
            return
        kind = resource.get("resourceType")
        if not isinstance(kind, str) or not kind:
            self.bad.append((origin, "resourceType", "missing"))
            return
        if kind not in RESOURCE_TYPES:
            return  # OperationOutcome in a searchset, Condition, Organization …: not used
        self.fetched[kind] += 1
        rid = resource.get("id")
        if not isinstance(rid, str) or not rid:
            self.bad.append((f"{kind} ({origin})", "id", "missing"))
            return
        self.by_type[kind][rid] = resource
        if full_url:
            self.full_urls[full_url] = (kind, rid)

    def add_bundle(self, bundle: dict[str, Any], origin: str) -> None:
        for number, entry in enumerate(bundle.get("entry") or [], start=1):
            if not isinstance(entry, dict):
                self.bad.append((f"{origin} entry {number}", "entry", "not_object"))
                continue
            if (entry.get("search") or {}).get("mode") == "outcome":
                continue
            self.add(entry.get("resource"), f"{origin} entry {number}", entry.get("fullUrl"))

    def of(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.by_type.get(kind, {})

    def resolve(self, reference: str) -> tuple[str, str] | None:
        """`Patient/1`, an absolute URL ending in it, or a bundle `urn:uuid:` full URL."""
        if reference in self.full_urls:
            return self.full_urls[reference]
        parts = reference.split("/_history/")[0].rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] and parts[-1]:
            return parts[-2], parts[-1]
        return None


def _ref(index: Index, value: Any, kind: str) -> str | None:
    if not isinstance(value, dict) or not isinstance(value.get("reference"), str):
        return None
    target = index.resolve(value["reference"])
    if target is None or target[0] != kind:
        return None
    return target[1]


def concept_text(concept: Any) -> str:
    """What a person calls a CodeableConcept: its text, else the first display, else the code."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return text(concept["text"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("display"):
            return text(coding["display"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("code"):
            return text(coding["code"])
    return ""


def concept_codes(concept: Any) -> set[str]:
    if not isinstance(concept, dict):
        return set()
    codings = concept.get("coding")
    if not codings:
        return set()
    return {str(c["code"]).strip() for c in codings if isinstance(c, dict) and c.get("code")}


def _first(values: Any) -> Any:
    return values[0] if isinstance(values, list) and values else None


def _quantity(q: Any) -> str:
    if not isinstance(q, dict) or q.get("value") is None:
        return ""
    unit = text(q.get("unit") or q.get("code"))
    return f"{text(q['value'])} {unit}".strip()


class Mapper:
    def __init__(self, index: Index, extract: Extract, tz: datetime.tzinfo, config: dict[str, Any]) -> None:
        self.index = index
        self.extract = extract
        self.tz = tz
        self.mrn_system = config.get("mrn_system") or ""
        self.ward_system = config.get("ward_system") or ""
        self.critical = set(config.get("critical_flags") or CRITICAL_FLAGS)

    def issue(self, resource: str, field: str, code: str, patient_id: str = "", **params: Any) -> None:
        self.extract.issue(resource, field, code, **params)
        if patient_id:
            self.extract.issues[-1].patient_id = patient_id

    def when(self, value: Any, where: str, field: str, patient_id: str = "") -> datetime.datetime | None:
        try:
            return parse_datetime(value, self.tz)
        except (ValueError, TypeError):
            self.issue(where, field, "invalid", patient_id, value=value)
            raise

    # --- census ---

    def location_kind(self, entry: dict[str, Any], location: dict[str, Any] | None) -> str:
        codes = concept_codes(entry.get("physicalType"))
        if location is not None:
            codes |= concept_codes(location.get("physicalType"))
        for kind in (PHYSICAL_BED, PHYSICAL_WARD, PHYSICAL_ROOM):
            if kind in codes:
                return kind
        return ""

    def ward_key(self, location: dict[str, Any]) -> str:
        identifiers = [i for i in location.get("identifier") or [] if isinstance(i, dict) and i.get("value")]
        if self.ward_system:
            for ident in identifiers:
                if ident.get("system") == self.ward_system:
                    return text(ident["value"])
        if identifiers:
            return text(identifiers[0]["value"])
        return text(location.get("name"))

    def ward_above(self, location: dict[str, Any]) -> dict[str, Any] | None:
        seen: set[str] = set()
        node: dict[str, Any] | None = location
        while node is not None and node.get("id") not in seen:
            seen.add(node.get("id", ""))
            if PHYSICAL_WARD in concept_codes(node.get("physicalType")):
                return node
            parent = _ref(self.index, node.get("partOf"), "Location")
            node = self.index.of("Location").get(parent) if parent else None
        return None

    def patient_fields(self, pid: str, where: str) -> tuple[str, str, str, datetime.date | None] | None:
        resource = self.index.of("Patient").get(pid)
        if resource is None:
            self.issue(where, "subject", "missing_ref", value=f"Patient/{pid}")
            return None
        here = f"Patient/{pid}"
        identifiers = [i for i in resource.get("identifier") or [] if isinstance(i, dict) and i.get("value")]
        mrn = ""
        for ident in identifiers:
            if self.mrn_system and ident.get("system") == self.mrn_system:
                mrn = text(ident["value"])
                break
        if not mrn:
            for ident in identifiers:
                if concept_codes(ident.get("type")) & MR_TYPE_CODES:
                    mrn = text(ident["value"])
                    break
        if not mrn and identifiers and not self.mrn_system:
            mrn = text(identifiers[0]["value"])
        if not mrn:
            self.issue(here, "identifier", "missing")
            return None
        name = ""
        human = _first(resource.get("name"))
        if isinstance(human, dict):
            name = text(human.get("text")) or (
                text(human.get("family")) + "".join(text(g) for g in human.get("given") or [])
            )
        if not name:
            self.issue(here, "name", "missing")
            return None
        sex = {"male": "M", "female": "F", "other": "O", "unknown": "U"}.get(text(resource.get("gender")), "")
        try:
            birth = parse_date(resource.get("birthDate"))
        except ValueError:
            self.issue(here, "birthDate", "invalid", value=resource.get("birthDate"))
            return None
        return mrn, name, sex, birth

    def census(self) -> None:
        locations = self.index.of("Location")
        for eid, enc in self.index.of("Encounter").items():
            where = f"Encounter/{eid}"
            if enc.get("status") not in ("in-progress", "arrived", "onleave"):
                continue
            pid = _ref(self.index, enc.get("subject"), "Patient")
            if pid is None:
                self.issue(where, "subject", "missing")
                continue
            bed = ward = ""
            for entry in enc.get("location") or []:
                if not isinstance(entry, dict) or entry.get("status") in ("completed", "planned"):
                    continue
                lid = _ref(self.index, entry.get("location"), "Location")
                location = locations.get(lid) if lid else None
                display = text((entry.get("location") or {}).get("display"))
                kind = self.location_kind(entry, location)
                if kind == PHYSICAL_BED:
                    bed = text(location.get("name")) if location else display
                    above = self.ward_above(location) if location else None
                    if above is not None and not ward:
                        ward = self.ward_key(above)
                elif kind == PHYSICAL_WARD:
                    ward = self.ward_key(location) if location else display
            before = len(self.extract.issues)
            fields = self.patient_fields(pid, where)
            admitted = None
            if fields is not None:
                try:
                    admitted = self.when((enc.get("period") or {}).get("start"), where, "period.start")
                except (ValueError, TypeError):
                    fields = None
            if fields is None:
                for issue in self.extract.issues[before:]:
                    issue.census, issue.patient_id, issue.ward_key = True, pid, ward
                continue
            mrn, name, sex, birth = fields
            diagnosis = ", ".join(t for t in (concept_text(c) for c in enc.get("reasonCode") or []) if t)
            if not diagnosis:
                for dx in enc.get("diagnosis") or []:
                    if isinstance(dx, dict) and isinstance(dx.get("condition"), dict):
                        diagnosis = text(dx["condition"].get("display"))
                        if diagnosis:
                            break
            doctor = ""
            for part in enc.get("participant") or []:
                if isinstance(part, dict) and isinstance(part.get("individual"), dict):
                    doctor = text(part["individual"].get("display"))
                    if doctor:
                        break
            self.extract.patients.append(
                Patient(
                    source_id=pid,
                    mrn=mrn,
                    name=name,
                    ward_key=ward,
                    bed=bed,
                    sex=sex,
                    birth_date=birth,
                    diagnosis=diagnosis,
                    admitted=admitted,
                    doctor=doctor,
                    resource=where,
                )
            )

    # --- clinical records ---

    def patient_of(self, resource: dict[str, Any], where: str, field: str = "patient") -> str | None:
        pid = _ref(self.index, resource.get(field), "Patient")
        if pid is None:
            self.issue(where, field, "missing")
        return pid

    def allergies(self) -> None:
        for rid, res in self.index.of("AllergyIntolerance").items():
            where = f"AllergyIntolerance/{rid}"
            if concept_codes(res.get("verificationStatus")) & {"entered-in-error", "refuted"}:
                continue
            status = concept_codes(res.get("clinicalStatus"))
            if status and "active" not in status:
                continue
            pid = self.patient_of(res, where)
            if pid is None:
                continue
            codes = concept_codes(res.get("code"))
            reaction = _first(res.get("reaction"))
            manifestation = ""
            if isinstance(reaction, dict):
                manifestation = ", ".join(
                    t for t in (concept_text(m) for m in reaction.get("manifestation") or []) if t
                )
            self.extract.allergies.append(
                Allergy(
                    patient_id=pid,
                    substance=concept_text(res.get("code")),
                    reaction=manifestation,
                    criticality=text(res.get("criticality")),
                    category=text(_first(res.get("category"))),
                    no_known=bool(codes & NO_KNOWN_ALLERGY_CODES),
                    resource=where,
                )
            )

    def medication_requests(self) -> None:
        for rid, res in self.index.of("MedicationRequest").items():
            where = f"MedicationRequest/{rid}"
            status = res.get("status")
            if status not in ("active", "on-hold", "draft"):
                continue
            pid = self.patient_of(res, where, "subject")
            if pid is None:
                continue
            drug = concept_text(res.get("medicationCodeableConcept"))
            if not drug and isinstance(res.get("medicationReference"), dict):
                drug = text(res["medicationReference"].get("display"))
            if not drug:
                self.issue(where, "medication[x]", "missing", pid)
                continue
            dosage = _first(res.get("dosageInstruction")) or {}
            if not isinstance(dosage, dict):
                self.issue(where, "dosageInstruction", "invalid", pid, value=type(dosage).__name__)
                continue
            dose = ""
            rate = _first(dosage.get("doseAndRate"))
            if isinstance(rate, dict):
                dose = _quantity(rate.get("doseQuantity"))
            timing = dosage.get("timing") or {}
            repeat = timing.get("repeat") or {} if isinstance(timing, dict) else {}
            frequency = ""
            codes = concept_codes(timing.get("code")) if isinstance(timing, dict) else set()
            if codes:
                frequency = normalise_frequency(sorted(codes)[0])
            elif repeat.get("frequency") and repeat.get("period") and repeat.get("periodUnit"):
                try:
                    frequency = frequency_from_repeat(
                        int(repeat["frequency"]), float(repeat["period"]), text(repeat["periodUnit"])
                    )
                except (TypeError, ValueError):
                    self.issue(where, "dosageInstruction.timing.repeat", "invalid", pid, value=repeat)
                    continue
            times = tuple(text(t)[:5] for t in repeat.get("timeOfDay") or [])
            prn = bool(dosage.get("asNeededBoolean")) or frequency == "prn"
            try:
                start = self.when(res.get("authoredOn"), where, "authoredOn", pid)
                bounds = repeat.get("boundsPeriod") or {}
                end = self.when(
                    bounds.get("end"), where, "dosageInstruction.timing.repeat.boundsPeriod.end", pid
                )
                if bounds.get("start"):
                    start = self.when(
                        bounds["start"], where, "dosageInstruction.timing.repeat.boundsPeriod.start", pid
                    )
            except (ValueError, TypeError):
                continue
            note = text(dosage.get("text"))
            if status != "active":
                self.extract.pending.append(
                    Pending(
                        pid,
                        f"{drug} {dose} {note}".strip(),
                        "medication",
                        start,
                        text(res.get("priority")),
                        where,
                    )
                )
                continue
            self.extract.orders.append(
                Order(
                    source_id=rid,
                    patient_id=pid,
                    drug=drug,
                    dose=dose,
                    route=concept_text(dosage.get("route")),
                    frequency="prn" if prn and not frequency else frequency,
                    times=times,
                    prn=prn,
                    start=start,
                    end=end,
                    note=note,
                    resource=where,
                )
            )  # fmt: skip

    def administrations(self) -> None:
        for rid, res in self.index.of("MedicationAdministration").items():
            where = f"MedicationAdministration/{rid}"
            if res.get("status") in ("entered-in-error",):
                continue
            pid = self.patient_of(res, where, "subject")
            if pid is None:
                continue
            order = _ref(self.index, res.get("request"), "MedicationRequest")
            if order is None:
                continue  # given without an order in this pull: nothing to schedule from it
            try:
                at = self.when(
                    res.get("effectiveDateTime") or (res.get("effectivePeriod") or {}).get("start"),
                    where,
                    "effective[x]",
                    pid,
                )
            except (ValueError, TypeError):
                continue
            if at is None:
                self.issue(where, "effective[x]", "missing", pid)
                continue
            self.extract.administrations.append(
                Administration(pid, order, at, res.get("status") == "completed", where)
            )

    def observations(self) -> None:
        for rid, res in self.index.of("Observation").items():
            where = f"Observation/{rid}"
            if res.get("status") not in ("final", "amended", "corrected", "preliminary"):
                continue
            categories = set()
            for cat in res.get("category") or []:
                categories |= concept_codes(cat)
            if categories and "laboratory" not in categories:
                continue
            pid = self.patient_of(res, where, "subject")
            if pid is None:
                continue
            name = concept_text(res.get("code"))
            if not name:
                self.issue(where, "code", "missing", pid)
                continue
            if "valueQuantity" in res:
                quantity = res["valueQuantity"]
                if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
                    self.issue(where, "valueQuantity.value", "invalid", pid, value=quantity)
                    continue
                value, unit = text(quantity["value"]), text(quantity.get("unit") or quantity.get("code"))
            elif "valueString" in res:
                value, unit = text(res["valueString"]), ""
            elif "valueCodeableConcept" in res:
                value, unit = concept_text(res["valueCodeableConcept"]), ""
            elif "valueInteger" in res:
                value, unit = text(res["valueInteger"]), ""
            else:
                self.issue(where, "value[x]", "missing", pid)
                continue
            try:
                at = self.when(res.get("effectiveDateTime") or res.get("issued"), where, "effective[x]", pid)
            except (ValueError, TypeError):
                continue
            if at is None:
                self.issue(where, "effective[x]", "missing", pid)
                continue
            flag = ""
            interpretation = _first(res.get("interpretation"))
            if interpretation:
                flag = sorted(concept_codes(interpretation))[0] if concept_codes(interpretation) else ""
            ref_range = ""
            reference = _first(res.get("referenceRange"))
            if isinstance(reference, dict):
                low = (reference.get("low") or {}).get("value")
                high = (reference.get("high") or {}).get("value")
                if reference.get("text"):
                    ref_range = text(reference["text"])
                elif low is not None and high is not None:
                    ref_range = f"{text(low)}–{text(high)}"
                elif low is not None:
                    ref_range = f"≥{text(low)}"
                elif high is not None:
                    ref_range = f"≤{text(high)}"
            self.extract.results.append(
                Result(pid, name, value, at, unit, ref_range, flag, flag in self.critical, where)
            )

    def service_requests(self) -> None:
        for rid, res in self.index.of("ServiceRequest").items():
            where = f"ServiceRequest/{rid}"
            if res.get("status") not in ("active", "draft", "on-hold"):
                continue
            pid = self.patient_of(res, where, "subject")
            if pid is None:
                continue
            name = concept_text(res.get("code"))
            if not name:
                self.issue(where, "code", "missing", pid)
                continue
            kind = ""
            for cat in res.get("category") or []:
                codes = concept_codes(cat)
                if "108252007" in codes or "laboratory" in codes:
                    kind = "laboratory"
                elif "363679005" in codes or "imaging" in codes:
                    kind = "imaging"
                elif codes or concept_text(cat):
                    kind = kind or concept_text(cat)
            try:
                at = self.when(res.get("authoredOn"), where, "authoredOn", pid)
            except (ValueError, TypeError):
                continue
            self.extract.pending.append(
                Pending(pid, name, kind or "other", at, text(res.get("priority")), where)
            )


def map_index(
    index: Index, tz: datetime.tzinfo, config: dict[str, Any], extract: Extract | None = None
) -> Extract:
    extract = extract or Extract()
    for origin, field, code in index.bad:
        extract.issue(origin, field, code)
    mapper = Mapper(index, extract, tz, config)
    mapper.census()
    mapper.allergies()
    mapper.medication_requests()
    mapper.administrations()
    mapper.observations()
    mapper.service_requests()
    for kind, count in index.fetched.items():
        extract.fetched[kind] += count
    return extract
