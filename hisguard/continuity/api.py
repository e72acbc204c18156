"""/api/v1/continuity/…: status for monitoring, snapshots on demand, a ward's packet (logged),
and the two calls downtime nodes make with their own tokens."""

from __future__ import annotations

import base64
import datetime

from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router, Schema
from ninja.security import HttpBearer

from hisguard.continuity import actions
from hisguard.continuity.models import Connector, DowntimeNode, PacketAccess, Snapshot
from hisguard.continuity.paper import FORM_CODES, forms_pdf
from hisguard.continuity.render import rendered
from hisguard.core.api_auth import API_AUTH, require
from hisguard.core.audit import set_actor
from hisguard.core.errors import NotFound
from hisguard.core.middleware import client_ip
from hisguard.organisation.models import Department

router = Router(tags=["continuity"])


class NodeTokenAuth(HttpBearer):
    """A downtime node's own token (hgn_…): good for its ward's packet and nothing else."""

    def authenticate(self, request: HttpRequest, token: str):
        node = actions.node_for_token(token)
        if node is None:
            return None
        set_actor(None, label=f"downtime node {node.name}", ip=client_ip(request))
        return node


class ConnectorStatusOut(Schema):
    id: int
    name: str
    kind: str
    active: bool
    health: str
    last_success_at: datetime.datetime | None
    last_error: str
    next_run_at: datetime.datetime | None
    data_as_of: datetime.datetime | None


class NodeStatusOut(Schema):
    id: int
    name: str
    ward: str
    last_sync_at: datetime.datetime | None
    packet_as_of: datetime.datetime | None
    behind: bool


class StatusOut(Schema):
    connectors: list[ConnectorStatusOut]
    nodes: list[NodeStatusOut]


class SnapshotOut(Schema):
    id: int
    connector: str
    status: str
    started_at: datetime.datetime
    finished_at: datetime.datetime | None
    as_of: datetime.datetime | None
    patients: int
    skipped: int
    issues: int
    error: str


class PacketQuery(Schema):
    reason: str
    detail: str = ""
    hospital: str | None = None


class NodePacketQuery(Schema):
    have: str = ""
    version: str = ""


class AccessEntry(Schema):
    at: str
    action: str = "view"
    who: str = ""
    reason: str = ""
    as_of: str | None = None


class AccessesIn(Schema):
    entries: list[AccessEntry]


class RecordedOut(Schema):
    recorded: int


def _snapshot_out(snapshot: Snapshot) -> dict:
    return {
        "id": snapshot.pk,
        "connector": snapshot.connector.name,
        "status": snapshot.status,
        "started_at": snapshot.started_at,
        "finished_at": snapshot.finished_at,
        "as_of": snapshot.as_of,
        "patients": snapshot.patients,
        "skipped": snapshot.skipped,
        "issues": snapshot.issue_count,
        "error": snapshot.error,
    }


@router.get("/continuity/status", response=StatusOut, auth=API_AUTH, summary="Snapshot and node health")
def status(request: HttpRequest):
    require(request, "continuity.view_connector")
    connectors = []
    for connector in Connector.objects.order_by("name"):
        good = actions.latest_good(connector)
        connectors.append(
            {
                "id": connector.pk,
                "name": connector.name,
                "kind": connector.kind,
                "active": connector.is_active,
                "health": connector.health,
                "last_success_at": connector.last_success_at,
                "last_error": connector.last_error,
                "next_run_at": connector.next_run_at,
                "data_as_of": good.as_of if good else None,
            }
        )
    nodes = [
        {
            "id": node.pk,
            "name": node.name,
            "ward": node.ward.code,
            "last_sync_at": node.last_sync_at,
            "packet_as_of": node.last_packet_as_of,
            "behind": node.behind,
        }
        for node in DowntimeNode.objects.select_related("ward").filter(is_active=True)
    ]
    return {"connectors": connectors, "nodes": nodes}


