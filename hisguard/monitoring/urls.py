from django.urls import path

from hisguard.monitoring import views

urlpatterns = [
    path("monitoring/", views.overview, name="monitoring"),
    path("monitoring/checks/", views.check_list, name="monitoring-checks"),
    path("monitoring/checks/new/", views.check_edit, name="monitoring-check-new"),
    path("monitoring/checks/<int:pk>/", views.check_detail, name="monitoring-check"),
    path("monitoring/checks/<int:pk>/edit/", views.check_edit, name="monitoring-check-edit"),
    path("monitoring/checks/<int:pk>/delete/", views.check_delete, name="monitoring-check-delete"),
    path("monitoring/assets/<str:hostname>/", views.asset_page, name="monitoring-asset"),
    path("monitoring/systems/<int:pk>/", views.system_page, name="monitoring-system"),
    path("monitoring/alerts/", views.alert_list, name="monitoring-alerts"),
    path("monitoring/unmapped/", views.unmapped, name="monitoring-unmapped"),
    path("monitoring/alerts/<int:pk>/map/", views.alert_map, name="monitoring-alert-map"),
    path("monitoring/alerts/<int:pk>/dismiss/", views.alert_dismiss, name="monitoring-alert-dismiss"),
    path("monitoring/warnings/", views.warnings, name="monitoring-warnings"),
    path("monitoring/heartbeats/", views.heartbeats, name="monitoring-heartbeats"),
    path("monitoring/sources/", views.sources, name="monitoring-sources"),
    path("monitoring/maintenance/", views.maintenance, name="monitoring-maintenance"),
    path("hb/<str:token>", views.ping, name="heartbeat-ping"),
    path("hb/<str:token>/fail", views.ping, {"fail": True}, name="heartbeat-fail"),
]
