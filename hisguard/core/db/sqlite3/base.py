"""Django's SQLite backend with a fair queue for the write lock.

SQLite has one write lock per database. A writer that finds it taken waits in SQLite's busy
handler, which sleeps 1, 2, 5, 10 … up to 100 ms between tries: in a storm of fault reports
the lock is free most of the time a waiter sleeps, and throughput falls to a fraction of
what one writer manages. Here every transaction (Django's atomic blocks take the lock at
BEGIN: IMMEDIATE mode) first queues for a gate: a lock per process for its threads, then an
advisory file lock (`flock`) beside the database for the processes (web workers, worker,
checker). The gate hands the write lock over as soon as it is released, in about the order
writers came. SQLite's own lock still guards every write; the gate only orders the waiting.

Waiting for the gate is bounded by the connection's ``timeout`` option, after which the
transaction fails with "database is locked", as SQLite's busy handler would.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import threading
import time

from django.conf import settings
from django.db.backends.sqlite3 import base, creation
from django.db.utils import OperationalError

_process_gates: dict[str, threading.Lock] = {}
_process_gates_guard = threading.Lock()
# Polling the file lock: a waiting process checks this often (only one thread per process polls).
_FILE_LOCK_POLL_SECONDS = 0.0005


def _process_gate(name: str) -> threading.Lock:
    with _process_gates_guard:
        return _process_gates.setdefault(name, threading.Lock())


@functools.lru_cache(maxsize=1024)
def _qmark(query: str) -> str:
    return base.FORMAT_QMARK_REGEX.sub("?", query).replace("%%", "%")


class CursorWrapper(base.SQLiteCursorWrapper):
    """Django's cursor, remembering each statement's ``%s`` → ``?`` rewrite: the same few
    statements run for every fault report, and the regular expression over their text cost
    as much as a tenth of the report path's time."""

    def convert_query(self, query, *, param_names=None):
        if param_names is None:
            return _qmark(query)
        return super().convert_query(query, param_names=param_names)


class DatabaseCreation(creation.DatabaseCreation):
    def _destroy_test_db(self, test_database_name, verbosity):
        super()._destroy_test_db(test_database_name, verbosity)  # type: ignore[misc]
        if test_database_name and not self.is_in_memory_db(test_database_name):
            with contextlib.suppress(OSError):  # the gate's lock file goes with the database
                os.remove(f"{test_database_name}-writer.lock")


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation
    _gate_file: int | None = None
    _gate_held = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._debug = settings.DEBUG

    def create_cursor(self, name=None):
        return self.connection.cursor(factory=CursorWrapper)

    @property
    def queries_logged(self) -> bool:
        """As Django's, with DEBUG read once per connection: reading the lazy settings object
        on every cursor cost 4 % of a fault report's CPU time."""
        return self.force_debug_cursor or self._debug

    def _start_transaction_under_autocommit(self) -> None:
        self._enter_gate()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # not in django-stubs
        except BaseException:
            self._leave_gate()
            raise

    def _commit(self):
        try:
            return super()._commit()  # type: ignore[misc]
        finally:
            self._leave_gate()

    def _rollback(self):
        try:
            return super()._rollback()  # type: ignore[misc]
        finally:
            self._leave_gate()

    def _close(self):
        try:
            return super()._close()  # type: ignore[misc]
        finally:
            self._leave_gate()
            if self._gate_file is not None:
                os.close(self._gate_file)
                self._gate_file = None

    # --- the gate ---------------------------------------------------------------------------

    def _gate_path(self) -> str | None:
        name = str(self.settings_dict["NAME"])
        return None if self.is_in_memory_db() else f"{name}-writer.lock"  # see DatabaseCreation

    def _enter_gate(self) -> None:
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        deadline = time.monotonic() + timeout
        gate = _process_gate(str(self.settings_dict["NAME"]))
        if not gate.acquire(timeout=timeout):
            raise OperationalError("database is locked (waited for the write gate)")
        try:
            path = self._gate_path()
            if path is not None:
                if self._gate_file is None:
                    self._gate_file = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                self._lock_file(self._gate_file, deadline)
        except BaseException:
            gate.release()
            raise
        self._gate_held = True

    @staticmethod
    def _lock_file(fd: int, deadline: float) -> None:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OperationalError("database is locked (waited for the write gate)") from None
                time.sleep(_FILE_LOCK_POLL_SECONDS)

    def _leave_gate(self) -> None:
        if not self._gate_held:
            return
        self._gate_held = False
        if self._gate_file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._gate_file, fcntl.LOCK_UN)
        _process_gate(str(self.settings_dict["NAME"])).release()
