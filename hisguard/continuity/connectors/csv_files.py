"""CSV: one file per kind of record in a folder, e.g. a nightly export job's output.

Chinese systems often write GB18030; set ``encoding`` accordingly. As of is the oldest file's
modification time: a stale export shows as a stale packet.
"""

from __future__ import annotations

import csv
import datetime
from pathlib import Path

from hisguard.continuity.connectors.base import COMMON_DEFAULTS, ConfigError, Connector, PullContext, trim
from hisguard.continuity.connectors.tabular import KINDS, RowMapper
from hisguard.continuity.shape import Extract, PullError


class CsvConnector(Connector):
    kind = "csv"
    defaults = {
        "directory": "",
        "files": {kind: f"{kind}.csv" for kind in KINDS},
        "encoding": "utf-8-sig",
        "delimiter": ",",
        "mappings": {},  # kind -> {"columns": {...}}
        **COMMON_DEFAULTS,
    }

    def check(self) -> None:
        directory = Path(str(self.config.get("directory") or ""))
        if not self.config.get("directory") or not directory.is_dir():
            raise ConfigError("directory", "must be a folder on the server holding the CSV files")
        files = self.config.get("files")
        if not isinstance(files, dict) or "patients" not in files:
            raise ConfigError("files", "must name at least the patients file")
        unknown = set(files) - set(KINDS)
        if unknown:
            raise ConfigError("files", f"unknown kinds {', '.join(sorted(unknown))}; use {', '.join(KINDS)}")
        try:
            "".encode(str(self.config.get("encoding")))
        except LookupError as exc:
            raise ConfigError("encoding", "is not a known encoding (utf-8-sig, gb18030 …)") from exc
        if len(str(self.config.get("delimiter"))) != 1:
            raise ConfigError("delimiter", "must be one character")

    def pull(self, ctx: PullContext) -> Extract:
        self.check()
        directory = Path(self.config["directory"])
        extract = Extract()
        mapper = RowMapper(extract, ctx.tz, "csv")
        stamps = []
        for kind in KINDS:
            name = self.config["files"].get(kind)
            if not name:
                continue
            path = directory / name
            if not path.is_file():
                if kind == "patients":
                    raise PullError(f"{path.name} (the census) is missing")
                continue
            ctx.log.append(f"read {path}")
            stamps.append(datetime.datetime.fromtimestamp(path.stat().st_mtime, tz=datetime.UTC))
            try:
                with path.open(encoding=self.config["encoding"], newline="") as handle:
                    reader = csv.DictReader(handle, delimiter=self.config["delimiter"])
                    rows = []
                    for number, row in enumerate(reader, start=1):
                        if ctx.limit and number > ctx.limit:
                            break
                        rows.append(row)
                    mapper.rows(kind, rows, (self.config.get("mappings") or {}).get(kind))
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                raise PullError(f"{path.name}: {exc}") from exc
        as_of = min(stamps) if stamps else ctx.now
        extract.as_of = as_of
        return trim(extract, as_of, self.config)
