"""Connectors read the HIS (FHIR REST, FHIR files, SQL views, CSV) into the internal shape."""

from __future__ import annotations

from typing import Any

from hisguard.continuity.connectors.base import ConfigError, Connector, PullContext, PullError
from hisguard.continuity.connectors.csv_files import CsvConnector
from hisguard.continuity.connectors.fhir_file import FhirFileConnector
from hisguard.continuity.connectors.fhir_rest import FhirRestConnector
from hisguard.continuity.connectors.sql import SqlConnector

CONNECTORS: dict[str, type[Connector]] = {
    cls.kind: cls for cls in (FhirRestConnector, FhirFileConnector, SqlConnector, CsvConnector)
}

__all__ = ["CONNECTORS", "ConfigError", "Connector", "PullContext", "PullError", "connector_for"]


def connector_for(kind: str, config: dict[str, Any], secret: str = "", **options: Any) -> Connector:
    return CONNECTORS[kind](config, secret, **options)  # type: ignore[call-arg]
