"""Validation shared by the pages, the API and imports: one set of rules for a check."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from hisguard.core.errors import DomainError
from hisguard.monitoring import netguard
from hisguard.monitoring.models import ActiveCheck, Heartbeat, IntakeSource, MaintenanceWindow, MappingRule
from hisguard.monitoring.probes import sqlite_path_allowed
from hisguard.organisation.lookup import find_asset
from hisguard.organisation.models import Asset, Hospital, InformationSystem

CHECK_FIELDS = [
    "name", "kind", "host", "port", "url", "expected_status", "keyword", "verify_tls", "warn_days",
    "dns_name", "dns_type", "expected", "db_engine", "db_name", "db_user", "password", "query",
    "snmp_if_index", "interval_seconds", "timeout_seconds", "retries", "retry_interval_seconds",
    "latency_warn_ms", "enabled",
]  # fmt: skip


def _hospital(code: str) -> Hospital | None:
    if code:
        return Hospital.objects.filter(code=code).first()
    hospitals = list(Hospital.objects.all()[:2])
    return hospitals[0] if len(hospitals) == 1 else None


class TargetMixin(forms.Form):
    """Asset by hostname and system by code (what people and scripts know), and the hospital."""

    hospital_code = forms.CharField(label=_("hospital code"), required=False, max_length=32)
    asset_hostname = forms.CharField(label=_("asset (hostname)"), required=False, max_length=64)
    system_code = forms.CharField(label=_("system (code)"), required=False, max_length=32)

    def clean_targets(self, cleaned: dict[str, Any], instance: Any) -> None:
        asset = system = None
        hospital = getattr(instance, "hospital", None) if instance and instance.pk else None
        if cleaned.get("hospital_code") or hospital is None:
            hospital = _hospital(cleaned.get("hospital_code", ""))
        hostname = (cleaned.get("asset_hostname") or "").strip()
        if hostname:
            asset = find_asset(hostname, Asset.objects.select_related("hospital"), allow_id=False)
            if asset is None:
                self.add_error("asset_hostname", _("No asset has this hostname."))
            else:
                hospital = hospital if cleaned.get("hospital_code") else asset.hospital
        code = (cleaned.get("system_code") or "").strip()
        if code:
            query = InformationSystem.objects.filter(code__iexact=code)
            if hospital is not None:
                query = query.filter(hospital=hospital)
            system = query.first()
            if system is None:
                self.add_error("system_code", _("No information system has this code."))
            elif hospital is None:
                hospital = system.hospital
        if hospital is None:
            self.add_error("hospital_code", _("Name the hospital (its code)."))
        elif (asset and asset.hospital_id != hospital.pk) or (system and system.hospital_id != hospital.pk):
            self.add_error("asset_hostname", _("The asset and system must belong to the hospital."))
        cleaned["hospital"], cleaned["asset"], cleaned["system"] = hospital, asset, system


class CheckForm(TargetMixin, forms.ModelForm):
    class Meta:
        model = ActiveCheck
        fields = CHECK_FIELDS
        widgets = {"password": forms.PasswordInput(render_value=False)}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["asset_hostname"].initial = (
                self.instance.asset.hostname if self.instance.asset else ""
            )
            self.fields["system_code"].initial = self.instance.system.code if self.instance.system else ""
            self.fields["hospital_code"].initial = self.instance.hospital.code
        for name in ("expected_status", "query", "dns_type"):
            self.fields[name].required = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.clean_targets(cleaned, self.instance)
        kind = cleaned.get("kind")
        asset = cleaned.get("asset")
        if (
            not cleaned.get("host")
            and asset is not None
            and asset.ip_address
            and kind != ActiveCheck.Kind.HTTP
        ):
            cleaned["host"] = asset.ip_address
        if self.instance.pk and not cleaned.get("password"):
            cleaned["password"] = self.instance.password  # blank on edit keeps the stored one
        cleaned["expected_status"] = cleaned.get("expected_status") or "200-399"
        cleaned["dns_type"] = (cleaned.get("dns_type") or "A").upper()
        cleaned["query"] = cleaned.get("query") or "SELECT 1"
        self._check_kind(cleaned)
        interval, timeout = cleaned.get("interval_seconds"), cleaned.get("timeout_seconds")
        if interval and timeout and timeout >= interval:
            self.add_error("timeout_seconds", _("The timeout must be shorter than the interval."))
        if not self.errors and kind:
            try:
                if (
                    kind == ActiveCheck.Kind.DATABASE
                    and cleaned.get("db_engine") == ActiveCheck.Engine.SQLITE
                ):
                    sqlite_path_allowed(cleaned.get("host", ""))
                else:
                    netguard.validate_target(kind, cleaned.get("host", ""), cleaned.get("url", ""))
            except netguard.NotAllowed as exc:
                self.add_error("host", str(exc))
            except DomainError as exc:
                self.add_error("url" if kind == ActiveCheck.Kind.HTTP else "host", str(exc.message))
        return cleaned

    def _check_kind(self, cleaned: dict[str, Any]) -> None:
        kind = cleaned.get("kind")
        need: dict[str, list[str]] = {
            ActiveCheck.Kind.PING: ["host"],
            ActiveCheck.Kind.TCP: ["host", "port"],
            ActiveCheck.Kind.HTTP: ["url"],
            ActiveCheck.Kind.TLS: ["host"],
            ActiveCheck.Kind.DNS: ["host", "dns_name"],
            ActiveCheck.Kind.DATABASE: ["db_engine", "host"],
            ActiveCheck.Kind.SNMP: ["host", "snmp_if_index"],
        }
        for field in need.get(kind or "", []):
            if not cleaned.get(field):
                self.add_error(field, _("Needed for this kind of check."))
        url = cleaned.get("url") or ""
        if kind == ActiveCheck.Kind.HTTP and url and not url.startswith(("http://", "https://")):
            self.add_error("url", _("Start the URL with http:// or https://."))
        if kind == ActiveCheck.Kind.DNS:
            import dns.rdatatype

            try:
                dns.rdatatype.from_text(cleaned.get("dns_type") or "A")
            except Exception:
                self.add_error("dns_type", _("Unknown DNS record type."))

    def save(self, commit: bool = True) -> ActiveCheck:
        check = super().save(commit=False)
        data = self.cleaned_data
        check.hospital, check.asset, check.system = data["hospital"], data["asset"], data["system"]
        check.host, check.password = data.get("host", ""), data.get("password", "")
        check.expected_status, check.dns_type, check.query = (
            data["expected_status"],
            data["dns_type"],
            data["query"],
        )
        if commit:
            check.save()
        return check


class HeartbeatForm(TargetMixin, forms.ModelForm):
    class Meta:
        model = Heartbeat
        fields = ["name", "period_seconds", "grace_seconds", "enabled"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.clean_targets(cleaned, self.instance)
        return cleaned

    def save(self, commit: bool = True) -> Heartbeat:
        heartbeat = super().save(commit=False)
        data = self.cleaned_data
        heartbeat.hospital, heartbeat.asset, heartbeat.system = (
            data["hospital"],
            data["asset"],
            data["system"],
        )
        if commit:
            heartbeat.save()
        return heartbeat


class SourceForm(forms.ModelForm):
    hospital_code = forms.CharField(label=_("hospital code"), required=False, max_length=32)

    class Meta:
        model = IntakeSource
        fields = ["name", "kind", "rate_limit_per_minute", "enabled"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cleaned["hospital"] = _hospital(cleaned.get("hospital_code", ""))
        if cleaned["hospital"] is None:
            self.add_error("hospital_code", _("Name the hospital (its code)."))
        return cleaned


class MapForm(forms.Form):
    asset_hostname = forms.CharField(label=_("asset (hostname)"), required=False, max_length=64)
    system_code = forms.CharField(label=_("system (code)"), required=False, max_length=32)
    rule_label = forms.CharField(
        label=_("also map future alerts with the same value of label"), required=False, max_length=100
    )


class RuleForm(forms.ModelForm):
    class Meta:
        model = MappingRule
        fields = ["order", "label", "pattern", "asset_template", "system_template", "enabled", "description"]


class WindowForm(TargetMixin, forms.ModelForm):
    class Meta:
        model = MaintenanceWindow
        fields = ["name", "starts_at", "ends_at", "repeat_weekly", "whole_hospital"]
        widgets = {
            "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.clean_targets(cleaned, self.instance)
        if not (cleaned.get("whole_hospital") or cleaned.get("asset") or cleaned.get("system")):
            self.add_error("asset_hostname", _("Say what the work covers: an asset, a system or everything."))
        return cleaned


def form_errors(form: forms.BaseForm) -> dict[str, list[str]]:
    return {field: [str(e) for e in errors] for field, errors in form.errors.items()}
