"""A realistic demo hospital (示范市人民医院), the same on every run.

Everything is derived from fixed tables, arithmetic and one seeded random generator, so two
loads into two empty databases give the same hostnames, topology, people and phone numbers
(only database ids and the secret report tokens differ). `hisguard demo` loads it; `make run`
loads it into an empty database and prints ``DEMO_LOGINS``.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from hisguard.core import roles
from hisguard.core.audit import record
from hisguard.core.errors import DomainError
from hisguard.organisation.models import Area, Asset, Department, Hospital, InformationSystem, Person

DEMO_HOSPITAL_CODE = "DEMO"
DEMO_HOSPITAL_NAME = "示范市人民医院"
DEMO_PASSWORD = "hisguard-demo"  # noqa: S105 - published demo credential, documented in the README
SEED = 20240618
DEVICES_PER_ACCESS_SWITCH = 48


class DemoLogin(NamedTuple):
    username: str
    password: str
    role: str
    description: str
    is_staff: bool
    is_superuser: bool


DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("admin", DEMO_PASSWORD, roles.ADMIN, "系统管理员 / administrator", True, True),
    DemoLogin(
        "netadmin", DEMO_PASSWORD, roles.NETWORK_ADMIN, "网络管理员 / network administrator", False, False
    ),
    DemoLogin("ithead", DEMO_PASSWORD, roles.IT_HEAD, "信息科长（副组长）/ IT head", True, False),
    DemoLogin(
        "leader", DEMO_PASSWORD, roles.LEADERSHIP, "主管院长（组长）/ hospital leadership", False, False
    ),
    DemoLogin("office", DEMO_PASSWORD, roles.EMERGENCY_OFFICE, "应急办公室 / emergency office", True, False),
    DemoLogin("auditor", DEMO_PASSWORD, roles.AUDITOR, "审计 / auditor", False, False),
)


class DemoConflict(DomainError):
    code = "demo_conflict"
    status = 409


# ---------------------------------------------------------------------------------------------
# The tables the demo is built from.

# code, name, number of floors
BUILDINGS = [("OPD", "门诊楼", 5), ("IPD", "住院楼", 18), ("MTB", "医技楼", 5)]
DATA_CENTRE = ("MTB-DC", "中心机房", "MTB-5F")
BUILDING_OCTET = {"OPD": 10, "IPD": 20, "MTB": 30}

C, W, M, A = (
    Department.Kind.CLINICAL,
    Department.Kind.WARD,
    Department.Kind.MEDTECH,
    Department.Kind.ADMINISTRATIVE,
)


@dataclass(frozen=True)
class DeptSpec:
    code: str
    name: str
    kind: str
    floor: str
    workstations: int
    terminals: int
    beds: int = 0


_CLINICS = [
    # code, name, floor, workstations, terminals
    ("EM", "急诊科", "OPD-1F", 40, 6),
    ("FR", "发热门诊", "OPD-1F", 12, 2),
    ("EK", "儿科门诊", "OPD-2F", 26, 3),
    ("FK", "妇科门诊", "OPD-2F", 20, 2),
    ("ZY", "中医科", "OPD-2F", 12, 1),
    ("NK", "内科门诊", "OPD-3F", 36, 4),
    ("WK", "外科门诊", "OPD-3F", 28, 3),
    ("PF", "皮肤科", "OPD-3F", 10, 1),
    ("YK", "眼科", "OPD-4F", 14, 2),
    ("ENT", "耳鼻喉科", "OPD-4F", 12, 2),
    ("KQ", "口腔科", "OPD-4F", 16, 2),
    ("KF", "康复医学科", "OPD-5F", 10, 1),
]
_WARDS = [
    # code, name, beds; wards fill the inpatient building from 3F upwards
    ("XNK", "心血管内科病区", 48),
    ("HXK", "呼吸内科病区", 46),
    ("XHK", "消化内科病区", 45),
    ("SJNK", "神经内科病区", 44),
    ("NFMK", "内分泌科病区", 40),
    ("SNK", "肾内科病区", 38),
    ("ZLK", "肿瘤科病区", 50),
    ("PWK", "普外科病区", 50),
    ("GK", "骨科病区", 48),
    ("SJWK", "神经外科病区", 42),
    ("MNWK", "泌尿外科病区", 40),
    ("XXWK", "心胸外科病区", 36),
    ("FCK", "妇产科病区", 45),
    ("EKBQ", "儿科病区", 40),
    ("XSEK", "新生儿科病区", 24),
    ("ICU", "重症医学科", 20),
]
SURGICAL_WARDS = {"PWK", "GK", "SJWK", "MNWK", "XXWK", "FCK"}
_OTHERS = [
    # code, name, kind, floor, workstations, terminals
    ("SFC", "收费处", A, "OPD-1F", 40, 8),
    ("GHC", "挂号处", A, "OPD-1F", 24, 10),
    ("TJZX", "体检中心", M, "OPD-5F", 24, 3),
    ("RYC", "住院处", A, "IPD-1F", 16, 4),
    ("YB", "院长办公室", A, "IPD-2F", 8, 1),
    ("YWK", "医务科", A, "IPD-2F", 8, 1),
    ("HLB", "护理部", A, "IPD-2F", 6, 1),
    ("YJB", "应急办公室", A, "IPD-2F", 4, 1),
    ("FSK", "放射科", M, "MTB-1F", 30, 4),
    ("YJK", "药剂科", M, "MTB-1F", 28, 4),
    ("JYK", "检验科", M, "MTB-2F", 36, 6),
    ("SXK", "输血科", M, "MTB-2F", 8, 1),
    ("CSK", "超声科", M, "MTB-3F", 24, 2),
    ("BLK", "病理科", M, "MTB-3F", 12, 2),
    ("MZK", "麻醉科（手术室）", M, "MTB-4F", 30, 2),
    ("XXK", "信息科", A, "MTB-5F", 16, 2),
]


def department_specs() -> list[DeptSpec]:
    specs = [DeptSpec(code, name, C, floor, ws, term) for code, name, floor, ws, term in _CLINICS]
    for index, (code, name, beds) in enumerate(_WARDS):
        # A ward has a nurses' station and doctors' office: about one workstation per four beds.
        specs.append(DeptSpec(code, name, W, f"IPD-{index + 3}F", 22 + beds // 4, 4, beds))
    specs += [DeptSpec(code, name, kind, floor, ws, term) for code, name, kind, floor, ws, term in _OTHERS]
    return specs


@dataclass(frozen=True)
class SystemSpec:
    code: str
    name: str
    criticality: str
    dr_level: int
    rto: int
    rpo: int
    servers: tuple[str, ...]
    extra_assets: tuple[str, ...] = ()


_CRIT = InformationSystem.Criticality
SYSTEMS = [
    SystemSpec("HIS", "医院信息系统", _CRIT.CRITICAL, 5, 30, 5, ("HIS-APP-01", "HIS-APP-02")),
    SystemSpec("EMR", "电子病历系统", _CRIT.CRITICAL, 5, 30, 5, ("EMR-APP-01", "EMR-APP-02")),
    SystemSpec("LIS", "检验信息系统", _CRIT.CRITICAL, 4, 60, 15, ("LIS-APP-01",)),
    SystemSpec("PACS", "医学影像系统", _CRIT.IMPORTANT, 4, 120, 15, ("PACS-APP-01",), ("STOR-PACS-01",)),
    SystemSpec("RIS", "放射信息系统", _CRIT.IMPORTANT, 3, 240, 30, ("RIS-APP-01",)),
    SystemSpec("ANES", "手术麻醉系统（手麻）", _CRIT.IMPORTANT, 4, 60, 15, ("ANES-APP-01",)),
    SystemSpec("BLOOD", "输血管理系统（血库）", _CRIT.IMPORTANT, 4, 60, 15, ("BLOOD-APP-01",)),
    SystemSpec("PEIS", "体检系统", _CRIT.GENERAL, 2, 1440, 240, ("PEIS-APP-01",)),
]
VENDOR = "示范医疗软件有限公司"


def system_users(specs: list[DeptSpec]) -> dict[str, list[str]]:
    """Which departments use which system (department codes, in table order)."""
    clinics = [d.code for d in specs if d.kind == C]
    wards = [d.code for d in specs if d.kind == W]
    medtech = [d.code for d in specs if d.kind == M]
    surgical = [code for code in wards if code in SURGICAL_WARDS]

    def pick(*groups: list[str] | tuple[str, ...]) -> list[str]:
        chosen: list[str] = []
        for group in groups:
            chosen += [code for code in group if code not in chosen]
        return chosen

    return {
        "HIS": pick(clinics, wards, medtech, ("SFC", "GHC", "RYC", "YWK")),
        "EMR": pick(clinics, wards, ("MZK", "YWK", "HLB")),
        "LIS": pick(("JYK", "SXK", "TJZX"), clinics, wards),
        "PACS": pick(("FSK", "CSK", "BLK"), clinics, ("ICU",)),
        "RIS": pick(("FSK", "CSK", "TJZX")),
        "ANES": pick(("MZK",), surgical, ("ICU",)),
        "BLOOD": pick(("SXK", "JYK", "MZK", "EM", "ICU"), surgical),
        "PEIS": pick(("TJZX", "JYK", "FSK", "CSK", "SFC")),
    }


_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉斌宇浩凯健俊帆琳晨曦欣怡佳"


class _People:
    """Chinese names and 138 mobile numbers from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.phones: set[str] = set()
        self.names: set[str] = set()

    def name(self) -> str:
        while True:
            given = "".join(self.rng.choice(_GIVEN) for _ in range(self.rng.choice((1, 2))))
            name = self.rng.choice(_SURNAMES) + given
            if name not in self.names:
                self.names.add(name)
                return name

    def phone(self) -> str:
        while True:
            phone = f"138{self.rng.randrange(10**8):08d}"
            if phone not in self.phones:
                self.phones.add(phone)
                return phone


