from django.urls import path

from hisguard.reporting import views

urlpatterns = [
    path("r/<str:token>/", views.report_page, name="report-page"),
    path("s/<str:token>/", views.report_status, name="report-status"),
    path("s/<str:token>/live/", views.report_status_live, name="report-status-live"),
    path("intake/", views.intake, name="intake"),
]
