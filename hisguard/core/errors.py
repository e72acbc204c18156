"""Messages that must reach people in Chinese and English at once (API errors, CLI)."""

from __future__ import annotations

from django.utils import translation
from django.utils.functional import Promise, lazy


def bilingual(message: str | Promise) -> dict[str, str]:
    with translation.override("zh-hans"):
        zh = str(message)
    with translation.override("en"):
        en = str(message)
    return {"zh-hans": zh, "en": en}


class DomainError(Exception):
    """A rule of the plan refused an action; the message says which, in the user's language."""

    status = 400
    code = "invalid"

    def __init__(self, message: str | Promise, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Throttled(DomainError):
    status = 429
    code = "too_many_reports"

    def __init__(self, message: str | Promise, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


def _interpolate(template: str | Promise, params: dict) -> str:
    return str(template) % params


# `_("… %(x)s") % {...}` translates at once, in whatever language is active then; an error
# message must stay lazy so `bilingual` can render it in both languages.
interpolate = lazy(_interpolate, str)
