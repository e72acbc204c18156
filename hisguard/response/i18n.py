"""Hospital-edited texts come in the hospital's language and, optionally, in English."""

from __future__ import annotations

from django.conf import settings
from django.utils import translation


def reading_english() -> bool:
    return (translation.get_language() or settings.LANGUAGE_CODE).lower().startswith("en")


def pick(own: str, english: str) -> str:
    """The English text for an English reader when there is one, else the hospital's own."""
    return english if english and reading_english() else own
