"""SMS through the hospital's HTTP SMS gateway (短信网关 / 短信猫 server).

The gateway's address is set once (HISGUARD_SMS_GATEWAY_URL); each person's address is a
phone number. The gateway receives JSON {"phone", "message", "id"}.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from hisguard.paging.channels import Outgoing, SendError
from hisguard.paging.channels._http import post_json

PHONE = re.compile(r"^\+?[0-9]{5,20}$")
MAX_CHARS = 300  # long SMS are split by carriers into 70-character parts; keep it short


def validate(address: str) -> None:
    if not PHONE.match(address.replace(" ", "").replace("-", "")):
        raise ValidationError(_("Enter a phone number of 5 to 20 digits."))


def send(message: Outgoing) -> None:
    gateway = settings.HISGUARD_SMS_GATEWAY_URL
    if not gateway:
        raise SendError("no SMS gateway configured (HISGUARD_SMS_GATEWAY_URL)", retryable=False)
    text = f"{message.subject} {message.body}"
    if message.ack_url:
        text = f"{text[: MAX_CHARS - len(message.ack_url) - 1]} {message.ack_url}"
    post_json(
        gateway,
        {
            "phone": message.address.replace(" ", "").replace("-", ""),
            "message": text[:MAX_CHARS],
            "id": message.idempotency_key,
        },
        idempotency_key=message.idempotency_key,
    )
