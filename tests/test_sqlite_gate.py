"""SQLite's write lock is handed over through a fair gate (hisguard.core.db.sqlite3)."""

from __future__ import annotations

import datetime
import subprocess
import sys
import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from hisguard.core.db.sqlite3.base import DatabaseWrapper
from hisguard.core.models import Sequence
from hisguard.core.sequences import next_in_sequence

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="the gate is SQLite's")


def _wrapper(timeout: float) -> DatabaseWrapper:
    settings = dict(connection.settings_dict)
    settings["OPTIONS"] = {**settings["OPTIONS"], "timeout": timeout}
    wrapper = DatabaseWrapper(settings, alias=f"gate-{timeout}")
    wrapper.ensure_connection()
    return wrapper


@pytest.mark.django_db(transaction=True)
def test_a_writer_waits_for_the_gate_boundedly_and_gets_it_when_it_is_free():
    first, second = _wrapper(5), _wrapper(0.05)
    try:
        first._start_transaction_under_autocommit()
        with pytest.raises(OperationalError, match="database is locked"):
            second._start_transaction_under_autocommit()
        first.commit()
        second._start_transaction_under_autocommit()  # free again: no wait
        second.rollback()
    finally:
        first.close()
        second.close()


@pytest.mark.django_db(transaction=True)
def test_another_process_holding_the_gate_makes_writers_wait():
    path = f"{connection.settings_dict['NAME']}-writer.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600);"
            " fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.readline()",
            path,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    waiting = _wrapper(0.05)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(OperationalError, match="database is locked"):
            waiting._start_transaction_under_autocommit()
        holder.communicate("release\n", timeout=10)
        waiting._start_transaction_under_autocommit()
        waiting.rollback()
    finally:
        holder.kill()
        waiting.close()


@pytest.mark.django_db(transaction=True)
def test_many_threads_writing_at_once_all_commit_with_unique_numbers():
    day = datetime.date(2025, 3, 12)
    taken: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(25):
                with transaction.atomic():
                    taken.append(next_in_sequence("gate-test", day))
        except BaseException as exc:  # reported below: a thread's exception is lost otherwise
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(taken) == list(range(1, 201))
    assert Sequence.objects.get(name="gate-test", day=day).value == 200


@pytest.mark.django_db
def test_a_commit_reaches_the_disk_before_the_answer():
    """synchronous=FULL: the write-ahead log is synced at every commit, so a report answered
    201 survives a power cut of the server, not only a crash of HISGuard."""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 2  # FULL
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"


def test_the_sync_level_is_a_setting_and_a_wrong_one_is_refused(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from hisguard import settings as hisguard_settings

    monkeypatch.setenv("HISGUARD_SQLITE_SYNCHRONOUS", "normal")
    assert hisguard_settings._sqlite_synchronous() == "NORMAL"
    monkeypatch.setenv("HISGUARD_SQLITE_SYNCHRONOUS", "off")
    with pytest.raises(ImproperlyConfigured, match="FULL, NORMAL or EXTRA"):
        hisguard_settings._sqlite_synchronous()