# ---------------------------------------------------------------------------------------------
# Building the rows.


@dataclass
class _AssetPlan:
    hospital: Hospital
    areas: dict[str, Area]
    departments: dict[str, Department]
    assets: dict[str, Asset] = field(default_factory=dict)
    tiers: dict[str, int] = field(default_factory=dict)
    depends: list[tuple[str, str]] = field(default_factory=list)

    def add(
        self,
        hostname: str,
        kind: str,
        name: str,
        area: str,
        department: str,
        *,
        upstream: str | None = None,
        depends_on: tuple[str, ...] = (),
        ip: str | None = None,
        location: str = "",
    ) -> None:
        assert hostname not in self.assets, hostname
        self.assets[hostname] = Asset(
            hospital=self.hospital,
            hostname=hostname,
            name=name,
            kind=kind,
            area=self.areas[area],
            department=self.departments[department],
            upstream=self.assets[upstream] if upstream else None,
            ip_address=ip,
            location=location,
        )
        # Rows are inserted tier by tier so every uplink already has its id.
        needs = ([upstream] if upstream else []) + list(depends_on)
        self.tiers[hostname] = 1 + max((self.tiers[n] for n in needs), default=-1)
        self.depends += [(hostname, needed) for needed in depends_on]


_K = Asset.Kind
_ROOM = ("DC-UPS-01", "DC-AC-01")  # what everything in the machine room needs
# The machine room, in dependency order: hostname, kind, name, upstream, depends on, IP, location.
MACHINE_ROOM = [
    ("DC-UPS-01", _K.POWER, "中心机房UPS 1", None, (), "10.1.0.11", "UPS间"),
    ("DC-UPS-02", _K.POWER, "中心机房UPS 2", None, (), "10.1.0.12", "UPS间"),
    ("DC-AC-01", _K.COOLING, "中心机房精密空调 1", None, (), "10.1.0.21", "机房A区"),
    ("DC-AC-02", _K.COOLING, "中心机房精密空调 2", None, (), "10.1.0.22", "机房B区"),
    ("CORE-SW-1", _K.CORE_SWITCH, "核心交换机 1", None, ("DC-UPS-01",), "10.254.0.1", "C01机柜"),
    ("CORE-SW-2", _K.CORE_SWITCH, "核心交换机 2（备）", None, ("DC-UPS-02",), "10.254.0.2", "C02机柜"),
    ("STOR-SAN-01", _K.STORAGE, "集中存储 SAN", None, _ROOM, "10.1.3.1", "A03机柜"),
    ("STOR-PACS-01", _K.STORAGE, "影像归档存储", None, _ROOM, "10.1.3.2", "A04机柜"),
    ("DC-SW-01", _K.DISTRIBUTION_SWITCH, "服务器区汇聚交换机", "CORE-SW-1", ("DC-UPS-01",), "10.254.0.9", "C01机柜"),
    ("DC-AS-01", _K.ACCESS_SWITCH, "服务器区接入交换机", "DC-SW-01", ("DC-UPS-01",), "10.254.0.10", "C03机柜"),
    ("DB-HIS-01", _K.DATABASE, "HIS 数据库集群（主）", "DC-AS-01", ("STOR-SAN-01", *_ROOM), "10.1.2.1", "A01机柜"),
    (
        "DB-HIS-02", _K.DATABASE, "HIS 数据库集群（备）", "DC-AS-01",
        ("STOR-SAN-01", "DC-UPS-02", "DC-AC-01"), "10.1.2.2", "A02机柜",
    ),
]  # fmt: skip


