"""Party login by one-time code, sent to the party's phone (SMS) or email address.

* A request answers alike (a challenge id) whether or not the destination
  belongs to an active party (claimant, respondent, agent) of the commission;
  only a party's request writes a message. The code is six digits from
  :mod:`secrets`, kept only as HMAC-SHA256(secret key, tenant|challenge|code),
  valid for :data:`CODE_LIFETIME`, good once, and a new request ends the
  destination's older live challenges.
* Brute force: a challenge dies after :data:`MAX_WRONG_CODES` wrong codes; the
  destination is locked (requests and verifications, the right code included)
  after ``DESTINATION_FAILURES`` failed verifications; requests are limited per
  destination and per client address, and failures per address too.
* Every request and every verification is audited, with the destination
  masked and never the code. The first successful verification marks the
  phone number or email address as verified.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from arbitral.audit.services import Actor, Outcome, record
from arbitral.auth import throttle
from arbitral.auth.domain import Role
from arbitral.auth.services import LoginFailed, LoginResult, TooManyAttempts
from arbitral.auth.sessions import create_session
from arbitral.db.values import as_datetime, as_uuid
from arbitral.errors import FieldProblem, ValidationFailed
from arbitral.identity.domain import mask_destination, normalize_email, normalize_phone
from arbitral.notify.domain import Channel, Purpose, login_code_message
from arbitral.notify.services import queue_message

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
MAX_WRONG_CODES = 5
PARTY_ROLES = (Role.CLAIMANT, Role.RESPONDENT, Role.AGENT)

DESTINATION_REQUESTS = throttle.Limit(
    max_count=5, window=timedelta(hours=1), lockout=timedelta(minutes=30)
)
ADDRESS_REQUESTS = throttle.Limit(
    max_count=20, window=timedelta(hours=1), lockout=timedelta(minutes=30)
)
DESTINATION_FAILURES = throttle.Limit(
    max_count=10, window=timedelta(hours=1), lockout=timedelta(hours=1)
)
ADDRESS_FAILURES = throttle.Limit(
    max_count=50, window=timedelta(hours=1), lockout=timedelta(hours=1)
)

REQUEST_ACTION = "login.otp.request"
VERIFY_ACTION = "login.otp"
_CODE = re.compile(rf"^[0-9]{{{CODE_DIGITS}}}$")
_WRONG = "the code is wrong, has expired or was used already; request a new one"


@dataclass(frozen=True, slots=True)
class Destination:
    channel: Channel
    key: str  # E.164 number, or the email address in lower case

    @property
    def masked(self) -> str:
        return mask_destination(self.key)

    @property
    def request_scope(self) -> str:
        return f"otp-dest:{self.key}"

    @property
    def failure_scope(self) -> str:
        return f"otp-dest-fail:{self.key}"


def parse_destination(channel: str, destination: str) -> Destination:
    """The destination in canonical form; 422 naming the field when it is not one."""
    try:
        kind = Channel(channel)
    except ValueError:
        raise ValidationFailed(
            "the request is not valid",
            errors=[FieldProblem("$.channel", "enum", "must be 'sms' or 'email'")],
        ) from None
    try:
        if kind is Channel.SMS:
            key = normalize_phone(destination)
        else:
            key = normalize_email(destination).lower()
    except ValueError as exc:
        raise ValidationFailed(
            "the request is not valid",
            errors=[FieldProblem("$.destination", "format", str(exc))],
        ) from None
    return Destination(kind, key)


def code_hash(secret_key: bytes, tenant_id: UUID, challenge_id: UUID, code: str) -> str:
    message = f"{tenant_id}|{challenge_id}|{code}".encode()
    return hmac.new(secret_key, message, hashlib.sha256).hexdigest()


def _new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def _ip_scopes(ip: str | None) -> tuple[str, str]:
    address = ip or "unknown"
    return f"otp-ip:{address}", f"otp-ip-fail:{address}"


_PARTY_BY_PHONE = (
    "SELECT u.id, u.display_name, u.email, u.phone FROM tenant_user u "
    "WHERE u.tenant_id = {} AND u.phone = {} AND u.status = 'active' AND EXISTS ("
    "SELECT 1 FROM membership m WHERE m.tenant_id = u.tenant_id AND m.user_id = u.id "
    "AND m.revoked_at IS NULL AND m.role IN ({}, {}, {})) ORDER BY u.created_at, u.id"
)
_PARTY_BY_EMAIL = (
    "SELECT u.id, u.display_name, u.email, u.phone FROM tenant_user u "
    "WHERE u.tenant_id = {} AND lower(u.email) = {} AND u.status = 'active' AND EXISTS ("
    "SELECT 1 FROM membership m WHERE m.tenant_id = u.tenant_id AND m.user_id = u.id "
    "AND m.revoked_at IS NULL AND m.role IN ({}, {}, {})) ORDER BY u.created_at, u.id"
)


async def find_party(
    uow: UnitOfWork, tenant_id: UUID, destination: Destination
) -> dict[str, Any] | None:
    """The active party (claimant, respondent, agent) reached at ``destination``, if any."""
    query = _PARTY_BY_PHONE if destination.channel is Channel.SMS else _PARTY_BY_EMAIL
    rows = await uow.fetch(query, tenant_id, destination.key, *(r.value for r in PARTY_ROLES))
    return rows[0] if rows else None


# -- requesting a code ----------------------------------------------------------------


async def request_code(
    runtime: Runtime,
    tenant: TenantInfo,
    channel: str,
    destination: str,
    ip: str | None,
) -> UUID:
    """Start a login by code; return the challenge id (the same answer for anyone).

    Raises ValidationFailed (422) for a malformed channel or destination and
    TooManyAttempts (429) when the destination or the address is over its
    limit or the destination is locked.
    """
    target = parse_destination(channel, destination)
    tenant_id = tenant.id
    ip_requests, _ = _ip_scopes(ip)
    challenge_id = uuid4()
    now = datetime.now(UTC)
    refused: throttle.Throttled | None = None
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        try:
            await throttle.ensure_not_locked(uow, tenant_id, target.failure_scope)
            await throttle.count_request(uow, tenant_id, ip_requests, ADDRESS_REQUESTS)
            await throttle.count_request(uow, tenant_id, target.request_scope, DESTINATION_REQUESTS)
        except throttle.Throttled as exc:
            # The counts written above stay: this transaction commits the refusal.
            refused = exc
            reason = {
                target.failure_scope: "destination locked",
                target.request_scope: "destination over its request limit",
            }.get(exc.scope, "address over its request limit")
            await _audit(uow, tenant_id, REQUEST_ACTION, "denied", target, reason=reason)
        else:
            party = await find_party(uow, tenant_id, target)
            await _supersede(uow, tenant_id, target, now)
            code = _new_code()
            # Nobody's challenge gets a hash that no code has: it answers like any other.
            stored = (
                code_hash(runtime.secret_key, tenant_id, challenge_id, code)
                if party is not None
                else secrets.token_hex(32)
            )
            await uow.execute(
                "INSERT INTO otp_challenge (id, tenant_id, channel, destination, user_id, "
                "code_hash, created_at, expires_at, attempts, ip) "
                "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, 0, {})",
                challenge_id,
                tenant_id,
                target.channel.value,
                target.key,
                None if party is None else as_uuid(party["id"]),
                stored,
                now,
                now + CODE_LIFETIME,
                ip,
            )
            if party is not None:
                address = party["phone"] if target.channel is Channel.SMS else party["email"]
                await queue_message(
                    uow,
                    tenant_id,
                    target.channel,
                    str(address),
                    Purpose.LOGIN_CODE.value,
                    login_code_message(
                        locale=tenant.locale,
                        sender=tenant.names.for_locale(tenant.locale),
                        code=code,
                        minutes=int(CODE_LIFETIME.total_seconds() // 60),
                    ),
                )
            await _audit(
                uow,
                tenant_id,
                REQUEST_ACTION,
                "success",
                target,
                challenge_id=challenge_id,
                sent=party is not None,
            )
    if refused is not None:
        raise TooManyAttempts(refused.retry_after_s)
    return challenge_id


async def _supersede(uow: UnitOfWork, tenant_id: UUID, target: Destination, now: datetime) -> None:
    """End the destination's live challenges: only the newest code works."""
    await uow.execute(
        "UPDATE otp_challenge SET expires_at = {} WHERE tenant_id = {} AND channel = {} "
        "AND destination = {} AND consumed_at IS NULL AND expires_at > {}",
        now,
        tenant_id,
        target.channel.value,
        target.key,
        now,
    )


