"""Real targets on loopback for the checker, started once per test session in a thread of
their own: TCP listeners (open, closed, one whose backlog is full so SYNs go unanswered),
an HTTP server with a slow path, TLS servers with certificates made here (one expiring soon,
one expired), a DNS server, and the PostgreSQL server the suite already uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from hisguard.core import roles
from hisguard.core.models import ApiToken
from hisguard.monitoring import intake, netguard
from hisguard.monitoring.models import IntakeSource

from ..conftest import PASSWORD, Actor, TinyHospital, build_tiny_hospital

FIXTURES = Path(__file__).parent / "fixtures"
LOCAL = "127.0.0.1"


def payload(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def make_certificate(
    directory: Path, name: str, *, not_before: datetime.datetime, not_after: datetime.datetime
) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOCAL))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


async def http_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request_line = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        path = request_line.split(b" ")[1].decode() if b" " in request_line else "/"
        if path == "/slow":
            await asyncio.sleep(1.5)
        if path == "/500":
            status, body = "500 Internal Server Error", b"broken"
        elif path == "/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            for chunk in (b"HIS is ", b"rea", b"dy\n"):
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return
        else:
            status, body = "200 OK", b"<html>HIS is ready</html>"
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
        )
        await writer.drain()
    except (ConnectionError, ssl.SSLError, IndexError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(RuntimeError):
            writer.close()


class DnsServer(asyncio.DatagramProtocol):
    """Answers A queries for his.hospital.test (127.0.0.1); everything else: NXDOMAIN."""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        import dns.message
        import dns.rcode
        import dns.rrset

        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        if question.name.to_text() == "his.hospital.test." and question.rdtype == 1:
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", LOCAL))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        self.transport.sendto(response.to_wire(), addr)


@dataclass
class Loopback:
    tcp_port: int
    closed_port: int
    blackhole_port: int
    http_port: int
    https_port: int
    https_expired_port: int
    dns_port: int
    pg_available: bool

    @property
    def http(self) -> str:
        return f"http://{LOCAL}:{self.http_port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCAL, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def loopback() -> Iterator[Loopback]:
    directory = Path(tempfile.mkdtemp(prefix="hg-mon-"))
    now = datetime.datetime.now(datetime.UTC)
    soon = make_certificate(
        directory,
        "soon",
        not_before=now - datetime.timedelta(days=1),
        not_after=now + datetime.timedelta(days=10),
    )
    expired = make_certificate(
        directory,
        "expired",
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    ports: dict[str, int] = {}
    closers: list = []

    async def start() -> None:
        async def close_at_once(reader, writer) -> None:
            writer.close()

        servers = {
            "tcp": await asyncio.start_server(close_at_once, LOCAL, 0),
            "http": await asyncio.start_server(http_handler, LOCAL, 0),
            "https": await asyncio.start_server(http_handler, LOCAL, 0, ssl=soon),
            "https_expired": await asyncio.start_server(http_handler, LOCAL, 0, ssl=expired),
        }
        for name, server in servers.items():
            ports[name] = server.sockets[0].getsockname()[1]
            closers.append(server.close)
        transport, _protocol = await loop.create_datagram_endpoint(DnsServer, local_addr=(LOCAL, 0))
        ports["dns"] = transport.get_extra_info("sockname")[1]
        closers.append(transport.close)
        ready.set()

    async def stop() -> None:
        for close in closers:
            close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        loop.stop()

    thread = threading.Thread(
        target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True
    )
    thread.start()
    ready.wait(10)

    # A listener whose accept queue is full: further SYNs are dropped, connects time out.
    blackhole = socket.socket()
    blackhole.bind((LOCAL, 0))
    blackhole.listen(0)
    filler = socket.create_connection(blackhole.getsockname())
    pg = False
    with contextlib.suppress(OSError), socket.create_connection((LOCAL, 5432), timeout=1):
        pg = True
    yield Loopback(
        tcp_port=ports["tcp"],
        closed_port=free_port(),
        blackhole_port=blackhole.getsockname()[1],
        http_port=ports["http"],
        https_port=ports["https"],
        https_expired_port=ports["https_expired"],
        dns_port=ports["dns"],
        pg_available=pg,
    )
    filler.close()
    blackhole.close()
    asyncio.run_coroutine_threadsafe(stop(), loop)
    thread.join(5)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(autouse=True)
def _fresh_monitoring_state() -> Iterator[None]:
    netguard.forget_fence()
    intake.reset_slots()
    yield
    netguard.forget_fence()


@pytest.fixture
def tiny(db) -> TinyHospital:
    """The suite's tiny hospital, with addresses on its infrastructure (as Prometheus sees it)."""
    h = build_tiny_hospital()
    for number, hostname in enumerate(["CORE-1", "DB-1", "UPS-1", "DIST-A", "DIST-B", "DIST-C"], 1):
        h.assets[hostname].ip_address = f"10.10.0.{number}"
        h.assets[hostname].save(update_fields=["ip_address"])
    return h


@pytest.fixture
def staff(db) -> dict[str, Actor]:
    """One user per role that matters here (the suite's `actors` makes every role, slowly)."""
    roles.sync_role_groups()
    people = {}
    for role in (roles.NETWORK_ADMIN, roles.IT_HEAD, roles.LEADERSHIP, roles.EMERGENCY_OFFICE, roles.AUDITOR):
        user = User.objects.create_user(username=role, password=PASSWORD)
        user.groups.add(Group.objects.get(name=role))
        client = Client()
        client.force_login(user)
        _token, raw = ApiToken.issue(f"{role} token", user)
        people[role] = Actor(user, client, raw)
    return people


@dataclass
class Source:
    source: IntakeSource
    token: str
    client: Client

    def post(self, body, *, query_token: bool = False, kind: str | None = None):
        path = f"/api/v1/intake/{kind or self.source.kind}"
        headers = {} if query_token else {"HTTP_AUTHORIZATION": f"Bearer {self.token}"}
        if query_token:
            path += f"?token={self.token}"
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.post(path, data=data, content_type="application/json", **headers)


@pytest.fixture
def make_source(tiny):
    def make(kind: str, **fields) -> Source:
        source = IntakeSource(hospital=tiny.hospital, name=f"{kind} test", kind=kind, **fields)
        raw = source.issue_token()
        source.save()
        return Source(source, raw, Client())

    return make