def _build_infrastructure(plan: _AssetPlan) -> None:
    dc, it = DATA_CENTRE[0], "XXK"
    for hostname, kind, name, upstream, depends_on, ip, location in MACHINE_ROOM:
        plan.add(
            hostname, kind, name, dc, it, upstream=upstream, depends_on=depends_on, ip=ip, location=location
        )
    server_no = 0
    for spec in SYSTEMS:
        for hostname in spec.servers:
            server_no += 1
            plan.add(
                hostname,
                _K.SERVER,
                f"{spec.name}应用服务器 {hostname[-2:]}",
                dc,
                it,
                upstream="DC-AS-01",
                depends_on=("DB-HIS-01", *spec.extra_assets, *_ROOM),
                ip=f"10.1.1.{server_no}",
                location=f"B{(server_no + 1) // 2:02d}机柜",
            )
    for index, (code, name, _floors) in enumerate(BUILDINGS):
        # Each building hangs off the core by one fibre to its distribution switch.
        link = f"LINK-{code}-CORE"
        plan.add(link, _K.BACKBONE_LINK, f"{name}—中心机房主干光纤", code, it)
        plan.add(
            f"{code}-DS-01",
            _K.DISTRIBUTION_SWITCH,
            f"{name}汇聚交换机",
            f"{code}-1F",
            it,
            upstream="CORE-SW-1",
            depends_on=(link,),
            ip=f"10.254.0.{11 + index}",
            location="弱电间",
        )