# -- verifying a code -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Verdict:
    result: LoginResult | None = None
    retry_after_s: int | None = None


async def verify_code(
    runtime: Runtime,
    tenant: TenantInfo,
    challenge_id: str | UUID,
    code: str,
    ip: str | None,
    user_agent: str | None,
) -> LoginResult:
    """Log in with the code of a challenge: a new session (``otp:sms`` / ``otp:email``).

    Raises ValidationFailed (422) for a malformed challenge id or code,
    LoginFailed (401) for a wrong, expired, superseded or used code (or an
    unknown challenge) alike, and TooManyAttempts (429) while the destination
    or the address is locked, whatever the code.
    """
    challenge = _parse_challenge_id(challenge_id)
    # Full-width digits (a Chinese input method) and spaces ("123 456") are forgiven.
    code = "".join(unicodedata.normalize("NFKC", code).split())
    if not _CODE.match(code):
        raise ValidationFailed(
            "the request is not valid",
            errors=[FieldProblem("$.code", "format", f"must be the {CODE_DIGITS} digits sent")],
        )
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        verdict = await _verify(uow, runtime, tenant.id, challenge, code, ip, user_agent)
    if verdict.result is not None:
        return verdict.result
    if verdict.retry_after_s is not None:
        raise TooManyAttempts(verdict.retry_after_s)
    raise LoginFailed(_WRONG)


