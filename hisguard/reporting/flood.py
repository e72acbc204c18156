"""The flood limit: a stuck key or a script must not drown IT in reports from one workstation."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import connection
from django.utils.translation import gettext_lazy as _

from hisguard.core import sql
from hisguard.core.errors import Throttled, interpolate
from hisguard.organisation.models import Asset
from hisguard.reporting.models import FaultReport


def check_flood(workstation: Asset | None, now: datetime.datetime) -> None:
    """A workstation may report a few times per window; past that, a clear 429 and nothing stored."""
    if workstation is None:
        return
    window = datetime.timedelta(seconds=settings.HISGUARD_REPORT_FLOOD_WINDOW_SECONDS)
    recent = _reports_since(workstation.pk, now - window)
    if recent >= settings.HISGUARD_REPORT_FLOOD_LIMIT:
        raise Throttled(
            interpolate(
                _(
                    "This workstation has already sent %(count)s reports in the last %(minutes)s minutes; IT has them."
                ),
                {"count": recent, "minutes": settings.HISGUARD_REPORT_FLOOD_WINDOW_SECONDS // 60},
            ),
            retry_after=settings.HISGUARD_REPORT_FLOOD_WINDOW_SECONDS,
        )


def _reports_since(workstation_id: int, since: datetime.datetime) -> int:
    """Asked for every report: one hand-written statement on the (workstation, time) index."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {sql.table(FaultReport)} WHERE workstation_id = %s AND created_at >= %s",
            [workstation_id, sql.datetime_param(since)],
        )
        return int(cursor.fetchone()[0])
