"""What monitoring tells the classifier: systems that firing alerts say are down."""

from __future__ import annotations

from collections.abc import Iterable

from hisguard.incidents.models import Incident


def down_systems(incident: Incident) -> Iterable[int]:
    from hisguard.monitoring.models import Alert

    return set(
        Alert.objects.filter(
            incident=incident, status=Alert.Status.FIRING, silenced=False, system__isnull=False
        ).values_list("system_id", flat=True)
    )