def _parse_challenge_id(value: str | UUID) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(value.strip())
    except ValueError:
        raise ValidationFailed(
            "the request is not valid",
            errors=[FieldProblem("$.challenge_id", "format", "is not a challenge id")],
        ) from None


async def _verify(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant_id: UUID,
    challenge_id: UUID,
    code: str,
    ip: str | None,
    user_agent: str | None,
) -> _Verdict:
    """Everything of one verification in one transaction (the failure counts commit too)."""
    now = datetime.now(UTC)
    rows = await uow.fetch(
        "SELECT channel, destination, user_id, code_hash, expires_at, attempts, consumed_at "
        "FROM otp_challenge WHERE tenant_id = {} AND id = {}"
        + (" FOR UPDATE" if uow.is_postgres else ""),
        tenant_id,
        challenge_id,
    )
    row = rows[0] if rows else None
    target = Destination(Channel(row["channel"]), row["destination"]) if row else None
    _, ip_failures = _ip_scopes(ip)
    try:
        await throttle.ensure_not_locked(uow, tenant_id, ip_failures)
        if target is not None:
            await throttle.ensure_not_locked(uow, tenant_id, target.failure_scope)
    except throttle.Throttled as exc:
        why = "address locked" if exc.scope == ip_failures else "destination locked"
        await _audit(
            uow,
            tenant_id,
            VERIFY_ACTION,
            "denied",
            target,
            challenge_id=challenge_id,
            reason=why,
        )
        return _Verdict(retry_after_s=exc.retry_after_s)

    # The HMAC is computed and compared whatever the challenge's state (no timing tell).
    expected = code_hash(runtime.secret_key, tenant_id, challenge_id, code)
    matches = hmac.compare_digest(expected, str(row["code_hash"]) if row else "")
    reason: str | None = None
    if row is None:
        reason = "unknown challenge"
    elif row["consumed_at"] is not None:
        reason = "used"
    elif as_datetime(row["expires_at"]) <= now:
        reason = "expired or superseded"
    elif int(row["attempts"]) >= MAX_WRONG_CODES:
        reason = "too many wrong codes"
    elif row["user_id"] is None:
        reason = "not a party"  # also a wrong code: its hash matches no code
    elif not matches:
        reason = "wrong code"
    party: dict[str, Any] | None = None
    if reason is None and target is not None and row is not None:
        party = await find_party(uow, tenant_id, target)
        if party is None or as_uuid(party["id"]) != as_uuid(row["user_id"]):
            reason = "no longer a party at this destination"
    if reason is None:
        # Good once, even between two transactions that both read the challenge as unused.
        consumed = await uow.fetch(
            "UPDATE otp_challenge SET consumed_at = {} WHERE tenant_id = {} AND id = {} "
            "AND consumed_at IS NULL RETURNING id",
            now,
            tenant_id,
            challenge_id,
        )
        if not consumed:
            reason = "used"

    if reason is None and party is not None and target is not None:
        return _Verdict(
            result=await _log_in(uow, tenant_id, challenge_id, target, party, now, ip, user_agent)
        )

    # A failure: spend a try of a live challenge, count it, audit it, answer alike.
    if row is not None and reason in ("wrong code", "not a party"):
        await uow.execute(
            "UPDATE otp_challenge SET attempts = attempts + 1 WHERE tenant_id = {} AND id = {}",
            tenant_id,
            challenge_id,
        )
    locked_until = None
    if target is not None:
        locked_until = await throttle.count_failure(
            runtime.db, tenant_id, target.failure_scope, DESTINATION_FAILURES
        )
    await throttle.count_failure(runtime.db, tenant_id, ip_failures, ADDRESS_FAILURES)
    await _audit(
        uow,
        tenant_id,
        VERIFY_ACTION,
        "failure",
        target,
        challenge_id=challenge_id,
        reason=reason,
        locked=locked_until is not None,
    )
    return _Verdict()


