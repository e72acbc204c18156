"""The versioned JSON API (/api/v1/). Each app contributes its own router."""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from hisguard.continuity.api import router as continuity_router
from hisguard.core.errors import DomainError, Throttled, bilingual, interpolate
from hisguard.incidents.api import router as incidents_router
from hisguard.monitoring.api import router as monitoring_router
from hisguard.organisation.api import router as organisation_router
from hisguard.paging.api import router as paging_router
from hisguard.reporting.api import router as reporting_router
from hisguard.response.api import router as response_router

api = NinjaAPI(
    title="HISGuard API",
    version="1",
    description="医院信息系统应急响应平台 — fault reports, incidents and the hospital model.",
    urls_namespace="api",
)


def error_response(request: HttpRequest, status: int, code: str, message, **extra) -> HttpResponse:
    """Errors name what is wrong in Chinese and in English, whatever the caller's language."""
    body = {"error": {"code": code, "message": str(message), "messages": bilingual(message), **extra}}
    return api.create_response(request, body, status=status)


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    response = error_response(request, exc.status, exc.code, exc.message)
    if isinstance(exc, Throttled):
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    fields = [
        ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "payload")) for err in exc.errors
    ]
    message = interpolate(
        _("The request is not valid: check the fields %(fields)s."), {"fields": ", ".join(fields) or "-"}
    )
    return error_response(request, 422, "invalid_request", message, fields=exc.errors)


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(
        request, 401, "unauthenticated", _("Authentication is required: send a valid token.")
    )


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400:
        return error_response(request, 400, "malformed", _("The request body is not valid JSON."))
    return error_response(request, exc.status_code, "error", str(exc))


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, 404, "not_found", _("Not found."))


@api.get("/health", auth=None, tags=["health"], summary="Is HISGuard up and its database reachable")
def health(request: HttpRequest):
    """For load balancers and the hospital's own monitoring: 200 when this server answers and
    its database does, 503 otherwise. Needs no token and tells nothing about the hospital."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return error_response(request, 503, "database_unavailable", _("The database does not answer."))
    return {"status": "ok", "database": connection.vendor}


api.add_router("/reports", reporting_router)
api.add_router("/incidents", incidents_router)
api.add_router("/", organisation_router)
api.add_router("/", paging_router)
api.add_router("/", monitoring_router)
api.add_router("/", response_router)
api.add_router("/", continuity_router)
