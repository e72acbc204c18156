"""Bad input gets a clear 4xx in Chinese and English and changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from hisguard.core.models import AuditLog
from hisguard.incidents.models import Incident
from hisguard.reporting.models import FaultReport

from .conftest import api_report


@pytest.fixture
def anon() -> Client:
    return Client()


def assert_nothing_changed():
    assert FaultReport.objects.count() == 0
    assert Incident.objects.count() == 0
    assert not AuditLog.objects.filter(action__startswith="report").exists()


def assert_bilingual(response, status: int, code: str | None = None):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["messages"]["zh-hans"] and error["messages"]["en"]
    assert error["messages"]["zh-hans"] != error["messages"]["en"], "the Chinese message is untranslated"
    if code:
        assert error["code"] == code
    return error


def test_unknown_workstation(tiny, anon):
    response = anon.post(
        "/api/v1/reports",
        {"workstation": "NO-SUCH-PC", "symptom": "cannot_enter"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {tiny.ws('PC-A1-1').report_token}",
    )
    assert_bilingual(response, 404, "unknown_workstation")
    assert_nothing_changed()


def test_another_workstations_token_is_refused(tiny, anon):
    response = anon.post(
        "/api/v1/reports",
        {"workstation": "PC-A1-2", "symptom": "cannot_enter"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {tiny.ws('PC-A1-1').report_token}",
    )
    assert_bilingual(response, 403)
    assert_nothing_changed()


def test_no_token_or_a_wrong_one(tiny, anon):
    body = {"workstation": "PC-A1-1", "symptom": "cannot_enter"}
    assert_bilingual(anon.post("/api/v1/reports", body, content_type="application/json"), 401)
    assert_bilingual(
        anon.post("/api/v1/reports", body, content_type="application/json", HTTP_AUTHORIZATION="Bearer nope"),
        401,
    )
    assert_nothing_changed()


@pytest.mark.parametrize("symptom", ["", "broken", None])
def test_empty_or_unknown_symptom(tiny, anon, symptom):
    response = api_report(anon, tiny.ws("PC-A1-1"), symptom=symptom)
    assert response.status_code in (400, 422)
    assert_bilingual(response, response.status_code)
    assert_nothing_changed()


def test_other_without_text(tiny, anon):
    assert_bilingual(api_report(anon, tiny.ws("PC-A1-1"), "other"), 400, "text_required")
    assert_nothing_changed()


def test_oversize_text(tiny, anon):
    assert_bilingual(api_report(anon, tiny.ws("PC-A1-1"), text="慢" * 2001), 400, "text_too_long")
    assert_nothing_changed()


def test_bad_phone_and_unknown_system(tiny, anon):
    assert_bilingual(api_report(anon, tiny.ws("PC-A1-1"), contact_phone="call me"), 400, "bad_phone")
    assert_bilingual(api_report(anon, tiny.ws("PC-A1-1"), system="NOPE"), 404, "unknown_system")
    assert_nothing_changed()


def test_malformed_json(tiny, anon):
    response = anon.post(
        "/api/v1/reports",
        '{"workstation": "PC-A1-1", "symptom": ',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {tiny.ws('PC-A1-1').report_token}",
    )
    assert_bilingual(response, 400, "malformed")
    assert_nothing_changed()


def test_wrong_types(tiny, anon):
    response = anon.post(
        "/api/v1/reports",
        {"workstation": ["PC-A1-1"], "symptom": 3},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {tiny.ws('PC-A1-1').report_token}",
    )
    error = assert_bilingual(response, 422, "invalid_request")
    assert "workstation" in error["message"] or "workstation" in error["messages"]["en"]
    assert_nothing_changed()


def test_a_flood_from_one_workstation_is_throttled_and_stores_only_the_allowed(tiny, anon, settings):
    settings.HISGUARD_REPORT_FLOOD_LIMIT = 3
    ws = tiny.ws("PC-A1-1")
    accepted = [api_report(anon, ws, "intermittent") for _ in range(3)]
    assert [r.status_code for r in accepted] == [201, 201, 201]
    refused = api_report(anon, ws, "intermittent")
    assert_bilingual(refused, 429, "too_many_reports")
    assert int(refused["Retry-After"]) > 0
    assert FaultReport.objects.count() == 3
    # Another workstation is not affected.
    assert api_report(anon, tiny.ws("PC-A1-2"), "intermittent").status_code == 201


@pytest.mark.django_db(transaction=True)
def test_an_accepted_report_is_committed_before_the_response():
    """With no test transaction around it, the row exists and no transaction is left open
    when the 201 arrives: the report was committed before the answer."""
    from django.db import connection

    from .conftest import build_tiny_hospital

    tiny = build_tiny_hospital()
    response = api_report(Client(), tiny.ws("PC-A1-1"))
    assert response.status_code == 201
    assert not connection.in_atomic_block
    assert FaultReport.objects.filter(tracking_number=response.json()["tracking_number"]).exists()


def test_workstation_page_refuses_bad_input_with_the_form(tiny):
    client = Client()
    url = f"/r/{tiny.ws('PC-A1-1').report_token}/"
    page = client.get(url)
    assert page.status_code == 200
    assert "HIS" in page.content.decode()
    bad = client.post(url, {"symptom": "", "text": "x"})
    assert bad.status_code == 400
    assert FaultReport.objects.count() == 0
    unknown = client.get("/r/not-a-token/")
    assert unknown.status_code == 404


def test_an_api_token_may_report_by_department_when_no_hostname_is_known(tiny, actors):
    from .conftest import api

    it = actors["network_admin"]
    body = {"department": "DB2", "symptom": "no_network", "reporter_name": "电话报告"}
    response = api(Client(), "post", "/api/v1/reports", it.token, body)
    assert response.status_code == 201, response.content
    report = FaultReport.objects.get()
    assert report.workstation is None and report.department == tiny.departments["DB2"]
    assert report.channel == "api" and report.received_by == it.user
    missing = api(Client(), "post", "/api/v1/reports", it.token, {"symptom": "no_network"})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "location_required"
    unknown = api(
        Client(), "post", "/api/v1/reports", it.token, {"department": "NOPE", "symptom": "no_network"}
    )
    assert unknown.status_code == 404
    # A workstation's own token still has to name its workstation.
    token_only = Client().post(
        "/api/v1/reports",
        {"department": "DB2", "symptom": "no_network"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {tiny.ws('PC-A1-1').report_token}",
    )
    assert token_only.status_code == 404
    assert FaultReport.objects.count() == 1
