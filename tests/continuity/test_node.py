"""The downtime node: syncs its ward's packet with its token, keeps it encrypted, detects a
tampered file, keeps serving with the packet's age when the server is gone, rotates its key;
the server sees its last sync."""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

from hisguard.continuity import actions
from hisguard.continuity.models import DowntimeNode, PacketAccess
from hisguard.continuity.node import Node, NodeError, NodeServer, Store

from .conftest import NOW


class Switch(httpx.BaseTransport):
    """The network between node and server: the real Django app in-process, or down."""

    def __init__(self) -> None:
        self.app = httpx.WSGITransport(app=get_wsgi_application())
        self.up = True
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        # As Django's test client does: the request must not close the test's connection.
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = self.app.handle_request(request)
            response.read()
            return response
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)


@pytest.fixture
def served(h3, file_connector, clock):
    actions.run_snapshot(file_connector)
    node, token = actions.register_node(h3.wards["W1"], "W1-NS-01")
    return node, token


@pytest.fixture
def node(served, tmp_path) -> tuple[Node, Switch, DowntimeNode]:
    model, token = served
    switch = Switch()
    return Node(Store(tmp_path / "node"), "https://testserver", token, transport=switch), switch, model


@pytest.fixture
def local(node) -> Iterator[tuple[str, NodeServer]]:
    """The node's own pages on a real loopback port."""
    app = NodeServer(node[0], language="en")
    httpd = app.serve("127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", app
    httpd.shutdown()
    httpd.server_close()


def _open(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, follow_redirects=False)
    response = client.post("/open", data={"who": "N1234 护士", "reason": "downtime"})
    assert response.status_code == 303
    client.cookies = response.cookies
    return client


def test_sync_stores_the_packet_encrypted(node, h3):
    client_node, _switch, model = node
    result = client_node.sync()
    assert result.ok and result.changed, result.error
    packet = actions.latest_packet(h3.wards["W1"])
    raw = client_node.store.packet_path.read_bytes()
    name = packet.data()["patients"][0]["name"]
    assert name.encode() not in raw and "心内科病区".encode() not in raw and b"%PDF" not in raw
    stored, problem = client_node.store.packet()
    assert problem == "" and stored["digest"] == packet.digest and name in stored["html"]
    assert oct(client_node.store.key_path.stat().st_mode & 0o777) == "0o600"
    model.refresh_from_db()
    assert model.last_sync_at == NOW and model.last_packet_as_of == packet.as_of
    assert PacketAccess.objects.filter(node=model, action="sync").count() == 1
    again = client_node.sync()
    assert again.ok and not again.changed  # same digest: nothing sent again
    assert PacketAccess.objects.filter(node=model, action="sync").count() == 1


def test_serves_when_the_server_is_gone_with_the_age(node, local, clock):
    client_node, switch, _model = node
    base, _app = local
    assert client_node.sync().ok
    switch.up = False
    clock.shift(datetime.timedelta(hours=3))
    failed = client_node.sync()
    assert not failed.ok and "ConnectError" in failed.error
    browser = httpx.Client(base_url=base)
    assert "Your name or employee number" in browser.get("/packet").text  # who and why first
    browser = _open(base)
    page = browser.get("/packet")
    assert page.status_code == 200
    html = page.text
    assert "停机应急 · 只读 / DOWNTIME · READ-ONLY" in html
    assert "3 h 0 min old" in html and "cannot be reached" in html
    assert 'class="bar old"' in html  # older than two hours: shown as old
    pdf = browser.get("/packet.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    forms = browser.get("/forms/all.pdf")
    assert forms.status_code == 200 and forms.content.startswith(b"%PDF")
    status = httpx.get(base + "/status.json").json()
    assert status["age_minutes"] == 180 and status["ward"]["code"] == "W1"
    pending = client_node.store.pending_accesses()
    assert [e["action"] for e in pending] == ["view", "print"] and pending[0]["who"] == "N1234 护士"
    # Back online: the looks on the node reach the server's access log.
    switch.up = True
    assert client_node.sync().ok
    assert client_node.store.pending_accesses() == []
    logged = PacketAccess.objects.filter(action__in=["node_view", "node_print"]).order_by("at")
    assert [a.action for a in logged] == ["node_view", "node_print"]
    assert logged[0].actor_label.startswith("N1234 护士") and "HIS" in logged[0].reason


def test_tampered_file_is_detected(node, local, h3, file_connector, clock):
    client_node, _switch, _model = node
    assert client_node.sync().ok
    clock.shift(datetime.timedelta(hours=1))
    actions.run_snapshot(file_connector)
    assert client_node.sync().changed  # the first packet is kept as the previous one
    path = client_node.store.packet_path
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    stored, problem = client_node.store.packet()
    assert "完整性校验" in problem
    assert stored is not None and datetime.datetime.fromisoformat(stored["as_of"]) == NOW  # the previous one
    base, _app = local
    html = _open(base).get("/packet").text
    assert "integrity check" in html and "1 h 0 min old" in html
    # A packet file copied from another node does not open either (another key).
    other = Store(client_node.store.dir.parent / "other")
    other.save_packet({"as_of": NOW.isoformat()})
    path.write_bytes(other.packet_path.read_bytes())
    client_node.store.previous_path.unlink()
    stored, problem = client_node.store.packet()
    assert stored is None and "完整性校验" in problem


def test_rotate_the_key(node):
    client_node, _switch, _model = node
    assert client_node.sync().ok
    store = client_node.store
    old_key = store.key_path.read_text()
    old_blob = store.packet_path.read_bytes()
    store.rotate_key()
    assert store.key_path.read_text() != old_key and not store.old_key_path.exists()
    assert store.packet_path.read_bytes() != old_blob
    stored, problem = store.packet()
    assert problem == "" and stored is not None
    from hisguard.continuity import crypto

    with pytest.raises(crypto.SealError):
        crypto.unseal([crypto.decode_key(old_key)], store.packet_path.read_bytes(), b"hisguard-node-packet")


def test_token_rotation_and_deactivation(node, served, h3):
    client_node, _switch, model = node
    assert client_node.sync().ok
    new_token = actions.rotate_node_token(model)
    refused = client_node.sync()
    assert not refused.ok and "token" in refused.error
    client_node.token = new_token
    assert client_node.sync().ok
    DowntimeNode.objects.filter(pk=model.pk).update(is_active=False)
    assert not client_node.sync().ok


def test_node_wants_https(tmp_path):
    with pytest.raises(NodeError):
        Node(Store(tmp_path / "n"), "http://hisguard.example", "hgn_x")
    Node(Store(tmp_path / "n"), "http://127.0.0.1:8000", "hgn_x", allow_http=True)


def test_node_endpoint_needs_a_node_token(served, h3):
    _model, token = served
    from django.test import Client

    assert Client().get("/api/v1/continuity/node/packet").status_code == 401
    assert (
        Client().get("/api/v1/continuity/node/packet", HTTP_AUTHORIZATION="Bearer hgn_wrong").status_code
        == 401
    )
    response = Client().get("/api/v1/continuity/node/packet", HTTP_AUTHORIZATION=f"Bearer {token}")
    body = response.json()
    assert body["changed"] and body["ward"]["code"] == "W1" and body["forms"]["dated"]["date"]
    assert json.loads(json.dumps(body))  # plain JSON
