"""Each channel against a real peer on loopback (SMTP server, HTTP endpoints)."""

from __future__ import annotations

import email

import pytest
from django.core.exceptions import ValidationError

from hisguard.paging.channels import Outgoing, SendError, send, validate_address

MESSAGE = Outgoing(
    address="",
    subject="[一类] INC-1 HIS 全院故障",
    body="请立即处理",
    idempotency_key="k-123",
    ack_url="http://x/ack/1/",
)


def with_address(address: str) -> Outgoing:
    return Outgoing(**{**MESSAGE.__dict__, "address": address})


def test_email_through_a_real_smtp_server(smtp, db):
    send("email", with_address("it-head@hospital.local"))
    assert len(smtp.messages) == 1
    envelope = smtp.messages[0]
    assert envelope.rcpt_tos == ["it-head@hospital.local"]
    parsed = email.message_from_bytes(envelope.original_content)
    assert parsed["Message-ID"] == "<k-123@hisguard>"  # a resend after a crash is the same mail
    body = parsed.get_payload(decode=True).decode()
    assert "请立即处理" in body and "http://x/ack/1/" in body


def test_smtp_server_down_is_a_retryable_failure(settings, db):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens on discard
    with pytest.raises(SendError) as failure:
        send("email", with_address("a@b.local"))
    assert failure.value.retryable


@pytest.mark.parametrize(
    ("channel", "field", "reply"),
    [
        ("webhook", "text", None),
        ("wecom", "text", {"errcode": 0}),
        ("dingtalk", "text", {"errcode": 0}),
        ("feishu", "content", {"code": 0}),
    ],
)
def test_http_channels_post_json_with_the_idempotency_key(receiver, channel, field, reply):
    if reply is not None:
        receiver.reply[f"/{channel}"] = reply
    send(channel, with_address(f"{receiver.url}/{channel}"))
    request = receiver.requests[-1]
    assert request.headers["Idempotency-Key"] == "k-123"
    assert "请立即处理" in str(request.body[field])


def test_a_bot_that_answers_with_an_error_code_fails_for_good(receiver):
    receiver.reply["/wecom"] = {"errcode": 93000, "errmsg": "invalid webhook url"}
    with pytest.raises(SendError) as failure:
        send("wecom", with_address(f"{receiver.url}/wecom"))
    assert not failure.value.retryable


def test_http_errors_are_classified(receiver):
    receiver.fail["/hook"] = [503]
    with pytest.raises(SendError) as server_error:
        send("webhook", with_address(f"{receiver.url}/hook"))
    assert server_error.value.retryable
    receiver.fail["/hook"] = [404]
    with pytest.raises(SendError) as client_error:
        send("webhook", with_address(f"{receiver.url}/hook"))
    assert not client_error.value.retryable


def test_sms_through_the_http_gateway(receiver, settings):
    settings.HISGUARD_SMS_GATEWAY_URL = f"{receiver.url}/sms"
    send("sms_http", with_address("138-0000 0001"))
    body = receiver.requests[-1].body
    assert body["phone"] == "13800000001"
    assert body["id"] == "k-123"
    assert len(body["message"]) <= 300 and body["message"].endswith("http://x/ack/1/")


def test_sms_without_a_gateway_fails_clearly(settings):
    settings.HISGUARD_SMS_GATEWAY_URL = ""
    with pytest.raises(SendError, match="no SMS gateway"):
        send("sms_http", with_address("13800000001"))


def test_apprise_json_url_reaches_the_receiver(receiver):
    send("apprise", with_address(receiver.url.replace("http://", "json://") + "/apprise"))
    assert receiver.requests[-1].path == "/apprise"
    assert "请立即处理" in receiver.requests[-1].body["message"]


def test_gsm_modem_with_gammus_dummy_driver(tmp_path, settings):
    pytest.importorskip("gammu", reason="python-gammu is an optional extra (needs libgammu-dev)")
    device = tmp_path / "phone"
    device.mkdir()
    config = tmp_path / "gammurc"
    config.write_text(f"[gammu]\ndevice = {device}\nconnection = none\nmodel = dummy\n")
    settings.HISGUARD_GAMMU_CONFIG = str(config)
    send("sms_gsm", with_address("13800000001"))  # the dummy phone accepts it


def test_gsm_modem_that_is_not_there_is_a_retryable_failure(tmp_path, settings):
    pytest.importorskip("gammu", reason="python-gammu is an optional extra (needs libgammu-dev)")
    config = tmp_path / "gammurc"
    config.write_text("[gammu]\ndevice = /dev/hisguard-no-modem\nconnection = at\n")
    settings.HISGUARD_GAMMU_CONFIG = str(config)
    with pytest.raises(SendError, match="gammu") as failure:
        send("sms_gsm", with_address("13800000001"))
    assert failure.value.retryable


@pytest.mark.parametrize(
    ("channel", "address"),
    [
        ("email", "not-an-email"),
        ("webhook", "ftp://x"),
        ("wecom", "qyapi"),
        ("sms_http", "call me"),
        ("sms_gsm", "12"),
        ("apprise", "nonsense"),
    ],
)
def test_malformed_addresses_are_refused(channel, address):
    with pytest.raises(ValidationError):
        validate_address(channel, address)
