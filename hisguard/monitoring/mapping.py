"""Which asset and system an alert is about, from its labels.

Ordered rules first (label, anchored regular expression → asset hostname and/or system code
templates, `{name}` filled from the pattern's named groups or from other labels); then the
conventions most monitors already follow: a label naming the asset (`hisguard_asset`,
`asset`, `hostname`, `host`, `instance` without its port, `nodename`) by hostname or IP address,
and a label naming the system (`hisguard_system`, `system`, `service`, `app`) by code.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from hisguard.monitoring.models import MappingRule
from hisguard.organisation.lookup import find_asset
from hisguard.organisation.models import Asset, Hospital, InformationSystem

ASSET_LABELS = ("hisguard_asset", "asset", "hostname", "host", "instance", "nodename")
SYSTEM_LABELS = ("hisguard_system", "system", "service", "app")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Mapped:
    asset_id: int | None
    system_id: int | None
    how: str  # "rule", "label" or ""


def strip_port(value: str) -> str:
    value = value.strip()
    if value.startswith("["):  # [::1]:9100
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def fill(template: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template).strip()


class Mapper:
    """Maps label sets for one hospital; lookups are cached for the life of one batch."""

    def __init__(self, hospital: Hospital, rules: list[MappingRule] | None = None) -> None:
        self.hospital = hospital
        if rules is None:
            rules = list(MappingRule.objects.filter(hospital=hospital, enabled=True).order_by("order", "id"))
        self.rules = [(rule, re.compile(rule.pattern)) for rule in rules]
        self._assets: dict[str, int | None] = {}
        self._systems: dict[str, int | None] = {}

    def asset_id(self, name: str) -> int | None:
        key = name.strip().lower()
        if not key:
            return None
        if key not in self._assets:
            query = Asset.objects.filter(hospital=self.hospital)
            asset = find_asset(name, query, allow_id=False)
            found = asset.pk if asset is not None else None
            if found is None:
                try:
                    ip = str(ipaddress.ip_address(key))
                except ValueError:
                    ip = ""
                if ip:
                    found = query.filter(ip_address=ip).values_list("pk", flat=True).first()
            self._assets[key] = found
        return self._assets[key]

    def system_id(self, code: str) -> int | None:
        key = code.strip().lower()
        if not key:
            return None
        if key not in self._systems:
            self._systems[key] = (
                InformationSystem.objects.filter(hospital=self.hospital, code__iexact=key)
                .values_list("pk", flat=True)
                .first()
            )
        return self._systems[key]

    def map(self, labels: dict[str, str]) -> Mapped:
        asset_id = system_id = None
        how = ""
        for rule, pattern in self.rules:
            value = labels.get(rule.label)
            if value is None:
                continue
            match = pattern.fullmatch(str(value))
            if match is None:
                continue
            values = {
                **{k: str(v) for k, v in labels.items()},
                **{k: v for k, v in match.groupdict().items() if v},
            }
            if asset_id is None and rule.asset_template:
                asset_id = self.asset_id(fill(rule.asset_template, values))
                how = how or ("rule" if asset_id else "")
            if system_id is None and rule.system_template:
                system_id = self.system_id(fill(rule.system_template, values))
                how = how or ("rule" if system_id else "")
            if asset_id is not None and system_id is not None:
                break
        if asset_id is None:
            for label in ASSET_LABELS:
                if labels.get(label):
                    asset_id = self.asset_id(strip_port(str(labels[label])))
                    if asset_id is not None:
                        how = how or "label"
                        break
        if system_id is None:
            for label in SYSTEM_LABELS:
                if labels.get(label):
                    system_id = self.system_id(str(labels[label]))
                    if system_id is not None:
                        how = how or "label"
                        break
        return Mapped(asset_id, system_id, how)
