from django.contrib import admin
from django.urls import include, path

from hisguard.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("hisguard.core.urls")),
    path("", include("hisguard.reporting.urls")),
    path("", include("hisguard.incidents.urls")),
    path("", include("hisguard.organisation.urls")),
    path("", include("hisguard.paging.urls")),
    path("", include("hisguard.response.urls")),
    path("", include("hisguard.monitoring.urls")),
    path("", include("hisguard.continuity.urls")),
]
