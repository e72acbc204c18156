from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from hisguard.organisation.lookup import find_asset
from hisguard.organisation.models import Asset, Department, InformationSystem
from hisguard.reporting.models import Symptom


class ReportForm(forms.Form):
    symptom = forms.ChoiceField(label=_("What is wrong?"), choices=Symptom.choices, widget=forms.RadioSelect)
    system = forms.ModelChoiceField(
        label=_("Which system?"),
        queryset=InformationSystem.objects.none(),
        required=False,
        empty_label=_("Not sure / several"),
    )
    text = forms.CharField(
        label=_("Details (optional)"),
        required=False,
        max_length=settings.HISGUARD_REPORT_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    contact_phone = forms.CharField(label=_("Phone to call you back"), required=False, max_length=20)
    reporter_name = forms.CharField(label=_("Your name (optional)"), required=False, max_length=50)

    def __init__(self, *args, systems=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if systems is not None:
            self.fields["system"].queryset = systems  # type: ignore[attr-defined]


class IntakeForm(ReportForm):
    """Phone intake by IT: the caller may not know the hostname, the department is enough."""

    workstation = forms.CharField(label=_("Workstation hostname (if known)"), required=False, max_length=64)
    department = forms.ModelChoiceField(
        label=_("Department"), queryset=Department.objects.all(), required=False
    )

    field_order = ["department", "workstation", "symptom", "system", "text", "reporter_name", "contact_phone"]

    def clean_workstation(self) -> Asset | None:
        value = self.cleaned_data.get("workstation", "").strip()
        if not value:
            return None
        asset = find_asset(value, allow_id=False)
        if asset is None:
            raise forms.ValidationError(_("Unknown workstation: %(ws)s.") % {"ws": value})
        return asset
