"""The Zabbix media type shipped in hisguard/monitoring/zabbix/: its script, run under Node with
a recording HttpRequest (Zabbix's JavaScript API), produces what the intake accepts."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hisguard.incidents.models import Incident
from hisguard.monitoring.models import Alert
from hisguard.monitoring.zabbix import MEDIA_TYPE

yaml = pytest.importorskip("yaml")

HARNESS = """
const captured = {headers: []};
class HttpRequest {
  addHeader(h) { captured.headers.push(h); }
  setProxy(p) { captured.proxy = p; }
  post(url, body) { captured.url = url; captured.body = body; return '{"accepted": 1}'; }
  getStatus() { return STATUS; }
}
const Zabbix = {log: function () {}};
const value = process.argv[process.argv.length - 1];
function run() { SCRIPT }
try { captured.result = run(); } catch (e) { captured.error = String(e); }
console.log(JSON.stringify(captured));
"""

PROBLEM = {
    "{EVENT.ID}": "4381202", "{EVENT.VALUE}": "1", "{EVENT.UPDATE.STATUS}": "0",
    "{EVENT.NAME}": "Interface Gi1/0/48(uplink): Link down", "{EVENT.SEVERITY}": "High",
    "{EVENT.NSEVERITY}": "4", "{EVENT.DATE}": "2026.11.25", "{EVENT.TIME}": "10:02:11",
    "{EVENT.OPDATA}": "Current state: down",
    "{EVENT.TAGSJSON}": '[{"tag":"component","value":"network"},{"tag":"service","value":"HIS"}]',
    "{HOST.HOST}": "SW-A1", "{HOST.IP}": "10.20.1.11", "{TRIGGER.ID}": "27311",
}  # fmt: skip


def media_type() -> dict:
    return yaml.safe_load(Path(MEDIA_TYPE).read_text(encoding="utf-8"))["zabbix_export"]["media_types"][0]


def run_script(macros: dict[str, str], *, status: int = 200, token: str = "hgi_test") -> dict:  # noqa: S107
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("Node.js is not installed")
    spec = media_type()
    params = {}
    for parameter in spec["parameters"]:
        value = macros.get(parameter["value"], parameter["value"])  # unresolved macros stay as they are
        params[parameter["name"]] = value
    params["hisguard_url"] = "http://127.0.0.1:8000/api/v1/intake/zabbix"
    params["hisguard_token"] = token
    program = HARNESS.replace("SCRIPT", spec["script"]).replace("STATUS", str(status))
    done = subprocess.run(
        [node, "-e", program, json.dumps(params)], capture_output=True, text=True, timeout=30, check=True
    )
    return json.loads(done.stdout)


def test_the_media_type_declares_what_the_intake_reads():
    spec = media_type()
    assert spec["type"] == "WEBHOOK"
    names = {p["name"] for p in spec["parameters"]}
    assert {"hisguard_url", "hisguard_token", "event_id", "event_value", "host_name", "event_tags"} <= names
    modes = {t["operation_mode"] for t in spec["message_templates"]}
    assert modes == {"PROBLEM", "RECOVERY", "UPDATE"}


def test_problem_and_recovery_through_the_script_into_the_intake(make_source):
    zabbix = make_source("zabbix")
    sent = run_script(PROBLEM, token=zabbix.token)
    assert sent.get("result") == "OK", sent
    assert f"Authorization: Bearer {zabbix.token}" in sent["headers"]
    body = json.loads(sent["body"])
    assert body["event_recovery_date"] == ""  # the unresolved macro was cleaned
    assert body["event_tags"][1] == {"tag": "service", "value": "HIS"}
    response = zabbix.post(sent["body"])
    assert response.status_code == 200, response.content
    alert = Alert.objects.get()
    assert (alert.asset.hostname, alert.system.code) == ("SW-A1", "HIS")
    assert Incident.objects.get().hospital_class == 1  # HIS is especially important

    recovery = {
        **PROBLEM,
        "{EVENT.VALUE}": "0",
        "{EVENT.RECOVERY.DATE}": "2026.11.25",
        "{EVENT.RECOVERY.TIME}": "10:17:40",
    }
    resent = run_script(recovery, token=zabbix.token)
    assert zabbix.post(resent["body"]).json()["resolved"] == 1


def test_busy_or_refused_makes_zabbix_retry_or_report():
    busy = run_script(PROBLEM, status=429)
    assert "busy" in busy["error"]
    refused = run_script(PROBLEM, status=403)
    assert "refused" in refused["error"]
    unset = run_script(PROBLEM, token="<the token of the Zabbix intake source>")
    assert "hisguard_token" in unset["error"]
