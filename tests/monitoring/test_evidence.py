"""Alerts as incident evidence: the topology decides how many incidents and which class;
recovery is on the timeline but only people resolve incidents."""

from __future__ import annotations

import datetime

import time_machine

from hisguard.incidents.classification import DownSystem, Evidence, Thresholds, classify
from hisguard.incidents.models import Incident, TimelineEntry
from hisguard.incidents.timeline import headline
from hisguard.monitoring import alerts
from hisguard.monitoring.alerts import Notice, ingest
from hisguard.monitoring.mapping import Mapper
from hisguard.monitoring.models import Alert, EarlyWarning, MaintenanceWindow, MappingRule
from hisguard.organisation.models import Person
from hisguard.paging.models import Notification, Urgency

T0 = datetime.datetime(2026, 11, 25, 2, 0, tzinfo=datetime.UTC)
Kind = TimelineEntry.Kind


def down(fingerprint: str, **labels) -> Notice:
    return Notice(
        fingerprint=fingerprint, status="firing", name=labels.pop("alertname", "Down"), labels=labels
    )


def up(fingerprint: str) -> Notice:
    return Notice(fingerprint=fingerprint, status="resolved", name="Down")


# --- classification with down systems (pure) ---------------------------------------------------


def test_a_critical_system_down_is_class_i_and_another_class_ii():
    now = T0
    critical = classify(Evidence(down_systems=[DownSystem(1, "critical", "HIS")]), Thresholds(), now)
    assert critical.level == 1 and critical.reasons[0].code == "critical_system_down"
    important = classify(Evidence(down_systems=[DownSystem(2, "important", "LIS")]), Thresholds(), now)
    assert important.level == 2 and important.reasons[0].code == "system_down"
    general = classify(Evidence(down_systems=[DownSystem(3, "general", "OA")]), Thresholds(), now)
    assert general.level == 2
    assert classify(Evidence(), Thresholds(), now).level == 3


# --- topology -------------------------------------------------------------------------------------


def test_core_switch_down_is_one_class_i_incident_with_everything_that_depends_on_it(tiny):
    result = ingest(tiny.hospital, "alertmanager", [down("am:core", instance="10.10.0.1:9116")], now=T0)
    incident = Incident.objects.get()
    assert result.incidents == {incident.pk}
    assert incident.hospital_class == 1
    assert incident.class_reasons[0]["code"] == "core_asset_down"
    assert set(incident.systems.values_list("code", flat=True)) == {"HIS"}
    assert incident.areas.count() == 6  # every floor (each building's switches sit on its floor)
    assert incident.departments.count() == 6
    alert = Alert.objects.get()
    assert alert.asset == tiny.assets["CORE-1"] and alert.mapping == "label" and alert.incident == incident
    kinds = list(incident.timeline.values_list("kind", flat=True))
    assert Kind.ASSET_DOWN in kinds and Kind.ALERT in kinds
    entry = incident.timeline.get(kind=Kind.ALERT)
    assert "CORE-1" in headline(entry)


def test_access_switch_down_is_class_ii_for_the_workstations_behind_it(tiny):
    ingest(tiny.hospital, "zabbix", [down("zbx:1", host="SW-B2")], now=T0)
    incident = Incident.objects.get()
    assert incident.hospital_class == 2
    assert list(incident.departments.values_list("code", flat=True)) == ["DB2"]
    assert incident.class_reasons[0]["code"] == "area_asset_down"


def test_a_cascade_in_any_order_is_one_incident(tiny):
    ingest(tiny.hospital, "am", [down("a", host="PC-A1-1"), down("b", host="SW-A1")], now=T0)
    ingest(tiny.hospital, "am", [down("c", host="DIST-A"), down("d", host="SW-A2")], now=T0)
    assert Incident.objects.count() == 1
    assert Incident.objects.get().hospital_class == 2
    ingest(
        tiny.hospital,
        "am",
        [down("e", host="CORE-1"), down("f", host="SW-C1"), down("g", host="DB-1")],
        now=T0,
    )
    incident = Incident.objects.get()
    assert incident.hospital_class == 1
    assert Alert.objects.filter(incident=incident).count() == 7


def test_core_first_then_everything_behind_it_still_one_incident(tiny):
    hosts = ["CORE-1", "DIST-B", "SW-B1", "PC-B1-2", "DB-1", "UPS-1"]
    ingest(tiny.hospital, "am", [down(f"x{i}", host=h) for i, h in enumerate(hosts)], now=T0)
    assert Incident.objects.count() == 1  # UPS-1 is what DB-1 needs; DB-1 sits behind the core