def _terminal(dept: DeptSpec, seq: int) -> tuple[str, str]:
    """Suffix and name of a department's seq-th terminal (printer, kiosk, handheld)."""
    if dept.code in {"GHC", "SFC"} and seq % 4 != 0:
        return "KSK", "自助机"
    if dept.kind == W and seq % 2 == 1:
        return "PDA", "移动护理终端"
    return "PRN", "打印机"


def _location(dept: DeptSpec, seq: int) -> str:
    if dept.kind == W:
        return "护士站" if seq <= 6 else "医生办公室"
    if dept.kind == C:
        return f"{(seq + 1) // 2:02d}诊室"
    return "窗口" if dept.code in {"GHC", "SFC", "RYC", "YJK"} else "办公室"


def _build_floors(plan: _AssetPlan, specs: list[DeptSpec]) -> None:
    Kind = Asset.Kind
    by_floor: dict[str, list[DeptSpec]] = defaultdict(list)
    for dept in specs:
        by_floor[dept.floor].append(dept)
    for code, _name, floors in BUILDINGS:
        for level in range(1, floors + 1):
            floor = f"{code}-{level}F"
            devices: list[tuple[str, str, str, DeptSpec, str]] = []
            for dept in by_floor.get(floor, []):
                for seq in range(1, dept.workstations + 1):
                    devices.append(
                        (
                            f"{floor}-{dept.code}-{seq:03d}",
                            Kind.WORKSTATION,
                            f"{dept.name}工作站 {seq:03d}",
                            dept,
                            _location(dept, seq),
                        )
                    )
                counters: dict[str, int] = defaultdict(int)
                for seq in range(1, dept.terminals + 1):
                    suffix, label = _terminal(dept, seq)
                    counters[suffix] += 1
                    devices.append(
                        (
                            f"{floor}-{dept.code}-{suffix}{counters[suffix]:02d}",
                            Kind.TERMINAL,
                            f"{dept.name}{label} {counters[suffix]:02d}",
                            dept,
                            _location(dept, seq),
                        )
                    )
            octet = BUILDING_OCTET[code]
            switches = (len(devices) + DEVICES_PER_ACCESS_SWITCH - 1) // DEVICES_PER_ACCESS_SWITCH
            for number in range(1, switches + 1):
                plan.add(
                    f"{floor}-AS-{number:02d}",
                    Kind.ACCESS_SWITCH,
                    f"{floor} 接入交换机 {number:02d}",
                    floor,
                    "XXK",
                    upstream=f"{code}-DS-01",
                    ip=f"10.254.{octet}.{level * 8 + number}",
                    location="弱电间",
                )
            for index, (hostname, kind, name, dept, location) in enumerate(devices):
                plan.add(
                    hostname,
                    kind,
                    name,
                    floor,
                    dept.code,
                    upstream=f"{floor}-AS-{index // DEVICES_PER_ACCESS_SWITCH + 1:02d}",
                    ip=f"10.{octet}.{level * 4 + index // 250}.{index % 250 + 1}",
                    location=location,
                )


