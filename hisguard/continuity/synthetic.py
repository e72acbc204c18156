"""Synthetic inpatients as FHIR R4 resources (Faker zh_CN), for the demo, the tests and the benchmark.

`generate` makes, for each ward, a Location for the ward and one per occupied bed, and per
patient: Patient, Encounter (in progress, with ward and bed), AllergyIntolerance, active and
draft MedicationRequests, MedicationAdministrations of the last day, laboratory Observations
(abnormal and critical ones among them) and ServiceRequests not yet done. The same seed gives
the same hospital; times are relative to `now`. Every resource validates against the FHIR
models of fhir.resources (`validate`), which the tests check.
"""

from __future__ import annotations

import datetime
import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faker import Faker

WARD_SYSTEM = "urn:hisguard:demo:ward"
MRN_SYSTEM = "urn:hisguard:demo:mrn"
_V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
_LOC_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
_INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
_ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
_ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
_SNOMED = "http://snomed.info/sct"
_ICD10 = "http://hl7.org/fhir/sid/icd-10"
_LOINC = "http://loinc.org"
_UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True)
class WardSpec:
    code: str
    name: str
    beds: int


# (name, ICD-10) by specialty; wards not listed draw from all.
DIAGNOSES: dict[str, list[tuple[str, str]]] = {
    "cardio": [
        ("急性心肌梗死", "I21.9"),
        ("心力衰竭", "I50.9"),
        ("心房颤动", "I48.9"),
        ("不稳定型心绞痛", "I20.0"),
    ],
    "resp": [("社区获得性肺炎", "J18.9"), ("慢性阻塞性肺疾病急性加重", "J44.1"), ("支气管哮喘", "J45.9")],
    "gi": [("上消化道出血", "K92.2"), ("急性胰腺炎", "K85.9"), ("肝硬化", "K74.6")],
    "neuro": [("脑梗死", "I63.9"), ("脑出血", "I61.9"), ("癫痫", "G40.9")],
    "endo": [("2型糖尿病", "E11.9"), ("糖尿病酮症酸中毒", "E11.1"), ("甲状腺功能亢进症", "E05.9")],
    "renal": [("慢性肾脏病5期", "N18.5"), ("急性肾损伤", "N17.9"), ("肾病综合征", "N04.9")],
    "onc": [("肺恶性肿瘤", "C34.9"), ("胃恶性肿瘤", "C16.9"), ("结肠恶性肿瘤", "C18.9")],
    "surg": [("急性阑尾炎", "K35.8"), ("胆囊结石伴胆囊炎", "K80.1"), ("腹股沟疝", "K40.9")],
    "ortho": [("股骨颈骨折", "S72.0"), ("腰椎间盘突出症", "M51.2"), ("膝骨关节炎", "M17.9")],
    "obs": [("妊娠状态", "Z33"), ("先兆早产", "O60.0"), ("子宫肌瘤", "D25.9")],
    "paed": [("小儿支气管肺炎", "J18.0"), ("急性胃肠炎", "A09"), ("热性惊厥", "R56.0")],
    "neo": [("新生儿黄疸", "P59.9"), ("早产儿", "P07.3"), ("新生儿肺炎", "P23.9")],
    "icu": [("脓毒性休克", "R57.2"), ("急性呼吸窘迫综合征", "J80"), ("多器官功能障碍综合征", "R68.8")],
}
_SPECIALTY = {
    "XNK": "cardio", "HXK": "resp", "XHK": "gi", "SJNK": "neuro", "NFMK": "endo", "SNK": "renal",
    "ZLK": "onc", "PWK": "surg", "GK": "ortho", "SJWK": "neuro", "MNWK": "surg", "XXWK": "cardio",
    "FCK": "obs", "EKBQ": "paed", "XSEK": "neo", "ICU": "icu",
}  # fmt: skip
# name, dose value, unit, route, frequency code (GTS) or "" with prn
DRUGS = [
    ("阿莫西林胶囊", 0.5, "g", "口服", "TID"),
    ("头孢曲松钠注射液", 2, "g", "静脉滴注", "QD"),
    ("美托洛尔缓释片", 47.5, "mg", "口服", "QD"),
    ("阿司匹林肠溶片", 100, "mg", "口服", "QD"),
    ("氯吡格雷片", 75, "mg", "口服", "QD"),
    ("阿托伐他汀钙片", 20, "mg", "口服", "QN"),
    ("呋塞米注射液", 20, "mg", "静脉注射", "BID"),
    ("低分子肝素钙注射液", 4100, "IU", "皮下注射", "Q12H"),
    ("胰岛素注射液", 8, "U", "皮下注射", "TID"),
    ("奥美拉唑肠溶胶囊", 20, "mg", "口服", "BID"),
    ("氯化钾缓释片", 1, "g", "口服", "TID"),
    ("甲硝唑氯化钠注射液", 0.5, "g", "静脉滴注", "Q8H"),
    ("左氧氟沙星注射液", 0.5, "g", "静脉滴注", "QD"),
    ("硝苯地平控释片", 30, "mg", "口服", "QD"),
    ("二甲双胍片", 0.5, "g", "口服", "TID"),
    ("布地奈德混悬液", 1, "mg", "雾化吸入", "BID"),
    ("氨溴索注射液", 30, "mg", "静脉注射", "BID"),
    ("万古霉素注射液", 1, "g", "静脉滴注", "Q12H"),
    ("泮托拉唑注射液", 40, "mg", "静脉滴注", "QD"),
    ("对乙酰氨基酚片", 0.5, "g", "口服", ""),
    ("吗啡注射液", 5, "mg", "皮下注射", ""),
    ("地西泮注射液", 10, "mg", "静脉注射", ""),
]
ALLERGENS = [
    ("青霉素", "medication"), ("头孢类抗生素", "medication"), ("磺胺类药物", "medication"),
    ("阿司匹林", "medication"), ("碘造影剂", "medication"), ("链霉素", "medication"),
    ("海鲜", "food"), ("花生", "food"), ("乳胶", "environment"), ("花粉", "environment"),
]  # fmt: skip
INSTRUCTIONS = ["", "", "", "", "餐后服用", "空腹服用", "避光滴注", "监测血糖后给药", "滴速≤40滴/分"]
REACTIONS = ["皮疹", "荨麻疹", "过敏性休克", "呼吸困难", "血管性水肿", "恶心呕吐", "瘙痒"]
# name, LOINC, unit, low, high, critical low, critical high, decimals
LABS = [
    ("血钾", "2823-3", "mmol/L", 3.5, 5.3, 2.8, 6.2, 1),
    ("血钠", "2951-2", "mmol/L", 137, 147, 120, 160, 0),
    ("血糖", "2345-7", "mmol/L", 3.9, 6.1, 2.8, 22.2, 1),
    ("肌酐", "2160-0", "µmol/L", 44, 133, None, 707, 0),
    ("血红蛋白", "718-7", "g/L", 115, 150, 60, 200, 0),
    ("白细胞计数", "6690-2", "10*9/L", 3.5, 9.5, 1.0, 30.0, 1),
    ("血小板计数", "777-3", "10*9/L", 125, 350, 30, 1000, 0),
    ("国际标准化比值", "6301-6", "", 0.8, 1.2, None, 4.0, 2),
    ("肌钙蛋白I", "10839-9", "ng/mL", 0, 0.04, None, 0.5, 2),
    ("降钙素原", "33959-8", "ng/mL", 0, 0.05, None, 10, 2),
    ("C反应蛋白", "1988-5", "mg/L", 0, 10, None, None, 1),
    ("丙氨酸氨基转移酶", "1742-6", "U/L", 9, 50, None, None, 0),
    ("白蛋白", "1751-7", "g/L", 40, 55, None, None, 1),
    ("血钙", "17861-6", "mmol/L", 2.11, 2.52, 1.75, 3.5, 2),
]
PENDING = [
    ("血常规", "laboratory"), ("肝肾功能", "laboratory"), ("凝血功能", "laboratory"),
    ("血培养", "laboratory"), ("胸部CT平扫", "imaging"), ("腹部超声", "imaging"), ("头颅MRI", "imaging"),
]  # fmt: skip
DOCTORS = "王李张刘陈杨黄赵吴周"


