"""Alliance administrators: above the commissions, seeing none of their data.

They log in with a built-in account (password, and TOTP once enrolled) to a
session of their own (a separate cookie and table); their principal has no
tenant, so every tenant route answers them 404 or 403, and the platform routes
answer them alone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import anyio.to_thread

from arbitral.audit.services import Actor, record_platform
from arbitral.auth import throttle
from arbitral.auth.credentials import (
    hash_password,
    new_totp_secret,
    totp_uri,
    verify_password,
    verify_totp,
)
from arbitral.auth.domain import PLATFORM_ADMIN_PERMISSIONS, Principal, PrincipalKind
from arbitral.auth.services import (
    ADDRESS_FAILURES,
    PASSWORD_ATTEMPTS,
    LoginFailed,
    TooManyAttempts,
)
from arbitral.auth.sessions import SESSION_IDLE, SESSION_LIFETIME, TOUCH_EVERY, token_hash
from arbitral.crypto import seal, unseal
from arbitral.db.values import as_datetime, as_uuid
from arbitral.errors import Conflict, FieldProblem, ValidationFailed
from arbitral.identity.domain import normalize_email

if TYPE_CHECKING:
    from arbitral.db.engine import Database
    from arbitral.runtime import Runtime

PLATFORM_COOKIE = "arbitral_platform_session"


@dataclass(frozen=True, slots=True)
class PlatformLogin:
    admin_id: UUID
    display_name: str
    cookie_value: str = field(repr=False)
    csrf_token: str = field(repr=False)
    expires_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def platform_cookie_name(public_url: str) -> str:
    return f"__Host-{PLATFORM_COOKIE}" if public_url.startswith("https://") else PLATFORM_COOKIE


async def create_admin(db: Database, *, email: str, display_name: str, password: str) -> UUID:
    try:
        address = normalize_email(email)
    except ValueError as exc:
        raise ValidationFailed(
            "not valid", errors=[FieldProblem("$.email", "format", str(exc))]
        ) from None
    admin_id = uuid4()
    async with db.transaction() as uow:
        if await uow.fetch("SELECT id FROM platform_admin WHERE email = {}", address):
            raise Conflict("an administrator has this address already")
        await uow.execute(
            "INSERT INTO platform_admin (id, email, display_name, status, password_hash, "
            "created_at) VALUES ({}, {}, {}, 'active', {}, {})",
            admin_id,
            address,
            display_name,
            hash_password(password),
            datetime.now(UTC),
        )
        await record_platform(
            uow,
            actor=Actor("operator", "console"),
            action="platform_admin.created",
            target_kind="platform_admin",
            target_id=admin_id,
        )
    return admin_id


async def platform_login(
    runtime: Runtime,
    *,
    email: str,
    password: str,
    totp_code: str | None,
    ip: str | None,
) -> PlatformLogin:
    """Log an alliance administrator in; limits as for commission logins (see auth.services)."""
    db = runtime.db
    now = datetime.now(UTC)
    try:
        address = normalize_email(email)
    except ValueError:
        address = email.strip().lower()[:254]
    scope = f"platform-password:{address.lower()}"
    ip_scope = f"platform-ip:{ip or 'unknown'}"
    try:
        async with db.transaction(readonly=True) as uow:
            await throttle.ensure_not_locked(uow, None, ip_scope)
        # Counted before it is judged, for unknown addresses too: no enumeration by lockout.
        await throttle.take_attempt(db, None, scope, PASSWORD_ATTEMPTS)
    except throttle.Throttled as locked:
        async with db.transaction() as uow:
            await record_platform(
                uow,
                actor=Actor.anonymous(),
                action="login.platform",
                outcome="denied",
                detail={"email": address, "reason": "locked"},
            )
        raise TooManyAttempts(locked.retry_after_s) from None

    async with db.transaction(readonly=True) as uow:
        rows = await uow.fetch("SELECT * FROM platform_admin WHERE email = {}", address)
    admin = rows[0] if rows else None
    usable = admin is not None and admin["status"] == "active"
    stored_hash = admin["password_hash"] if usable and admin is not None else None
    ok = await anyio.to_thread.run_sync(verify_password, stored_hash, password)
    reason = None if ok else "wrong email or password"
    step = None
    if ok and admin is not None and admin["totp_confirmed_at"] is not None:
        secret = unseal(
            runtime.key_encryption_key,
            bytes(admin["totp_secret_enc"]),
            _totp_context(as_uuid(admin["id"])),
        )
        result = verify_totp(secret.decode(), totp_code or "", last_step=admin["totp_last_step"])
        step = result.step if result.ok else None
        if not result.ok:
            reason = "second factor"
    if reason is None and admin is not None:
        async with db.transaction() as uow:
            if step is not None:
                spent = await uow.fetch(
                    "UPDATE platform_admin SET totp_last_step = {} WHERE id = {} "
                    "AND (totp_last_step IS NULL OR totp_last_step < {}) RETURNING id",
                    step,
                    admin["id"],
                    step,
                )
                if not spent:
                    reason = "second factor used already"
            if reason is None:
                secret_value = secrets.token_urlsafe(32)
                csrf = secrets.token_urlsafe(32)
                await throttle.reset(uow, None, scope)
                await uow.execute(
                    "INSERT INTO platform_session (id, admin_id, token_hash, csrf_token, "
                    "created_at, last_seen_at, expires_at, ip) "
                    "VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
                    uuid4(),
                    admin["id"],
                    token_hash(secret_value),
                    csrf,
                    now,
                    now,
                    now + SESSION_LIFETIME,
                    ip,
                )
                await record_platform(
                    uow, actor=Actor("platform_admin", str(admin["id"])), action="login.platform"
                )
                return PlatformLogin(
                    as_uuid(admin["id"]),
                    str(admin["display_name"]),
                    secret_value,
                    csrf,
                    now + SESSION_LIFETIME,
                )
    await throttle.count_failure(db, None, ip_scope, ADDRESS_FAILURES)
    async with db.transaction() as uow:
        await record_platform(
            uow,
            actor=Actor.anonymous(),
            action="login.platform",
            outcome="failure",
            detail={"email": address, "reason": reason},
        )
    raise LoginFailed("the email address, the password or the code is wrong")


def _totp_context(admin_id: UUID) -> bytes:
    return f"totp:platform:{admin_id}".encode()


async def platform_logout(db: Database, principal: Principal) -> None:
    if principal.session_id is None:
        return
    async with db.transaction() as uow:
        await uow.execute(
            "UPDATE platform_session SET revoked_at = {} WHERE id = {} AND revoked_at IS NULL",
            datetime.now(UTC),
            principal.session_id,
        )
        await record_platform(
            uow,
            actor=Actor("platform_admin", str(principal.subject_id)),
            action="logout.platform",
            target_kind="platform_session",
            target_id=principal.session_id,
        )


async def start_platform_totp(runtime: Runtime, principal: Principal) -> tuple[str, str]:
    """A new authenticator secret for an alliance administrator: (secret, otpauth URI)."""
    secret = new_totp_secret()
    async with runtime.db.transaction() as uow:
        rows = await uow.fetch(
            "SELECT email, totp_confirmed_at FROM platform_admin WHERE id = {}",
            principal.subject_id,
        )
        if not rows or rows[0]["totp_confirmed_at"] is not None:
            raise ValidationFailed(
                "an authenticator is set up already",
                errors=[FieldProblem("$", "state", "the second factor is already active")],
            )
        await uow.execute(
            "UPDATE platform_admin SET totp_secret_enc = {} WHERE id = {}",
            seal(runtime.key_encryption_key, secret.encode(), _totp_context(principal.subject_id)),
            principal.subject_id,
        )
    return secret, totp_uri(secret, account=str(rows[0]["email"]), issuer="Arbitral alliance")


async def confirm_platform_totp(runtime: Runtime, principal: Principal, code: str) -> None:
    async with runtime.db.transaction() as uow:
        rows = await uow.fetch(
            "SELECT totp_secret_enc, totp_confirmed_at FROM platform_admin WHERE id = {}",
            principal.subject_id,
        )
        if not rows or rows[0]["totp_secret_enc"] is None or rows[0]["totp_confirmed_at"]:
            raise ValidationFailed(
                "start setting up an authenticator first",
                errors=[FieldProblem("$", "state", "no authenticator is waiting")],
            )
        secret = unseal(
            runtime.key_encryption_key,
            bytes(rows[0]["totp_secret_enc"]),
            _totp_context(principal.subject_id),
        ).decode()
        result = verify_totp(secret, code, last_step=None)
        if not result.ok:
            raise ValidationFailed(
                "the code does not match", errors=[FieldProblem("$.code", "totp", result.reason)]
            )
        await uow.execute(
            "UPDATE platform_admin SET totp_confirmed_at = {}, totp_last_step = {} WHERE id = {}",
            datetime.now(UTC),
            result.step,
            principal.subject_id,
        )
        await record_platform(
            uow,
            actor=Actor("platform_admin", str(principal.subject_id)),
            action="totp.enabled",
            target_kind="platform_admin",
            target_id=principal.subject_id,
        )


async def resolve_platform_session(db: Database, cookie_value: str) -> tuple[Principal, str] | None:
    now = datetime.now(UTC)
    async with db.transaction(readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT s.id, s.csrf_token, s.last_seen_at, a.id AS admin_id, a.display_name, "
            "a.status FROM platform_session s JOIN platform_admin a ON a.id = s.admin_id "
            "WHERE s.token_hash = {} AND s.revoked_at IS NULL AND s.expires_at > {}",
            token_hash(cookie_value),
            now,
        )
        if not rows or rows[0]["status"] != "active":
            return None
        row = rows[0]
        last_seen = as_datetime(row["last_seen_at"])
        if now - last_seen > SESSION_IDLE:
            return None
    if now - last_seen > TOUCH_EVERY:
        async with db.transaction() as uow:
            await uow.execute(
                "UPDATE platform_session SET last_seen_at = {} WHERE id = {}", now, row["id"]
            )
    principal = Principal(
        kind=PrincipalKind.PLATFORM_ADMIN,
        subject_id=as_uuid(row["admin_id"]),
        tenant_id=None,
        permissions=PLATFORM_ADMIN_PERMISSIONS,
        session_id=as_uuid(row["id"]),
        auth_method="password",
        display_name=str(row["display_name"]),
    )
    return principal, str(row["csrf_token"])
