from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from hisguard.incidents import gbt
from hisguard.incidents.models import HospitalClass, Status
from hisguard.organisation.lookup import find_asset
from hisguard.organisation.models import Asset


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("New status"), choices=Status.choices)
    message = forms.CharField(
        label=_("Message"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )


class ClassForm(forms.Form):
    hospital_class = forms.TypedChoiceField(label=_("Class"), choices=HospitalClass.choices, coerce=int)
    reason = forms.CharField(label=_("Reason"), max_length=1000)


class AssessmentForm(forms.Form):
    category = forms.ChoiceField(label=_("GB/T 20986 category"), choices=gbt.Category.choices)
    loss = forms.ChoiceField(label=_("System loss"), choices=gbt.Loss.choices)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=1000)


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Text"), max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))
    public = forms.BooleanField(label=_("Send to reporters as feedback"), required=False)


class MaintenanceForm(forms.Form):
    asset = forms.ModelChoiceField(label=_("Asset"), queryset=Asset.objects.none())
    fault = forms.CharField(label=_("Fault found"), max_length=500)
    action = forms.CharField(
        label=_("What was done"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    result = forms.CharField(label=_("Result"), required=False, max_length=500)

    def __init__(self, *args, assets=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["asset"].queryset = assets if assets is not None else Asset.objects.all()  # type: ignore[attr-defined]


class AssetDownForm(forms.Form):
    asset = forms.CharField(label=_("Asset hostname"), max_length=64)
    note = forms.CharField(label=_("Note"), required=False, max_length=1000)

    def clean_asset(self) -> Asset:
        value = self.cleaned_data["asset"].strip()
        asset = find_asset(value, Asset.objects.exclude(kind__in=["workstation", "terminal"]), allow_id=False)
        if asset is None:
            raise forms.ValidationError(_("No infrastructure asset is called %(asset)s.") % {"asset": value})
        return asset
