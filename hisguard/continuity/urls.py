from django.urls import path

from hisguard.continuity import views

urlpatterns = [
    path("downtime/", views.home, name="continuity-home"),
    path("downtime/wards/<int:pk>/", views.ward_packet, name="continuity-ward"),
    path("downtime/wards/<int:pk>/packet.pdf", views.ward_pdf, name="continuity-ward-pdf"),
    path("downtime/print-all.pdf", views.print_all, name="continuity-print-all"),
    path("downtime/break-glass/", views.break_glass, name="continuity-break-glass"),
    path("downtime/forms/", views.paper, name="continuity-forms"),
    path("downtime/connectors/new/", views.connector_edit, name="continuity-connector-new"),
    path("downtime/connectors/<int:pk>/", views.connector_edit, name="continuity-connector"),
    path("downtime/connectors/<int:pk>/try/", views.connector_try, name="continuity-connector-try"),
    path("downtime/connectors/<int:pk>/run/", views.connector_run, name="continuity-connector-run"),
    path("downtime/snapshots/<int:pk>/", views.snapshot_detail, name="continuity-snapshot"),
    path("downtime/nodes/new/", views.node_new, name="continuity-node-new"),
    path("downtime/nodes/<int:pk>/rotate/", views.node_rotate, name="continuity-node-rotate"),
    path("downtime/nodes/<int:pk>/active/", views.node_active, name="continuity-node-active"),
    path("downtime/access/", views.access_log, name="continuity-access"),
]
