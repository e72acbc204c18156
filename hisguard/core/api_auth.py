"""How machines and people authenticate to the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth

from hisguard.core.audit import set_actor
from hisguard.core.errors import Forbidden
from hisguard.core.middleware import client_ip
from hisguard.core.models import ApiToken


@dataclass(frozen=True)
class WorkstationPrincipal:
    """A workstation authenticated by the report token in its own link; may only report."""

    asset: Any


def user_for_api_token(raw: str):
    token = (
        ApiToken.objects.select_related("user").filter(token_hash=ApiToken.hash(raw), revoked=False).first()
    )
    if token is None or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user


class ApiTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = user_for_api_token(token)
        if user is None:
            return None
        request.user = user
        set_actor(user, label=f"{user.get_username()} (API)", ip=client_ip(request))
        return user


class ReportTokenOrApiTokenAuth(HttpBearer):
    """POST /reports: a workstation's own report token, or a machine's API token."""

    def authenticate(self, request: HttpRequest, token: str):
        from hisguard.organisation.lookup import reporter_by_token
        from hisguard.organisation.models import REPORTING_KINDS

        asset = reporter_by_token(token)
        if asset is not None and asset.kind in REPORTING_KINDS and asset.is_active:
            set_actor(None, label=f"workstation {asset.hostname}", ip=client_ip(request))
            return WorkstationPrincipal(asset)
        return ApiTokenAuth().authenticate(request, token)


class UserSessionAuth(SessionAuth):
    """A logged-in person using the API from the browser (CSRF-protected)."""

    def authenticate(self, request: HttpRequest, key: str | None):
        user = super().authenticate(request, key)
        if user is not None:
            set_actor(user, ip=client_ip(request))
        return user


API_AUTH = [ApiTokenAuth(), UserSessionAuth()]


def require(request: HttpRequest, *perms: str):
    user = request.auth  # type: ignore[attr-defined]
    if isinstance(user, WorkstationPrincipal) or user is None or not user.has_perms(perms):
        from django.utils.translation import gettext_lazy as _

        raise Forbidden(_("You do not have permission to do this."))
    return user
