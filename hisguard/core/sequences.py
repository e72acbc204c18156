from __future__ import annotations

import datetime

from django.db import connection, transaction

from hisguard.core.models import Sequence


def next_in_sequence(name: str, day: datetime.date) -> int:
    """The next number of `name` for `day`; call inside the transaction that uses it.

    One statement (an upsert that returns the new value): it creates the day's counter or
    increments it under the row's write lock, so numbers stay unique and gap-free with several
    web processes, and a fault report pays one query for its tracking number, not three."""
    assert transaction.get_connection().in_atomic_block, "sequences are taken inside a transaction"
    table = connection.ops.quote_name(Sequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, day, value) VALUES (%s, %s, 1) "
            f"ON CONFLICT (name, day) DO UPDATE SET value = {table}.value + 1 RETURNING value",
            [name, day],
        )
        return int(cursor.fetchone()[0])
