"""Alliance administrators: above the commissions, seeing none of their data.

They log in with a built-in account (password, and TOTP once enrolled) to a
session of their own (a separate cookie and table); their principal has no
tenant, so every tenant route answers them 404 or 403, and the platform routes
answer them alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from arbitral.audit.services import Actor, record_platform
from arbitral.auth.credentials import hash_password, verify_password, verify_totp
from arbitral.auth.domain import PLATFORM_ADMIN_PERMISSIONS, Principal, PrincipalKind
from arbitral.auth.services import LoginFailed, TooManyAttempts
from arbitral.auth.sessions import SESSION_IDLE, SESSION_LIFETIME, TOUCH_EVERY, token_hash
from arbitral.crypto import unseal
from arbitral.db.values import as_datetime, as_optional_datetime, as_uuid
from arbitral.errors import Conflict, FieldProblem, ValidationFailed
from arbitral.identity.domain import normalize_email

if TYPE_CHECKING:
    from arbitral.db.engine import Database
    from arbitral.runtime import Runtime

PLATFORM_COOKIE = "arbitral_platform_session"
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class PlatformLogin:
    admin_id: UUID
    display_name: str
    cookie_value: str
    csrf_token: str
    expires_at: datetime


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
            "failed_logins, created_at) VALUES ({}, {}, {}, 'active', {}, 0, {})",
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
    import secrets

    db = runtime.db
    now = datetime.now(UTC)
    try:
        address = normalize_email(email)
    except ValueError:
        address = email.strip()
    async with db.transaction() as uow:
        rows = await uow.fetch("SELECT * FROM platform_admin WHERE email = {}", address)
        admin = rows[0] if rows else None
        locked = as_optional_datetime(admin["locked_until"]) if admin else None
        if locked is not None and locked > now:
            retry = int((locked - now).total_seconds()) + 1
        else:
            retry = 0
    if retry:
        async with db.transaction() as uow:
            await record_platform(
                uow,
                actor=Actor.anonymous(),
                action="login.platform",
                outcome="denied",
                detail={"email": address, "reason": "locked"},
            )
        raise TooManyAttempts(retry)
    usable = admin is not None and admin["status"] == "active"
    ok = verify_password(admin["password_hash"] if usable and admin else None, password)
    reason = None if ok else "wrong email or password"
    step = None
    if ok and admin is not None and admin["totp_confirmed_at"] is not None:
        context = f"totp:platform:{admin['id']}".encode()
        secret = unseal(runtime.key_encryption_key, bytes(admin["totp_secret_enc"]), context)
        result = verify_totp(secret.decode(), totp_code or "", last_step=admin["totp_last_step"])
        step = result.step if result.ok else None
        if not result.ok:
            reason = "second factor"
    async with db.transaction() as uow:
        if reason is None and admin is not None:
            secret_value = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(32)
            await uow.execute(
                "UPDATE platform_admin SET failed_logins = 0, locked_until = NULL, "
                "totp_last_step = COALESCE({}, totp_last_step) WHERE id = {}",
                step,
                admin["id"],
            )
            await uow.execute(
                "INSERT INTO platform_session (id, admin_id, token_hash, csrf_token, created_at, "
                "last_seen_at, expires_at, ip) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
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
                uow,
                actor=Actor("platform_admin", str(admin["id"])),
                action="login.platform",
            )
            return PlatformLogin(
                as_uuid(admin["id"]),
                str(admin["display_name"]),
                secret_value,
                csrf,
                now + SESSION_LIFETIME,
            )
        if admin is not None:
            failures = int(admin["failed_logins"] or 0) + 1
            await uow.execute(
                "UPDATE platform_admin SET failed_logins = {}, locked_until = {} WHERE id = {}",
                failures,
                now + LOCKOUT if failures >= MAX_FAILURES else None,
                admin["id"],
            )
        await record_platform(
            uow,
            actor=Actor.anonymous(),
            action="login.platform",
            outcome="failure",
            detail={"email": address, "reason": reason},
        )
    raise LoginFailed("the email address, the password or the code is wrong")


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
