"""Forms of the incident-command pages. They check the shape of the input; the rules of the
plan are checked by the actions, so the API gets the same answers."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from hisguard.organisation.models import Department, InformationSystem, Person
from hisguard.response.models import (
    SPECIAL_CONDITIONS,
    Assessment,
    Contact,
    ContactKind,
    ContactLog,
    CrisisRole,
    DowntimeRecord,
    Playbook,
    ResourceNeed,
    TempNumberRange,
)

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


def when_field(label, *, required: bool = True) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=required,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


def text_area(rows: int = 2) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


class HospitalForm(forms.Form):
    """A form whose choices are limited to one hospital's records."""

    def __init__(self, *args, hospital=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.hospital = hospital
        for field in self.fields.values():
            if isinstance(field, forms.ModelChoiceField) and hospital is not None:
                model = field.queryset.model  # type: ignore[union-attr]
                queryset = model.objects.filter(hospital=hospital)
                if model is Person:
                    queryset = queryset.filter(is_active=True).order_by("name")
                if model in (Playbook, Contact):
                    queryset = queryset.filter(is_active=True)
                field.queryset = queryset


class AttachPlaybookForm(HospitalForm):
    playbook = forms.ModelChoiceField(label=_("Playbook"), queryset=Playbook.objects.all())


class StepDoneForm(forms.Form):
    evidence = forms.CharField(
        label=_("Evidence or reason"), required=False, max_length=4000, widget=text_area()
    )
    skip = forms.BooleanField(required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=4000, widget=text_area())


class AssignRoleForm(HospitalForm):
    role = forms.ChoiceField(label=_("Role"), choices=CrisisRole.choices)
    person = forms.ModelChoiceField(label=_("Person"), queryset=Person.objects.all())
    department = forms.ModelChoiceField(
        label=_("For department (liaison)"), queryset=Department.objects.all(), required=False
    )


class DeclareForm(forms.Form):
    signed_by = forms.CharField(label=_("Signed off by (leader's name)"), max_length=50)
    basis = forms.CharField(label=_("Basis"), max_length=4000, widget=text_area())


class EndEmergencyForm(forms.Form):
    signed_by = forms.CharField(label=_("Signed off by (leader's name)"), max_length=50)
    summary = forms.CharField(label=_("Situation at the end"), max_length=4000, widget=text_area())


class AssessmentForm(forms.ModelForm):
    class Meta:
        model = Assessment
        fields = [*SPECIAL_CONDITIONS, "patients_affected", "notes"]
        widgets = {"notes": text_area()}


class ResourceForm(forms.ModelForm):
    class Meta:
        model = ResourceNeed
        fields = ["kind", "description", "quantity"]


class ContactLogForm(HospitalForm):
    contact = forms.ModelChoiceField(label=_("Contact"), queryset=Contact.objects.all())
    channel = forms.ChoiceField(label=_("How"), choices=ContactLog.Channel.choices)
    summary = forms.CharField(label=_("What was said or agreed"), max_length=4000, widget=text_area())
    ticket = forms.CharField(label=_("Their ticket number"), max_length=50, required=False)


class PaperRecordForm(HospitalForm):
    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.all())
    system = forms.ModelChoiceField(
        label=_("System"), queryset=InformationSystem.objects.all(), required=False
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=DowntimeRecord.Kind.choices)
    count = forms.IntegerField(label=_("How many"), min_value=1, max_value=100_000, initial=1)
    occurred_at = when_field(_("Original time (on paper)"))
    performed_by = forms.CharField(label=_("Done on paper by"), max_length=50)
    temp_numbers = forms.CharField(
        label=_("Temporary numbers used"),
        max_length=200,
        required=False,
        help_text=_("For example T900001-T900035, T900040"),
    )
    description = forms.CharField(label=_("Description"), max_length=4000, required=False, widget=text_area())


class BackEntryForm(forms.Form):
    on_behalf_of = forms.CharField(label=_("Entered on behalf of"), max_length=50, required=False)


class WaiverForm(HospitalForm):
    department = forms.ModelChoiceField(
        label=_("Only for department"), queryset=Department.objects.all(), required=False
    )
    reason = forms.CharField(label=_("Reason"), max_length=4000, widget=text_area())


class RecoveryForm(forms.Form):
    backup_used = forms.CharField(label=_("Backup used"), max_length=200, required=False)
    restore_point = when_field(_("Data restored up to"), required=False)
    restored_at = when_field(_("Service restored at"), required=False)
    notes = forms.CharField(label=_("Notes"), max_length=4000, required=False, widget=text_area())


class CheckForm(forms.Form):
    result = forms.CharField(label=_("Result"), max_length=300, required=False)
    undo = forms.BooleanField(required=False)