@dataclass
class Options:
    occupancy: float = 0.85
    orders: tuple[int, int] = (3, 8)
    allergies: tuple[int, int] = (0, 2)
    results: tuple[int, int] = (6, 14)
    pending: tuple[int, int] = (0, 2)
    draft_orders: int = 1  # per patient, at most (a medication order not yet started)
    nka_share: float = 0.3  # of patients without allergies: an explicit "no known allergy"


def _concept(
    text: str, system: str | None = None, code: str | None = None, display: str | None = None
) -> dict:
    concept: dict[str, Any] = {"text": text}
    if system and code:
        coding: dict[str, Any] = {"system": system, "code": code}
        if display:
            coding["display"] = display
        concept["coding"] = [coding]
    return concept


def _at(value: datetime.datetime) -> str:
    return value.isoformat(timespec="seconds")


def _ref(kind: str, rid: str, display: str | None = None) -> dict[str, str]:
    ref = {"reference": f"{kind}/{rid}"}
    if display:
        ref["display"] = display
    return ref


class Generator:
    def __init__(self, seed: int, now: datetime.datetime, options: Options | None = None) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.now = now.replace(microsecond=0)
        self.options = options or Options()
        self.mrn_seq = 0

    def span(self, bounds: tuple[int, int]) -> int:
        return self.rng.randint(bounds[0], bounds[1])

    def ward(self, spec: WardSpec) -> list[dict[str, Any]]:
        """All resources of one ward, locations first."""
        rng = self.rng
        ward_id = f"ward-{spec.code}"
        out: list[dict[str, Any]] = [
            {
                "resourceType": "Location",
                "id": ward_id,
                "identifier": [{"system": WARD_SYSTEM, "value": spec.code}],
                "status": "active",
                "name": spec.name,
                "mode": "instance",
                "physicalType": _concept("病区", _LOC_TYPE, "wa", "Ward"),
            }
        ]
        occupied = sorted(rng.sample(range(1, spec.beds + 1), round(spec.beds * self.options.occupancy)))
        diagnoses = DIAGNOSES.get(_SPECIALTY.get(spec.code, ""), [d for ds in DIAGNOSES.values() for d in ds])
        for bed in occupied:
            out += self.patient(spec, ward_id, bed, diagnoses)
        return out

    def patient(self, spec: WardSpec, ward_id: str, bed: int, diagnoses: list[tuple[str, str]]) -> list[dict]:
        rng, now, o = self.rng, self.now, self.options
        pid = f"{spec.code.lower()}-{bed:03d}"
        bed_id = f"bed-{spec.code}-{bed:03d}"
        bed_name = f"{bed}床"
        self.mrn_seq += 1
        male = rng.random() < 0.5
        name = self.fake.name_male() if male else self.fake.name_female()
        if spec.code == "XSEK":
            born = now - datetime.timedelta(days=rng.randint(1, 27))
            name = f"{name[0]}{name[1:] or '某'}之子" if male else f"{name}之女"
        elif spec.code == "EKBQ":
            born = now - datetime.timedelta(days=rng.randint(60, 14 * 365))
        else:
            born = now - datetime.timedelta(days=rng.randint(18 * 365, 95 * 365))
        admitted = now - datetime.timedelta(hours=rng.randint(2, 24 * 20))
        dx, icd = rng.choice(diagnoses)
        doctor = f"{rng.choice(DOCTORS)}医生"
        resources: list[dict[str, Any]] = [
            {
                "resourceType": "Location",
                "id": bed_id,
                "status": "active",
                "name": bed_name,
                "mode": "instance",
                "physicalType": _concept("床位", _LOC_TYPE, "bd", "Bed"),
                "partOf": _ref("Location", ward_id, spec.name),
            },
            {
                "resourceType": "Patient",
                "id": pid,
                "identifier": [
                    {
                        "type": _concept("住院号", _V2_0203, "MR", "Medical record number"),
                        "system": MRN_SYSTEM,
                        "value": f"ZY{now:%y}{self.mrn_seq:06d}",
                    }
                ],
                "name": [{"text": name, "family": name[0], "given": [name[1:]]}],
                "gender": "male" if male else "female",
                "birthDate": born.date().isoformat(),
            },
            {
                "resourceType": "Encounter",
                "id": f"enc-{pid}",
                "status": "in-progress",
                "class": {"system": _ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
                "subject": _ref("Patient", pid, name),
                "participant": [{"individual": {"display": doctor}}],
                "period": {"start": _at(admitted)},
                "reasonCode": [_concept(dx, _ICD10, icd, dx)],
                "location": [
                    {
                        "location": _ref("Location", ward_id, spec.name),
                        "status": "active",
                        "physicalType": _concept("病区", _LOC_TYPE, "wa", "Ward"),
                    },
                    {
                        "location": _ref("Location", bed_id, bed_name),
                        "status": "active",
                        "physicalType": _concept("床位", _LOC_TYPE, "bd", "Bed"),
                    },
                ],
            },
        ]
        patient_ref = _ref("Patient", pid, name)
        allergies = self.span(o.allergies)
        for number, (allergen, category) in enumerate(rng.sample(ALLERGENS, min(allergies, len(ALLERGENS)))):
            resources.append(
                {
                    "resourceType": "AllergyIntolerance",
                    "id": f"alg-{pid}-{number}",
                    "clinicalStatus": _concept("活动", _ALLERGY_CLINICAL, "active", "Active"),
                    "verificationStatus": _concept("已确认", _ALLERGY_VERIFICATION, "confirmed", "Confirmed"),
                    "category": [category],
                    "criticality": rng.choice(["high", "low", "high"]),
                    "code": {"text": allergen},
                    "patient": patient_ref,
                    "recordedDate": _at(admitted),
                    "reaction": [{"manifestation": [{"text": rng.choice(REACTIONS)}]}],
                }
            )
        if not allergies and rng.random() < o.nka_share:
            resources.append(
                {
                    "resourceType": "AllergyIntolerance",
                    "id": f"alg-{pid}-nka",
                    "clinicalStatus": _concept("活动", _ALLERGY_CLINICAL, "active", "Active"),
                    "verificationStatus": _concept("已确认", _ALLERGY_VERIFICATION, "confirmed", "Confirmed"),
                    "code": _concept("无已知过敏", _SNOMED, "716186003", "No known allergy"),
                    "patient": patient_ref,
                }
            )
        orders = self.span(o.orders)
        drugs = (
            [rng.choice(DRUGS) for _ in range(orders)] if orders > len(DRUGS) else rng.sample(DRUGS, orders)
        )
        for number, (drug, dose, unit, route, freq) in enumerate(drugs):
            oid = f"mr-{pid}-{number}"
            start = admitted + datetime.timedelta(hours=rng.randint(0, 12))
            start = min(start, now - datetime.timedelta(hours=1))
            dosage: dict[str, Any] = {
                "route": {"text": route},
                "doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit}}],
            }
            instruction = rng.choice(INSTRUCTIONS)
            if instruction:
                dosage["text"] = instruction
            if freq:
                dosage["timing"] = {"code": _concept(freq.lower(), _GTS, freq)}
            else:
                dosage["asNeededBoolean"] = True
            resources.append(
                {
                    "resourceType": "MedicationRequest",
                    "id": oid,
                    "status": "active",
                    "intent": "order",
                    "medicationCodeableConcept": {"text": drug},
                    "subject": patient_ref,
                    "authoredOn": _at(start),
                    "requester": {"display": doctor},
                    "dosageInstruction": [dosage],
                }
            )
            if freq:
                for dose_no in range(rng.randint(1, 2)):
                    given = now - datetime.timedelta(hours=rng.randint(1, 20), minutes=rng.randint(0, 59))
                    if given < start:
                        continue
                    resources.append(
                        {
                            "resourceType": "MedicationAdministration",
                            "id": f"ma-{oid}-{dose_no}",
                            "status": "completed",
                            "medicationCodeableConcept": {"text": drug},
                            "subject": patient_ref,
                            "effectiveDateTime": _at(given),
                            "request": _ref("MedicationRequest", oid),
                            "dosage": {"dose": {"value": dose, "unit": unit}},
                        }
                    )
        for number in range(rng.randint(0, o.draft_orders)):
            drug, dose, unit, route, freq = rng.choice(DRUGS)
            resources.append(
                {
                    "resourceType": "MedicationRequest",
                    "id": f"mr-{pid}-d{number}",
                    "status": "draft",
                    "intent": "order",
                    "medicationCodeableConcept": {"text": drug},
                    "subject": patient_ref,
                    "authoredOn": _at(now - datetime.timedelta(minutes=rng.randint(5, 120))),
                    "dosageInstruction": [{"text": f"{dose:g}{unit} {route} {(freq or 'prn').lower()}"}],
                }
            )
        for number in range(self.span(o.results)):
            resources.append(self.observation(pid, patient_ref, number, admitted))
        for number, (what, category) in enumerate(rng.sample(PENDING, self.span(o.pending))):
            cat = (
                ("108252007", "Laboratory procedure")
                if category == "laboratory"
                else ("363679005", "Imaging")
            )
            resources.append(
                {
                    "resourceType": "ServiceRequest",
                    "id": f"sr-{pid}-{number}",
                    "status": "active",
                    "intent": "order",
                    "category": [_concept(cat[1], _SNOMED, cat[0], cat[1])],
                    "priority": rng.choice(["routine", "routine", "urgent", "stat"]),
                    "code": {"text": what},
                    "subject": patient_ref,
                    "authoredOn": _at(now - datetime.timedelta(minutes=rng.randint(10, 600))),
                }
            )
        return resources

    def observation(self, pid: str, patient_ref: dict, number: int, admitted: datetime.datetime) -> dict:
        rng, now = self.rng, self.now
        name, loinc, unit, low, high, crit_low, crit_high, decimals = rng.choice(LABS)
        roll = rng.random()
        width = high - low
        if roll < 0.03 and (crit_low is not None or crit_high is not None):
            if crit_high is not None and (crit_low is None or rng.random() < 0.5):
                value, flag = crit_high * rng.uniform(1.0, 1.3), "HH"
            else:
                value, flag = (crit_low or low) * rng.uniform(0.7, 0.99), "LL"
        elif roll < 0.2:
            value, flag = high + width * rng.uniform(0.05, 0.6), "H"
        elif roll < 0.3 and low > 0:
            value, flag = low - width * rng.uniform(0.05, 0.4), "L"
            value = max(value, low * 0.5)
        else:
            value, flag = rng.uniform(low, high), "N"
        value = round(value, decimals) if decimals else round(value)
        oldest = max(admitted, now - datetime.timedelta(hours=70))
        at = now - datetime.timedelta(
            minutes=rng.randint(10, max(11, int((now - oldest).total_seconds() // 60)))
        )
        quantity: dict[str, Any] = {"value": value}
        if unit:
            quantity.update({"unit": unit, "system": _UCUM, "code": unit.replace("µ", "u")})
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": f"obs-{pid}-{number}",
            "status": "final",
            "category": [_concept("检验", _OBS_CAT, "laboratory", "Laboratory")],
            "code": _concept(name, _LOINC, loinc),
            "subject": patient_ref,
            "effectiveDateTime": _at(at),
            "valueQuantity": quantity,
            "referenceRange": [{"low": {"value": low}, "high": {"value": high}}],
        }
        if flag != "N":
            resource["interpretation"] = [_concept(flag, _INTERP, flag)]
        return resource


def generate(
    wards: Iterable[WardSpec], *, now: datetime.datetime, seed: int = 6, options: Options | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Resources per ward code."""
    generator = Generator(seed, now, options)
    return {spec.code: generator.ward(spec) for spec in wards}


def bundle(
    resources: list[dict[str, Any]], *, now: datetime.datetime, bundle_id: str = "census"
) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "type": "collection",
        "timestamp": _at(now),
        "entry": [
            {"fullUrl": f"urn:hisguard:{r['resourceType']}/{r['id']}", "resource": r} for r in resources
        ],
    }


def searchset(
    resources: list[dict[str, Any]], *, total: int | None = None, next_url: str | None = None
) -> dict:
    body: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if total is not None:
        body["total"] = total
    if next_url:
        body["link"] = [{"relation": "next", "url": next_url}]
    return body


def write_bundles(
    per_ward: dict[str, list[dict[str, Any]]], directory: Path, *, now: datetime.datetime
) -> list[Path]:
    """One Bundle file per ward (what a nightly FHIR export might leave)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for code, resources in per_ward.items():
        path = directory / f"ward-{code}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(bundle(resources, now=now, bundle_id=f"ward-{code}"), ensure_ascii=False))
        tmp.replace(path)
        paths.append(path)
    return paths


def write_ndjson(per_ward: dict[str, list[dict[str, Any]]], directory: Path) -> list[Path]:
    """Bulk Data style: one file per resource type, one resource a line."""
    directory.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resources in per_ward.values():
        for resource in resources:
            by_type.setdefault(resource["resourceType"], []).append(resource)
    paths = []
    for kind, resources in by_type.items():
        path = directory / f"{kind}.ndjson"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in resources))
        paths.append(path)
    return paths


def iter_resources(per_ward: dict[str, list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    for resources in per_ward.values():
        yield from resources


def validate(resources: Iterable[dict[str, Any]]) -> list[str]:
    """Problems fhir.resources finds (FHIR R4B models: R4 for these resources), one per resource."""
    from fhir.resources.R4B import get_fhir_model_class

    problems = []
    for resource in resources:
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except Exception as exc:
            problems.append(f"{resource.get('resourceType')}/{resource.get('id')}: {exc}")
    return problems
