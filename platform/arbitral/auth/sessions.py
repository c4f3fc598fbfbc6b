"""Browser sessions: created at login, found by cookie, revoked at logout.

The cookie value is ``<tenant id>.<secret>``: the tenant id lets the lookup run
inside that tenant's transaction (row-level security), the secret is 32
random bytes whose SHA-256 is all the database keeps. Each session has a CSRF
token that unsafe requests made with the cookie must echo in ``X-CSRF-Token``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from arbitral.auth.domain import Principal, PrincipalKind, Role, permissions_of_roles
from arbitral.db.values import as_datetime, as_uuid

if TYPE_CHECKING:
    from arbitral.db.engine import Database
    from arbitral.db.uow import UnitOfWork

SESSION_LIFETIME = timedelta(hours=12)
SESSION_IDLE = timedelta(hours=2)
TOUCH_EVERY = timedelta(minutes=1)
_ROLES = {role.value for role in Role}


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewSession:
    session_id: UUID
    cookie_value: str = field(repr=False)
    csrf_token: str = field(repr=False)
    expires_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class ResolvedSession:
    principal: Principal
    csrf_token: str


async def create_session(
    uow: UnitOfWork,
    *,
    tenant_id: UUID,
    user_id: UUID,
    auth_method: str,
    ip: str | None,
    user_agent: str | None,
) -> NewSession:
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session_id = uuid4()
    expires = now + SESSION_LIFETIME
    await uow.execute(
        "INSERT INTO session (id, tenant_id, user_id, token_hash, csrf_token, auth_method, "
        "created_at, last_seen_at, expires_at, ip, user_agent) "
        "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        session_id,
        tenant_id,
        user_id,
        token_hash(secret),
        csrf,
        auth_method,
        now,
        now,
        expires,
        ip,
        (user_agent or "")[:300] or None,
    )
    return NewSession(session_id, f"{tenant_id}.{secret}", csrf, expires)


def parse_cookie(value: str) -> tuple[UUID, str] | None:
    tenant, _, secret = value.partition(".")
    if not secret or len(secret) > 100:
        return None
    try:
        return UUID(tenant), secret
    except ValueError:
        return None


async def resolve_session(db: Database, cookie_value: str) -> ResolvedSession | None:
    """The principal behind a session cookie, or None (unknown, revoked, expired, idle)."""
    parsed = parse_cookie(cookie_value)
    if parsed is None:
        return None
    tenant_id, secret = parsed
    now = datetime.now(UTC)
    async with db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT s.id, s.user_id, s.csrf_token, s.auth_method, s.last_seen_at, "
            "u.display_name, u.status FROM session s JOIN tenant_user u "
            "ON u.tenant_id = s.tenant_id AND u.id = s.user_id "
            "WHERE s.tenant_id = {} AND s.token_hash = {} AND s.revoked_at IS NULL "
            "AND s.expires_at > {}",
            tenant_id,
            token_hash(secret),
            now,
        )
        if not rows or rows[0]["status"] != "active":
            return None
        row = rows[0]
        last_seen = as_datetime(row["last_seen_at"])
        if now - last_seen > SESSION_IDLE:
            return None
        roles = await active_roles(uow, tenant_id, as_uuid(row["user_id"]))
    if now - last_seen > TOUCH_EVERY:
        # Written at most once a minute, so most requests take no write lock.
        async with db.transaction(tenant_id=tenant_id) as uow:
            await uow.execute(
                "UPDATE session SET last_seen_at = {} WHERE tenant_id = {} AND id = {}",
                now,
                tenant_id,
                row["id"],
            )
    return ResolvedSession(
        principal=Principal(
            kind=PrincipalKind.USER,
            subject_id=as_uuid(row["user_id"]),
            tenant_id=tenant_id,
            roles=roles,
            permissions=permissions_of_roles(roles),
            session_id=as_uuid(row["id"]),
            auth_method=str(row["auth_method"]),
            display_name=str(row["display_name"]),
        ),
        csrf_token=str(row["csrf_token"]),
    )


async def active_roles(uow: UnitOfWork, tenant_id: UUID, user_id: UUID) -> frozenset[Role]:
    rows = await uow.fetch(
        "SELECT role FROM membership WHERE tenant_id = {} AND user_id = {} AND revoked_at IS NULL",
        tenant_id,
        user_id,
    )
    return frozenset(Role(row["role"]) for row in rows if row["role"] in _ROLES)


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


async def revoke_session(uow: UnitOfWork, *, tenant_id: UUID, session_id: UUID) -> bool:
    rows = await uow.fetch(
        "UPDATE session SET revoked_at = {} WHERE tenant_id = {} AND id = {} "
        "AND revoked_at IS NULL RETURNING id",
        datetime.now(UTC),
        tenant_id,
        session_id,
    )
    return bool(rows)


async def revoke_all_sessions(uow: UnitOfWork, *, tenant_id: UUID, user_id: UUID) -> int:
    """Log the user out everywhere; return how many sessions ended."""
    rows = await uow.fetch(
        "UPDATE session SET revoked_at = {} WHERE tenant_id = {} AND user_id = {} "
        "AND revoked_at IS NULL RETURNING id",
        datetime.now(UTC),
        tenant_id,
        user_id,
    )
    return len(rows)
