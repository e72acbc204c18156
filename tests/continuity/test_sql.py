"""The SQL connector against read-only views, on SQLite and on PostgreSQL, the way Chinese HIS
vendors expose them: their own column names (pinyin initials), mapped onto the internal shape."""

from __future__ import annotations

import os
import sqlite3
import uuid
from urllib.parse import urlsplit

import pytest

from hisguard.continuity import actions
from hisguard.continuity.connectors import ConfigError, PullContext
from hisguard.continuity.connectors.sql import SqlConnector
from hisguard.continuity.models import Connector, Snapshot

from .conftest import NOW, TZ

TABLES = """
CREATE TABLE zy_brxx (brid VARCHAR(20), zyh VARCHAR(20), xm VARCHAR(40), xb VARCHAR(4), csrq VARCHAR(10),
                      bqdm VARCHAR(10), cwh VARCHAR(10), zd VARCHAR(100), ryrq VARCHAR(20), cyrq VARCHAR(20));
CREATE TABLE zy_gms (brid VARCHAR(20), gmyw VARCHAR(40), fy VARCHAR(40));
CREATE TABLE zy_yz (yzid VARCHAR(20), brid VARCHAR(20), ypmc VARCHAR(60), jl VARCHAR(20), yf VARCHAR(20),
                    pc VARCHAR(10), kssj VARCHAR(20), zt VARCHAR(10));
CREATE TABLE jy_jg (brid VARCHAR(20), xmmc VARCHAR(40), jg VARCHAR(20), dw VARCHAR(20), ckfw VARCHAR(20),
                    bz VARCHAR(4), bgsj VARCHAR(20));
INSERT INTO zy_brxx VALUES ('B1', 'ZY001', '张三', '男', '1950-02-03', 'W1', '1床', '心力衰竭', '2025-03-01 10:00', NULL);
INSERT INTO zy_brxx VALUES ('B2', 'ZY002', '李四', '女', '1962-07-09', 'W2', '5床', '阑尾炎', '2025-03-10 22:00', NULL);
INSERT INTO zy_brxx VALUES ('B3', 'ZY003', '王五', '男', '1940-01-01', 'W1', '2床', '肺炎', '2025-02-01 08:00', '2025-03-05 09:00');
INSERT INTO zy_brxx VALUES ('B4', 'ZY004', '赵六', '女', '1981-04-04', 'W1', '', '胸痛', '2025-03-11 08:00', NULL);
INSERT INTO zy_gms VALUES ('B1', '青霉素', '过敏性休克');
INSERT INTO zy_yz VALUES ('Y1', 'B1', '呋塞米注射液', '20mg', '静脉注射', 'bid', '2025-03-01 10:00', '执行中');
INSERT INTO zy_yz VALUES ('Y2', 'B1', '地高辛片', '0.125mg', '口服', 'qd', '2025-03-01 10:00', '停止');
INSERT INTO zy_yz VALUES ('Y3', 'B2', '头孢曲松钠', '2g', '静脉滴注', 'qd', '2025-03-10 23:00', '新开');
INSERT INTO jy_jg VALUES ('B1', '血钾', '6.8', 'mmol/L', '3.5-5.3', 'HH', '2025-03-12 07:10');
INSERT INTO jy_jg VALUES ('B2', '白细胞计数', '14.2', '10^9/L', '3.5-9.5', 'H', '2025-03-12 06:00');
CREATE VIEW v_hisguard_patients AS SELECT * FROM zy_brxx WHERE cyrq IS NULL;
CREATE VIEW v_hisguard_allergies AS SELECT brid, gmyw, fy FROM zy_gms;
CREATE VIEW v_hisguard_orders AS SELECT * FROM zy_yz;
CREATE VIEW v_hisguard_results AS SELECT * FROM jy_jg;
"""

SOURCES = {
    "patients": {
        "table": "v_hisguard_patients",
        "columns": {
            "id": "brid", "mrn": "zyh", "name": "xm", "sex": "xb", "birth_date": "csrq", "ward": "bqdm",
            "bed": "cwh", "diagnosis": "zd", "admitted": "ryrq",
        },
    },
    "allergies": {"table": "v_hisguard_allergies", "columns": {"patient_id": "brid", "substance": "gmyw", "reaction": "fy"}},
    "orders": {
        "table": "v_hisguard_orders",
        "columns": {
            "id": "yzid", "patient_id": "brid", "drug": "ypmc", "dose": "jl", "route": "yf", "frequency": "pc",
            "start": "kssj", "status": "zt",
        },
    },
    "results": {
        "query": "SELECT brid, xmmc, jg, dw, ckfw, bz, bgsj FROM v_hisguard_results",
        "columns": {
            "patient_id": "brid", "name": "xmmc", "value": "jg", "unit": "dw", "range": "ckfw", "flag": "bz",
            "at": "bgsj",
        },
    },
}  # fmt: skip


