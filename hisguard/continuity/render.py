"""Packets as HTML and PDF, cached sealed on the packet for the hospital's default language."""

from __future__ import annotations

import base64
import datetime
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from hisguard.continuity import crypto
from hisguard.continuity.models import WardPacket
from hisguard.continuity.pdf import packet_pdf
from hisguard.continuity.present import present

BANNER_MARKER = "<!--hisguard-banner-->"


@dataclass
class Rendered:
    html: str
    pdf: bytes


def packet_html(view: dict[str, Any], *, banner: str = "", banner_old: bool = False, links=()) -> str:
    return render_to_string(
        "continuity/packet.html", {"v": view, "banner": banner, "banner_old": banner_old, "links": links}
    )


def _render(packet: WardPacket, printed_by: str, printed_at: datetime.datetime) -> Rendered:
    view = present(packet.data())
    return Rendered(
        html=packet_html(view),
        pdf=packet_pdf([view], printed_by=printed_by, printed_at=timezone.localtime(printed_at)),
    )


def rendered(packet: WardPacket) -> Rendered:
    """The packet's HTML and PDF in the default language, made once and kept sealed."""
    aad = WardPacket.aad(packet.snapshot_id, packet.ward_id, "render")
    if packet.sealed_render:
        data = json.loads(crypto.unseal_on_server(bytes(packet.sealed_render), aad))
        return Rendered(data["html"], base64.b64decode(data["pdf"]))
    with translation.override(settings.LANGUAGE_CODE):
        result = _render(packet, "HISGuard", packet.as_of)
    body = json.dumps({"html": result.html, "pdf": base64.b64encode(result.pdf).decode()}).encode()
    packet.sealed_render = crypto.seal_for_server(body, aad)
    WardPacket.objects.filter(pk=packet.pk).update(sealed_render=packet.sealed_render)
    return result
