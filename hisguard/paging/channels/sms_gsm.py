"""SMS through a GSM modem attached to the HISGuard host (python-gammu, optional extra).

This is the path that works with no network at all: the modem talks to the carrier over the
air. Configure gammu as usual (HISGUARD_GAMMU_CONFIG, default ~/.gammurc).
"""

from __future__ import annotations

import contextlib

from django.conf import settings

from hisguard.paging.channels import Outgoing, SendError
from hisguard.paging.channels.sms_http import MAX_CHARS, validate

__all__ = ["send", "validate"]


def send(message: Outgoing) -> None:
    try:
        import gammu  # type: ignore[import-not-found]
    except ImportError as exc:
        raise SendError("python-gammu is not installed (pip install python-gammu)", retryable=False) from exc
    machine = gammu.StateMachine()
    try:
        machine.ReadConfig(Filename=settings.HISGUARD_GAMMU_CONFIG or None)
        machine.Init()
        text = f"{message.subject} {message.body}"[:MAX_CHARS]
        machine.SendSMS({"Text": text, "SMSC": {"Location": 1}, "Number": message.address, "Unicode": True})
    except gammu.GSMError as exc:
        raise SendError(f"gammu: {exc}") from exc
    finally:
        with contextlib.suppress(Exception):  # the modem may already be gone
            machine.Terminate()