def check_packets(h3, connector: Connector) -> None:
    snapshot = actions.run_snapshot(connector)
    assert snapshot.status == Snapshot.Status.OK, snapshot.error
    w1 = actions.latest_packet(h3.wards["W1"]).data()
    w2 = actions.latest_packet(h3.wards["W2"]).data()
    assert [p["name"] for p in w1["patients"]] == ["张三"]  # 王五 discharged; 赵六 has no bed
    assert w1["skipped"] == 1
    zhang = w1["patients"][0]
    assert zhang["sex"] == "M" and zhang["mrn"] == "ZY001"
    assert zhang["allergies"] == [{"s": "青霉素", "r": "过敏性休克", "c": "", "cat": ""}]
    assert [o["drug"] for o in zhang["orders"]] == ["呋塞米注射液"]  # the stopped order is not printed
    assert len(zhang["orders"][0]["due"]) == 2  # bid: 16:00 today, 08:00 tomorrow
    assert zhang["results"][0]["crit"] is True
    li = w2["patients"][0]
    assert li["orders"] == [] and li["pending"][0]["text"].startswith("头孢曲松钠")
    assert li["results"][0]["flag"] == "H" and li["results"][0]["crit"] is False


def test_sqlite_views(h3, tmp_path, clock):
    path = tmp_path / "his.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(TABLES)
    connector = Connector.objects.create(
        hospital=h3.hospital, name="HIS views (SQLite)", kind=Connector.Kind.SQL,
        config={"url": f"sqlite:///{path}", "sources": SOURCES},
    )  # fmt: skip
    check_packets(h3, connector)


def test_sql_settings_are_checked():
    with pytest.raises(ConfigError) as bad:
        SqlConnector(
            {"url": "sqlite:///x", "sources": {"patients": {"query": "DELETE FROM zy_brxx"}}}
        ).check()
    assert bad.value.field == "sources.patients.query"
    with pytest.raises(ConfigError):
        SqlConnector(
            {"url": "sqlite:///x", "sources": {"patients": {"query": "SELECT 1; DROP TABLE x"}}}
        ).check()
    with pytest.raises(ConfigError):
        SqlConnector({"url": "sqlite:///x", "sources": {"patients": {"table": "x; drop"}}}).check()
    with pytest.raises(ConfigError):
        SqlConnector({"url": "sqlite:///x", "sources": {}}).check()


def _pg_admin_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        parts = urlsplit(url)
        return f"postgresql://{parts.netloc}/postgres"
    return "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def pg_his():
    """A throw-away PostgreSQL database playing the HIS, with a read-only role on its views."""
    psycopg = pytest.importorskip("psycopg")
    admin_url = _pg_admin_url()
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {admin_url}: {exc}")
    name = f"hgcont_his_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    netloc = urlsplit(admin_url).netloc
    try:
        with psycopg.connect(f"postgresql://{netloc}/{name}", autocommit=True) as his:
            his.execute(TABLES)
        yield f"postgresql+psycopg://{netloc}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_postgresql_views(h3, pg_his, clock):
    connector = Connector.objects.create(
        hospital=h3.hospital, name="HIS views (PostgreSQL)", kind=Connector.Kind.SQL,
        config={"url": pg_his, "sources": SOURCES},
    )  # fmt: skip
    check_packets(h3, connector)


def test_postgresql_session_is_read_only(pg_his):
    """Even a SELECT that hides a write (a data-modifying CTE) cannot change the HIS."""
    sneaky = {"patients": {"query": "WITH gone AS (DELETE FROM zy_brxx RETURNING *) SELECT * FROM gone"}}
    connector = SqlConnector({"url": pg_his, "sources": sneaky})
    from hisguard.continuity.connectors import PullError

    with pytest.raises(PullError, match="read-only"):
        connector.pull(PullContext(now=NOW, tz=TZ))
    count = SqlConnector(
        {"url": pg_his, "sources": {"patients": {"query": "SELECT count(*) AS id FROM zy_brxx"}}}
    ).engine()
    with count.connect() as connection:
        from sqlalchemy import text

        assert connection.execute(text("SELECT count(*) FROM zy_brxx")).scalar() == 4
    count.dispose()
