"""FHIR files: Bundles (``*.json``) or Bulk Data ndjson (``*.ndjson``, one resource a line),
from a file or a folder an export job writes to.

A bundle file that is not valid JSON fails the pull (it may be half-written); a bad line in an
ndjson file is one bad record and is reported as ``file:line``. The snapshot's "as of" is the
bundles' ``timestamp`` (the oldest), else the files' modification time (the oldest).
"""

from __future__ import annotations

import datetime
import gzip
import json
from pathlib import Path
from typing import Any

from hisguard.continuity.connectors.base import COMMON_DEFAULTS, ConfigError, Connector, PullContext, trim
from hisguard.continuity.connectors.fhir import Index, map_index
from hisguard.continuity.shape import Extract, PullError, parse_datetime


class FhirFileConnector(Connector):
    kind = "fhir_file"
    defaults = {
        "path": "",
        "patterns": ["*.json", "*.ndjson", "*.ndjson.gz"],
        "mrn_system": "",
        "ward_system": "",
        **COMMON_DEFAULTS,
    }

    def check(self) -> None:
        if not self.config.get("path"):
            raise ConfigError("path", "name a bundle file, an ndjson file or a folder of them")
        if not Path(self.config["path"]).exists():
            raise ConfigError("path", f"{self.config['path']} does not exist on the server")

    def files(self) -> list[Path]:
        root = Path(self.config["path"])
        if root.is_file():
            return [root]
        found: set[Path] = set()
        for pattern in self.config.get("patterns") or ["*.json", "*.ndjson"]:
            found.update(p for p in root.glob(pattern) if p.is_file())
        return sorted(found)

    def pull(self, ctx: PullContext) -> Extract:
        self.check()
        index = Index()
        files = self.files()
        if not files:
            raise PullError(f"no FHIR files in {self.config['path']}")
        stamps: list[datetime.datetime] = []
        for path in files:
            ctx.log.append(f"read {path}")
            stamps.append(datetime.datetime.fromtimestamp(path.stat().st_mtime, tz=datetime.UTC))
            opener: Any = gzip.open if path.suffix == ".gz" else open
            try:
                with opener(path, "rt", encoding="utf-8") as handle:
                    if ".ndjson" in path.name:
                        for number, line in enumerate(handle, start=1):
                            if not line.strip():
                                continue
                            try:
                                resource = json.loads(line)
                            except json.JSONDecodeError:
                                index.bad.append((f"{path.name}:{number}", "resource", "not_json"))
                                continue
                            index.add(resource, f"{path.name}:{number}")
                    else:
                        try:
                            body = json.load(handle)
                        except json.JSONDecodeError as exc:
                            raise PullError(f"{path.name} is not valid JSON (half-written?): {exc}") from exc
                        if isinstance(body, dict) and body.get("resourceType") == "Bundle":
                            if body.get("timestamp"):
                                try:
                                    stamp = parse_datetime(body["timestamp"], ctx.tz)
                                except ValueError:
                                    stamp = None
                                if stamp is not None:
                                    stamps[-1] = stamp
                            index.add_bundle(body, path.name)
                        else:
                            index.add(body, path.name)
            except (OSError, UnicodeDecodeError) as exc:
                raise PullError(f"{path.name}: {exc}") from exc
            if ctx.limit is not None and len(index.of("Encounter")) >= ctx.limit:
                break
        as_of = min(stamps) if stamps else ctx.now
        extract = map_index(index, ctx.tz, self.config)
        extract.as_of = as_of
        return trim(extract, as_of, self.config)
