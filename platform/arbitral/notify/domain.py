"""Messages to people: channels, templates, size limits, redaction (pure Python).

A message is written to the outbound outbox with its full body, delivered by a
:class:`MessageSender` (the console now; SMS gateways and SMTP arrive with the
channels), and then, when its purpose carries a secret (a login code), its
stored body is replaced by :func:`redact`: the secret never stays in the
database after delivery.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Final, Protocol


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class Purpose(StrEnum):
    """Why a message is sent (stored with it; decides whether it is redacted)."""

    LOGIN_CODE = "login_code"


# Purposes whose bodies carry a secret: redacted once delivered (or given up on).
SECRET_PURPOSES: Final = frozenset({Purpose.LOGIN_CODE.value})


class DeliveryError(Exception):
    """A sender could not deliver a message.

    ``permanent`` failures (a number that does not exist, an address the
    provider refuses) are not retried; any other exception from a sender is
    taken as passing and retried with backoff.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class MessageSender(Protocol):
    """Delivers one message on one channel; returns the provider's reference for it.

    ``idempotency_key`` (the outbound message's id) is the same on every
    attempt of one message: an adapter passes it to providers that deduplicate
    on it, so a redelivered job does not send a second copy where it can help it.
    """

    async def send(
        self, channel: Channel, destination: str, body: str, *, idempotency_key: str
    ) -> str: ...


# -- templates ---------------------------------------------------------------------

_LOGIN_CODE: Final = {
    "zh": "【{sender}】您的登录验证码为 {code}，{minutes}分钟内有效。请勿向他人透露。",
    "en": "[{sender}] Your login code is {code}. It is valid for {minutes} minutes. "
    "Do not share it with anyone.",
}
_CODE = re.compile(r"^[0-9]{4,8}$")


def language_of(locale: str) -> str:
    """The template language for a tenant locale: Chinese for ``zh*``, English otherwise."""
    return "zh" if locale.lower().startswith("zh") else "en"


def login_code_message(*, locale: str, sender: str, code: str, minutes: int) -> str:
    """The text of a login code message in the tenant's language.

    ``sender`` is the commission's name as it signs its messages (the SMS
    signature between 【】).
    """
    if not _CODE.match(code):
        raise ValueError("a login code is 4 to 8 digits")
    if minutes < 1:
        raise ValueError("a code is valid for at least a minute")
    sender = " ".join(sender.split())
    if not sender:
        raise ValueError("a message needs the name of its sender")
    return _LOGIN_CODE[language_of(locale)].format(sender=sender, code=code, minutes=minutes)


# -- size limits -------------------------------------------------------------------

# The GSM 03.38 default alphabet (one septet each) and its extension table (two each).
_GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED: Final = frozenset("^{}\\[~]|€\f")

# One SMS carries 160 GSM-7 characters or 70 UCS-2 ones (Chinese); a longer text is
# split in parts of 153 or 67 (the rest holds the concatenation header).
SMS_SINGLE = {"gsm7": 160, "ucs2": 70}
SMS_PART = {"gsm7": 153, "ucs2": 67}
MAX_SMS_SEGMENTS: Final = 7  # 469 Chinese characters: under the providers' usual 500
MAX_EMAIL_BODY: Final = 100_000


class BodyTooLong(ValueError):
    """A message body over its channel's limit."""


def sms_encoding(body: str) -> str:
    """``gsm7`` when every character is in the GSM alphabet, otherwise ``ucs2``."""
    return "gsm7" if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in body) else "ucs2"


def sms_units(body: str) -> int:
    """The body's length in the units its encoding counts (septets or UTF-16 code units)."""
    if sms_encoding(body) == "gsm7":
        return sum(2 if c in _GSM_EXTENDED else 1 for c in body)
    return len(body.encode("utf-16-le")) // 2


def sms_segments(body: str) -> int:
    """How many SMS parts the body takes."""
    encoding = sms_encoding(body)
    units = sms_units(body)
    if units <= SMS_SINGLE[encoding]:
        return 1
    return math.ceil(units / SMS_PART[encoding])


def check_body(channel: Channel, body: str) -> None:
    """Raise :class:`BodyTooLong` (or ValueError for an empty body) past the channel's limit."""
    if not body.strip():
        raise ValueError("a message needs a body")
    if channel is Channel.SMS:
        segments = sms_segments(body)
        if segments > MAX_SMS_SEGMENTS:
            raise BodyTooLong(
                f"an SMS may take {MAX_SMS_SEGMENTS} parts; this one needs {segments}"
            )
    elif len(body) > MAX_EMAIL_BODY:
        raise BodyTooLong(
            f"an email body may hold {MAX_EMAIL_BODY} characters; this has {len(body)}"
        )


# -- redaction ---------------------------------------------------------------------

_DIGIT_RUN = re.compile(r"\d{4,}")


def redact(purpose: str, body: str) -> str:
    """The body to keep once a message has gone out: secrets masked, the rest as sent.

    Messages of a secret purpose have every run of four or more digits masked
    (the code, whatever the template around it); other messages are kept whole,
    as the record of what was sent.
    """
    if purpose not in SECRET_PURPOSES:
        return body
    return _DIGIT_RUN.sub(lambda match: "*" * len(match.group()), body)
