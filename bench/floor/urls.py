from django.urls import path

from bench.floor.views import report

urlpatterns = [path("api/v1/reports", report)]