class AnnounceForm(forms.Form):
    text = forms.CharField(label=_("Notice"), max_length=1000, required=False, widget=text_area())


class EtaForm(forms.Form):
    eta = when_field(_("Expected recovery"), required=False)
    note = forms.CharField(label=_("Note"), max_length=1000, required=False)


class ReviewForm(forms.Form):
    began_at = when_field(_("Fault began (if before the first report)"), required=False)
    summary = forms.CharField(label=_("Summary"), max_length=20000, required=False, widget=text_area(3))
    root_cause = forms.CharField(label=_("Root cause"), max_length=20000, required=False, widget=text_area(3))
    contributing_factors = forms.CharField(
        label=_("Contributing factors"), max_length=20000, required=False, widget=text_area(3)
    )
    lessons = forms.CharField(
        label=_("Lessons learned"), max_length=20000, required=False, widget=text_area(3)
    )


class FollowUpForm(HospitalForm):
    description = forms.CharField(label=_("Action"), max_length=500)
    owner = forms.ModelChoiceField(label=_("Owner"), queryset=Person.objects.all())
    due_date = forms.DateField(label=_("Due"), widget=forms.DateInput(attrs={"type": "date"}))


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=500)
    cancel = forms.BooleanField(required=False)


class StepForm(forms.Form):
    title = forms.CharField(label=_("Step"), max_length=200)
    title_en = forms.CharField(label=_("Step (English)"), max_length=200, required=False)
    owner_role = forms.ChoiceField(
        label=_("Owner role"), choices=[("", "—"), *CrisisRole.choices], required=False
    )
    target_minutes = forms.IntegerField(label=_("Target (minutes)"), required=False)
    evidence = forms.CharField(label=_("Evidence expected"), max_length=300, required=False)
    evidence_en = forms.CharField(label=_("Evidence expected (English)"), max_length=300, required=False)
    instructions = forms.CharField(label=_("Instructions"), required=False, widget=text_area())
    instructions_en = forms.CharField(label=_("Instructions (English)"), required=False, widget=text_area())
    contact_kind = forms.ChoiceField(
        label=_("Contact to call"), choices=[("", "—"), *ContactKind.choices], required=False
    )


class ProcedureForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=100)
    title_en = forms.CharField(label=_("Title (English)"), max_length=100, required=False)
    switch_after_minutes = forms.IntegerField(label=_("Switch to paper after (minutes)"), min_value=0)
    switch_latest_minutes = forms.IntegerField(
        label=_("Switch at the latest after (minutes)"), min_value=0, required=False
    )
    steps = forms.CharField(label=_("What to do on paper (one step a line)"), widget=text_area(6))
    steps_en = forms.CharField(label=_("What to do on paper (English)"), required=False, widget=text_area(6))
    is_active = forms.BooleanField(label=_("In use"), required=False, initial=True)


class StockForm(forms.Form):
    quantity = forms.IntegerField(label=_("In stock"), min_value=0, max_value=1_000_000)


class RangeForm(HospitalForm):
    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.all())
    kind = forms.ChoiceField(label=_("Kind"), choices=TempNumberRange.Kind.choices)
    number_prefix = forms.CharField(label=_("Prefix"), max_length=8, required=False)
    first = forms.IntegerField(label=_("First number"), min_value=0)
    last = forms.IntegerField(label=_("Last number"), min_value=0)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class ContactForm(HospitalForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=ContactKind.choices)
    organisation = forms.CharField(label=_("Organisation"), max_length=100)
    name = forms.CharField(label=_("Contact person"), max_length=50, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False)
    phone_alt = forms.CharField(label=_("Other phone (24 h)"), max_length=30, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    systems = forms.ModelMultipleChoiceField(
        label=_("Systems supported"), queryset=InformationSystem.objects.all(), required=False
    )
    contract_no = forms.CharField(label=_("Contract number"), max_length=50, required=False)
    contract_expires = forms.DateField(
        label=_("Contract expires"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    sla_response_minutes = forms.IntegerField(label=_("SLA: response (minutes)"), min_value=0, required=False)
    sla_onsite_hours = forms.IntegerField(
        label=_("SLA: engineer on site (hours)"), min_value=0, required=False
    )
    sla_notes = forms.CharField(label=_("SLA notes"), max_length=300, required=False)
    notes = forms.CharField(label=_("Notes"), required=False, widget=text_area())

    def __init__(self, *args, hospital=None, **kwargs) -> None:
        super().__init__(*args, hospital=hospital, **kwargs)
        if hospital is not None:
            self.fields["systems"].queryset = InformationSystem.objects.filter(hospital=hospital)  # type: ignore[attr-defined]
