"""DingTalk (钉钉) custom robot; the address is its full webhook URL."""

from __future__ import annotations

from hisguard.paging.channels import Outgoing
from hisguard.paging.channels._http import check_bot_reply, post_json, validate_url

validate = validate_url


def send(message: Outgoing) -> None:
    response = post_json(
        message.address,
        {"msgtype": "text", "text": {"content": f"{message.subject}\n{message.body}"}},
        idempotency_key=message.idempotency_key,
    )
    check_bot_reply(response, "errcode")
