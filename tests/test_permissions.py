"""Every page and API call checks the role on the server (issue #2 §6)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from hisguard.core.models import ApiToken, AuditLog

from .conftest import api, api_report

ALL_ROLES = ["network_admin", "it_head", "leadership", "emergency_office", "auditor", "admin"]
TRIAGE = {"network_admin", "it_head", "admin"}


@pytest.fixture
def incident_id(tiny):
    return api_report(Client(), tiny.ws("PC-A1-1")).json()["incident"]["id"]


@pytest.fixture
def nobody(db):
    """A logged-in account with no role at all."""
    user = User.objects.create_user("nobody", password="x-123456789")
    client = Client()
    client.force_login(user)
    _token, raw = ApiToken.issue("nobody", user)
    return client, raw


PAGES = {
    "/console/": set(ALL_ROLES),
    "/console/live/": set(ALL_ROLES),
    "/incidents/": set(ALL_ROLES),
    "/incidents/{id}/": set(ALL_ROLES),
    "/incidents/{id}/timeline/": set(ALL_ROLES),
    "/intake/": TRIAGE,
    "/departments/": set(ALL_ROLES),
    "/audit/": {"it_head", "auditor", "admin"},
}


@pytest.mark.parametrize("path", PAGES)
def test_pages_by_role(tiny, actors, nobody, incident_id, path):
    url = path.format(id=incident_id)
    for role in ALL_ROLES:
        expected = 200 if role in PAGES[path] else 403
        assert actors[role].client.get(url).status_code == expected, (role, url)
    assert nobody[0].get(url).status_code == 403
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_qr_sheet_by_role(tiny, actors, nobody):
    url = f"/departments/{tiny.departments['DA1'].pk}/qr/"
    for role in ALL_ROLES:
        response = actors[role].client.get(url)
        assert response.status_code == 200
        assert "<svg" in response.content.decode()
        assert tiny.ws("PC-A1-1").report_token in response.content.decode()
    assert nobody[0].get(url).status_code == 403


ACTIONS = {
    "/incidents/{id}/status/": ({"status": "confirmed"}, TRIAGE),
    "/incidents/{id}/note/": ({"text": "在查"}, TRIAGE),
    "/incidents/{id}/class/": ({"hospital_class": "2", "reason": "影响扩大"}, {"it_head", "admin"}),
    "/incidents/{id}/assessment/": ({"category": "FF", "loss": "minor"}, {"it_head", "admin"}),
}


@pytest.mark.parametrize("path", ACTIONS)
def test_page_actions_by_role(tiny, actors, incident_id, path):
    data, allowed = ACTIONS[path]
    url = path.format(id=incident_id)
    for role in sorted(set(ALL_ROLES) - allowed):
        before = AuditLog.objects.count()
        assert actors[role].client.post(url, data).status_code == 403, role
        assert AuditLog.objects.count() == before
    role = sorted(allowed)[0]
    assert actors[role].client.post(url, data).status_code == 302


def test_asset_down_page_action(tiny, actors):
    assert actors["leadership"].client.post("/asset-down/", {"asset": "DB-1"}).status_code == 403
    response = actors["network_admin"].client.post("/asset-down/", {"asset": "DB-1", "note": "宕机"})
    assert response.status_code == 302 and "/incidents/" in response["Location"]


def test_api_by_role(tiny, actors, nobody, incident_id):
    reads = ["/api/v1/incidents", f"/api/v1/incidents/{incident_id}", "/api/v1/assets", "/api/v1/systems"]
    for url in reads:
        for role in ALL_ROLES:
            assert api(actors[role].client, "get", url, actors[role].token).status_code == 200, (role, url)
        assert api(Client(), "get", url, nobody[1]).status_code == 403
        assert Client().get(url).status_code == 401
    status_url = f"/api/v1/incidents/{incident_id}/status"
    for role in ("leadership", "auditor", "emergency_office"):
        response = api(Client(), "post", status_url, actors[role].token, {"status": "confirmed"})
        assert response.status_code == 403, role
    assert (
        api(Client(), "post", status_url, actors["network_admin"].token, {"status": "confirmed"}).status_code
        == 200
    )


def test_a_revoked_token_stops_working(tiny, actors):
    it = actors["network_admin"]
    assert api(Client(), "get", "/api/v1/incidents", it.token).status_code == 200
    ApiToken.objects.filter(user=it.user).update(revoked=True)
    assert api(Client(), "get", "/api/v1/incidents", it.token).status_code == 401


def test_api_token_may_report_for_any_workstation_only_with_the_permission(tiny, actors):
    body = {"workstation": "PC-B1-1", "symptom": "cannot_save"}
    allowed = api(Client(), "post", "/api/v1/reports", actors["network_admin"].token, body)
    assert allowed.status_code == 201
    refused = api(Client(), "post", "/api/v1/reports", actors["auditor"].token, body)
    assert refused.status_code == 403


def test_admin_is_for_staff_only(tiny, actors):
    assert actors["admin"].client.get("/admin/").status_code == 200
    assert actors["network_admin"].client.get("/admin/").status_code == 302
