from django.urls import path

from hisguard.organisation import views

urlpatterns = [
    path("departments/", views.departments, name="departments"),
    path("departments/<int:pk>/qr/", views.qr_sheet, name="qr-sheet"),
]
