"""A small hospital with three wards, synthetic inpatients as FHIR, a local FHIR server that pages
and fails on request, and people in each role the continuity rules know."""

from __future__ import annotations

import base64
import datetime
import json
import threading
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.test import Client

from hisguard.continuity import crypto, synthetic
from hisguard.continuity.models import Connector
from hisguard.core import roles
from hisguard.organisation.models import Department, Hospital, Person

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = datetime.datetime(2025, 3, 12, 9, 30, tzinfo=TZ)
WARDS = [("W1", "心内科病区", 8), ("W2", "普外科病区", 6), ("W3", "新生儿科病区", 4)]
PASSWORD = "test-pass-123"


@pytest.fixture(autouse=True)
def _data_key(settings, tmp_path):
    """A fixed data key (no key file written into var/) and demo files in a temporary folder."""
    settings.HISGUARD_DATA_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
    settings.HISGUARD_CONTINUITY_DEMO_DIR = tmp_path / "demo"
    crypto.reset_server_keys()
    yield
    crypto.reset_server_keys()


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@dataclass
class Ward3:
    hospital: Hospital
    wards: dict[str, Department] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)

    def client(self, who: str) -> Client:
        client = Client()
        client.force_login(self.users[who])
        return client


def _user(
    username: str, role: str | None, hospital: Hospital, *, position: str, ward: Department | None
) -> User:
    user = User.objects.create_user(username, password=PASSWORD)
    if role:
        user.groups.add(Group.objects.get(name=role))
    Person.objects.create(
        hospital=hospital,
        employee_no=f"E-{username}",
        name=f"{username}姓名",
        position=position,
        department=ward,
        user=user,
    )
    return user


@pytest.fixture
def h3(db) -> Ward3:
    roles.sync_role_groups()
    hospital = Hospital.objects.create(code="H3", name="三病区医院", time_zone="Asia/Shanghai")
    h = Ward3(hospital)
    for code, name, beds in WARDS:
        h.wards[code] = Department.objects.create(
            hospital=hospital, code=code, name=name, kind=Department.Kind.WARD, beds=beds
        )
    Department.objects.create(hospital=hospital, code="OPD", name="门诊", kind=Department.Kind.CLINICAL)
    P = Person.Position
    h.users["nurse1"] = _user("nurse1", roles.WARD_STAFF, hospital, position=P.NURSE, ward=h.wards["W1"])
    h.users["nurse2"] = _user("nurse2", roles.WARD_STAFF, hospital, position=P.NURSE, ward=h.wards["W2"])
    h.users["it"] = _user("it", roles.NETWORK_ADMIN, hospital, position=P.NETWORK_ADMIN, ward=None)
    h.users["ithead"] = _user("ithead", roles.IT_HEAD, hospital, position=P.IT_HEAD, ward=None)
    h.users["office"] = _user(
        "office", roles.EMERGENCY_OFFICE, hospital, position=P.EMERGENCY_OFFICER, ward=None
    )
    h.users["leader"] = _user("leader", roles.LEADERSHIP, hospital, position=P.HOSPITAL_LEADER, ward=None)
    h.users["auditor"] = _user("auditor", roles.AUDITOR, hospital, position=P.OTHER, ward=None)
    h.users["nobody"] = _user("nobody", None, hospital, position=P.NURSE, ward=h.wards["W1"])
    return h


def ward_specs() -> list[synthetic.WardSpec]:
    return [synthetic.WardSpec(code, name, beds) for code, name, beds in WARDS]


@pytest.fixture(scope="session")
def fhir_data() -> dict[str, list[dict[str, Any]]]:
    """Synthetic resources per ward, as of NOW (the same every run)."""
    return synthetic.generate(ward_specs(), now=NOW, seed=7)


def write_bundles(directory, per_ward) -> None:
    synthetic.write_bundles(per_ward, directory, now=NOW)


@pytest.fixture
def file_connector(h3, tmp_path, fhir_data) -> Connector:
    directory = tmp_path / "fhir"
    write_bundles(directory, fhir_data)
    return Connector.objects.create(
        hospital=h3.hospital,
        name="FHIR files",
        kind=Connector.Kind.FHIR_FILE,
        config={"path": str(directory), "ward_system": synthetic.WARD_SYSTEM},
    )


# --- A local FHIR server ------------------------------------------------------------------------


class FhirServer:
    """Serves searchset Bundles from the synthetic resources, `page_size` per page with next
    links; `faults[(resource, page)]` lists what the next requests of that page get: "500",
    "timeout" (no answer until the test ends), "truncated" (half a JSON body) or "foreign-next"."""

    def __init__(self, resources: list[dict[str, Any]], page_size: int = 5) -> None:
        self.by_type: dict[str, list[dict[str, Any]]] = {}
        for r in resources:
            self.by_type.setdefault(r["resourceType"], []).append(r)
        self.page_size = page_size
        self.faults: dict[tuple[str, int], list[str]] = {}
        self.requests: list[str] = []
        self.release = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/fhir"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def matches(self, resource: str, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        if resource == "Encounter":
            encounters = [e for e in self.by_type.get("Encounter", []) if e.get("status") == "in-progress"]
            found = list(encounters)
            ids = {e["subject"]["reference"] for e in encounters}
            found += [p for p in self.by_type.get("Patient", []) if f"Patient/{p['id']}" in ids]
            found += self.by_type.get("Location", [])
            return found
        wanted = set(",".join(query.get("patient", [])).split(","))
        out = []
        for r in self.by_type.get(resource, []):
            ref = (r.get("patient") or r.get("subject") or {}).get("reference")
            if ref in wanted:
                out.append(r)
        return out

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                resource = parts.path.rsplit("/", 1)[-1]
                query = parse_qs(parts.query)
                page = int(query.pop("page", ["1"])[0])
                server.requests.append(f"{resource} {page}")
                faults = server.faults.get((resource, page))
                fault = faults.pop(0) if faults else ""
                if fault == "500":
                    self._send(500, b'{"resourceType":"OperationOutcome"}')
                    return
                if fault == "timeout":
                    server.release.wait(5)
                    return
                items = server.matches(resource, query)
                start = (page - 1) * server.page_size
                chunk = items[start : start + server.page_size]
                next_url = None
                if start + server.page_size < len(items):
                    next_query = urlencode({**{k: v[0] for k, v in query.items()}, "page": page + 1})
                    host = (
                        "http://evil.example"
                        if fault == "foreign-next"
                        else server.base.rsplit("/fhir", 1)[0]
                    )
                    next_url = f"{host}/fhir/{resource}?{next_query}"
                body = json.dumps(synthetic.searchset(chunk, total=len(items), next_url=next_url)).encode()
                if fault == "truncated":
                    body = body[: len(body) // 2]
                self._send(200, body)

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args) -> None:
                pass

        return Handler


@pytest.fixture
def fhir_server(fhir_data) -> Iterator[FhirServer]:
    server = FhirServer(list(synthetic.iter_resources(fhir_data)))
    yield server
    server.close()


@pytest.fixture
def rest_connector(h3, fhir_server) -> Connector:
    return Connector.objects.create(
        hospital=h3.hospital,
        name="FHIR REST",
        kind=Connector.Kind.FHIR_REST,
        config={
            "base_url": fhir_server.base,
            "page_size": 5,
            "chunk": 4,
            "retries": 2,
            "retry_backoff": 0,
            "timeout": 5,
            "ward_system": synthetic.WARD_SYSTEM,
        },
    )


def patient_counts(per_ward: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    return {code: sum(1 for r in res if r["resourceType"] == "Patient") for code, res in per_ward.items()}
