"""The health endpoint a load balancer or the hospital's monitoring polls."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.mark.django_db
def test_health_answers_without_a_token_and_names_the_database_not_the_hospital(client, tiny):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": connection.vendor}
    assert tiny.hospital.name not in response.content.decode()


@pytest.mark.django_db
def test_health_is_in_the_api_schema(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "get" in paths["/api/v1/health"]
