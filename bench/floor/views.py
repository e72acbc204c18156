import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from bench.floor.models import FloorRow


def report(request: HttpRequest) -> JsonResponse:
    """POST the same JSON body as /api/v1/reports; one row is committed before the answer."""
    if request.method == "GET":  # the benchmark's warm-up: open this thread's connection too
        FloorRow.objects.exists()
        return JsonResponse({"floor": "POST a report here"})
    if request.method != "POST":
        return JsonResponse({"error": "POST a report"}, status=405)
    try:
        data = json.loads(request.body)
        workstation, symptom = str(data["workstation"])[:64], str(data["symptom"])[:16]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "malformed"}, status=400)
    with transaction.atomic():
        row = FloorRow.objects.create(
            workstation=workstation,
            symptom=symptom,
            text=str(data.get("text", ""))[:2000],
            created_at=timezone.now(),
        )
    return JsonResponse({"id": row.pk}, status=201)
