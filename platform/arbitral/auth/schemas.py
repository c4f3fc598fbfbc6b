"""Request and response types of the login API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

Secret = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class PasswordLogin(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
    password: Secret
    totp_code: Annotated[str, msgspec.Meta(max_length=12)] | None = None


class LoginOut(msgspec.Struct):
    user_id: UUID
    display_name: str
    csrf_token: str
    expires_at: datetime


class TotpStartOut(msgspec.Struct):
    secret: str
    otpauth_uri: str


class TotpConfirm(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=6, max_length=12)]


class LogoutOut(msgspec.Struct):
    sessions_ended: int