def _build_people(
    hospital: Hospital, specs: list[DeptSpec], departments: dict[str, Department], rng: random.Random
) -> tuple[list[Person], dict[str, Person]]:
    """About a hundred people in the plan's positions; returns them and the people behind the logins."""
    P = Person.Position
    people = _People(rng)
    rows: list[Person] = []
    logins: dict[str, Person] = {}

    def person(position: str, dept: str, login: str | None = None) -> None:
        row = Person(
            hospital=hospital,
            employee_no=f"DEMO-{len(rows) + 1:04d}",
            name=people.name(),
            position=position,
            department=departments[dept],
            phone=people.phone(),
        )
        rows.append(row)
        if login:
            logins[login] = row

    person(P.LEADER, "YB", "leader")  # 主管院长, leader of the emergency leading group
    person(P.DEPUTY_LEADER, "XXK", "ithead")  # 信息科长, deputy leader
    for _index in range(3):
        person(P.HOSPITAL_LEADER, "YB")  # 院长, 副院长
    for code in ("YWK", "HLB", "YJB"):
        person(P.MEMBER, code)  # heads of 医务科, 护理部, 应急办公室 sit in the leading group
    for index in range(3):
        person(P.EMERGENCY_OFFICER, "YJB", "office" if index == 0 else None)
    for index in range(3):
        person(P.NETWORK_ADMIN, "XXK", "netadmin" if index == 0 else None)
    for index in range(6):
        person(P.IT_ENGINEER, "XXK", "admin" if index == 0 else None)
    person(P.OTHER, "YB", "auditor")  # 审计专员
    led_elsewhere = {"XXK", "YB", "YWK", "HLB", "YJB"}
    for dept in specs:
        if dept.code not in led_elsewhere:
            person(P.DEPARTMENT_HEAD, dept.code)
    for dept in specs:
        if dept.kind == W or dept.code in {"EM", "MZK"}:
            person(P.HEAD_NURSE, dept.code)
    for code in ("SFC", "SFC", "GHC", "GHC", "RYC"):
        person(P.CASHIER, code)
    for code in ("EM", "EM", "ICU", "NK", "WK", "EK", "PWK", "XNK"):
        person(P.DOCTOR, code)
    for code in ("EM", "ICU", "XNK", "PWK", "FCK"):
        person(P.NURSE, code)
    return rows, logins


@dataclass(frozen=True)
class DemoSummary:
    hospital: Hospital
    counts: dict[str, int]
    skipped_logins: tuple[str, ...]


def demo_exists() -> bool:
    return Hospital.objects.filter(code=DEMO_HOSPITAL_CODE).exists()


