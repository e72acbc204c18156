"""What monitoring tells the classifier: systems that firing alerts say are down."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from hisguard.core import sql
from hisguard.incidents.models import Incident


def down_systems(incident: Incident) -> Iterable[int]:
    """Asked for nearly every fault report, so one hand-written statement (hisguard.core.sql)."""
    from hisguard.monitoring.models import Alert

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT system_id FROM {sql.table(Alert)} WHERE incident_id = %s AND status = %s"
            " AND silenced = %s AND system_id IS NOT NULL",
            [incident.pk, Alert.Status.FIRING, False],
        )
        return {row[0] for row in cursor.fetchall()}
