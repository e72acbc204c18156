"""Playbooks: loaded from data files, attached by category, worked step by step on the timeline."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command

from hisguard.core import audit
from hisguard.core.errors import DomainError
from hisguard.core.models import AuditLog
from hisguard.incidents import actions as incident_actions
from hisguard.incidents.models import TimelineEntry
from hisguard.incidents.timeline import headline
from hisguard.response import actions, defaults
from hisguard.response.defaults import DataFileError, ensure_defaults
from hisguard.response.models import (
    CrisisRole,
    DowntimeProcedure,
    FormStock,
    IncidentPlaybook,
    PaperForm,
    Playbook,
    PlaybookStep,
    StepRun,
)

from .conftest import T0, class_i, class_ii, class_iii, confirm, user

SCENARIOS = {
    "network_attack",
    "malware",
    "system_crash",
    "database_failure",
    "core_network",
    "area_network",
    "machine_room",
    "data_loss",
    "application_fault",
    "workstation_fault",
    "planned_downtime",
}


def test_defaults_load_every_scenario_in_two_languages(tiny):
    summary = ensure_defaults(tiny.hospital)
    playbooks = {p.code: p for p in Playbook.objects.filter(hospital=tiny.hospital)}
    assert set(playbooks) == SCENARIOS
    assert summary.playbooks == len(SCENARIOS)
    for playbook in playbooks.values():
        assert playbook.name and playbook.name_en
        steps = list(playbook.steps.all())
        assert steps
        for step in steps:
            assert step.owner_role in CrisisRole.values
            assert step.title and step.title_en
    attack = [s.title for s in playbooks["network_attack"].steps.all()]
    assert any("封禁异常IP" in t for t in attack) and any("运营商" in t for t in attack)
    assert any("上级" in t for t in attack) and any("漏洞" in t for t in attack)
    assert any("隔离" in s.title for s in playbooks["malware"].steps.all())
    crash = playbooks["system_crash"].steps.all()
    assert any(s.contact_kind == "vendor" for s in crash) and any("备份" in s.title for s in crash)

    # Per department and system, from the data file: the clinics use HIS → registration on paper.
    registration = DowntimeProcedure.objects.get(department=tiny.departments["DA1"], code="registration")
    assert registration.system == tiny.systems["HIS"]
    assert (registration.switch_after_minutes, registration.switch_latest_minutes) == (15, 30)
    assert {f.code for f in registration.forms.all()} == {"REG-SLIP", "FEE-RECEIPT"}
    assert PaperForm.objects.filter(hospital=tiny.hospital).count() >= 10
    assert FormStock.objects.filter(department=tiny.departments["DA1"]).exists()


def test_defaults_are_idempotent_and_keep_the_hospitals_edits(tiny):
    ensure_defaults(tiny.hospital)
    playbook = Playbook.objects.get(hospital=tiny.hospital, code="malware")
    playbook.name = "本院病毒预案"
    playbook.save()
    counts = (Playbook.objects.count(), PlaybookStep.objects.count(), DowntimeProcedure.objects.count())
    again = ensure_defaults(tiny.hospital)
    assert (again.playbooks, again.procedures) == (0, 0)
    assert (
        Playbook.objects.count(),
        PlaybookStep.objects.count(),
        DowntimeProcedure.objects.count(),
    ) == counts
    assert Playbook.objects.get(pk=playbook.pk).name == "本院病毒预案"


def test_the_command_loads_defaults_for_a_hospital(tiny, capsys):
    call_command("response_defaults", hospital="T")
    assert "11 playbooks" in capsys.readouterr().out
    with pytest.raises(Exception, match="No hospital"):
        call_command("response_defaults", hospital="NOPE")


def test_a_malformed_data_file_is_refused_with_the_entry_named(tiny, tmp_path: Path, settings):
    source = defaults.DATA_DIR
    for name in ("procedures.yaml", "recovery.yaml"):
        (tmp_path / name).write_text((source / name).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "playbooks.yaml").write_text(
        "playbooks:\n  - code: broken\n    name: {zh: 坏, en: Broken}\n    steps:\n"
        "      - title: {zh: 无负责人, en: No owner}\n        target_minutes: 5\n",
        encoding="utf-8",
    )
    settings.HISGUARD_RESPONSE_DATA_DIR = str(tmp_path)
    defaults.clear_cache()
    try:
        with pytest.raises(DataFileError, match=r"broken.*step 1.*owner"):
            ensure_defaults(tiny.hospital)
        assert not Playbook.objects.exists()
    finally:
        settings.HISGUARD_RESPONSE_DATA_DIR = ""
        defaults.clear_cache()


@pytest.mark.parametrize(
    ("make", "expected"),
    [(class_iii, "workstation_fault"), (class_ii, "area_network"), (class_i, "database_failure")],
    ids=["class-iii", "class-ii", "class-i"],
)
def test_confirmation_attaches_the_playbook_of_the_category(plans, make, expected):
    incident = make(plans.tiny)
    assert not IncidentPlaybook.objects.filter(incident=incident).exists()
    confirm(incident)
    attached = IncidentPlaybook.objects.get(incident=incident)
    assert attached.playbook.code == expected and attached.automatic
    assert incident.step_runs.count() == attached.playbook.steps.count()
    entry = incident.timeline.filter(kind=TimelineEntry.Kind.TASK).last()
    assert entry.data["event"] == "playbook_auto"
    assert attached.name in headline(entry)


def test_category_decides_between_scenarios(plans):
    incident = class_iii(plans.tiny)
    incident = incident_actions.set_assessment(incident, category="NAI", loss="minor")
    assert actions.suggest_playbook(incident).code == "network_attack"
    incident = incident_actions.set_assessment(incident, category="MI", loss="minor")
    # A virus on one PC is the single-point fault the network administrator handles alone...
    assert actions.suggest_playbook(incident).code == "workstation_fault"
    # ...spreading to an area, it is the malware scenario.
    incident = incident_actions.set_class(incident, 2, reason="同片区多台感染")
    assert actions.suggest_playbook(incident).code == "malware"
    incident = incident_actions.set_assessment(incident, category="IDI", loss="minor")
    assert actions.suggest_playbook(incident).code == "data_loss"


def test_a_step_is_done_with_its_evidence_and_who_did_it(plans):
    admin = user("network_admin")
    incident = confirm(class_i(plans.tiny))
    run = incident.step_runs.first()
    with audit.acting_as(admin):
        with pytest.raises(DomainError, match="evidence"):
            actions.complete_step(run, evidence="  ")
        with pytest.raises(DomainError, match="why"):
            actions.complete_step(run, skip=True)
        actions.complete_step(run, evidence="ORA-00600 in alert.log")
        with pytest.raises(DomainError):
            actions.complete_step(run, evidence="again")
    run.refresh_from_db()
    assert (run.state, run.done_by, run.evidence) == (StepRun.State.DONE, admin, "ORA-00600 in alert.log")
    entry = incident.timeline.filter(kind=TimelineEntry.Kind.TASK).last()
    assert (
        entry.actor == admin and entry.data["event"] == "step_done" and entry.text == "ORA-00600 in alert.log"
    )
    assert AuditLog.objects.filter(action="response.step.done", actor=admin).exists()


def test_overdue_steps_go_on_the_timeline_once_and_late_completion_says_how_late(plans):
    with time_machine.travel(T0, tick=False) as clock:
        incident = confirm(class_i(plans.tiny))
        first = incident.step_runs.order_by("due_at").first()
        assert actions.note_overdue_steps() == 0
        clock.shift(datetime.timedelta(minutes=first.step.target_minutes + 5))
        first.refresh_from_db()
        assert first.is_overdue()
        assert actions.note_overdue_steps() >= 1
        assert actions.note_overdue_steps() == 0  # once
        overdue = incident.timeline.filter(kind=TimelineEntry.Kind.TASK, data__event="step_overdue")
        assert overdue.filter(data__step=first.title).count() == 1
        actions.complete_step(first, evidence="ok")
    first.refresh_from_db()
    assert first.late_minutes() == 5
    done = incident.timeline.filter(data__event="step_done_late").get()
    assert "5" in headline(done)


def test_changing_the_playbook_keeps_the_steps_done(plans):
    incident = confirm(class_i(plans.tiny))
    first = incident.step_runs.first()
    actions.complete_step(first, evidence="done")
    other = Playbook.objects.get(hospital=plans.tiny.hospital, code="system_crash")
    actions.attach_playbook(incident, other)
    runs = list(incident.step_runs.all())
    assert runs[0].pk == first.pk and runs[0].state == "done"
    assert len(runs) == 1 + other.steps.count()
    with pytest.raises(DomainError, match="already follows"):
        actions.attach_playbook(incident, other)


def test_an_untouched_automatic_playbook_follows_a_raised_class(plans):
    incident = confirm(class_iii(plans.tiny))
    assert incident.response_playbook.playbook.code == "workstation_fault"
    incident_actions.set_class(incident, 1, reason="全院HIS不可用")
    incident.refresh_from_db()
    assert IncidentPlaybook.objects.get(incident=incident).playbook.code == "application_fault"


def test_a_playbook_with_a_step_without_owner_saves_nothing(plans):
    data = actions.PlaybookInput(
        code="custom",
        name="自定义",
        steps=[
            actions.StepInput(title="第一步", owner_role="technical_lead", target_minutes=10),
            actions.StepInput(title="第二步", owner_role="", target_minutes=20),
        ],
    )
    with pytest.raises(DomainError) as error:
        actions.save_playbook(plans.tiny.hospital, data)
    assert "2" in str(error.value) and "owner role" in str(error.value)
    assert not Playbook.objects.filter(code="custom").exists()
    data.steps[1].owner_role = "scribe"
    playbook = actions.save_playbook(plans.tiny.hospital, data)
    assert [s.owner_role for s in playbook.steps.all()] == ["technical_lead", "scribe"]
