"""Any service Apprise supports (Telegram, Teams, Slack, many SMS providers …): the address
is an Apprise URL. For the hospital's own intranet services prefer webhook or the bots."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from hisguard.paging.channels import Outgoing, SendError


def validate(address: str) -> None:
    import apprise

    if apprise.Apprise().add(address) is False:
        raise ValidationError(_("Apprise does not understand this URL."))


def send(message: Outgoing) -> None:
    import apprise

    notifier = apprise.Apprise()
    if not notifier.add(message.address):
        raise SendError("invalid Apprise URL", retryable=False)
    body = message.body + (f"\n{message.ack_url}" if message.ack_url else "")
    if not notifier.notify(title=message.subject, body=body):
        raise SendError("Apprise reported a failure")
