"""Gunicorn settings for `hisguard up` and the benchmarks (one place, so both match)."""

import os

bind = os.environ.get("HISGUARD_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
worker_class = "gthread"
# Four threads a worker: writes queue for one lock anyway (SQLite's write lock, the hospital's
# correlation lock on PostgreSQL), and more threads only compete for the CPU with the one
# holding it (report storm p99 179–243 ms with 4, 188–361 ms with 8; docs/benchmarks.md).
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 60
graceful_timeout = 10
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
errorlog = "-"
loglevel = "warning"

