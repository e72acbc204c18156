"""Finding an asset the way people and machines name it: by hostname (any case) or by id."""

from __future__ import annotations

from django.db.models import QuerySet

from hisguard.core.sql import JoinedQuery
from hisguard.organisation.models import REPORTER_RELATIONS, Asset

# A workstation with everything taking its report reads (see REPORTER_RELATIONS), in one
# statement built once: this runs for every fault report.
_REPORTER_BY_TOKEN = JoinedQuery(Asset, REPORTER_RELATIONS, "t0.report_token = %s")
_REPORTER_BY_HOSTNAME = JoinedQuery(Asset, REPORTER_RELATIONS, "t0.hostname = %s")


def find_asset(
    value: str | int, queryset: QuerySet[Asset] | None = None, *, allow_id: bool = True
) -> Asset | None:
    """The exact hostname first (it uses the unique index), then any case, then the numeric id."""
    query = queryset if queryset is not None else Asset.objects.all()
    text = str(value).strip()
    asset = query.filter(hostname=text).first() or query.filter(hostname__iexact=text).first()
    if asset is None and allow_id and text.isdigit():
        asset = query.filter(pk=int(text)).first()
    return asset


def reporter_by_token(token: str) -> Asset | None:
    """The asset whose report link carries this token, with its place, path and hospital."""
    found = _REPORTER_BY_TOKEN.fetch([token])
    return found[0] if found else None


def find_reporter(value: str | int) -> Asset | None:
    """Like `find_asset`, with what taking a report reads loaded alongside."""
    found = _REPORTER_BY_HOSTNAME.fetch([str(value).strip()])
    if found:
        return found[0]
    return find_asset(value, Asset.objects.select_related(*REPORTER_RELATIONS))