@router.post(
    "/continuity/connectors/{int:connector_id}/snapshot",
    response=SnapshotOut,
    auth=API_AUTH,
    summary="Take a snapshot now",
)
def snapshot_now(request: HttpRequest, connector_id: int):
    require(request, "continuity.run_snapshot")
    connector = get_object_or_404(Connector.objects.select_related("hospital"), pk=connector_id)
    return _snapshot_out(actions.run_snapshot(connector, trigger=Snapshot.Trigger.MANUAL))


@router.get(
    "/continuity/wards/{code}/packet", auth=API_AUTH, summary="A ward's newest packet (logged, with a reason)"
)
def ward_packet(request: HttpRequest, code: str, query: Query[PacketQuery]):
    user = request.auth  # type: ignore[attr-defined] # who may see which ward: actions.open_packet
    wards = Department.objects.filter(code=code, kind=Department.Kind.WARD)
    if query.hospital:
        wards = wards.filter(hospital__code=query.hospital)
    ward = wards.select_related("hospital").first()
    if ward is None:
        raise NotFound(_("No such ward."))
    reason = actions.clean_reason(query.reason, query.detail)
    packet = actions.open_packet(
        user, ward, reason=reason, action=PacketAccess.Action.API, ip=client_ip(request)
    )
    if packet is None:
        raise NotFound(_("This ward has no packet yet: no snapshot has succeeded."))
    return {"ward": ward.code, "as_of": packet.as_of, "digest": packet.digest, "packet": packet.data()}


@router.get(
    "/continuity/node/packet", auth=[NodeTokenAuth()], summary="Downtime node: its ward's newest packet"
)
def node_packet(request: HttpRequest, query: Query[NodePacketQuery]):
    node: DowntimeNode = request.auth  # type: ignore[attr-defined]
    packet, changed = actions.node_sync(node, have=query.have, ip=client_ip(request), version=query.version)
    body: dict = {
        "changed": changed,
        "ward": {"code": node.ward.code, "name": node.ward.name},
        "hospital": node.hospital.name,
        "server_time": timezone.now().isoformat(),
        "as_of": packet.as_of.isoformat() if packet else None,
        "digest": packet.digest if packet else "",
    }
    if changed and packet is not None:
        result = rendered(packet)
        today = timezone.localdate()
        dated, undated = _blank_forms(node.ward, today)
        body.update(
            html=result.html,
            pdf=base64.b64encode(result.pdf).decode(),
            forms={
                "dated": {"date": today.isoformat(), "pdf": base64.b64encode(dated).decode()},
                "undated": base64.b64encode(undated).decode(),
            },
        )
    return body


_forms_cache: dict[tuple, tuple[bytes, bytes]] = {}


def _blank_forms(ward: Department, day: datetime.date) -> tuple[bytes, bytes]:
    """The ward's blank forms dated today and undated (made once a day per ward and process)."""
    key = (ward.pk, ward.name, day, settings.LANGUAGE_CODE)
    if key not in _forms_cache:
        if len(_forms_cache) > 200:
            _forms_cache.clear()
        with translation.override(settings.LANGUAGE_CODE):
            department = f"{ward.name} ({ward.code})"
            hospital = ward.hospital.name
            _forms_cache[key] = (
                forms_pdf(FORM_CODES, department=department, hospital=hospital, date=day),
                forms_pdf(FORM_CODES, department=department, hospital=hospital, date=None),
            )
    return _forms_cache[key]


@router.post(
    "/continuity/node/accesses",
    response=RecordedOut,
    auth=[NodeTokenAuth()],
    summary="Downtime node: who opened or printed the packet on the node",
)
def node_accesses(request: HttpRequest, payload: AccessesIn):
    node: DowntimeNode = request.auth  # type: ignore[attr-defined]
    entries = [entry.dict() for entry in payload.entries]
    return {"recorded": actions.record_node_accesses(node, entries, ip=client_ip(request))}
