"""Test actors made once per test: a small hospital with a clear topology, and a user per role.

The hospital (buildings A, B, C; core switch → distribution per building → access switches →
workstations; a database server behind HIS) is small enough to read, large enough for every
scenario of the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from hisguard.core import roles
from hisguard.core.models import ApiToken
from hisguard.incidents.models import ClassificationPolicy
from hisguard.organisation.models import Area, Asset, Department, Hospital, InformationSystem

# Browser fixtures (one chromium for the whole run), shared by tests/browser and others.
from tests.browser.fixtures import browser, new_context, page, screenshot_dir  # noqa: F401

PASSWORD = "test-pass-123"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashing costs ~0.3 s per user; tests make many users and prove nothing with it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class TinyHospital:
    hospital: Hospital
    buildings: dict[str, Area] = field(default_factory=dict)
    departments: dict[str, Department] = field(default_factory=dict)
    assets: dict[str, Asset] = field(default_factory=dict)
    systems: dict[str, InformationSystem] = field(default_factory=dict)

    def ws(self, hostname: str) -> Asset:
        return self.assets[hostname]


def build_tiny_hospital() -> TinyHospital:
    h = TinyHospital(Hospital.objects.create(code="T", name="测试医院"))
    ClassificationPolicy.objects.create(hospital=h.hospital)
    core = Asset.objects.create(hospital=h.hospital, hostname="CORE-1", kind=Asset.Kind.CORE_SWITCH)
    power = Asset.objects.create(hospital=h.hospital, hostname="UPS-1", kind=Asset.Kind.POWER)
    db = Asset.objects.create(hospital=h.hospital, hostname="DB-1", kind=Asset.Kind.DATABASE, upstream=core)
    db.depends_on.add(power)
    h.assets.update({"CORE-1": core, "UPS-1": power, "DB-1": db})
    for code in ("A", "B", "C"):
        building = Area.objects.create(hospital=h.hospital, code=code, name=f"{code}楼")
        floor = Area.objects.create(
            hospital=h.hospital, code=f"{code}1", name="1F", kind=Area.Kind.FLOOR, parent=building
        )
        h.buildings[code] = building
        dist = Asset.objects.create(
            hospital=h.hospital,
            hostname=f"DIST-{code}",
            kind=Asset.Kind.DISTRIBUTION_SWITCH,
            upstream=core,
            area=building,
        )
        h.assets[dist.hostname] = dist
        for dept_no in (1, 2):
            dept = Department.objects.create(
                hospital=h.hospital, code=f"D{code}{dept_no}", name=f"{code}楼科室{dept_no}", area=floor
            )
            h.departments[dept.code] = dept
            sw = Asset.objects.create(
                hospital=h.hospital,
                hostname=f"SW-{code}{dept_no}",
                kind=Asset.Kind.ACCESS_SWITCH,
                upstream=dist,
                area=floor,
            )
            h.assets[sw.hostname] = sw
            for pc in (1, 2, 3):
                ws = Asset.objects.create(
                    hospital=h.hospital,
                    hostname=f"PC-{code}{dept_no}-{pc}",
                    kind=Asset.Kind.WORKSTATION,
                    upstream=sw,
                    area=floor,
                    department=dept,
                )
                h.assets[ws.hostname] = ws
    his = InformationSystem.objects.create(
        hospital=h.hospital,
        code="HIS",
        name="医院信息系统",
        criticality=InformationSystem.Criticality.CRITICAL,
    )
    his.depends_on.add(db)
    his.departments.add(*h.departments.values())
    lis = InformationSystem.objects.create(
        hospital=h.hospital, code="LIS", name="检验系统", criticality=InformationSystem.Criticality.IMPORTANT
    )
    lis.departments.add(h.departments["DA1"], h.departments["DB1"])
    h.systems.update({"HIS": his, "LIS": lis})
    return h


@pytest.fixture
def tiny(db) -> TinyHospital:
    return build_tiny_hospital()


@dataclass
class Actor:
    user: User
    client: Client
    token: str


def make_actor(role: str) -> Actor:
    roles.sync_role_groups()
    user = User.objects.create_user(
        username=role, password=PASSWORD, is_superuser=(role == roles.ADMIN), is_staff=(role == roles.ADMIN)
    )
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    _token, raw = ApiToken.issue(f"{role} token", user)
    return Actor(user, client, raw)


@pytest.fixture
def actors(db) -> dict[str, Actor]:
    return {role: make_actor(role) for role in roles.ROLE_PERMISSIONS}


def api_report(client: Client, ws: Asset, symptom: str = "cannot_enter", system: str | None = None, **extra):
    body = {"workstation": ws.hostname, "symptom": symptom, **extra}
    if system:
        body["system"] = system
    return client.post(
        "/api/v1/reports",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {ws.report_token}",
    )


def api(client: Client, method: str, path: str, token: str, body=None):
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if body is not None:
        kwargs["content_type"] = "application/json"
        kwargs["data"] = body
    return getattr(client, method)(path, **kwargs)
