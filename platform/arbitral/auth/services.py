"""Logins and logouts with built-in accounts (password + TOTP), and the session life.

Every login attempt is audited (success and failure alike); repeated failures
lock the account's login for a while (and the caller's address, separately),
whatever the reason of the failure, so a guesser learns nothing from timing
or from the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import anyio.to_thread

from arbitral.audit.services import Actor, record, record_alone
from arbitral.auth import throttle
from arbitral.auth.credentials import (
    hash_password,
    needs_rehash,
    new_totp_secret,
    totp_uri,
    verify_password,
    verify_totp,
)
from arbitral.auth.domain import Principal
from arbitral.auth.sessions import (
    NewSession,
    create_session,
    revoke_all_sessions,
    revoke_session,
)
from arbitral.crypto import seal, unseal
from arbitral.db.values import as_uuid
from arbitral.errors import FieldProblem, ProblemError, ValidationFailed
from arbitral.identity.domain import normalize_email
from arbitral.identity.services import access_user, actor_of, tenant_of

if TYPE_CHECKING:
    from arbitral.runtime import Runtime

PASSWORD_ATTEMPTS = throttle.Limit(
    max_count=5, window=timedelta(minutes=15), lockout=timedelta(minutes=15)
)
ADDRESS_FAILURES = throttle.Limit(
    max_count=50, window=timedelta(minutes=15), lockout=timedelta(minutes=15)
)


class LoginFailed(ProblemError):
    status = 401
    slug = "login-failed"
    title = "Login failed"


class TooManyAttempts(ProblemError):
    status = 429
    slug = "too-many-attempts"
    title = "Too many attempts"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"too many attempts; try again in {retry_after_s} s",
            extensions={"retry_after": retry_after_s},
            headers={"Retry-After": str(retry_after_s)},
        )
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class LoginResult:
    session: NewSession
    user_id: UUID
    display_name: str


def _totp_context(tenant_id: UUID, user_id: UUID) -> bytes:
    return f"totp:{tenant_id}:{user_id}".encode()


async def password_login(
    runtime: Runtime,
    *,
    tenant_id: UUID,
    email: str,
    password: str,
    totp_code: str | None,
    ip: str | None,
    user_agent: str | None,
) -> LoginResult:
    try:
        address = normalize_email(email)
    except ValueError:
        raise ValidationFailed(
            "the login is not valid",
            errors=[FieldProblem("$.email", "format", "is not an email address")],
        ) from None
    account_scope = f"password:{address.lower()}"
    ip_scope = f"password-ip:{ip or 'unknown'}"
    db = runtime.db

    # Count the attempt before judging it: parallel guesses are counted one by one.
    try:
        async with db.transaction(tenant_id=tenant_id, readonly=True) as uow:
            await throttle.ensure_not_locked(uow, tenant_id, ip_scope)
        await throttle.take_attempt(db, tenant_id, account_scope, PASSWORD_ATTEMPTS)
    except throttle.Throttled as locked:
        await record_alone(
            db,
            tenant_id=tenant_id,
            actor=Actor.anonymous(),
            action="login.password",
            outcome="denied",
            detail={"email": address, "reason": "locked"},
        )
        raise TooManyAttempts(locked.retry_after_s) from None

    async with db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT id, display_name, status, password_hash, totp_secret_enc, totp_confirmed_at, "
            "totp_last_step FROM tenant_user WHERE tenant_id = {} AND lower(email) = lower({})",
            tenant_id,
            address,
        )
    user: dict[str, Any] | None = rows[0] if rows else None
    usable = user is not None and user["status"] == "active"
    stored_hash = user["password_hash"] if usable and user is not None else None
    # argon2 takes tens of milliseconds: off the event loop, outside any transaction.
    password_ok = await anyio.to_thread.run_sync(verify_password, stored_hash, password)
    reason = None if password_ok else ("unknown account" if user is None else "wrong password")
    step: int | None = None
    if password_ok and user is not None and user["totp_confirmed_at"] is not None:
        if not totp_code:
            reason = "second factor required"
        else:
            secret = unseal(
                runtime.key_encryption_key,
                bytes(user["totp_secret_enc"]),
                _totp_context(tenant_id, as_uuid(user["id"])),
            ).decode()
            result = verify_totp(secret, totp_code, last_step=user["totp_last_step"])
            if result.ok:
                step = result.step
            else:
                reason = "wrong second factor"

    if reason is None and user is not None:
        user_id = as_uuid(user["id"])
        async with db.transaction(tenant_id=tenant_id) as uow:
            if step is not None:
                # Single use, even when the same code races in twice: only one update wins.
                spent = await uow.fetch(
                    "UPDATE tenant_user SET totp_last_step = {} WHERE tenant_id = {} AND id = {} "
                    "AND (totp_last_step IS NULL OR totp_last_step < {}) RETURNING id",
                    step,
                    tenant_id,
                    user_id,
                    step,
                )
                if not spent:
                    reason = "second factor used already"
            if reason is None:
                if needs_rehash(user["password_hash"]):
                    rehashed = await anyio.to_thread.run_sync(hash_password, password)
                    await uow.execute(
                        "UPDATE tenant_user SET password_hash = {} "
                        "WHERE tenant_id = {} AND id = {}",
                        rehashed,
                        tenant_id,
                        user_id,
                    )
                await throttle.reset(uow, tenant_id, account_scope)
                session = await create_session(
                    uow,
                    tenant_id=tenant_id,
                    user_id=user_id,
                    auth_method="password+totp" if step is not None else "password",
                    ip=ip,
                    user_agent=user_agent,
                )
                await record(
                    uow,
                    tenant_id=tenant_id,
                    actor=Actor("user", str(user_id)),
                    action="login.password",
                    target_kind="session",
                    target_id=session.session_id,
                    detail={"second_factor": step is not None},
                )
                return LoginResult(session, user_id, str(user["display_name"]))

    # A failure: the attempt is counted already; count the address, audit, answer alike.
    await throttle.count_failure(db, tenant_id, ip_scope, ADDRESS_FAILURES)
    await record_alone(
        db,
        tenant_id=tenant_id,
        actor=Actor.anonymous(),
        action="login.password",
        outcome="failure",
        detail={"email": address, "reason": reason},
    )
    if reason == "second factor required":
        raise LoginFailed(
            "enter the code of your authenticator app",
            extensions={"second_factor_required": True},
        )
    raise LoginFailed("the email address, the password or the code is wrong")


async def logout(runtime: Runtime, principal: Principal) -> None:
    tenant_id = tenant_of(principal)
    if principal.session_id is None:
        return
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await revoke_session(uow, tenant_id=tenant_id, session_id=principal.session_id)
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="logout",
            target_kind="session",
            target_id=principal.session_id,
        )


async def logout_everywhere(runtime: Runtime, principal: Principal, user_id: UUID) -> int:
    """End every session of ``user_id`` (oneself, or by an administrator)."""
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await access_user(uow, principal, user_id)
        ended = await revoke_all_sessions(uow, tenant_id=tenant_id, user_id=user_id)
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="logout.everywhere",
            target_kind="user",
            target_id=user_id,
            detail={"sessions": ended},
        )
    return ended


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    secret: str = field(repr=False)
    otpauth_uri: str = field(repr=False)


async def start_totp(runtime: Runtime, principal: Principal) -> TotpEnrolment:
    """A new (unconfirmed) authenticator secret; the old one stays until confirmation."""
    tenant_id = tenant_of(principal)
    secret = new_totp_secret()
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        user = await access_user(uow, principal, principal.subject_id)
        if user["totp_confirmed_at"] is not None:
            raise ValidationFailed(
                "an authenticator is set up already",
                errors=[FieldProblem("$", "state", "the second factor is already active")],
            )
        await uow.execute(
            "UPDATE tenant_user SET totp_secret_enc = {} WHERE tenant_id = {} AND id = {}",
            seal(
                runtime.key_encryption_key,
                secret.encode(),
                _totp_context(tenant_id, principal.subject_id),
            ),
            tenant_id,
            principal.subject_id,
        )
        account = user["email"] or user["phone"] or str(principal.subject_id)
    return TotpEnrolment(secret, totp_uri(secret, account=account))


async def confirm_totp(runtime: Runtime, principal: Principal, code: str) -> None:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        user = await access_user(uow, principal, principal.subject_id)
        if user["totp_secret_enc"] is None or user["totp_confirmed_at"] is not None:
            raise ValidationFailed(
                "start setting up an authenticator first",
                errors=[FieldProblem("$", "state", "no authenticator is waiting for confirmation")],
            )
        secret = unseal(
            runtime.key_encryption_key,
            bytes(user["totp_secret_enc"]),
            _totp_context(tenant_id, principal.subject_id),
        ).decode()
        result = verify_totp(secret, code, last_step=None)
        if not result.ok:
            raise ValidationFailed(
                "the code does not match", errors=[FieldProblem("$.code", "totp", result.reason)]
            )
        await uow.execute(
            "UPDATE tenant_user SET totp_confirmed_at = {}, totp_last_step = {} "
            "WHERE tenant_id = {} AND id = {}",
            datetime.now(UTC),
            result.step,
            tenant_id,
            principal.subject_id,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="totp.enabled",
            target_kind="user",
            target_id=principal.subject_id,
        )
