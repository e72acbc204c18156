"""SQL: SELECTs against read-only views of the HIS database, through a SQLAlchemy URL.

Most Chinese HIS vendors expose views (视图) for integration; the hospital grants a read-only
account on them. Each kind of record comes from a view (``"table"``) or a query (``"query"``);
only the census (``patients``) is required::

    {"url": "postgresql+psycopg://hisguard_ro@10.1.2.1/his",
     "sources": {"patients": {"table": "v_hisguard_patients", "columns": {"mrn": "zyh"}},
                 "allergies": {"query": "SELECT brid AS patient_id, gmyw AS substance FROM v_gm"}}}

The password is the connector's secret (kept sealed), never part of the URL in the settings.
Statements must be a single SELECT (or WITH … SELECT); on PostgreSQL and SQLite the session
itself is read-only too. Drivers for Oracle (oracledb) or SQL Server (pyodbc) are installed
by the hospital as needed.
"""

from __future__ import annotations

import re
from typing import Any

from hisguard.continuity.connectors.base import COMMON_DEFAULTS, ConfigError, Connector, PullContext, trim
from hisguard.continuity.connectors.tabular import KINDS, RowMapper
from hisguard.continuity.shape import Extract, PullError

DEFAULT_SOURCES = {kind: {"table": f"v_hisguard_{kind}"} for kind in KINDS}
_SELECT = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")


class SqlConnector(Connector):
    kind = "sql"
    defaults = {
        "url": "",
        "sources": {"patients": {"table": "v_hisguard_patients"}},
        "timeout": 60,
        **COMMON_DEFAULTS,
    }

    def check(self) -> None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(str(self.config.get("url") or ""))
        except ArgumentError as exc:
            raise ConfigError(
                "url", "must be a SQLAlchemy URL such as postgresql+psycopg://user@host/db"
            ) from exc
        sources = self.config.get("sources")
        if not isinstance(sources, dict) or "patients" not in sources:
            raise ConfigError("sources", "must name at least the patients view or query")
        for kind, source in sources.items():
            if kind not in KINDS:
                raise ConfigError(f"sources.{kind}", f"unknown kind; use {', '.join(KINDS)}")
            if not isinstance(source, dict) or bool(source.get("table")) == bool(source.get("query")):
                raise ConfigError(f"sources.{kind}", "give either a table (view) or a query")
            if source.get("table") and not _IDENTIFIER.match(str(source["table"])):
                raise ConfigError(f"sources.{kind}.table", "must be a plain (schema.)view name")
            query = str(source.get("query") or "")
            if query and (not _SELECT.match(query) or ";" in query.strip().rstrip(";")):
                raise ConfigError(f"sources.{kind}.query", "must be one SELECT statement")
        self.number("timeout", minimum=1)

    def engine(self) -> Any:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.pool import NullPool

        url = make_url(self.config["url"])
        if self.secret:
            url = url.set(password=self.secret)
        connect_args: dict[str, Any] = {}
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            url = url.set(database=f"file:{url.database}?mode=ro", query={**url.query, "uri": "true"})
        elif url.get_backend_name() == "postgresql":
            seconds = int(self.config["timeout"])
            connect_args = {
                "connect_timeout": min(seconds, 15),
                "options": f"-c statement_timeout={seconds * 1000} -c default_transaction_read_only=on",
            }
        return create_engine(url, poolclass=NullPool, connect_args=connect_args)

    def pull(self, ctx: PullContext) -> Extract:
        from sqlalchemy import text as sql_text
        from sqlalchemy.exc import SQLAlchemyError

        self.check()
        extract = Extract()
        mapper = RowMapper(extract, ctx.tz, "sql")
        engine = self.engine()
        try:
            with engine.connect() as connection:
                if engine.dialect.name == "sqlite":
                    connection.exec_driver_sql("PRAGMA query_only = ON")
                for kind in KINDS:
                    source = self.config["sources"].get(kind)
                    if not source:
                        continue
                    if source.get("table"):
                        name = ".".join(
                            engine.dialect.identifier_preparer.quote(part)
                            for part in source["table"].split(".")
                        )
                        statement = f"SELECT * FROM {name}"  # noqa: S608 - a checked identifier, quoted
                    else:
                        statement = source["query"].strip().rstrip(";")
                    ctx.log.append(statement)
                    try:
                        result = connection.execute(sql_text(statement))
                        rows = (
                            result.mappings().fetchmany(ctx.limit) if ctx.limit else result.mappings().all()
                        )
                    except SQLAlchemyError as exc:
                        raise PullError(f"{kind}: {_short(exc)}") from exc
                    mapper.rows(kind, rows, source)
        except SQLAlchemyError as exc:
            raise PullError(_short(exc)) from exc
        finally:
            engine.dispose()
        extract.as_of = ctx.now
        return trim(extract, ctx.now, self.config)


def _short(exc: Exception) -> str:
    message = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (message[0] if message else type(exc).__name__)[:300]
