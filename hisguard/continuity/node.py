"""The downtime node: a designated PC in a ward that keeps the ward's newest packet.

`hisguard downtime_node` (or ``hisguard downtime-node``) syncs the packet from the server over
HTTPS with the node's token, keeps it sealed at rest with AES-256-GCM under a key of its own
(``node.key``, created on first run, readable by its owner only), and serves it on this PC —
HTML to read, PDF to print, blank forms — whether or not the server or the network is there.
Every page says how old the data is. Opening and printing on the node are logged locally
(who and why, asked once per browser session) and uploaded on the next successful sync.

A tampered or corrupted packet file fails its integrity check and is not shown; the previous
packet (kept beside it) is offered instead, with its age.

Nothing here touches the database: the node needs no database at all.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import cookies
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from hisguard.continuity import crypto
from hisguard.continuity.present import MARK
from hisguard.continuity.render import BANNER_MARKER
from hisguard.core.errors import interpolate

log = logging.getLogger("hisguard.downtime_node")
VERSION = "1"
PACKET_AAD = b"hisguard-node-packet"
STALE_MINUTES = 120


class NodeError(Exception):
    pass


class Tampered(NodeError):
    """The stored packet did not pass its integrity check."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def _age_text(minutes: int) -> str:
    if minutes < 60:
        return str(interpolate(_("%(minutes)s min"), {"minutes": minutes}))
    if minutes < 48 * 60:
        return str(
            interpolate(_("%(hours)s h %(minutes)s min"), {"hours": minutes // 60, "minutes": minutes % 60})
        )
    return str(interpolate(_("%(days)s days"), {"days": minutes // (24 * 60)}))


class Store:
    """The node's folder: its key, its settings, the sealed packet (and the one before)."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self.key_path = self.dir / "node.key"
        self.old_key_path = self.dir / "node.key.old"
        self.packet_path = self.dir / "packet.sealed"
        self.previous_path = self.dir / "packet.previous.sealed"
        self.config_path = self.dir / "node.json"
        self.access_path = self.dir / "access-pending.jsonl"
        self.lock = threading.Lock()

    # --- the key ---

    def keys(self) -> list[bytes]:
        keys = []
        if not self.key_path.exists():
            crypto.write_private(self.key_path, crypto.encode_key(crypto.new_key()).encode())
        keys.append(crypto.decode_key(self.key_path.read_text()))
        if self.old_key_path.exists():  # a rotation that stopped half-way
            keys.append(crypto.decode_key(self.old_key_path.read_text()))
        return keys

    def rotate_key(self) -> None:
        """A new key; the stored packets are sealed again under it, then the old key goes."""
        with self.lock:
            old = self.keys()
            new = crypto.new_key()
            crypto.write_private(self.old_key_path, crypto.encode_key(old[0]).encode())
            crypto.write_private(self.key_path, crypto.encode_key(new).encode())
            for path in (self.packet_path, self.previous_path):
                if path.exists():
                    plain = crypto.unseal([*old, new], path.read_bytes(), PACKET_AAD)
                    crypto.write_private(path, crypto.seal(new, plain, PACKET_AAD))
            self.old_key_path.unlink()

    # --- settings ---

    def config(self) -> dict[str, Any]:
        if not self.config_path.exists():
            return {}
        return json.loads(self.config_path.read_text())

    def save_config(self, **values: Any) -> dict[str, Any]:
        config = {**self.config(), **{k: v for k, v in values.items() if v is not None}}
        crypto.write_private(self.config_path, json.dumps(config, indent=1).encode())
        return config

    # --- packets ---

    def save_packet(self, packet: dict[str, Any]) -> None:
        with self.lock:
            key = self.keys()[0]
            if self.packet_path.exists():
                os.replace(self.packet_path, self.previous_path)
            crypto.write_private(self.packet_path, crypto.seal(key, json.dumps(packet).encode(), PACKET_AAD))

    def load(self, path: Path) -> dict[str, Any] | None:
        if not path.exists():
            return None
        try:
            return json.loads(crypto.unseal(self.keys(), path.read_bytes(), PACKET_AAD))
        except crypto.SealError as exc:
            raise Tampered(str(exc)) from exc

    def packet(self) -> tuple[dict[str, Any] | None, str]:
        """The packet to show and a problem to show with it ("" when none)."""
        try:
            return self.load(self.packet_path), ""
        except Tampered:
            log.error("the stored packet failed its integrity check")
            problem = str(
                _(
                    "The newest stored packet failed its integrity check (changed or damaged) and is not shown."
                )
            )
            try:
                return self.load(self.previous_path), problem
            except Tampered:
                return None, problem

    # --- the local access log, uploaded on the next sync ---

    def log_access(self, entry: dict[str, Any]) -> None:
        with self.lock:
            with self.access_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            os.chmod(self.access_path, 0o600)

    def pending_accesses(self) -> list[dict[str, Any]]:
        if not self.access_path.exists():
            return []
        entries = []
        for line in self.access_path.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return entries

    def clear_accesses(self, count: int) -> None:
        with self.lock:
            entries = self.pending_accesses()
            rest = entries[count:]
            text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in rest)
            crypto.write_private(self.access_path, text.encode())


@dataclass
class SyncResult:
    ok: bool
    changed: bool = False
    error: str = ""
    as_of: str = ""


@dataclass
class Node:
    store: Store
    server: str
    token: str
    ca_file: str = ""
    allow_http: bool = False
    transport: httpx.BaseTransport | None = None
    timeout: float = 30
    last_attempt: datetime.datetime | None = None
    last_success: datetime.datetime | None = None
    last_error: str = ""
    state_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server = self.server.rstrip("/")
        scheme = urlsplit(self.server).scheme
        if scheme not in ("https", "http"):
            raise NodeError("the server address must start with https://")
        if scheme == "http" and not self.allow_http:
            raise NodeError(
                "the server address must be https:// (use --insecure-http only on a trusted test network)"
            )
        state = self.store.config()
        self.last_success = _parse(state.get("last_success"))

    def client(self) -> httpx.Client:
        verify: Any = True
        if self.ca_file:
            import ssl

            verify = ssl.create_default_context(cafile=self.ca_file)
        return httpx.Client(
            base_url=self.server,
            headers={"Authorization": f"Bearer {self.token}", "User-Agent": f"HISGuard-node/{VERSION}"},
            timeout=self.timeout,
            verify=verify,
            transport=self.transport,
        )

    def sync(self) -> SyncResult:
        """Fetch the ward's newest packet if it changed; upload the local access log."""
        now = _now()
        self.last_attempt = now
        current, _problem = self.store.packet()
        have = current.get("digest", "") if current else ""
        try:
            with self.client() as client:
                response = client.get(
                    "/api/v1/continuity/node/packet", params={"have": have, "version": VERSION}
                )
                if response.status_code == 401:
                    raise NodeError("the server refused the node token (revoked or rotated?)")
                response.raise_for_status()
                body = response.json()
                if body.get("changed"):
                    packet = {
                        "ward": body["ward"],
                        "hospital": body.get("hospital", ""),
                        "as_of": body["as_of"],
                        "digest": body["digest"],
                        "html": body["html"],
                        "pdf": body["pdf"],
                        "forms": body.get("forms", {}),
                        "synced_at": now.isoformat(),
                    }
                    base64.b64decode(packet["pdf"], validate=True)
                    self.store.save_packet(packet)
                entries = self.store.pending_accesses()
                if entries:
                    sent = client.post("/api/v1/continuity/node/accesses", json={"entries": entries})
                    if sent.status_code == 200:
                        self.store.clear_accesses(len(entries))
        except (httpx.HTTPError, NodeError, ValueError, KeyError) as exc:
            with self.state_lock:
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("sync failed: %s", self.last_error)
            return SyncResult(False, error=self.last_error)
        with self.state_lock:
            self.last_success, self.last_error = now, ""
        self.store.save_config(last_success=now.isoformat(), ward=body.get("ward"))
        return SyncResult(True, bool(body.get("changed")), as_of=body.get("as_of", ""))

    def run(self, *, interval: float, stop: Callable[[], bool]) -> None:
        """Sync every `interval` seconds until `stop()` (the first sync is the caller's)."""
        while not stop():
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline and not stop():
                time.sleep(0.5)
            if not stop():
                self.sync()


def _parse(value: Any) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


# --- Serving on the ward PC ----------------------------------------------------------------------

REASONS = [
    ("downtime", _("HIS downtime: caring for patients")),
    ("drill", _("Downtime drill")),
    ("handover", _("Shift handover during downtime")),
    ("check", _("Checking the packet is complete (IT)")),
]

TEXTS = {
    "print": _("Print (PDF)"),
    "forms": _("Blank forms"),
    "no_packet": _("This node has no packet yet: it has never reached the server."),
    "old": _("This packet is old: check the paper charts for anything newer."),
    "missing": _("Enter your name or employee number and choose a reason."),
    "who": _("Your name or employee number"),
    "why": _("Why are you opening the packet?"),
    "open": _("Open the packet"),
    "blank": _("Blank downtime forms"),
    "print_forms": _("Print the blank forms"),
}


def _t(key: str) -> str:
    """A label, translated and HTML-escaped (xgettext cannot see into f-strings)."""
    return html.escape(str(TEXTS[key]))


PAGE = """<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:15px/1.5 "Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:0}}
.mark{{background:#111827;color:#fff;padding:.6rem 1rem;font-weight:800}}main{{padding:1rem;max-width:760px}}
.age{{font-size:1.2rem;font-weight:800}}.old{{color:#b91c1c}}.err{{color:#b91c1c;font-weight:700}}
label{{display:block;margin:.6rem 0 .2rem;font-weight:700}}input,select{{font:inherit;padding:.35rem;width:100%}}
button{{font:inherit;padding:.5rem 1.2rem;margin-top:.8rem}}a.big{{display:inline-block;margin:.4rem 1rem .4rem 0;font-size:1.1rem}}
</style></head><body><div class="mark">{mark}</div><main>{body}</main></body></html>"""


class NodeServer:
    """The pages the ward PC shows (a small threaded HTTP server, on 127.0.0.1 by default)."""

    def __init__(self, node: Node, *, stale_minutes: int = STALE_MINUTES, language: str = "zh-hans") -> None:
        self.node = node
        self.stale_minutes = stale_minutes
        self.language = language

    def age_minutes(self, packet: dict[str, Any], now: datetime.datetime) -> int:
        return max(0, int((now - datetime.datetime.fromisoformat(packet["as_of"])).total_seconds() // 60))

    def banner(self, packet: dict[str, Any], now: datetime.datetime) -> tuple[str, bool]:
        age = self.age_minutes(packet, now)
        as_of = datetime.datetime.fromisoformat(packet["as_of"]).astimezone().strftime("%Y-%m-%d %H:%M")
        synced = _parse(packet.get("synced_at"))
        synced_text = synced.astimezone().strftime("%Y-%m-%d %H:%M") if synced else "-"
        text = str(
            interpolate(
                _(
                    "Downtime node copy. Data as of %(as_of)s — %(age)s old. Copied from the server at %(synced)s."
                ),
                {"as_of": as_of, "age": _age_text(age), "synced": synced_text},
            )
        )
        if self.node.last_error:
            text += " " + str(_("The server cannot be reached now: this is the last copy."))
        return text, age > self.stale_minutes

    def respond(self, method: str, path: str, query: dict[str, list[str]], form: dict[str, list[str]],
                cookie: str, ip: str) -> tuple[int, str, bytes, dict[str, str]]:  # fmt: skip
        with translation.override(self.language):
            return self._respond(method, path, query, form, cookie, ip)

    def _page(self, title: str, body: str) -> bytes:
        return PAGE.format(
            lang=self.language, title=html.escape(title), mark=html.escape(MARK), body=body
        ).encode()

    def _respond(self, method, path, query, form, cookie, ip):
        now = _now()
        who, reason = _read_cookie(cookie)
        packet, problem = self.node.store.packet()
        headers: dict[str, str] = {"Cache-Control": "no-store"}
        if path == "/open" and method == "POST":
            who = (form.get("who") or [""])[0].strip()[:60]
            code = (form.get("reason") or [""])[0]
            labels = dict(REASONS)
            if not who or code not in labels:
                return 303, "text/plain", b"", {"Location": "/?missing=1"}
            value = cookies.SimpleCookie()
            value["hg_who"] = json.dumps({"who": who, "reason": str(labels[code])})
            value["hg_who"]["httponly"] = True
            value["hg_who"]["samesite"] = "Strict"
            headers["Set-Cookie"] = value["hg_who"].OutputString()
            headers["Location"] = "/packet"
            return 303, "text/plain", b"", headers
        if path == "/status.json":
            body = {
                "ward": packet.get("ward") if packet else None,
                "as_of": packet.get("as_of") if packet else None,
                "age_minutes": self.age_minutes(packet, now) if packet else None,
                "last_sync_error": self.node.last_error,
                "integrity_problem": problem,
            }
            return 200, "application/json", json.dumps(body, ensure_ascii=False).encode(), headers
        if path == "/" or not who:
            return (
                200,
                "text/html; charset=utf-8",
                self.index(packet, problem, now, bool(query.get("missing"))),
                headers,
            )
        if packet is None:
            return (
                503,
                "text/html; charset=utf-8",
                self._page(MARK, f"<p class=err>{html.escape(problem)}</p>"),
                headers,
            )
        entry = {"at": now.isoformat(), "who": who, "reason": reason, "as_of": packet["as_of"]}
        if path == "/packet":
            self.node.store.log_access({**entry, "action": "view"})
            banner, old = self.banner(packet, now)
            warning = f"<p>{html.escape(problem)}</p>" if problem else ""
            bar = (
                f'<div class="bar{" old" if old else ""}">{html.escape(banner)} '
                f'<a href="/packet.pdf">{_t("print")}</a> '
                f'<a href="/">{_t("forms")}</a>{warning}</div>'
            )
            return (
                200,
                "text/html; charset=utf-8",
                packet["html"].replace(BANNER_MARKER, bar, 1).encode(),
                headers,
            )
        if path == "/packet.pdf":
            self.node.store.log_access({**entry, "action": "print"})
            headers["Content-Disposition"] = 'inline; filename="packet.pdf"'
            return 200, "application/pdf", base64.b64decode(packet["pdf"]), headers
        if path.startswith("/forms/") and path.endswith(".pdf"):
            forms = packet.get("forms") or {}
            today = datetime.datetime.now().astimezone().date().isoformat()
            dated = forms.get("dated") or {}
            data = dated.get("pdf") if dated.get("date") == today else forms.get("undated")
            if not data:
                return 404, "text/plain", b"no forms", headers
            headers["Content-Disposition"] = 'inline; filename="forms.pdf"'
            return 200, "application/pdf", base64.b64decode(data), headers
        return 404, "text/plain", b"not found", headers

    def index(
        self, packet: dict[str, Any] | None, problem: str, now: datetime.datetime, missing: bool
    ) -> bytes:
        parts = []
        if problem:
            parts.append(f"<p class=err>{html.escape(problem)}</p>")
        if packet is None:
            parts.append(f"<p class=err>{_t('no_packet')}</p>")
        else:
            ward = packet["ward"]
            age = self.age_minutes(packet, now)
            banner, old = self.banner(packet, now)
            parts.append(f"<h1>{html.escape(ward['name'])} ({html.escape(ward['code'])})</h1>")
            parts.append(f'<p class="age{" old" if old else ""}">{html.escape(banner)}</p>')
            if age > self.stale_minutes:
                parts.append(f"<p class=err>{_t('old')}</p>")
        if missing:
            parts.append(f"<p class=err>{_t('missing')}</p>")
        options = "".join(
            f'<option value="{code}">{html.escape(str(label))}</option>' for code, label in REASONS
        )
        parts.append(
            '<form method="post" action="/open">'
            f'<label for="who">{_t("who")}</label>'
            '<input id="who" name="who" required maxlength="60" autofocus>'
            f'<label for="reason">{_t("why")}</label>'
            f'<select id="reason" name="reason">{options}</select>'
            f'<button type="submit">{_t("open")}</button></form>'
        )
        forms = (packet or {}).get("forms") or {}
        if forms:
            parts.append(f"<h2>{_t('blank')}</h2>")
            parts.append(f'<a class="big" href="/forms/all.pdf">{_t("print_forms")}</a>')
        return self._page(MARK, "".join(parts))

    def serve(self, host: str, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer((host, port), _handler(self))
        server.daemon_threads = True
        return server


def _read_cookie(raw: str) -> tuple[str, str]:
    jar = cookies.SimpleCookie()
    try:
        jar.load(raw or "")
        data = json.loads(jar["hg_who"].value) if "hg_who" in jar else {}
    except (cookies.CookieError, json.JSONDecodeError):
        return "", ""
    return str(data.get("who", ""))[:60], str(data.get("reason", ""))[:200]


def _handler(app: NodeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "HISGuard-node"

        def _go(self, method: str) -> None:
            parts = urlsplit(self.path)
            form: dict[str, list[str]] = {}
            if method == "POST":
                length = min(int(self.headers.get("Content-Length") or 0), 10_000)
                form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
            status, kind, body, headers = app.respond(
                method,
                parts.path,
                parse_qs(parts.query),
                form,
                self.headers.get("Cookie", ""),
                self.client_address[0],
            )
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Frame-Options", "DENY")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._go("GET")

        def do_POST(self) -> None:
            self._go("POST")

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.client_address[0], format % args)

    return Handler
