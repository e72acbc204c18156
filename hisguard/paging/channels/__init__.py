"""Notification channels: one module per channel, each with `validate(address)` and
`send(message) -> None` (raising `SendError`). The module is found by the channel's code,
so adding a channel is adding a module, not editing a registry."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Outgoing:
    address: str
    subject: str
    body: str
    idempotency_key: str
    urgency: str = "high"
    ack_url: str = ""


class SendError(Exception):
    """A delivery failed; `retryable` says whether trying the same channel again may help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def channel_module(channel: str) -> ModuleType:
    return importlib.import_module(f"hisguard.paging.channels.{channel}")


def validate_address(channel: str, address: str) -> None:
    """Raise django.core.exceptions.ValidationError when the address cannot work."""
    channel_module(channel).validate(address)


def send(channel: str, message: Outgoing) -> None:
    channel_module(channel).send(message)
