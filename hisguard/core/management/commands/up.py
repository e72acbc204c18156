"""`hisguard up`: run every HISGuard process for the embedded single-machine setup."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


def process_commands(host: str, port: int) -> dict[str, list[str]]:
    """The processes HISGuard runs: each part adds its own line."""
    manage = [sys.executable, "-m", "hisguard.cli"]
    return {
        "worker": [*manage, "worker"],
        "checker": [*manage, "checker"],
        "web": [
            sys.executable,
            "-m",
            "gunicorn",
            "hisguard.wsgi:application",
            "--config",
            "python:hisguard.gunicorn_conf",
            "--bind",
            f"{host}:{port}",
        ],
    }


class Command(BaseCommand):
    help = "Run the web server (and the worker and checker) until interrupted."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host: str, port: int, **options) -> None:
        self._banner(host, port)
        children = {name: subprocess.Popen(cmd) for name, cmd in process_commands(host, port).items()}  # noqa: S603
        stopping = False

        def stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with {child.returncode}; stopping the rest")
                        stopping = True
                time.sleep(0.5)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.terminate()
            for child in children.values():
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()

    def _banner(self, host: str, port: int) -> None:
        from hisguard.organisation.demo import DEMO_LOGINS, DEMO_PASSWORD

        self.stdout.write(f"\nHISGuard 医院信息系统应急响应平台 — http://{host}:{port}/")
        self.stdout.write(f"Database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}")
        self.stdout.write(f"Demo logins (password {DEMO_PASSWORD}):")
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {login.username:<10} {login.description}")
        self.stdout.write("Press Ctrl+C to stop.\n")
