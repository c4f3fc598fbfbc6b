"""The webhook protocol as plain functions: secrets, signatures, endpoint URLs, backoff.

Arbitral signs its webhooks as the Standard Webhooks specification says
(https://www.standardwebhooks.com, ``spec/standard-webhooks.md``), so a lender can
verify them with any of that project's libraries or with :func:`verify` here:

* the secret is ``whsec_`` followed by the base64 of 32 random bytes; the HMAC key is
  those bytes (base64-decoded, without the prefix);
* every request carries ``webhook-id`` (the event's id, the same on every retry: the
  receiver's idempotency key), ``webhook-timestamp`` (Unix seconds of this attempt)
  and ``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256>`` entries over
  ``f"{webhook-id}.{webhook-timestamp}.{body}"``, one per secret in force (two for a
  day after a rotation: the new one and the one it replaced);
* a receiver checks that some ``v1`` entry matches in constant time and that the
  timestamp is within five minutes of its clock (a replayed request fails).

No I/O here: the services, the delivery job, the stand-in receiver and the tests use
the same functions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlsplit

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 (the prefix the specification names)
SECRET_BYTES: Final = 32
TOLERANCE_S: Final = 5 * 60
MAX_URL_LENGTH: Final = 2000
# Event types the platform sends.
BATCH_COMPLETED: Final = "batch.completed"
CASE_STATE_CHANGED: Final = "case.state_changed"
EVENT_TYPES: Final = frozenset({BATCH_COMPLETED, CASE_STATE_CHANGED})
# Attempt n (1-based) that fails is followed by attempt n+1 after BACKOFF[n-1]; after the
# last attempt the delivery is ``failed``. 8 attempts over about 31 hours.
BACKOFF: Final[tuple[timedelta, ...]] = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=12),
)
MAX_ATTEMPTS: Final = len(BACKOFF) + 1
LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost", "::1"})


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def format_secret(raw: bytes) -> str:
    """The secret as the lender is shown it: ``whsec_`` + base64."""
    return SECRET_PREFIX + base64.b64encode(raw).decode()


def parse_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret (ValueError when it is not one)."""
    text = secret.strip()
    if text.startswith(SECRET_PREFIX):
        text = text[len(SECRET_PREFIX) :]
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if not raw:
        raise ValueError("the webhook secret is empty")
    return raw


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature entry."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_headers(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of a request signed with every key in ``keys``."""
    if not keys:
        raise ValueError("a webhook is signed with at least one key")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(k, msg_id, timestamp, body) for k in keys),
    }


class WebhookVerificationError(Exception):
    """The request is not a genuine, fresh webhook for this secret."""


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"the {name} header is missing")


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: int = TOLERANCE_S,
) -> dict[str, Any]:
    """Check a received webhook and return its JSON payload.

    ``secret`` is the ``whsec_…`` string (or the raw key); ``headers`` the request's
    headers (any case); ``body`` the raw body bytes exactly as received (parse it only
    afterwards: re-serialised JSON would not match). Raises
    :class:`WebhookVerificationError` when a header is missing, the timestamp is more
    than ``tolerance_s`` away from ``now`` (a replay) or no ``v1`` signature matches.
    """
    key = parse_secret(secret) if isinstance(secret, str) else secret
    msg_id = _header(headers, "webhook-id")
    raw_ts = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        timestamp = int(raw_ts)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not Unix seconds") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp is too old or too far ahead")
    expected = signature(key, msg_id, timestamp, body)
    found = False
    for entry in signatures.split(" "):
        version, _, _ = entry.partition(",")
        if version == "v1" and hmac.compare_digest(entry.encode(), expected.encode()):
            found = True
    if not found:
        raise WebhookVerificationError("no signature matches")
    try:
        payload = json.loads(body)
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookVerificationError("the body is not a JSON object")
    return payload


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """The bytes sent (compact, sorted keys, UTF-8): the same for the same payload."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def url_problem(url: str, *, insecure: bool) -> tuple[str, str] | None:
    """What is wrong with ``url`` as a webhook endpoint, as (rule, message); None if fine.

    HTTPS only, with a host and no credentials or fragment; an IP address must be a
    public one. ``insecure`` (development and tests) also allows plain HTTP to the
    loopback host and any address.
    """
    if len(url) > MAX_URL_LENGTH:
        return "length", f"at most {MAX_URL_LENGTH} characters"
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        return "format", "a URL has no spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "format", "not a URL (the port must be a number between 0 and 65535)"
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in {"http", "https"} or not host:
        return "format", "an absolute https:// URL with a host"
    if parts.username is not None or parts.password is not None:
        return "credentials", "no user name or password in the URL"
    if parts.fragment:
        return "format", "no fragment (#...) in the URL"
    if port == 0:
        return "format", "port 0 is not a port to send to"
    if scheme == "http" and not (insecure and host in LOOPBACK_NAMES):
        return "https", "webhooks are sent over HTTPS only"
    if not insecure:
        if host in LOOPBACK_NAMES or host.endswith(".localhost"):
            return "address", "not a loopback address"
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        if not address.is_global:
            return "address", "a public address (not private, loopback or link-local)"
    return None


def refused_address(address: str) -> bool:
    """True for an address a webhook must not reach outside development (SSRF)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def backoff(attempts: int) -> timedelta | None:
    """How long after failed attempt number ``attempts`` the next one goes (None: give up)."""
    if attempts < 1 or attempts > len(BACKOFF):
        return None
    return BACKOFF[attempts - 1]
