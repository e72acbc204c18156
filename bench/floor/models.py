from django.db import models


class FloorRow(models.Model):
    """One stored report, as small as a report can be."""

    workstation = models.CharField(max_length=64)
    symptom = models.CharField(max_length=16)
    text = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "bench_floor"

    def __str__(self) -> str:
        return f"{self.workstation} {self.symptom}"
