"""Passwords (argon2id) and TOTP second factors (RFC 6238), for built-in accounts."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
TOTP_PERIOD_S = 30
TOTP_ISSUER = "Arbitral"

_hasher = PasswordHasher()  # argon2id, RFC 9106 defaults
# Verified when the account does not exist, so both answers take as long.
_DUMMY_HASH = _hasher.hash("not a real password; only spends the same time")


class WeakPassword(ValueError):
    """The password breaks a rule; the message says which."""


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"must be at most {MAX_PASSWORD_LENGTH} characters long")
    if len(set(password)) < 5:
        raise WeakPassword("must use at least 5 different characters")


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; spends the same time when there is no hash."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_totp_secret() -> str:
    return pyotp.random_base32(length=32)


def totp_uri(secret: str, *, account: str, issuer: str = TOTP_ISSUER) -> str:
    return pyotp.TOTP(secret, interval=TOTP_PERIOD_S).provisioning_uri(
        name=account, issuer_name=issuer
    )


@dataclass(frozen=True, slots=True)
class TotpResult:
    ok: bool
    step: int | None = None
    reason: str = ""


def verify_totp(
    secret: str, code: str, *, last_step: int | None, now: float | None = None
) -> TotpResult:
    """Check a 6-digit code in the current step or the one either side, once only.

    A code whose time step is not after ``last_step`` is refused (a replay, or
    an older code after a newer one was used).
    """
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return TotpResult(False, reason="the code is 6 digits")
    at = time.time() if now is None else now
    totp = pyotp.TOTP(secret, interval=TOTP_PERIOD_S)
    current = int(at // TOTP_PERIOD_S)
    for step in (current, current - 1, current + 1):
        if totp.generate_otp(step) == code:
            if last_step is not None and step <= last_step:
                return TotpResult(False, reason="this code was used already")
            return TotpResult(True, step=step)
    return TotpResult(False, reason="the code is wrong or expired")
