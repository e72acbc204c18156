"""Email over the hospital's SMTP server (settings EMAIL_HOST, EMAIL_PORT, …)."""

from __future__ import annotations

import smtplib

from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email

from hisguard.paging.channels import Outgoing, SendError


def validate(address: str) -> None:
    validate_email(address)


def send(message: Outgoing) -> None:
    email = EmailMessage(
        subject=message.subject,
        body=message.body + (f"\n\n{message.ack_url}" if message.ack_url else ""),
        to=[message.address],
        # A resend after a crash carries the same Message-ID: mail systems show it once.
        headers={
            "Message-ID": f"<{message.idempotency_key}@hisguard>",
            "X-Priority": "1" if message.urgency == "high" else "3",
        },
    )
    try:
        email.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        raise SendError(f"recipient refused: {exc}", retryable=False) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from exc


__all__ = ["ValidationError", "send", "validate"]
