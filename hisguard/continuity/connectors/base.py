"""What every connector is: configuration in, an `Extract` out (or a `PullError`)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hisguard.continuity.shape import Extract, PullError

__all__ = ["ConfigError", "Connector", "PullContext", "PullError", "trim"]


class ConfigError(ValueError):
    """A connector's settings are incomplete or wrong; `field` names the setting."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class PullContext:
    now: datetime.datetime
    tz: datetime.tzinfo
    limit: int | None = None  # "try it": stop after about this many patients
    log: list[str] = field(default_factory=list)  # what was asked of the source, for "try it"


class Connector:
    kind: ClassVar[str]
    #: Settings and their defaults (shown in the form as a JSON template).
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: dict[str, Any], secret: str = "") -> None:
        self.config = {**self.defaults, **(config or {})}
        self.secret = secret

    def check(self) -> None:
        """Raise ConfigError for settings that cannot work."""

    def pull(self, ctx: PullContext) -> Extract:
        raise NotImplementedError

    def number(self, name: str, *, minimum: float = 0, integer: bool = True) -> Any:
        value = self.config.get(name)
        try:
            number = int(value) if integer else float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ConfigError(name, "must be a number") from exc
        if number < minimum:
            raise ConfigError(name, f"must be at least {minimum}")
        return number


COMMON_DEFAULTS: dict[str, Any] = {
    "ward_map": {},  # source ward key -> HISGuard ward code
    "results_hours": 72,  # laboratory results this recent make the packet
    "results_max": 30,  # at most this many results per patient (newest first)
    "admin_hours": 24,  # administrations this recent give "last given"
}


def trim(extract: Extract, as_of: datetime.datetime, config: dict[str, Any]) -> Extract:
    """Drop what is too old to print (sources that cannot filter by date, e.g. files)."""
    results_since = as_of - datetime.timedelta(hours=int(config.get("results_hours", 72)))
    admin_since = as_of - datetime.timedelta(hours=int(config.get("admin_hours", 24)))
    extract.results = [r for r in extract.results if r.at >= results_since]
    extract.administrations = [a for a in extract.administrations if a.at >= admin_since]
    return extract
