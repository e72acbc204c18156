"""`hisguard demo`: a realistic hospital, the same on every run, with working logins."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.test import Client

from hisguard.core.models import AuditLog
from hisguard.incidents.models import ClassificationPolicy
from hisguard.organisation.demo import DEMO_HOSPITAL_CODE, DEMO_LOGINS, DEMO_PASSWORD, digest, load_demo
from hisguard.organisation.models import Area, Asset, Department, Hospital, InformationSystem, Person

PROJECT = Path(__file__).resolve().parent.parent
K = Asset.Kind


@pytest.fixture
def demo(db) -> Hospital:
    call_command("demo", stdout=StringIO())
    return Hospital.objects.get(code=DEMO_HOSPITAL_CODE)


def test_demo_loads_a_realistic_hospital_quickly(db):
    out = StringIO()
    started = time.monotonic()
    call_command("demo", stdout=out)
    assert time.monotonic() - started < 10
    hospital = Hospital.objects.get(code="DEMO")
    assert hospital.name == "示范市人民医院"
    assert "admin" in out.getvalue() and DEMO_PASSWORD in out.getvalue()

    buildings = Area.objects.filter(hospital=hospital, parent=None)
    assert sorted(buildings.values_list("code", flat=True)) == ["IPD", "MTB", "OPD"]
    for building in buildings:
        assert Area.objects.filter(parent=building, kind=Area.Kind.FLOOR).count() >= 5

    departments = Department.objects.filter(hospital=hospital)
    assert 35 <= departments.count() <= 50
    wards = departments.filter(kind=Department.Kind.WARD)
    assert 14 <= wards.count() <= 18
    assert not wards.filter(beds=0).exists()
    for name in (
        "检验科",
        "放射科",
        "超声科",
        "药剂科",
        "收费处",
        "挂号处",
        "信息科",
        "医务科",
        "应急办公室",
    ):
        assert departments.filter(name=name).exists(), name
    assert not departments.filter(area=None).exists()
    assert not departments.exclude(area__kind=Area.Kind.FLOOR).exists()

    kinds = Counter(Asset.objects.filter(hospital=hospital).values_list("kind", flat=True))
    assert 950 <= kinds[K.WORKSTATION] <= 1100
    assert kinds[K.TERMINAL] > 50
    assert kinds[K.CORE_SWITCH] == 2
    assert kinds[K.DISTRIBUTION_SWITCH] >= 3
    for kind in (K.BACKBONE_LINK, K.POWER, K.COOLING, K.STORAGE, K.SERVER, K.DATABASE):
        assert kinds[kind] >= 1, kind
    assert re.fullmatch(
        r"OPD-3F-NK-\d{3}", Asset.objects.filter(hostname__startswith="OPD-3F-NK-").first().hostname
    )

    primary, standby = Asset.objects.get(hostname="DB-HIS-01"), Asset.objects.get(hostname="DB-HIS-02")
    for database in (primary, standby):
        assert database.kind == K.DATABASE
        needs = set(database.depends_on.values_list("kind", flat=True))
        assert {K.STORAGE, K.POWER} <= needs
    for server in Asset.objects.filter(hospital=hospital, kind=K.SERVER):
        assert primary in server.depends_on.all()

    people = Person.objects.filter(hospital=hospital)
    assert 80 <= people.count() <= 120
    positions = Counter(people.values_list("position", flat=True))
    P = Person.Position
    assert positions[P.LEADER] == 1 and positions[P.DEPUTY_LEADER] == 1
    for position in (P.NETWORK_ADMIN, P.IT_ENGINEER, P.DEPARTMENT_HEAD, P.HEAD_NURSE, P.EMERGENCY_OFFICER):
        assert positions[position] >= 2, position
    assert people.get(position=P.DEPUTY_LEADER).department.name == "信息科"
    phones = list(people.values_list("phone", flat=True))
    assert all(re.fullmatch(r"138\d{8}", phone) for phone in phones)
    assert len(set(phones)) == len(phones)

    assert ClassificationPolicy.objects.filter(hospital=hospital).exists()
    assert AuditLog.objects.filter(action="demo.load", object_id=str(hospital.pk)).count() == 1
    # One semantic entry, not one per row.
    assert (
        AuditLog.objects.filter(action__startswith="organisation.", action__endswith=".create").count() == 0
    )


def test_every_workstation_reaches_the_core_through_access_and_distribution(demo):
    rows = Asset.objects.filter(hospital=demo).values_list("id", "kind", "upstream_id", "area_id")
    by_id = {row[0]: row for row in rows}
    per_switch: Counter[int] = Counter()
    floors = dict(Area.objects.filter(hospital=demo).values_list("id", "kind"))
    workstations = [row for row in rows if row[1] == K.WORKSTATION]
    assert workstations
    for _id, _kind, upstream_id, area_id in workstations:
        access = by_id[upstream_id]
        distribution = by_id[access[2]]
        core = by_id[distribution[2]]
        assert (access[1], distribution[1], core[1]) == (
            K.ACCESS_SWITCH,
            K.DISTRIBUTION_SWITCH,
            K.CORE_SWITCH,
        )
        assert floors[area_id] == Area.Kind.FLOOR
        assert access[3] == area_id  # the access switch is on the workstation's floor
        per_switch[upstream_id] += 1
    for row in rows:
        if row[1] == K.TERMINAL:
            per_switch[row[2]] += 1
    assert max(per_switch.values()) <= 48
    core_1 = Asset.objects.get(hostname="CORE-SW-1")
    assert set(
        Asset.objects.filter(hospital=demo, kind=K.DISTRIBUTION_SWITCH).values_list("upstream", flat=True)
    ) == {core_1.pk}
    # Each building's distribution switch hangs on a backbone link; the core needs the machine-room power.
    for distribution in Asset.objects.filter(hospital=demo, kind=K.DISTRIBUTION_SWITCH).exclude(
        hostname="DC-SW-01"
    ):
        assert distribution.depends_on.filter(kind=K.BACKBONE_LINK).exists()
    assert core_1.depends_on.filter(kind=K.POWER).exists()


def test_every_system_has_users_and_dependencies(demo):
    systems = {s.code: s for s in InformationSystem.objects.filter(hospital=demo)}
    assert set(systems) == {"HIS", "EMR", "PACS", "LIS", "RIS", "ANES", "BLOOD", "PEIS"}
    critical = {
        code for code, s in systems.items() if s.criticality == InformationSystem.Criticality.CRITICAL
    }
    assert {"HIS", "EMR", "LIS"} <= critical
    assert systems["PEIS"].criticality == InformationSystem.Criticality.GENERAL
    for code, system in systems.items():
        assert system.departments.exists(), code
        kinds = set(system.depends_on.values_list("kind", flat=True))
        assert K.SERVER in kinds and K.DATABASE in kinds, code
        assert 1 <= system.dr_level <= 6 and system.rto_minutes > 0

    his_users = set(systems["HIS"].departments.values_list("kind", flat=True))
    assert {Department.Kind.CLINICAL, Department.Kind.WARD} <= his_users
    clinical = Department.objects.filter(
        hospital=demo, kind__in=[Department.Kind.CLINICAL, Department.Kind.WARD]
    )
    assert set(clinical) <= set(systems["HIS"].departments.all())
    pacs = set(systems["PACS"].departments.values_list("name", flat=True))
    assert "放射科" in pacs and "内科门诊" in pacs
    assert "检验科" in set(systems["LIS"].departments.values_list("name", flat=True))


def test_demo_logins_work_with_their_roles(demo):
    assert {login.username for login in DEMO_LOGINS} == {
        "admin",
        "netadmin",
        "ithead",
        "leader",
        "office",
        "auditor",
    }
    for login in DEMO_LOGINS:
        assert Client().login(username=login.username, password="hisguard-demo"), login.username
        user = User.objects.get(username=login.username)
        assert list(user.groups.values_list("name", flat=True)) == [login.role]
        assert user.is_staff == (login.username in {"admin", "ithead", "office"})
        assert user.is_superuser == (login.username == "admin")
        assert user.person.hospital == demo
    P = Person.Position
    assert User.objects.get(username="leader").person.position == P.LEADER
    assert User.objects.get(username="ithead").person.position == P.DEPUTY_LEADER
    assert User.objects.get(username="netadmin").person.position == P.NETWORK_ADMIN
    assert User.objects.get(username="office").person.position == P.EMERGENCY_OFFICER


def test_demo_is_loaded_once(demo):
    before = Asset.objects.count()
    out = StringIO()
    call_command("demo", stdout=out)
    assert "DEMO" in out.getvalue()  # "the demo hospital DEMO already exists"
    call_command("demo", "--if-empty", stdout=StringIO())
    assert Asset.objects.count() == before
    assert Hospital.objects.count() == 1


def test_if_empty_loads_nothing_when_any_hospital_exists(db):
    Hospital.objects.create(code="OTHER", name="另一家医院")
    out = StringIO()
    call_command("demo", "--if-empty", stdout=out)
    assert not Hospital.objects.filter(code="DEMO").exists()
    call_command("demo", stdout=StringIO())  # without the flag it is added next to other hospitals
    assert Hospital.objects.filter(code="DEMO").exists()


def test_existing_usernames_are_left_alone(db):
    User.objects.create_user("admin", password="mine")
    out = StringIO()
    call_command("demo", stdout=out)
    admin = User.objects.get(username="admin")
    assert admin.check_password("mine") and not admin.is_superuser
    assert "admin" in out.getvalue()
    assert Client().login(username="office", password=DEMO_PASSWORD)


def test_two_loads_are_identical(db):
    digests = []
    for _attempt in range(2):
        with transaction.atomic():
            summary = load_demo()
            digests.append(digest(summary.hospital))
            transaction.set_rollback(True)  # back to an empty database
    assert digests[0] == digests[1]


def test_loads_in_separate_processes_and_databases_are_identical(db, tmp_path):
    """Another process (other hash seed) on another empty database builds the very same hospital."""
    call_command("demo", stdout=StringIO())  # what the other processes run, ward data included
    here = digest(Hospital.objects.get(code="DEMO"))
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    script = (
        "from hisguard.organisation.demo import digest; from hisguard.organisation.models import Hospital; "
        "print(digest(Hospital.objects.get(code='DEMO')))"
    )
    for seed in ("1", "2"):
        var = tmp_path / f"var{seed}"
        var.mkdir()
        run_env = {**env, "HISGUARD_VAR_DIR": str(var), "PYTHONHASHSEED": seed}

        def manage(*args: str, env: dict[str, str] = run_env) -> str:
            return subprocess.run(
                [sys.executable, "manage.py", *args],
                cwd=PROJECT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout

        manage("migrate", "-v0")
        manage("demo")
        assert manage("shell", "-v0", "-c", script).strip() == here
