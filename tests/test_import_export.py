"""Spreadsheet import/export of the hospital model: round trips, and all-or-nothing imports."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from hisguard.organisation.demo import digest, load_demo
from hisguard.organisation.imports import export_rows, import_rows
from hisguard.organisation.models import Area, Asset, Department, Hospital, InformationSystem, Person

PROJECT = Path(__file__).resolve().parent.parent
HEADERS = [
    "hospital",
    "hostname",
    "name",
    "kind",
    "area",
    "department",
    "upstream",
    "depends_on",
    "ip_address",
]


def write(path: Path, headers: list[str], rows: list[list]) -> Path:
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(headers)
            writer.writerows(rows)
    else:
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(headers)
        for row in rows:
            sheet.append(row)
        book.save(path)
    return path


def where(outcome) -> list[tuple[int | None, str]]:
    return [(error.row, error.field) for error in outcome.errors]


def wipe(hospital: Hospital) -> None:
    """Remove everything of a hospital but the hospital itself (protected rows in a safe order)."""
    InformationSystem.objects.filter(hospital=hospital).delete()
    Person.objects.filter(hospital=hospital).delete()
    Asset.objects.filter(hospital=hospital).delete()
    Department.objects.filter(hospital=hospital).delete()
    while Area.objects.filter(hospital=hospital).exists():
        Area.objects.filter(hospital=hospital, children__isnull=True).delete()


# ---------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_then_import_into_an_empty_hospital_rebuilds_the_demo(db, tmp_path, suffix):
    hospital = load_demo().hospital
    Person.objects.update(user=None)  # logins are not part of the spreadsheets
    before = digest(hospital)
    files = {}
    for kind in ("areas", "departments", "assets", "systems", "people"):
        files[kind] = tmp_path / f"{kind}{suffix}"
        assert export_rows(kind, files[kind], hospital=hospital) > 0

    wipe(hospital)
    assert not Asset.objects.exists()
    for kind, path in files.items():
        outcome = import_rows(kind, path)
        assert outcome.errors == [], kind
        assert outcome.updated == 0 and outcome.created > 0
    assert Asset.objects.filter(hospital=hospital).count() == outcome_count(files["assets"])
    assert digest(hospital) == before


def outcome_count(path: Path) -> int:
    if path.suffix == ".csv":
        return len(path.read_text(encoding="utf-8-sig").strip().splitlines()) - 1
    return openpyxl.load_workbook(path).active.max_row - 1


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
@pytest.mark.parametrize("kind", ["areas", "departments", "assets", "systems", "people"])
def test_reimporting_an_export_updates_every_row_and_changes_nothing(tiny, tmp_path, suffix, kind):
    Person.objects.create(
        hospital=tiny.hospital, employee_no="E1", name="张三", department=tiny.departments["DA1"]
    )
    path = tmp_path / f"{kind}{suffix}"
    count = export_rows(kind, path)
    before = digest(tiny.hospital)
    outcome = import_rows(kind, path)
    assert outcome.errors == []
    assert (outcome.created, outcome.updated) == (0, count)
    assert digest(tiny.hospital) == before


def test_exported_assets_name_their_relations_by_natural_keys(tiny, tmp_path):
    path = export_and_read(tmp_path, "assets")
    row = next(row for row in path if row["hostname"] == "PC-A1-1")
    assert row["hospital"] == "T"
    assert (row["area"], row["department"], row["upstream"]) == ("A1", "DA1", "SW-A1")
    assert next(row for row in path if row["hostname"] == "DB-1")["depends_on"] == "UPS-1"
    assert "report_token" not in path[0]  # the workstation's secret stays in the database
    hostnames = [row["hostname"] for row in path]
    assert (
        hostnames.index("CORE-1")
        < hostnames.index("DIST-A")
        < hostnames.index("SW-A1")
        < hostnames.index("PC-A1-1")
    )
    systems = export_and_read(tmp_path, "systems")
    his = next(row for row in systems if row["code"] == "HIS")
    assert his["depends_on"] == "DB-1"
    assert set(his["departments"].split(",")) == set(tiny.departments)


def export_and_read(tmp_path: Path, kind: str) -> list[dict[str, str]]:
    path = tmp_path / f"{kind}.csv"
    export_rows(kind, path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_rows_may_come_before_the_rows_they_refer_to(tiny, tmp_path):
    path = write(
        tmp_path / "forward.csv",
        HEADERS,
        [
            ["T", "PC-NEW-1", "新电脑", "workstation", "A1", "DA1", "SW-NEW", "", "10.0.0.5"],
            ["T", "SW-NEW", "新交换机", "access_switch", "A1", "", "DIST-A", "UPS-1", ""],
        ],
    )
    outcome = import_rows("assets", path)
    assert outcome.errors == [] and outcome.created == 2
    assert Asset.objects.get(hostname="PC-NEW-1").upstream_chain()[:2] == [
        Asset.objects.get(hostname="SW-NEW"),
        tiny.assets["DIST-A"],
    ]


# ---------------------------------------------------------------------------------------------
# All or nothing

GOOD_ROWS = [
    ["T", "SW-A1-NEW", "新交换机", "access_switch", "A1", "", "DIST-A", "", "10.9.0.1"],
    ["T", "PC-NEW-1", "新电脑", "workstation", "A1", "DA1", "SW-A1-NEW", "", "10.9.0.2"],
    ["T", "PC-A1-1", "改了名字", "workstation", "A1", "DA1", "SW-A1", "", ""],
]
BAD_ROWS = {
    "unknown upstream": (
        ["T", "PC-NEW-2", "", "workstation", "A1", "DA1", "NO-SUCH-SWITCH", "", ""],
        "upstream",
    ),
    "bad IP": (["T", "PC-NEW-2", "", "workstation", "A1", "DA1", "SW-A1", "", "999.1.1.1"], "ip_address"),
    "duplicate hostname": (["T", "PC-NEW-1", "", "workstation", "A1", "DA1", "SW-A1", "", ""], "hostname"),
    "unknown department": (["T", "PC-NEW-2", "", "workstation", "A1", "NOPE", "SW-A1", "", ""], "department"),
    "unknown dependency": (
        ["T", "PC-NEW-2", "", "workstation", "A1", "DA1", "SW-A1", "DB-1,NOPE-9", ""],
        "depends_on",
    ),
    "invalid hostname": (["T", "PC NEW/2", "", "workstation", "A1", "DA1", "SW-A1", "", ""], "hostname"),
    "unknown kind": (["T", "PC-NEW-2", "", "toaster", "A1", "DA1", "SW-A1", "", ""], "kind"),
}


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_one_bad_row_saves_nothing_and_names_row_and_column(tiny, tmp_path, suffix, case):
    bad_row, column = BAD_ROWS[case]
    assets_before = Asset.objects.count()
    path = write(tmp_path / f"assets{suffix}", HEADERS, [*GOOD_ROWS, bad_row])
    outcome = import_rows("assets", path)
    assert where(outcome) == [(5, column)]  # the header is row 1, so the fourth data row is row 5
    assert str(outcome.errors[0].message)
    assert (outcome.created, outcome.updated) == (0, 0)
    assert Asset.objects.count() == assets_before
    assert not Asset.objects.filter(hostname__in=["SW-A1-NEW", "PC-NEW-1", "PC-NEW-2"]).exists()
    assert Asset.objects.get(hostname="PC-A1-1").name == ""  # the update of row 4 was rolled back too


def test_every_bad_row_is_reported(tiny, tmp_path):
    path = write(
        tmp_path / "assets.xlsx",
        HEADERS,
        [
            BAD_ROWS["unknown upstream"][0],
            GOOD_ROWS[0],
            ["T", "PC-NEW-3", "", "workstation", "A1", "DA1", "SW-A1", "", "999.1.1.1"],
            ["NOPE", "PC-NEW-4", "", "workstation", "A1", "DA1", "SW-A1", "", ""],
        ],
    )
    outcome = import_rows("assets", path)
    assert where(outcome) == [(2, "upstream"), (4, "ip_address"), (5, "hospital")]
    assert "NO-SUCH-SWITCH" in str(outcome.errors[0].message)
    bilingual = outcome.errors[1].bilingual()
    assert "IPv4" in bilingual["en"] and bilingual["zh-hans"] != bilingual["en"]


def test_duplicate_names_the_first_row(tiny, tmp_path):
    path = write(tmp_path / "assets.csv", HEADERS, [*GOOD_ROWS, BAD_ROWS["duplicate hostname"][0]])
    [error] = import_rows("assets", path).errors
    assert "PC-NEW-1" in str(error.message) and "3" in str(error.message)


def test_model_validators_are_reported_per_row_for_every_kind(tiny, tmp_path):
    people = write(
        tmp_path / "people.csv",
        ["hospital", "employee_no", "name", "position", "department", "phone", "email"],
        [
            ["T", "E1", "张三", "network_admin", "DA1", "13800000001", "zhang@example.org"],
            ["T", "E2", "李四", "head_nurse", "DA1", "not a phone", "no-email"],
            ["T", "E3", "王五", "nobody", "DA1", "", ""],
        ],
    )
    outcome = import_rows("people", people)
    assert where(outcome) == [(3, "email"), (3, "phone"), (4, "position")]
    assert not Person.objects.exists()

    departments = write(
        tmp_path / "departments.xlsx",
        ["hospital", "code", "name", "kind", "area", "beds"],
        [["T", "W1", "病区", "ward", "A1", "-3"], ["T", "W2", "病区2", "ward", "ZZ", "abc"]],
    )
    outcome = import_rows("departments", departments)
    assert where(outcome) == [(2, "beds"), (3, "area"), (3, "beds")]
    assert not Department.objects.filter(code__in=["W1", "W2"]).exists()

    areas = write(
        tmp_path / "areas.csv",
        ["hospital", "code", "name", "kind", "parent"],
        [
            ["T", "D", "D楼", "building", ""],
            ["T", "D1", "1F", "floor", "D"],
            ["T", "D1", "again", "floor", "D"],
        ],
    )
    assert where(import_rows("areas", areas)) == [(4, "code")]
    assert not Area.objects.filter(code="D").exists()


def test_an_asset_of_another_hospital_is_not_taken_over(tiny, tmp_path):
    Hospital.objects.create(code="U", name="另一家医院")
    path = write(tmp_path / "assets.csv", HEADERS, [["U", "PC-A1-1", "", "workstation", "", "", "", "", ""]])
    assert where(import_rows("assets", path)) == [(2, "hostname")]
    assert Asset.objects.get(hostname="PC-A1-1").hospital == tiny.hospital


def test_unreadable_files_are_one_error_without_a_row(tiny, tmp_path):
    assert where(import_rows("assets", tmp_path / "missing.csv")) == [(None, "")]
    assert where(import_rows("assets", write(tmp_path / "assets.txt", HEADERS, []))) == [(None, "")]
    (tmp_path / "broken.xlsx").write_bytes(b"not a workbook")
    assert where(import_rows("assets", tmp_path / "broken.xlsx")) == [(None, "")]
    no_key = write(tmp_path / "nokey.csv", ["hospital", "name"], [["T", "x"]])
    assert where(import_rows("assets", no_key)) == [(None, "")]


def test_gbk_csv_from_chinese_excel_is_read(tiny, tmp_path):
    path = tmp_path / "assets.csv"
    path.write_bytes(
        ("\n".join([",".join(HEADERS), "T,PC-GBK-1,门诊电脑,workstation,A1,DA1,SW-A1,,"])).encode("gbk")
    )
    outcome = import_rows("assets", path)
    assert outcome.errors == []
    assert Asset.objects.get(hostname="PC-GBK-1").name == "门诊电脑"


# ---------------------------------------------------------------------------------------------
# Commands


def test_import_command_succeeds_and_reports_counts(tiny, tmp_path):
    path = write(tmp_path / "assets.xlsx", HEADERS, GOOD_ROWS)
    out = StringIO()
    call_command("import_data", "assets", str(path), stdout=out, stderr=StringIO())
    assert "2" in out.getvalue() and "1" in out.getvalue()
    assert Asset.objects.filter(hostname__in=["SW-A1-NEW", "PC-NEW-1"]).count() == 2


def test_import_command_dry_run_saves_nothing(tiny, tmp_path):
    path = write(tmp_path / "assets.csv", HEADERS, GOOD_ROWS)
    call_command("import_data", "assets", str(path), "--dry-run", stdout=StringIO())
    assert not Asset.objects.filter(hostname="PC-NEW-1").exists()


def test_import_command_prints_each_error_in_chinese_and_english_and_fails(tiny, tmp_path):
    path = write(
        tmp_path / "assets.csv",
        HEADERS,
        [*GOOD_ROWS, BAD_ROWS["bad IP"][0], ["T", "PC-NEW-9", "", "", "", "", "", "", ""]],
    )
    err = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_data", "assets", str(path), stdout=StringIO(), stderr=err)
    assert raised.value.returncode == 1
    text = err.getvalue()
    assert "输入一个有效的 IPv4 或 IPv6 地址" in text and "Enter a valid IPv4 or IPv6 address" in text
    assert "ip_address" in text and "5" in text
    assert "kind" in text and "6" in text  # the last row has no kind
    assert not Asset.objects.filter(hostname="PC-NEW-1").exists()


def test_export_command(tiny, tmp_path):
    path = tmp_path / "out.xlsx"
    call_command("export_data", "assets", str(path), "--hospital", "T", stdout=StringIO())
    sheet = openpyxl.load_workbook(path).active
    assert sheet.max_row == Asset.objects.count() + 1
    with pytest.raises(CommandError):
        call_command("export_data", "assets", str(path), "--hospital", "NOPE", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("export_data", "assets", str(tmp_path / "out.pdf"), stdout=StringIO())


def test_command_exit_codes_in_a_real_process(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["HISGUARD_VAR_DIR"] = str(tmp_path)

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=PROJECT, env=env, capture_output=True, text=True
        )

    assert manage("migrate", "-v0").returncode == 0
    assert (
        manage(
            "shell",
            "-v0",
            "-c",
            "from hisguard.organisation.models import Hospital; "
            "Hospital.objects.create(code='T', name='测试医院')",
        ).returncode
        == 0
    )
    areas = ["hospital", "code", "name", "kind", "parent"]
    good = write(
        tmp_path / "areas.csv", areas, [["T", "A", "A楼", "building", ""], ["T", "A1", "1F", "floor", "A"]]
    )
    bad = write(
        tmp_path / "bad.xlsx", areas, [["T", "B", "B楼", "building", ""], ["T", "B1", "1F", "floor", "X"]]
    )
    result = manage("import_data", "areas", str(bad))
    assert result.returncode == 1
    assert "parent" in result.stderr
    assert manage("import_data", "areas", str(good)).returncode == 0
    assert manage("export_data", "areas", str(tmp_path / "areas.xlsx")).returncode == 0
    assert manage("import_data", "areas", str(tmp_path / "areas.xlsx")).returncode == 0
