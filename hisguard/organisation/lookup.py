"""Finding an asset the way people and machines name it: by hostname (any case) or by id."""

from __future__ import annotations

from django.db.models import QuerySet

from hisguard.organisation.models import Asset


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
