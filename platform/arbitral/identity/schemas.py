"""Request and response types of the identity API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from arbitral.auth.domain import Role

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# Instants must say their time zone (2026-11-23T10:00:00+08:00): no guessing.
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    display_name: Name
    email: str | None = None
    phone: str | None = None
    roles: list[Role] = msgspec.field(default_factory=list)
    password: str | None = None


class UserUpdate(msgspec.Struct, forbid_unknown_fields=True):
    display_name: Name | None = None
    email: str | None = None
    phone: str | None = None
    status: Literal["active", "disabled"] | None = None


class MembershipOut(msgspec.Struct):
    id: UUID
    role: Role
    granted_at: datetime
    granted_by: str | None


class UserOut(msgspec.Struct):
    id: UUID
    display_name: str
    email: str | None
    phone: str | None
    status: str
    roles: list[Role]
    memberships: list[MembershipOut]
    password_login: bool
    totp_enabled: bool
    oidc_linked: bool
    created_at: datetime


class UserPage(msgspec.Struct):
    items: list[UserOut]
    next_cursor: str | None


class MembershipCreate(msgspec.Struct, forbid_unknown_fields=True):
    role: Role


class PowerOfAttorneyCreate(msgspec.Struct, forbid_unknown_fields=True):
    agent_user_id: UUID
    principal_user_id: UUID
    document_key: str
    scope: str = "all"
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class PowerOfAttorneyOut(msgspec.Struct):
    id: UUID
    agent_user_id: UUID
    principal_user_id: UUID
    scope: str
    document_key: str
    document_sha256: str
    valid_from: datetime
    valid_until: datetime | None
    created_at: datetime
    revoked_at: datetime | None


class TenantOut(msgspec.Struct):
    id: UUID
    slug: str
    name_zh: str
    name_en: str
    time_zone: str
    locale: str
    case_number_format: str


class Me(msgspec.Struct):
    kind: str
    subject_id: UUID
    tenant: str | None
    display_name: str
    roles: list[str]
    permissions: list[str]
    auth_method: str
