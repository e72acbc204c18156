"""Feishu (飞书) custom bot; the address is its full webhook URL."""

from __future__ import annotations

from hisguard.paging.channels import Outgoing
from hisguard.paging.channels._http import check_bot_reply, post_json, validate_url

validate = validate_url


def send(message: Outgoing) -> None:
    response = post_json(
        message.address,
        {"msg_type": "text", "content": {"text": f"{message.subject}\n{message.body}"}},
        idempotency_key=message.idempotency_key,
    )
    check_bot_reply(response, "code")
