"""Email over SMTP (RFC 5321) with aiosmtplib: the real adapter.

``ARBITRAL_SMTP_URL`` names the server: ``smtp://`` (port 587 by default,
STARTTLS as ``starttls`` says: ``required``, the default, ``opportunistic`` or
``off`` for a server on loopback) or ``smtps://`` (port 465, TLS from the
first byte); the user name in the URL, the password by reference
(``password=env:NAME`` or ``file:/path``), the sender address in ``from``.

A message counts as delivered when the server accepted it for the address
(``250`` after ``DATA``): the notice reached the recipient's mail system as the
server knows it. A ``5xx`` refusal is a permanent failure (no retry; the
service ladder moves on); a ``4xx`` or a broken connection is retried.
Bounces that come back later (RFC 3464 delivery status notifications) are not
read yet. The ``Message-ID`` derives from the outbound message's id, so a
message sent twice (a crash between sending and recording) carries the same
id both times, for the recipient's system to recognise.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Final, Literal

import aiosmtplib

from arbitral.notify.domain import Channel, DeliveryError

SUBJECT_PREFIX: Final = "Subject: "


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: Literal["implicit", "required", "opportunistic", "off"] = "required"
    timeout_s: float = 30.0


def split_subject(body: str) -> tuple[str, str]:
    """An email body is stored as ``Subject: …``, a blank line, then the text."""
    if body.startswith(SUBJECT_PREFIX):
        first, _, rest = body.partition("\n")
        return first[len(SUBJECT_PREFIX) :].strip(), rest.lstrip("\n")
    return "", body


def compose(config: SmtpConfig, destination: str, body: str, idempotency_key: str) -> EmailMessage:
    subject, text = split_subject(body)
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = destination
    message["Subject"] = subject or "通知 / Notice"
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    domain = config.sender.rpartition("@")[2].strip(">") or "arbitral.invalid"
    message["Message-ID"] = f"<{idempotency_key}@{domain}>"
    message.set_content(text)
    return message


class SmtpSender:
    """Sends email through one SMTP server; returns the ``Message-ID`` it sent."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    async def send(
        self, channel: Channel, destination: str, body: str, *, idempotency_key: str
    ) -> str:
        if channel is not Channel.EMAIL:
            raise DeliveryError(f"the SMTP server does not carry {channel.value}", permanent=True)
        config = self.config
        message = compose(config, destination, body, idempotency_key)
        try:
            await aiosmtplib.send(
                message,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=config.password,
                use_tls=config.tls == "implicit",
                start_tls=(
                    True
                    if config.tls == "required"
                    else False
                    if config.tls in ("off", "implicit")
                    else None
                ),
                timeout=config.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)[:300]
            raise DeliveryError(
                f"the mail server refused the address: {detail}",
                permanent=all(500 <= c < 600 for c in codes),
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"the mail server answered {exc.code} {exc.message}"[:300],
                permanent=500 <= exc.code < 600 and exc.code != 530,
            ) from None
        return str(message["Message-ID"])
