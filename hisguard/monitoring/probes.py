"""The probes: one async function per kind of check, free of the ORM.

Each probe gets a `Spec` (a frozen copy of the check), resolves its host through the fence,
connects to the address it vetted, and returns a `Result`. Timeouts are applied around the
whole probe by `run_probe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import errno
import functools
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from hisguard.monitoring.netguard import Fence, NotAllowed, resolve

USER_AGENT = "HISGuard-checker/1"
MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Spec:
    id: int
    kind: str
    name: str = ""
    hospital_id: int = 0
    host: str = ""
    port: int | None = None
    url: str = ""
    expected_status: str = "200-399"
    keyword: str = ""
    verify_tls: bool = True
    warn_days: int = 30
    dns_name: str = ""
    dns_type: str = "A"
    expected: str = ""
    db_engine: str = ""
    db_name: str = ""
    db_user: str = ""
    password: str = field(default="", repr=False)
    query: str = "SELECT 1"
    snmp_if_index: int | None = None
    interval: float = 60.0
    timeout: float = 5.0
    retries: int = 2
    retry_interval: float = 10.0
    latency_warn_ms: float | None = None
    asset_id: int | None = None
    system_id: int | None = None
    version: str = ""

    @classmethod
    def from_check(cls, check: Any) -> Spec:
        return cls(
            id=check.pk,
            kind=check.kind,
            name=check.name,
            hospital_id=check.hospital_id,
            host=check.host,
            port=check.port,
            url=check.url,
            expected_status=check.expected_status,
            keyword=check.keyword,
            verify_tls=check.verify_tls,
            warn_days=check.warn_days,
            dns_name=check.dns_name,
            dns_type=check.dns_type or "A",
            expected=check.expected,
            db_engine=check.db_engine,
            db_name=check.db_name,
            db_user=check.db_user,
            password=check.password,
            query=check.query or "SELECT 1",
            snmp_if_index=check.snmp_if_index,
            interval=float(check.interval_seconds),
            timeout=float(check.timeout_seconds),
            retries=check.retries,
            retry_interval=float(check.retry_interval_seconds),
            latency_warn_ms=float(check.latency_warn_ms) if check.latency_warn_ms else None,
            asset_id=check.asset_id,
            system_id=check.system_id,
            version=check.updated_at.isoformat() if check.updated_at else "",
        )


@dataclass
class Result:
    ok: bool
    latency_ms: float | None = None
    error: str = ""
    cert_expires_at: datetime.datetime | None = None


class ProbeFailed(Exception):
    pass


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


# --- TLS contexts (made once: loading the CA store costs milliseconds) ---------------------


@functools.cache
def tls_context(verify: bool) -> ssl.SSLContext:
    if verify:
        ca_file = settings.HISGUARD_MONITORING_CA_FILE or None
        return ssl.create_default_context(cafile=ca_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def certificate_expiry(der: bytes | None) -> datetime.datetime | None:
    if not der:
        return None
    from cryptography import x509

    return x509.load_der_x509_certificate(der).not_valid_after_utc


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


# --- TCP and ping ----------------------------------------------------------------------------


async def probe_tcp(spec: Spec, fence: Fence) -> Result:
    address = await resolve(spec.host, fence)
    start = time.perf_counter()
    transport, _protocol = await asyncio.get_running_loop().create_connection(
        asyncio.Protocol, address, spec.port or 0
    )
    latency = _ms(start)
    transport.abort()  # no FIN handshake to wait for: the port answered
    return Result(True, latency)


def ping_mode() -> str:
    """'unprivileged' where net.ipv4.ping_group_range admits us, 'privileged' with raw-socket
    rights (root or CAP_NET_RAW), else 'tcp' (a TCP connect to port 7 or 80; a refusal also
    proves the host is up)."""
    forced = os.environ.get("HISGUARD_PING_MODE", "")
    if forced in {"unprivileged", "privileged", "tcp"}:
        return forced
    try:
        low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
        if any(low <= gid <= high for gid in {os.getgid(), *os.getgroups()}):
            return "unprivileged"
    except (OSError, ValueError):
        pass
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
        return "privileged"
    except OSError:
        return "tcp"


async def _tcp_ping(address: str, timeout: float) -> Result:
    start = time.perf_counter()
    last = ""
    for port in (7, 80):
        try:
            _reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
        except ConnectionRefusedError:
            return Result(True, _ms(start))  # a RST came back: the host is there
        except OSError as exc:
            if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return Result(False, None, f"{address}: {exc.strerror or exc}")
            last = str(exc) or type(exc).__name__
            continue
        writer.transport.abort()
        return Result(True, _ms(start))
    return Result(False, None, f"no answer from {address} (TCP ping) {last}".strip())


async def probe_ping(spec: Spec, fence: Fence, mode: str | None = None) -> Result:
    address = await resolve(spec.host, fence)
    mode = mode or ping_mode()
    if mode == "tcp":
        return await _tcp_ping(address, spec.timeout)
    from icmplib import async_ping

    host = await async_ping(address, count=1, timeout=spec.timeout, privileged=(mode == "privileged"))
    if not host.is_alive:
        return Result(False, None, f"no ICMP echo reply from {address}")
    return Result(True, round(host.avg_rtt, 3))


# --- HTTP(S) ---------------------------------------------------------------------------------


def status_matches(status: int, expected: str) -> bool:
    for part in (expected or "200-399").replace(" ", "").split(","):
        if not part:
            continue
        if "-" in part:
            low, _sep, high = part.partition("-")
            if int(low) <= status <= int(high):
                return True
        elif part.isdigit() and int(part) == status:
            return True
    return False


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while len(body) < MAX_BODY:
            size_line = await reader.readline()
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                break
            body += await reader.readexactly(size)
            await reader.readline()
        return body
    if "content-length" in headers:
        length = min(int(headers["content-length"]), MAX_BODY)
        return await reader.readexactly(length)
    return await reader.read(MAX_BODY)


async def probe_http(spec: Spec, fence: Fence) -> Result:
    parts = urlsplit(spec.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProbeFailed(f"not an http(s) URL: {spec.url}")
    hostname = parts.hostname
    address = await resolve(hostname, fence)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = hostname if parts.port is None else f"{hostname}:{parts.port}"
    if ":" in hostname and not hostname.startswith("["):
        host_header = f"[{hostname}]" + (f":{parts.port}" if parts.port else "")
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection(
        address,
        port,
        ssl=tls_context(spec.verify_tls) if secure else None,
        server_hostname=hostname if secure else None,
    )
    try:
        expires = None
        if secure:
            ssl_object = writer.get_extra_info("ssl_object")
            expires = certificate_expiry(ssl_object.getpeercert(binary_form=True) if ssl_object else None)
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n"
        )
        writer.write(request.encode("latin-1"))
        await writer.drain()
        status_line = await reader.readline()
        fields = status_line.decode("latin-1").split(" ", 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
            raise ProbeFailed(f"not an HTTP answer: {status_line[:80]!r}")
        status = int(fields[1])
        headers: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _sep, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await _read_body(reader, headers) if spec.keyword else b""
        latency = _ms(start)
    finally:
        writer.transport.abort()
    if not status_matches(status, spec.expected_status):
        return Result(False, latency, f"HTTP {status}, expected {spec.expected_status}", expires)
    if spec.keyword and spec.keyword.encode() not in body:
        return Result(False, latency, f"keyword {spec.keyword!r} not in the answer", expires)
    return Result(True, latency, "", expires)


# --- TLS certificate ---------------------------------------------------------------------------


async def probe_tls(spec: Spec, fence: Fence) -> Result:
    address = await resolve(spec.host, fence)
    start = time.perf_counter()
    try:
        _reader, writer = await asyncio.open_connection(
            address, spec.port or 443, ssl=tls_context(spec.verify_tls), server_hostname=spec.host
        )
    except ssl.SSLCertVerificationError as exc:
        return Result(False, _ms(start), f"certificate not valid: {exc.verify_message}")
    latency = _ms(start)
    ssl_object = writer.get_extra_info("ssl_object")
    expires = certificate_expiry(ssl_object.getpeercert(binary_form=True) if ssl_object else None)
    writer.transport.abort()
    if expires is None:
        return Result(False, latency, "no certificate presented")
    if expires <= datetime.datetime.now(datetime.UTC):
        return Result(False, latency, f"certificate expired on {expires:%Y-%m-%d}", expires)
    return Result(True, latency, "", expires)


# --- DNS ---------------------------------------------------------------------------------------


async def probe_dns(spec: Spec, fence: Fence) -> Result:
    import dns.asyncquery
    import dns.message
    import dns.rcode
    import dns.rdatatype

    address = await resolve(spec.host, fence)
    query = dns.message.make_query(spec.dns_name, dns.rdatatype.from_text(spec.dns_type or "A"))
    start = time.perf_counter()
    answer = await dns.asyncquery.udp(query, address, port=spec.port or 53, timeout=spec.timeout)
    latency = _ms(start)
    if answer.rcode() != dns.rcode.NOERROR:
        return Result(False, latency, f"DNS {dns.rcode.to_text(answer.rcode())} for {spec.dns_name}")
    values = [rdata.to_text().rstrip(".") for rrset in answer.answer for rdata in rrset]
    if not values:
        return Result(False, latency, f"no {spec.dns_type} record for {spec.dns_name}")
    if spec.expected and spec.expected.rstrip(".") not in values:
        return Result(False, latency, f"{spec.dns_name} is {', '.join(values)}, expected {spec.expected}")
    return Result(True, latency)


# --- Databases ---------------------------------------------------------------------------------


def _compare(value: Any, spec: Spec, latency: float) -> Result:
    if spec.expected and str(value) != spec.expected:
        return Result(False, latency, f"query answered {value!r}, expected {spec.expected}")
    return Result(True, latency)


def sqlite_path_allowed(path: str) -> Path:
    resolved = Path(path).expanduser().resolve()
    for directory in settings.HISGUARD_MONITORING_SQLITE_DIRS:
        base = Path(directory).expanduser().resolve()
        if resolved == base or base in resolved.parents:
            return resolved
    raise NotAllowed(f"{path} is outside the directories allowed for SQLite checks")


def _sqlite_query(path: Path, query: str, timeout: float) -> Any:
    import sqlite3

    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)
    try:
        row = connection.execute(query).fetchone()
        return row[0] if row else None
    finally:
        connection.close()


def _dbapi_query(engine: str, address: str, spec: Spec) -> Any:
    """MySQL, SQL Server and Oracle through their optional DB-API drivers, in a thread."""
    timeout = max(1, int(spec.timeout))
    try:
        if engine == "mysql":
            import pymysql

            connection = pymysql.connect(
                host=address,
                port=spec.port or 3306,
                user=spec.db_user,
                password=spec.password,
                database=spec.db_name or None,
                connect_timeout=timeout,
                read_timeout=timeout,
            )
        elif engine == "sqlserver":
            import pymssql

            connection = pymssql.connect(
                server=address,
                port=str(spec.port or 1433),
                user=spec.db_user,
                password=spec.password,
                database=spec.db_name or "master",
                login_timeout=timeout,
                timeout=timeout,
            )
        elif engine == "oracle":
            import oracledb

            connection = oracledb.connect(
                user=spec.db_user,
                password=spec.password,
                dsn=f"{address}:{spec.port or 1521}/{spec.db_name}",
                tcp_connect_timeout=timeout,
            )
        else:
            raise ProbeFailed(f"unknown database engine {engine!r}")
    except ImportError as exc:
        driver = {"mysql": "pymysql", "sqlserver": "pymssql", "oracle": "oracledb"}[engine]
        raise ProbeFailed(f"the {engine} driver is not installed: pip install {driver}") from exc
    try:
        cursor = connection.cursor()
        cursor.execute(spec.query)
        row = cursor.fetchone()
        return row[0] if row else None
    finally:
        with contextlib.suppress(Exception):
            connection.rollback()
        connection.close()


async def probe_database(spec: Spec, fence: Fence) -> Result:
    if spec.db_engine == "sqlite":
        path = sqlite_path_allowed(spec.host)
        start = time.perf_counter()
        value = await asyncio.to_thread(_sqlite_query, path, spec.query, spec.timeout)
        return _compare(value, spec, _ms(start))
    address = await resolve(spec.host, fence)
    start = time.perf_counter()
    if spec.db_engine == "postgresql":
        import psycopg

        timeout_ms = int(spec.timeout * 1000)
        async with await psycopg.AsyncConnection.connect(
            host=spec.host,
            hostaddr=address,
            port=spec.port or 5432,
            dbname=spec.db_name or "postgres",
            user=spec.db_user or "postgres",
            password=spec.password or None,
            connect_timeout=max(2, int(spec.timeout + 0.999)),
            options=f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}",
            autocommit=True,
            application_name="hisguard-checker",
        ) as connection:
            cursor = await connection.execute(spec.query)  # type: ignore[arg-type]
            row = await cursor.fetchone()
        return _compare(row[0] if row else None, spec, _ms(start))
    value = await asyncio.to_thread(_dbapi_query, spec.db_engine, address, spec)
    return _compare(value, spec, _ms(start))


# --- SNMP (optional extra: pip install pysnmp) ------------------------------------------------

IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
IF_ADMIN_STATUS = "1.3.6.1.2.1.2.2.1.7"
OPER_STATES = {
    1: "up",
    2: "down",
    3: "testing",
    4: "unknown",
    5: "dormant",
    6: "notPresent",
    7: "lowerLayerDown",
}


def interface_result(admin: int, oper: int, latency: float, if_index: int) -> Result:
    if admin == 2:
        return Result(True, latency)  # administratively down: intended, not a fault
    if oper == 1:
        return Result(True, latency)
    return Result(False, latency, f"interface {if_index} is {OPER_STATES.get(oper, oper)}")


async def snmp_get(address: str, port: int, community: str, oids: list[str], timeout: float) -> list[int]:
    try:
        from pysnmp.hlapi.v3arch.asyncio import (
            CommunityData,
            ContextData,
            ObjectIdentity,
            ObjectType,
            SnmpEngine,
            UdpTransportTarget,
            get_cmd,
        )
    except ImportError as exc:
        raise ProbeFailed("SNMP checks need the optional extra: pip install pysnmp") from exc
    engine = SnmpEngine()
    try:
        target = await UdpTransportTarget.create((address, port), timeout=timeout, retries=0)
        error_indication, error_status, _index, var_binds = await get_cmd(
            engine,
            CommunityData(community or "public", mpModel=1),  # noqa: S508 - switches speak v2c
            target,
            ContextData(),
            *[ObjectType(ObjectIdentity(oid)) for oid in oids],
        )
    finally:
        engine.close_dispatcher()
    if error_indication:
        raise ProbeFailed(f"SNMP: {error_indication}")
    if error_status:
        raise ProbeFailed(f"SNMP: {error_status.prettyPrint()}")
    return [int(value) for _oid, value in var_binds]


async def probe_snmp(spec: Spec, fence: Fence) -> Result:
    address = await resolve(spec.host, fence)
    index = spec.snmp_if_index or 1
    start = time.perf_counter()
    admin, oper = await snmp_get(
        address,
        spec.port or 161,
        spec.password,
        [f"{IF_ADMIN_STATUS}.{index}", f"{IF_OPER_STATUS}.{index}"],
        spec.timeout,
    )
    return interface_result(admin, oper, _ms(start), index)


PROBES: dict[str, Callable[[Spec, Fence], Awaitable[Result]]] = {
    "ping": probe_ping,
    "tcp": probe_tcp,
    "http": probe_http,
    "tls": probe_tls,
    "dns": probe_dns,
    "database": probe_database,
    "snmp": probe_snmp,
}


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, NotAllowed | ProbeFailed) else f"{type(exc).__name__}: {text}"


async def run_probe(spec: Spec, fence: Fence) -> Result:
    """Run one check with its timeout; never raises."""
    probe = PROBES.get(spec.kind)
    if probe is None:
        return Result(False, None, f"unknown check kind {spec.kind!r}")
    try:
        async with asyncio.timeout(spec.timeout):  # no extra task per probe, unlike wait_for
            return await probe(spec, fence)
    except TimeoutError:
        return Result(False, None, f"no answer within {spec.timeout:g} s")
    except Exception as exc:
        return Result(False, None, describe_error(exc)[:500])