async def _log_in(
    uow: UnitOfWork,
    tenant_id: UUID,
    challenge_id: UUID,
    target: Destination,
    party: dict[str, Any],
    now: datetime,
    ip: str | None,
    user_agent: str | None,
) -> LoginResult:
    user_id = as_uuid(party["id"])
    if target.channel is Channel.SMS:
        verified = await uow.fetch(
            "UPDATE tenant_user SET phone_verified_at = {}, updated_at = {} "
            "WHERE tenant_id = {} AND id = {} AND phone = {} AND phone_verified_at IS NULL "
            "RETURNING id",
            now,
            now,
            tenant_id,
            user_id,
            target.key,
        )
    else:
        verified = await uow.fetch(
            "UPDATE tenant_user SET email_verified_at = {}, updated_at = {} "
            "WHERE tenant_id = {} AND id = {} AND lower(email) = {} AND email_verified_at IS NULL "
            "RETURNING id",
            now,
            now,
            tenant_id,
            user_id,
            target.key,
        )
    await throttle.reset(uow, tenant_id, target.failure_scope)
    session = await create_session(
        uow,
        tenant_id=tenant_id,
        user_id=user_id,
        auth_method=f"otp:{target.channel.value}",
        ip=ip,
        user_agent=user_agent,
    )
    await record(
        uow,
        tenant_id=tenant_id,
        actor=Actor("user", str(user_id)),
        action=VERIFY_ACTION,
        target_kind="session",
        target_id=session.session_id,
        detail={
            "channel": target.channel.value,
            "destination": target.masked,
            "challenge_id": str(challenge_id),
            "verified_destination": bool(verified),
        },
    )
    return LoginResult(session, user_id, str(party["display_name"]))


async def _audit(
    uow: UnitOfWork,
    tenant_id: UUID,
    action: str,
    outcome: Outcome,
    target: Destination | None,
    *,
    challenge_id: UUID | None = None,
    **detail: Any,
) -> None:
    """An audit event of a request or a failed verification (the destination masked)."""
    if target is not None:
        detail = {"channel": target.channel.value, "destination": target.masked, **detail}
    await record(
        uow,
        tenant_id=tenant_id,
        actor=Actor.anonymous(),
        action=action,
        outcome=outcome,
        target_kind=None if challenge_id is None else "otp_challenge",
        target_id=challenge_id,
        detail=detail,
    )