@transaction.atomic
def load_demo() -> DemoSummary:
    """Create the demo hospital. Raises DemoConflict if it (or any of its names) already exists."""
    roles.sync_role_groups()
    if demo_exists():
        raise DemoConflict(
            format_lazy(
                _("The demo hospital {code} already exists; nothing was loaded."), code=DEMO_HOSPITAL_CODE
            )
        )
    rng = random.Random(SEED)  # noqa: S311 - demo data, not security
    specs = department_specs()

    hospital = Hospital.objects.bulk_create([Hospital(code=DEMO_HOSPITAL_CODE, name=DEMO_HOSPITAL_NAME)])[0]

    buildings = Area.objects.bulk_create(
        [
            Area(hospital=hospital, code=code, name=name, kind=Area.Kind.BUILDING)
            for code, name, _n in BUILDINGS
        ]
    )
    areas: dict[str, Area] = {area.code: area for area in buildings}
    floors = [
        Area(
            hospital=hospital,
            code=f"{area.code}-{level}F",
            name=f"{level}楼",
            kind=Area.Kind.FLOOR,
            parent=area,
        )
        for area, (_code, _name, count) in zip(buildings, BUILDINGS, strict=True)
        for level in range(1, count + 1)
    ]
    areas.update({area.code: area for area in Area.objects.bulk_create(floors)})
    dc_code, dc_name, dc_floor = DATA_CENTRE
    areas[dc_code] = Area.objects.bulk_create(
        [Area(hospital=hospital, code=dc_code, name=dc_name, kind=Area.Kind.ZONE, parent=areas[dc_floor])]
    )[0]

    departments = {
        dept.code: dept
        for dept in Department.objects.bulk_create(
            [
                Department(
                    hospital=hospital,
                    code=spec.code,
                    name=spec.name,
                    kind=spec.kind,
                    area=areas[spec.floor],
                    beds=spec.beds,
                    phone=f"0571-8800{index + 1:04d}",
                )
                for index, spec in enumerate(specs)
            ]
        )
    }

    plan = _AssetPlan(hospital, areas, departments)
    _build_infrastructure(plan)
    _build_floors(plan, specs)
    clash = list(Asset.objects.filter(hostname__in=list(plan.assets)).values_list("hostname", flat=True)[:5])
    if clash:
        raise DemoConflict(
            format_lazy(
                _("Hostnames of the demo are already used by another hospital: {names}"),
                names=", ".join(clash),
            )
        )
    for tier in sorted(set(plan.tiers.values())):
        Asset.objects.bulk_create([a for hostname, a in plan.assets.items() if plan.tiers[hostname] == tier])
    Through = Asset.depends_on.through
    Through.objects.bulk_create(
        [Through(from_asset=plan.assets[a], to_asset=plan.assets[b]) for a, b in plan.depends]
    )

    systems = InformationSystem.objects.bulk_create(
        [
            InformationSystem(
                hospital=hospital,
                code=spec.code,
                name=spec.name,
                criticality=spec.criticality,
                dr_level=spec.dr_level,
                rto_minutes=spec.rto,
                rpo_minutes=spec.rpo,
                vendor=VENDOR,
            )
            for spec in SYSTEMS
        ]
    )
    users_of = system_users(specs)
    SysAssets = InformationSystem.depends_on.through
    SysDepts = InformationSystem.departments.through
    SysAssets.objects.bulk_create(
        [
            SysAssets(informationsystem=system, asset=plan.assets[hostname])
            for system, spec in zip(systems, SYSTEMS, strict=True)
            for hostname in (*spec.servers, "DB-HIS-01", *spec.extra_assets)
        ]
    )
    SysDepts.objects.bulk_create(
        [
            SysDepts(informationsystem=system, department=departments[code])
            for system in systems
            for code in users_of[system.code]
        ]
    )

    people, login_people = _build_people(hospital, specs, departments, rng)
    taken = list(
        Person.objects.filter(employee_no__in=[p.employee_no for p in people]).values_list(
            "employee_no", flat=True
        )[:5]
    )
    if taken:
        raise DemoConflict(
            format_lazy(
                _("Employee numbers of the demo are already used: {numbers}"), numbers=", ".join(taken)
            )
        )
    skipped = _create_logins(login_people)
    Person.objects.bulk_create(people)

    from hisguard.incidents.models import ClassificationPolicy

    ClassificationPolicy.objects.bulk_create([ClassificationPolicy(hospital=hospital)])
    _demo_paging(hospital)

    counts = {
        "areas": len(areas),
        "departments": len(departments),
        "beds": sum(spec.beds for spec in specs),
        "assets": len(plan.assets),
        "workstations": sum(1 for a in plan.assets.values() if a.kind == Asset.Kind.WORKSTATION),
        "terminals": sum(1 for a in plan.assets.values() if a.kind == Asset.Kind.TERMINAL),
        "access_switches": sum(1 for a in plan.assets.values() if a.kind == Asset.Kind.ACCESS_SWITCH),
        "systems": len(systems),
        "people": len(people),
    }
    record("demo.load", hospital, counts=counts, logins=[login.username for login in DEMO_LOGINS])
    return DemoSummary(hospital, counts, tuple(skipped))


