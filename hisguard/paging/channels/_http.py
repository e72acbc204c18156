"""Shared by the channels that POST JSON to an HTTP endpoint (bots, webhooks, SMS gateways)."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _

from hisguard.paging.channels import SendError

_url = URLValidator(schemes=["http", "https"])


def validate_url(address: str) -> None:
    try:
        _url(address)
    except ValidationError as exc:
        raise ValidationError(_("Enter a valid http(s) URL for this channel.")) from exc


_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """One pooled client per process: a new one per message would rebuild TLS contexts and
    connections each time (tens of milliseconds) — it made a 2,000-person broadcast crawl."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(
                timeout=settings.HISGUARD_CHANNEL_TIMEOUT_SECONDS,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            )
        return _client


def post_json(url: str, payload: dict[str, Any], *, idempotency_key: str) -> httpx.Response:
    """POST and classify the outcome: 5xx and network errors may pass, 4xx will not."""
    try:
        response = client().post(
            url,
            json=payload,
            headers={"Idempotency-Key": idempotency_key, "User-Agent": "HISGuard"},
        )
    except httpx.HTTPError as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise SendError(f"HTTP {response.status_code}: {response.text[:200]}")
    if response.status_code >= 400:
        raise SendError(f"HTTP {response.status_code}: {response.text[:200]}", retryable=False)
    return response


def check_bot_reply(response: httpx.Response, code_field: str) -> None:
    """WeCom, DingTalk and Feishu answer 200 with an error code in the body."""
    try:
        body = response.json()
    except ValueError:
        return
    code = body.get(code_field, 0) if isinstance(body, dict) else 0
    if code not in (0, None):
        raise SendError(f"{code_field}={code}: {str(body)[:200]}", retryable=False)