def test_symptoms_that_arrived_first_are_merged_into_the_root_cause(tiny):
    from hisguard.reporting.actions import ReportInput, submit_report

    ingest(tiny.hospital, "am", [down("pc", host="PC-A1-1")], now=T0)
    ingest(tiny.hospital, "am", [down("sw", host="SW-B1")], now=T0)
    reported = submit_report(
        ReportInput(symptom="no_network", channel="workstation", workstation=tiny.ws("PC-C1-1"))
    )
    ingest(tiny.hospital, "am", [down("pc3", host="PC-C1-1")], now=T0)
    assert Incident.objects.filter(status="reported").count() == 3
    ingest(tiny.hospital, "am", [down("core", host="CORE-1")], now=T0)
    core = Alert.objects.get(fingerprint="core").incident  # it joined one of them and took in the rest
    assert core.hospital_class == 1 and core.status == "reported"
    merged = Incident.objects.filter(status="resolved")
    assert merged.count() == 1
    assert set(Alert.objects.filter(incident=core).values_list("fingerprint", flat=True)) == {
        "core",
        "pc",
        "sw",
    }
    assert core.timeline.filter(kind=Kind.NOTE, data__merged__isnull=False).count() == 1
    assert core.asset_links.filter(is_down=True).count() == 3
    # The incident a person's report is part of is theirs to join or keep: left alone.
    assert reported.incident.status == "reported" and reported.incident != core


def test_a_system_alert_joins_by_system_and_classifies_by_criticality(tiny):
    ingest(tiny.hospital, "am", [down("his", service="HIS")], now=T0)
    his = Incident.objects.get()
    assert his.hospital_class == 1 and his.class_reasons[0]["code"] == "critical_system_down"
    assert his.departments.count() == 6
    assert his.gbt_grade <= 2
    ingest(tiny.hospital, "am", [down("lis", system="LIS")], now=T0)
    lis = Incident.objects.exclude(pk=his.pk).get()
    assert lis.hospital_class == 2
    assert set(lis.departments.values_list("code", flat=True)) == {"DA1", "DB1"}
    # DB-1 (what HIS runs on) going down joins the HIS incident: same system.
    ingest(tiny.hospital, "am", [down("db", host="DB-1")], now=T0)
    assert Incident.objects.count() == 2


def test_duplicates_count_but_do_not_repeat(tiny):
    for _ in range(3):
        ingest(tiny.hospital, "am", [down("dup", host="SW-A1")], now=T0)
    alert = Alert.objects.get()
    assert alert.received_count == 3
    assert Incident.objects.get().timeline.filter(kind=Kind.ALERT).count() == 1


# --- recovery ---------------------------------------------------------------------------------------


def test_resolve_marks_up_and_says_so_but_leaves_the_incident_to_people(tiny):
    ingest(
        tiny.hospital,
        "am",
        [down("one", host="SW-A1", alertname="Ping"), down("two", host="SW-A1", alertname="SNMP")],
        now=T0,
    )
    incident = Incident.objects.get()
    ingest(tiny.hospital, "am", [up("one")], now=T0 + datetime.timedelta(minutes=5))
    assert incident.asset_links.get(asset=tiny.assets["SW-A1"]).is_down  # still held down by "two"
    assert not incident.timeline.filter(kind=Kind.ALERT_RESOLVED).exists()
    ingest(tiny.hospital, "am", [up("two")], now=T0 + datetime.timedelta(minutes=6))
    incident.refresh_from_db()
    assert not incident.asset_links.get(asset=tiny.assets["SW-A1"]).is_down
    entry = incident.timeline.get(kind=Kind.ALERT_RESOLVED)
    assert entry.data["all_clear"] is True
    assert "declare recovery" in headline(entry) or "恢复" in headline(entry)
    assert incident.timeline.filter(kind=Kind.ASSET_UP).exists()
    assert incident.is_open and incident.status == "reported"


def test_a_resolve_for_an_unknown_alert_is_recorded_once(tiny):
    ingest(tiny.hospital, "am", [up("never-seen")], now=T0)
    ingest(tiny.hospital, "am", [up("never-seen")], now=T0)
    assert Alert.objects.filter(status="resolved").count() == 1
    assert not Incident.objects.exists()


# --- mapping ----------------------------------------------------------------------------------------