def _demo_paging(hospital: Hospital) -> None:
    """Everyone can be reached: email first (with no mail server configured, messages land in
    var/mail so the demo shows each one), SMS second (through the gateway, once one is set)."""
    from hisguard.paging.defaults import ensure_defaults
    from hisguard.paging.models import Channel, ContactMethod

    people = Person.objects.filter(hospital=hospital)
    ContactMethod.objects.bulk_create(
        [
            ContactMethod(
                person=p,
                channel=Channel.EMAIL,
                address=f"{p.employee_no.lower()}@demo-hospital.local",
                priority=1,
            )
            for p in people
        ]
        + [
            ContactMethod(person=p, channel=Channel.SMS_HTTP, address=p.phone, priority=2)
            for p in people
            if p.phone
        ]
    )
    ensure_defaults(hospital)
    from hisguard.response.defaults import ensure_defaults as response_defaults

    response_defaults(hospital, stock=40)  # playbooks, manual procedures, paper forms in stock


def _create_logins(login_people: dict[str, Person]) -> list[str]:
    """Create the demo logins and link them to their people. Existing usernames are left alone."""
    User = get_user_model()
    existing = set(
        User.objects.filter(username__in=[login.username for login in DEMO_LOGINS]).values_list(
            "username", flat=True
        )
    )
    password = make_password(DEMO_PASSWORD)  # hashed once: the slow part of creating users
    groups = {group.name: group for group in Group.objects.filter(name__in=roles.ROLE_LABELS)}
    skipped = []
    for login in DEMO_LOGINS:
        if login.username in existing:
            skipped.append(login.username)
            continue
        person = login_people[login.username]
        user = User(
            username=login.username,
            password=password,
            first_name=person.name,
            is_staff=login.is_staff,
            is_superuser=login.is_superuser,
        )
        user.save()
        user.groups.add(groups[login.role])
        person.user = user
    return skipped


def digest(hospital: Hospital) -> str:
    """A fingerprint of a hospital's model without database ids or secrets, to compare two loads."""
    lines: list[list] = []
    for area in Area.objects.filter(hospital=hospital).select_related("parent").order_by("code"):
        lines.append(["area", area.code, area.name, area.kind, area.parent.code if area.parent else None])
    for dept in Department.objects.filter(hospital=hospital).select_related("area").order_by("code"):
        lines.append(
            ["dept", dept.code, dept.name, dept.kind, dept.area.code if dept.area else None, dept.beds]
        )
    depends: dict[str, list[str]] = defaultdict(list)
    for source, target in Asset.depends_on.through.objects.filter(from_asset__hospital=hospital).values_list(
        "from_asset__hostname", "to_asset__hostname"
    ):
        depends[source].append(target)
    for asset in (
        Asset.objects.filter(hospital=hospital)
        .select_related("area", "department", "upstream")
        .order_by("hostname")
    ):
        lines.append(
            [
                "asset",
                asset.hostname,
                asset.name,
                asset.kind,
                asset.area.code if asset.area else None,
                asset.department.code if asset.department else None,
                asset.upstream.hostname if asset.upstream else None,
                asset.ip_address,
                asset.location,
                sorted(depends[asset.hostname]),
            ]
        )
    for system in InformationSystem.objects.filter(hospital=hospital).order_by("code"):
        lines.append(
            [
                "system",
                system.code,
                system.name,
                system.criticality,
                system.dr_level,
                system.rto_minutes,
                system.rpo_minutes,
                sorted(system.depends_on.values_list("hostname", flat=True)),
                sorted(system.departments.values_list("code", flat=True)),
            ]
        )
    for person in Person.objects.filter(hospital=hospital).select_related("department", "user"):
        lines.append(
            [
                "person",
                person.employee_no,
                person.name,
                person.position,
                person.department.code if person.department else None,
                person.phone,
                person.user.username if person.user else None,
            ]
        )
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    return hashlib.sha256(text.encode()).hexdigest()
