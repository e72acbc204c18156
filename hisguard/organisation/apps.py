from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrganisationConfig(AppConfig):
    name = "hisguard.organisation"
    label = "organisation"
    verbose_name = _("Hospital model")
