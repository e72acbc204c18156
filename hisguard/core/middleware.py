from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from hisguard.core.audit import acting_as


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class AuditActorMiddleware:
    """Attributes every change made while serving a request to the logged-in user and IP."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        with acting_as(user, ip=client_ip(request)):
            return self.get_response(request)
