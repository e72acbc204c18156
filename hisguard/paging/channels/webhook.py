"""Generic webhook: a JSON POST any system can receive (an intranet pager, a ticket system)."""

from __future__ import annotations

from hisguard.paging.channels import Outgoing
from hisguard.paging.channels._http import post_json, validate_url

validate = validate_url


def send(message: Outgoing) -> None:
    post_json(
        message.address,
        {
            "subject": message.subject,
            "text": message.body,
            "urgency": message.urgency,
            "ack_url": message.ack_url,
            "idempotency_key": message.idempotency_key,
        },
        idempotency_key=message.idempotency_key,
    )
