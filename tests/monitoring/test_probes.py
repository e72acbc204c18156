"""Every probe against a real target on loopback (see conftest): up, down, slow, refused."""

from __future__ import annotations

import asyncio
import datetime
import os

import pytest

from hisguard.monitoring import probes
from hisguard.monitoring.netguard import Fence
from hisguard.monitoring.probes import Spec, run_probe

FENCE = Fence(["127.0.0.0/8", "::1/128"])


def run(spec: Spec, fence: Fence = FENCE) -> probes.Result:
    return asyncio.run(run_probe(spec, fence))


def test_tcp_open_port_is_up_with_a_latency(loopback):
    result = run(Spec(1, "tcp", host="127.0.0.1", port=loopback.tcp_port, timeout=2))
    assert result.ok, result.error
    assert 0 < result.latency_ms < 1000


def test_tcp_closed_port_is_refused(loopback):
    result = run(Spec(1, "tcp", host="127.0.0.1", port=loopback.closed_port, timeout=2))
    assert not result.ok
    assert result.error == "connection refused"


def test_tcp_unreachable_host_times_out(loopback):
    result = run(Spec(1, "tcp", host="127.0.0.1", port=loopback.blackhole_port, timeout=0.3))
    assert not result.ok
    assert "no answer within 0.3 s" in result.error


def test_a_name_resolving_outside_the_allowed_networks_is_never_contacted(loopback):
    result = run(Spec(1, "tcp", host="localhost", port=loopback.tcp_port, timeout=1), Fence(["10.0.0.0/8"]))
    assert not result.ok
    assert "outside the allowed networks" in result.error


def test_http_expected_status_and_keyword(loopback):
    ok = run(Spec(1, "http", url=f"{loopback.http}/ok", keyword="HIS is ready", timeout=2))
    assert ok.ok, ok.error
    missing = run(Spec(1, "http", url=f"{loopback.http}/ok", keyword="Welcome", timeout=2))
    assert not missing.ok and "keyword" in missing.error
    broken = run(Spec(1, "http", url=f"{loopback.http}/500", timeout=2))
    assert not broken.ok and "HTTP 500" in broken.error
    accepted = run(Spec(1, "http", url=f"{loopback.http}/500", expected_status="200,500-503", timeout=2))
    assert accepted.ok


def test_http_keyword_across_chunks(loopback):
    result = run(Spec(1, "http", url=f"{loopback.http}/chunked", keyword="HIS is ready", timeout=2))
    assert result.ok, result.error


def test_http_slow_host_times_out(loopback):
    result = run(Spec(1, "http", url=f"{loopback.http}/slow", timeout=0.3))
    assert not result.ok
    assert "no answer" in result.error


def test_https_with_unverifiable_certificate_fails_unless_verification_is_off(loopback):
    url = f"https://localhost:{loopback.https_port}/ok"
    strict = run(Spec(1, "http", url=url, timeout=2))
    assert not strict.ok
    assert "TLS" in strict.error or "certificate" in strict.error
    relaxed = run(Spec(1, "http", url=url, verify_tls=False, timeout=2))
    assert relaxed.ok, relaxed.error
    assert relaxed.cert_expires_at is not None


def test_tls_certificate_expiry_is_read(loopback):
    result = run(Spec(1, "tls", host="localhost", port=loopback.https_port, verify_tls=False, timeout=2))
    assert result.ok, result.error
    days = (result.cert_expires_at - datetime.datetime.now(datetime.UTC)).days
    assert 8 <= days <= 10


def test_tls_expired_certificate_is_down(loopback):
    result = run(
        Spec(1, "tls", host="localhost", port=loopback.https_expired_port, verify_tls=False, timeout=2)
    )
    assert not result.ok
    assert "expired" in result.error


