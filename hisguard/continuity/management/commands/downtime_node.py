"""`hisguard downtime_node` (alias `hisguard downtime-node`): run a ward's downtime node."""

from __future__ import annotations

import datetime
import os
import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from hisguard.continuity.node import Node, NodeError, NodeServer, Store


class Command(BaseCommand):
    help = (
        "Keep this ward PC's copy of the ward's downtime packet (synced over HTTPS, encrypted at rest) and "
        "serve it on this PC, also when the server or the network is gone."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--server", help=_("The HISGuard server, e.g. https://hisguard.hospital.local"))
        parser.add_argument(
            "--token", help=_("The node token shown when the node was added (or HISGUARD_NODE_TOKEN).")
        )
        parser.add_argument(
            "--data-dir", default=None, help=_("Where the encrypted packet and the node key are kept.")
        )
        parser.add_argument(
            "--listen", default="127.0.0.1:8765", help=_("Address of the local pages (host:port).")
        )
        parser.add_argument("--interval", type=int, default=300, help=_("Seconds between syncs."))
        parser.add_argument(
            "--stale-minutes", type=int, default=120, help=_("Show the packet as old after this.")
        )
        parser.add_argument(
            "--ca-file", default=None, help=_("CA certificate to trust for the server's HTTPS.")
        )
        parser.add_argument(
            "--insecure-http", action="store_true", help=_("Allow http:// (test networks only).")
        )
        parser.add_argument("--once", action="store_true", help=_("Sync once and exit."))
        parser.add_argument(
            "--rotate-key",
            action="store_true",
            help=_("Re-encrypt the stored packets under a new key and exit."),
        )

    def handle(self, *args, **o) -> None:
        store = Store(Path(o["data_dir"] or Path(settings.VAR_DIR) / "downtime-node"))
        if o["rotate_key"]:
            store.rotate_key()
            self.stdout.write(
                self.style.SUCCESS(str(_("The node key was replaced and the packets re-encrypted.")))
            )
            return
        saved = store.config()
        server = o["server"] or saved.get("server")
        token = o["token"] or os.environ.get("HISGUARD_NODE_TOKEN") or saved.get("token")
        ca_file = o["ca_file"] or saved.get("ca_file") or ""
        if not server or not token:
            raise CommandError(
                str(_("Give --server and --token the first time; they are kept for the next runs."))
            )
        allow_http = o["insecure_http"] or bool(saved.get("insecure_http"))
        try:
            node = Node(store, server, token, ca_file=ca_file, allow_http=allow_http)
        except NodeError as exc:
            raise CommandError(str(exc)) from exc
        store.save_config(server=server, token=token, ca_file=ca_file, insecure_http=allow_http or None)
        result = node.sync()
        if result.ok:
            as_of = (
                datetime.datetime.fromisoformat(result.as_of).astimezone().strftime("%Y-%m-%d %H:%M")
                if result.as_of
                else "-"
            )
            self.stdout.write(str(format_lazy(_("Synced: packet as of {as_of}."), as_of=as_of)))
        else:
            self.stderr.write(
                str(format_lazy(_("Sync failed ({error}); serving the last copy."), error=result.error))
            )
        if o["once"]:
            if not result.ok:
                raise CommandError(result.error)
            return
        host, _sep, port = o["listen"].rpartition(":")
        app = NodeServer(node, stale_minutes=o["stale_minutes"], language=settings.LANGUAGE_CODE)
        httpd = app.serve(host or "127.0.0.1", int(port))
        threading.Thread(target=httpd.serve_forever, name="node-http", daemon=True).start()
        self.stdout.write(
            str(format_lazy(_("Serving the ward's packet on http://{listen}/"), listen=o["listen"]))
        )
        stopping = threading.Event()

        def stop(signum, frame) -> None:
            stopping.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        node.run(interval=o["interval"], stop=stopping.is_set)
        httpd.shutdown()
