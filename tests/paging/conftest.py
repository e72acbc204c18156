"""Real peers on loopback for the paging tests: an HTTP receiver and an SMTP server."""

from __future__ import annotations

import datetime
import json
import socket
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from hisguard.organisation.models import Person
from hisguard.paging.defaults import ensure_defaults
from hisguard.paging.models import Channel, ContactMethod


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class Receiver:
    """A webhook / bot / SMS-gateway endpoint. `fail[path]` lists status codes to answer first."""

    url: str
    requests: list[Received] = field(default_factory=list)
    fail: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    reply: dict[str, dict] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def keys(self) -> list[str]:
        return [r.headers.get("Idempotency-Key", "") for r in self.requests]

    def wait_for(self, count: int, timeout: float = 30) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.requests) >= count, timeout=timeout)


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            with receiver.lock:
                pending = receiver.fail.get(self.path) or []
                status = pending.pop(0) if pending else 200
            if status == 200:
                body = json.loads(raw or b"{}")
                with receiver.arrived:
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                    receiver.arrived.notify_all()
            payload = json.dumps(receiver.reply.get(self.path, {"ok": True})).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def receiver():
    holder: dict = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: holder["handler"](*a))
    recv = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}")
    holder["handler"] = _handler(recv)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recv
    server.shutdown()
    server.server_close()


class MailBox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp(settings):
    box = MailBox()
    with socket.socket() as probe:  # aiosmtpd needs a concrete port to check it is up
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    yield box
    controller.stop()


P = Person.Position
STAFF = [
    ("NA1", "网管甲", P.NETWORK_ADMIN, None),
    ("NA2", "网管乙", P.NETWORK_ADMIN, None),
    ("ITH", "信息科长", P.IT_HEAD, None),
    ("LDR", "主管院长", P.LEADER, None),
    ("DEP", "副组长", P.DEPUTY_LEADER, None),
    ("HL1", "院长", P.HOSPITAL_LEADER, None),
    ("HA1", "A1主任", P.DEPARTMENT_HEAD, "DA1"),
    ("HB1", "B1主任", P.DEPARTMENT_HEAD, "DB1"),
    ("NC1", "C1护士长", P.HEAD_NURSE, "DC1"),
]
ROTATION_START = datetime.date(2026, 1, 1)


@dataclass
class Staff:
    people: dict[str, Person]

    def __getitem__(self, code: str) -> Person:
        return self.people[code]


@pytest.fixture
def staff(tiny, receiver) -> Staff:
    """The tiny hospital's people, each reachable by webhook at /p/<code>, and the plan's
    default rosters and policies."""
    people = {}
    for code, name, position, dept in STAFF:
        person = Person.objects.create(
            hospital=tiny.hospital,
            employee_no=code,
            name=name,
            position=position,
            department=tiny.departments[dept] if dept else None,
            phone="13800000000",
        )
        ContactMethod.objects.create(
            person=person, channel=Channel.WEBHOOK, address=f"{receiver.url}/p/{code}"
        )
        people[code] = person
    ensure_defaults(tiny.hospital, start=ROTATION_START)
    return Staff(people)
