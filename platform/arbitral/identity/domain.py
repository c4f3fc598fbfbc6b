"""Rules for people's contact details and authority (pure Python)."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(
    rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$", re.ASCII
)
_E164 = re.compile(r"^\+[1-9]\d{7,14}$", re.ASCII)
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$", re.ASCII)
_SCOPE = re.compile(r"^(all|case:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")


def normalize_email(value: str) -> str:
    """Trimmed, with the domain in lower case; ValueError if it is not an address."""
    value = value.strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("is not an email address")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalize_phone(value: str) -> str:
    """E.164 (``+8613800138000``); a bare mainland mobile number gets +86."""
    # Full-width digits (typed with a Chinese input method) become ASCII; nothing else does.
    compact = re.sub(r"[\s()-]", "", unicodedata.normalize("NFKC", value).strip())
    if _CN_MOBILE.match(compact):
        compact = "+86" + compact
    elif compact.startswith("0086"):
        compact = "+" + compact[2:]
    if not _E164.match(compact):
        raise ValueError("is not a phone number in international form (+86…)")
    return compact


def check_power_scope(scope: str) -> str:
    if not _SCOPE.match(scope):
        raise ValueError("must be 'all' or 'case:<case id>'")
    return scope


def check_validity(valid_from: datetime, valid_until: datetime | None) -> None:
    if valid_until is not None and valid_until <= valid_from:
        raise ValueError("must be after valid_from")


def mask_destination(destination: str) -> str:
    """A phone number or email address shown without most of it (for logs and receipts)."""
    if "@" in destination:
        local, _, domain = destination.partition("@")
        return f"{local[:1]}***@{domain}"
    return destination[:5] + "****" + destination[-2:] if len(destination) > 7 else "****"
