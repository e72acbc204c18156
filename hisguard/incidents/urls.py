from django.urls import path

from hisguard.incidents import views

urlpatterns = [
    path("console/", views.console, name="console"),
    path("console/live/", views.console_live, name="console-live"),
    path("incidents/", views.incident_list, name="incident-list"),
    path("incidents/<int:pk>/", views.incident_detail, name="incident-detail"),
    path("incidents/<int:pk>/timeline/", views.incident_timeline, name="incident-timeline"),
    path("incidents/<int:pk>/status/", views.incident_status, name="incident-status"),
    path("incidents/<int:pk>/class/", views.incident_class, name="incident-class"),
    path("incidents/<int:pk>/assessment/", views.incident_assessment, name="incident-assessment"),
    path("incidents/<int:pk>/note/", views.incident_note, name="incident-note"),
    path("incidents/<int:pk>/maintenance/", views.incident_maintenance, name="incident-maintenance"),
    path("asset-down/", views.asset_down, name="asset-down"),
    path("reports/<int:pk>/detach/", views.report_detach, name="report-detach"),
    path("reports/<int:pk>/attach/", views.report_attach, name="report-attach"),
]
