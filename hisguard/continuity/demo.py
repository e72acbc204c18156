"""Downtime packets for the demo hospital: synthetic inpatients (FHIR bundles, one file per ward,
as a nightly export would leave them), a file connector reading them, a first snapshot, a ward
nurse login and one downtime node. `hisguard continuity_demo` runs it; `--refresh` writes the
files again with times around now."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from hisguard.continuity import actions, synthetic
from hisguard.continuity.models import Connector, DowntimeNode, Snapshot
from hisguard.core import roles
from hisguard.organisation.models import Department, Hospital, Person

CONNECTOR_NAME = "FHIR export (demo)"
NURSE_LOGIN = "nurse"
NURSE_WARD = "XNK"
SEED = 20240618


@dataclass
class ContinuityDemo:
    hospital: Hospital
    connector: Connector
    snapshot: Snapshot
    files: list[Path]
    nurse: str | None
    node_token: str | None


def write_files(hospital: Hospital, directory: Path, now: datetime.datetime) -> list[Path]:
    wards = [
        synthetic.WardSpec(w.code, w.name, w.beds or 30)
        for w in Department.objects.filter(hospital=hospital, kind=Department.Kind.WARD).order_by("code")
    ]
    per_ward = synthetic.generate(wards, now=now, seed=SEED)
    # One unreadable laboratory result, so the demo shows how a skipped record is reported.
    for resources in per_ward.values():
        for resource in resources:
            if resource["resourceType"] == "Observation":
                resource.pop("valueQuantity", None)
                break
        break
    for old in directory.glob("ward-*.json"):
        old.unlink()
    return synthetic.write_bundles(per_ward, directory, now=now)


def _nurse(hospital: Hospital) -> str | None:
    """The demo's ward nurse: a login in the ward_staff role, linked to a nurse of 心血管内科病区."""
    User = get_user_model()
    if User.objects.filter(username=NURSE_LOGIN).exists():
        return None
    person = (
        Person.objects.filter(
            hospital=hospital, department__code=NURSE_WARD, position=Person.Position.NURSE, user__isnull=True
        )
        .order_by("employee_no")
        .first()
    )
    if person is None:
        ward = (
            Department.objects.filter(hospital=hospital, kind=Department.Kind.WARD).order_by("code").first()
        )
        if ward is None:
            return None
        person = Person.objects.create(
            hospital=hospital, employee_no=f"{hospital.code}-NURSE-1", name="护士", position=Person.Position.NURSE,
            department=ward,
        )  # fmt: skip
    from hisguard.organisation.demo import DEMO_PASSWORD

    roles.sync_role_groups()
    user = User.objects.create_user(NURSE_LOGIN, password=DEMO_PASSWORD)
    user.groups.add(Group.objects.get(name=roles.WARD_STAFF))
    person.user = user
    person.save(update_fields=["user"])
    return NURSE_LOGIN


def load_continuity_demo(
    *, hospital: Hospital | None = None, now: datetime.datetime | None = None, refresh: bool = False
) -> ContinuityDemo:
    from hisguard.organisation.demo import DEMO_HOSPITAL_CODE

    now = now or timezone.now()
    # Never a real hospital by accident: without --hospital, only the demo hospital.
    hospital = hospital or Hospital.objects.filter(code=DEMO_HOSPITAL_CODE).first()
    if hospital is None:
        raise ValueError("no demo hospital: load it first (hisguard demo) or name a hospital with --hospital")
    directory = Path(settings.HISGUARD_CONTINUITY_DEMO_DIR) / hospital.code
    connector = Connector.objects.filter(hospital=hospital, name=CONNECTOR_NAME).first()
    files = sorted(directory.glob("ward-*.json"))
    if connector is None or refresh or not files:
        files = write_files(hospital, directory, now)
    with transaction.atomic():
        if connector is None:
            connector = Connector.objects.create(
                hospital=hospital,
                name=CONNECTOR_NAME,
                kind=Connector.Kind.FHIR_FILE,
                config={
                    "path": str(directory),
                    "ward_system": synthetic.WARD_SYSTEM,
                    "mrn_system": synthetic.MRN_SYSTEM,
                },
                next_run_at=now + datetime.timedelta(minutes=60),
            )
        nurse = _nurse(hospital)
        token = None
        ward = Department.objects.filter(hospital=hospital, code=NURSE_WARD).first()
        if ward is not None and not DowntimeNode.objects.filter(ward=ward).exists():
            _node, token = actions.register_node(ward, f"{NURSE_WARD}-NS-01")
    snapshot = actions.run_snapshot(connector, now=now, trigger=Snapshot.Trigger.COMMAND)
    return ContinuityDemo(hospital, connector, snapshot, files, nurse, token)
