from django.urls import path

from hisguard.paging import views

urlpatterns = [
    path("ack/<str:token>/", views.ack_link, name="ack-link"),
    path("incidents/<int:pk>/acknowledge/", views.acknowledge, name="incident-acknowledge"),
    path("incidents/<int:pk>/broadcast/", views.broadcast, name="incident-broadcast"),
    path("paging/rosters/", views.rosters, name="rosters"),
    path("paging/rosters/<slug:code>/", views.roster_detail, name="roster-detail"),
    path("paging/rosters/<slug:code>.ics", views.roster_feed, name="roster-feed"),
    path("paging/readiness/", views.readiness_page, name="readiness"),
    path("paging/deliveries/", views.deliveries, name="deliveries"),
    path("paging/people/<int:pk>/", views.person_history, name="person-notifications"),
    path("status/", views.status_page, name="status-page"),
]