def test_mapping_rules_come_first_then_labels(tiny):
    MappingRule.objects.create(
        hospital=tiny.hospital, order=1, label="job", pattern=r"his-(?P<tier>\w+)", system_template="HIS"
    )
    MappingRule.objects.create(
        hospital=tiny.hospital,
        order=2,
        label="switch",
        pattern=r"(?P<bld>[A-C])-(?P<n>\d)",
        asset_template="SW-{bld}{n}",
    )
    mapper = Mapper(tiny.hospital)
    assert mapper.map({"job": "his-web"}).system_id == tiny.systems["HIS"].pk
    mapped = mapper.map({"switch": "B-2", "instance": "10.10.0.1:9100"})
    assert mapped.asset_id == tiny.assets["SW-B2"].pk and mapped.how == "rule"
    assert mapper.map({"instance": "10.10.0.2:9100"}).asset_id == tiny.assets["DB-1"].pk
    assert mapper.map({"instance": "[::1]:9100"}).asset_id is None
    assert mapper.map({"job": "his-web-x!"}).system_id is None  # anchored, like Prometheus


def test_unmapped_alerts_wait_for_a_person_then_count(tiny):
    ingest(tiny.hospital, "am", [down("u1", instance="192.0.2.7:9100", job="mystery")], now=T0)
    alert = Alert.objects.get()
    assert not alert.is_mapped and alert.incident is None
    assert not Incident.objects.exists()
    alerts.map_alert(alert, asset=tiny.assets["SW-C2"], system=None, rule_label="instance", now=T0)
    alert.refresh_from_db()
    assert alert.mapping == "manual" and alert.incident.hospital_class == 2
    ingest(tiny.hospital, "am", [down("u2", instance="192.0.2.7:9100", job="other")], now=T0)
    assert Alert.objects.get(fingerprint="u2").asset == tiny.assets["SW-C2"]


# --- maintenance ------------------------------------------------------------------------------------


def test_planned_work_silences_what_it_covers_until_it_ends(tiny):
    window = MaintenanceWindow.objects.create(
        hospital=tiny.hospital, name="core upgrade", starts_at=T0 - datetime.timedelta(minutes=5),
        ends_at=T0 + datetime.timedelta(hours=1),
    )  # fmt: skip
    window.assets.add(tiny.assets["CORE-1"])
    result = ingest(tiny.hospital, "am", [down("c", host="CORE-1"), down("s", host="SW-A1")], now=T0)
    assert result.silenced == 2
    assert not Incident.objects.exists()
    ingest(tiny.hospital, "am", [down("lis", system="LIS")], now=T0)  # not covered
    assert Incident.objects.count() == 1
    assert alerts.release_silenced(T0 + datetime.timedelta(minutes=30)) == 0
    assert alerts.release_silenced(T0 + datetime.timedelta(hours=2)) == 2
    assert Incident.objects.filter(hospital_class=1).count() == 1


def test_weekly_windows_recur():
    window = MaintenanceWindow(
        starts_at=datetime.datetime(2026, 11, 1, 18, 0, tzinfo=datetime.UTC),  # a Sunday, 02:00 in Beijing
        ends_at=datetime.datetime(2026, 11, 1, 20, 0, tzinfo=datetime.UTC),
        repeat_weekly=True,
    )
    assert window.is_active(datetime.datetime(2026, 11, 22, 19, 0, tzinfo=datetime.UTC))
    assert not window.is_active(datetime.datetime(2026, 11, 22, 21, 0, tzinfo=datetime.UTC))
    assert not window.is_active(datetime.datetime(2026, 10, 25, 19, 0, tzinfo=datetime.UTC))


# --- early warnings -----------------------------------------------------------------------------------


def test_early_warnings_are_routed_at_low_urgency_once(tiny):
    person = Person.objects.create(
        hospital=tiny.hospital, employee_no="N1", name="值班网管", position=Person.Position.NETWORK_ADMIN
    )
    with time_machine.travel(T0, tick=False):
        first = alerts.open_warning(tiny.hospital.pk, EarlyWarning.Kind.CERT_EXPIRING, "cert:9", "HIS portal",
                                    detail={"expires": "2026-12-05", "days": 10})  # fmt: skip
        again = alerts.open_warning(tiny.hospital.pk, EarlyWarning.Kind.CERT_EXPIRING, "cert:9", "HIS portal",
                                    detail={"expires": "2026-12-05", "days": 9})  # fmt: skip
    assert first.pk == again.pk
    notification = Notification.objects.get(person=person)
    assert notification.kind == Notification.Kind.WARNING and notification.urgency == Urgency.LOW
    assert "HIS portal" in notification.body
    assert alerts.clear_warning("cert:9") == 1