def test_dns_answer_and_expected_value(loopback):
    spec = Spec(1, "dns", host="127.0.0.1", port=loopback.dns_port, dns_name="his.hospital.test", timeout=2)
    assert run(spec).ok
    wrong = Spec(
        1,
        "dns",
        host="127.0.0.1",
        port=loopback.dns_port,
        dns_name="his.hospital.test",
        expected="10.1.1.1",
        timeout=2,
    )
    assert "expected 10.1.1.1" in run(wrong).error
    missing = Spec(
        1, "dns", host="127.0.0.1", port=loopback.dns_port, dns_name="pacs.hospital.test", timeout=2
    )
    assert "NXDOMAIN" in run(missing).error


def test_postgresql_query(loopback):
    if not loopback.pg_available:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    spec = Spec(1, "database", db_engine="postgresql", host="127.0.0.1", port=5432, db_name="postgres",
                db_user="postgres", query="SELECT 40 + 2", expected="42", timeout=3)  # fmt: skip
    result = run(spec)
    assert result.ok, result.error
    wrong = run(Spec(**{**spec.__dict__, "expected": "41"}))
    assert "expected 41" in wrong.error
    read_only = run(
        Spec(**{**spec.__dict__, "query": "CREATE TABLE hisguard_should_not_exist (x int)", "expected": ""})
    )
    assert not read_only.ok and "read-only" in read_only.error


def test_sqlite_query_inside_allowed_directories_only(tmp_path, settings):
    import sqlite3

    path = tmp_path / "his.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE beds (n int)")
        connection.execute("INSERT INTO beds VALUES (3)")
    settings.HISGUARD_MONITORING_SQLITE_DIRS = [str(tmp_path)]
    spec = Spec(
        1,
        "database",
        db_engine="sqlite",
        host=str(path),
        query="SELECT count(*) FROM beds",
        expected="1",
        timeout=2,
    )
    assert run(spec).ok
    settings.HISGUARD_MONITORING_SQLITE_DIRS = [str(tmp_path / "elsewhere")]
    refused = run(spec)
    assert not refused.ok and "outside the directories" in refused.error


def test_optional_database_drivers_say_what_to_install(loopback):
    result = run(
        Spec(1, "database", db_engine="oracle", host="127.0.0.1", port=loopback.closed_port, timeout=2)
    )
    assert not result.ok
    assert "pip install oracledb" in result.error or "refused" in result.error


def test_snmp_without_the_optional_extra_says_so_or_reports_the_interface(loopback):
    result = run(Spec(1, "snmp", host="127.0.0.1", port=loopback.closed_port, snmp_if_index=1, timeout=0.5))
    assert not result.ok
    assert "pip install pysnmp" in result.error or result.error


@pytest.mark.parametrize(("admin", "oper", "ok"), [(1, 1, True), (1, 2, False), (2, 2, True), (1, 7, False)])
def test_snmp_interface_states(admin, oper, ok):
    assert probes.interface_result(admin, oper, 1.0, 48).ok is ok


def test_ping_loopback_with_icmp_or_tcp_fallback(loopback):
    mode = probes.ping_mode()
    result = asyncio.run(probes.probe_ping(Spec(1, "ping", host="127.0.0.1", timeout=1), FENCE, mode))
    assert result.ok, (mode, result.error)
    fallback = asyncio.run(probes.probe_ping(Spec(1, "ping", host="127.0.0.1", timeout=1), FENCE, "tcp"))
    assert fallback.ok  # port 7 refused: a RST proves the host is there


def test_ping_mode_can_be_forced(monkeypatch):
    monkeypatch.setenv("HISGUARD_PING_MODE", "tcp")
    assert probes.ping_mode() == "tcp"
    monkeypatch.setenv("HISGUARD_PING_MODE", "")
    assert probes.ping_mode() in {"unprivileged", "privileged", "tcp"}
    assert os.environ["HISGUARD_PING_MODE"] == ""


def test_status_matching():
    assert probes.status_matches(204, "200-299")
    assert not probes.status_matches(302, "200-299")
    assert probes.status_matches(302, "200-299,302")
