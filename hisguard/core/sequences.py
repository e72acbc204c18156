from __future__ import annotations

import datetime

from django.db import transaction

from hisguard.core.models import Sequence


def next_in_sequence(name: str, day: datetime.date) -> int:
    """The next number of `name` for `day`; call inside the transaction that uses it."""
    assert transaction.get_connection().in_atomic_block, "sequences are taken inside a transaction"
    seq, _ = Sequence.objects.select_for_update().get_or_create(name=name, day=day)
    seq.value += 1
    seq.save(update_fields=["value"])
    return seq.value
