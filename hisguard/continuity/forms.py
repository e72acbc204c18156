from __future__ import annotations

import datetime
import json
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from hisguard.continuity import access
from hisguard.continuity.connectors import CONNECTORS, ConfigError
from hisguard.continuity.models import Connector, DowntimeNode
from hisguard.continuity.paper import FORMS
from hisguard.core.errors import interpolate
from hisguard.organisation.models import Department, Hospital


class ConnectorForm(forms.ModelForm):
    settings_json = forms.CharField(
        label=_("Settings (JSON)"),
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "mono"}),
        help_text=_("What to read and how to map it; the examples below show every setting of each kind."),
    )
    secret = forms.CharField(
        label=_("Password or token"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Kept encrypted. Leave empty to keep the one stored."),
    )
    clear_secret = forms.BooleanField(label=_("Remove the stored password or token"), required=False)

    class Meta:
        model = Connector
        fields = [
            "hospital",
            "name",
            "kind",
            "is_active",
            "interval_minutes",
            "keep",
            "warn_after_minutes",
            "alert_after_minutes",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["hospital"]).queryset = Hospital.objects.order_by("code")
        if self.instance.pk:
            self.fields["settings_json"].initial = json.dumps(
                self.instance.config, ensure_ascii=False, indent=2
            )
        else:
            kind = self.initial.get("kind") or Connector.Kind.FHIR_REST
            defaults = CONNECTORS[kind].defaults
            self.fields["settings_json"].initial = json.dumps(defaults, ensure_ascii=False, indent=2)
            if Hospital.objects.count() == 1:
                self.fields["hospital"].initial = Hospital.objects.get().pk

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        text = cleaned.get("settings_json") or "{}"
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            self.add_error("settings_json", interpolate(_("Not valid JSON: %(error)s"), {"error": str(exc)}))
            return cleaned
        if not isinstance(config, dict):
            self.add_error("settings_json", _("The settings must be a JSON object."))
            return cleaned
        kind = cleaned.get("kind")
        if kind in CONNECTORS:
            try:
                CONNECTORS[kind](config, cleaned.get("secret") or "").check()
            except ConfigError as exc:
                self.add_error(
                    "settings_json",
                    interpolate(
                        _("Setting %(field)s: %(message)s"), {"field": exc.field, "message": exc.message}
                    ),
                )
        warn, alert = cleaned.get("warn_after_minutes"), cleaned.get("alert_after_minutes")
        if warn and alert and alert < warn:
            self.add_error(
                "alert_after_minutes", _("The alert comes after the early warning: make it longer.")
            )
        cleaned["config"] = config
        return cleaned

    def save(self, commit: bool = True) -> Connector:
        connector = super().save(commit=False)
        connector.config = self.cleaned_data["config"]
        connector.save()
        if self.cleaned_data.get("clear_secret"):
            connector.set_secret("")
            connector.save(update_fields=["sealed_secret"])
        elif self.cleaned_data.get("secret"):
            connector.set_secret(self.cleaned_data["secret"])
            connector.save(update_fields=["sealed_secret"])
        return connector


class NodeForm(forms.ModelForm):
    class Meta:
        model = DowntimeNode
        fields = ["ward", "name", "warn_after_minutes"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        ward = cast(forms.ModelChoiceField, self.fields["ward"])
        ward.queryset = Department.objects.filter(kind=Department.Kind.WARD).order_by("code")


class ReasonForm(forms.Form):
    reason = forms.ChoiceField(label=_("Why are you opening the packet?"), choices=access.REASONS)
    detail = forms.CharField(label=_("Details"), required=False, max_length=250)


class BreakGlassForm(forms.Form):
    ward = forms.ModelChoiceField(
        label=_("Ward"),
        queryset=Department.objects.filter(kind=Department.Kind.WARD).order_by("code"),
        required=False,
        empty_label=_("Every ward"),
    )
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=10,
        help_text=_("The emergency office is told at once, with your name and this reason."),
    )
    hours = forms.IntegerField(label=_("For (hours)"), min_value=1, max_value=24, initial=4)


class PaperForm(forms.Form):
    department = forms.ModelChoiceField(
        label=_("Department"), queryset=Department.objects.select_related("hospital").order_by("code")
    )
    date = forms.DateField(
        label=_("Date"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Empty: a line to write the date on."),
    )  # fmt: skip
    kinds = forms.MultipleChoiceField(
        label=_("Forms"),
        choices=[(f.code, f.title) for f in FORMS],
        widget=forms.CheckboxSelectMultiple,
        initial=[f.code for f in FORMS],
    )

    def clean_date(self) -> datetime.date | None:
        return self.cleaned_data.get("date")
