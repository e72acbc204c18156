"""DESIGN §4 rule by rule, on the pure classifier, and the GB/T 20986 table cell by cell."""

from __future__ import annotations

import datetime

import pytest

from hisguard.incidents import gbt
from hisguard.incidents.classification import DownAsset, Evidence, ReportFact, Thresholds, classify, describe

NOW = datetime.datetime(2026, 11, 25, 3, 0, tzinfo=datetime.UTC)
T = Thresholds()


def report(ws, *, switch=None, area=None, building=None, dept=None, system=None, minutes_ago=0):
    return ReportFact(NOW - datetime.timedelta(minutes=minutes_ago), ws, switch, area, building, dept, system)


def level(evidence: Evidence) -> int:
    return classify(evidence, T, NOW).level


def test_one_workstation_is_class_iii():
    result = classify(Evidence([report(1, switch=10, area=100, building=1000, dept=5, system=7)]), T, NOW)
    assert result.level == 3
    assert result.reasons[0].code == "single_point"


def test_same_workstation_twice_is_still_class_iii():
    assert level(Evidence([report(1, switch=10), report(1, switch=10, minutes_ago=2)])) == 3


def test_two_workstations_behind_one_switch_within_the_window_is_class_ii():
    assert level(Evidence([report(1, switch=10), report(2, switch=10, minutes_ago=9)])) == 2


def test_two_workstations_behind_one_switch_outside_the_window_is_class_iii():
    assert level(Evidence([report(1, switch=10), report(2, switch=10, minutes_ago=11)])) == 3


def test_two_workstations_in_one_area_on_different_switches_is_class_ii():
    assert level(Evidence([report(1, switch=10, area=100), report(2, switch=11, area=100)])) == 2


def test_one_system_from_two_departments_is_class_ii():
    evidence = Evidence(
        [report(1, dept=5, system=7), report(2, dept=6, system=7)],
        system_departments={7: set(range(1, 41))},
    )
    assert level(evidence) == 2


def test_one_system_from_thirty_percent_of_its_departments_is_class_i():
    users = set(range(1, 11))
    evidence = Evidence([report(i, dept=i, system=7) for i in (1, 2, 3)], system_departments={7: users})
    result = classify(evidence, T, NOW)
    assert result.level == 1
    assert result.reasons[0].code == "system_share"
    assert result.reasons[0].params["count"] == 3 and result.reasons[0].params["total"] == 10


def test_three_buildings_within_the_window_is_class_i():
    evidence = Evidence(
        [report(1, building=1), report(2, building=2, minutes_ago=4), report(3, building=3, minutes_ago=8)]
    )
    assert level(evidence) == 1


def test_three_buildings_spread_wider_than_the_window_is_not_class_i():
    evidence = Evidence([report(1, building=1), report(2, building=2), report(3, building=3, minutes_ago=15)])
    assert level(evidence) == 3


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("core_switch", 1),
        ("backbone_link", 1),
        ("server", 1),
        ("database", 1),
        ("storage", 1),
        ("power", 1),
        ("cooling", 1),
        ("access_switch", 2),
        ("distribution_switch", 2),
        ("area_link", 2),
    ],
)
def test_a_down_asset_sets_the_class_by_its_kind(kind, expected):
    assert level(Evidence(down_assets=[DownAsset(1, kind, "X")])) == expected


def test_thresholds_are_configurable():
    strict = Thresholds(window=datetime.timedelta(minutes=30), class2_same_switch=3, class1_buildings=2)
    two_on_a_switch = Evidence([report(1, switch=10), report(2, switch=10, minutes_ago=20)])
    assert classify(two_on_a_switch, strict, NOW).level == 3
    assert classify(Evidence([report(1, building=1), report(2, building=2)]), strict, NOW).level == 1


def test_reasons_read_as_sentences():
    result = classify(Evidence([report(1, switch=10), report(2, switch=10)]), T, NOW)
    assert "2" in describe(result.reasons[0].as_json())


# GB/Z 20986-2007 §6.2: importance × loss → grade, all twelve cells.
GRADES = [
    ("critical", "extreme", 1),
    ("critical", "serious", 2),
    ("critical", "considerable", 3),
    ("critical", "minor", 4),
    ("important", "extreme", 2),
    ("important", "serious", 3),
    ("important", "considerable", 4),
    ("important", "minor", 4),
    ("general", "extreme", 3),
    ("general", "serious", 4),
    ("general", "considerable", 4),
    ("general", "minor", 4),
]


@pytest.mark.parametrize(("importance", "loss", "grade"), GRADES)
def test_gbt_20986_grade_table(importance, loss, grade):
    assert gbt.grade(importance, loss) == grade


def test_the_grade_table_has_exactly_twelve_cells():
    assert sum(len(row) for row in gbt.GRADE_TABLE.values()) == 12 == len(GRADES)
