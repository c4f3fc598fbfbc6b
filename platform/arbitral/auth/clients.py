"""API clients of a commission (lenders, trading platforms, courts) and their secrets.

A client secret is 256 random bits shown once; the database keeps its SHA-256
(a fast hash is right for a high-entropy secret, and the token endpoint
answers in microseconds, not argon2's tens of milliseconds). Rotating a
secret leaves the old one valid for a grace period so the client can switch
without downtime.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID, uuid4

import msgspec

from arbitral.audit.services import record
from arbitral.auth.domain import ClientKind, Permission, Principal, grantable_scopes
from arbitral.db.values import as_datetime, as_optional_datetime, as_uuid
from arbitral.errors import FieldProblem, NotFound, ValidationFailed
from arbitral.identity.services import actor_of, tenant_of

if TYPE_CHECKING:
    from arbitral.db.engine import Database
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime

ROTATION_GRACE = timedelta(hours=24)


class ApiClientCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    kind: ClientKind
    scopes: list[str]


class ApiClientOut(msgspec.Struct):
    id: UUID
    client_id: str
    name: str
    kind: ClientKind
    scopes: list[str]
    status: str
    created_at: datetime
    secrets_valid: int


class ApiClientCreated(msgspec.Struct):
    client: ApiClientOut
    client_secret: str
    secret_expires_at: datetime | None = None


class SecretRotated(msgspec.Struct):
    client_id: str
    client_secret: str
    previous_secrets_expire_at: datetime


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


async def access_client(uow: UnitOfWork, principal: Principal, client_id: str) -> dict[str, Any]:
    rows = await uow.fetch(
        "SELECT * FROM api_client WHERE tenant_id = {} AND client_id = {}",
        tenant_of(principal),
        client_id,
    )
    if not rows:
        raise NotFound("no such API client")
    return rows[0]


async def _out(uow: UnitOfWork, row: dict[str, Any]) -> ApiClientOut:
    now = datetime.now(UTC)
    secrets_rows = await uow.fetch(
        "SELECT expires_at FROM api_client_secret WHERE tenant_id = {} AND api_client_id = {} "
        "AND revoked_at IS NULL",
        row["tenant_id"],
        row["id"],
    )
    valid = sum(1 for r in secrets_rows if (as_optional_datetime(r["expires_at"]) or now) >= now)
    scopes = row["scopes"]
    return ApiClientOut(
        id=as_uuid(row["id"]),
        client_id=row["client_id"],
        name=row["name"],
        kind=ClientKind(row["kind"]),
        scopes=sorted(json.loads(scopes) if isinstance(scopes, str) else scopes),
        status=row["status"],
        created_at=as_datetime(row["created_at"]),
        secrets_valid=valid,
    )


async def create_client(
    runtime: Runtime, principal: Principal, data: ApiClientCreate
) -> ApiClientCreated:
    tenant_id = tenant_of(principal)
    try:
        scopes = grantable_scopes(data.kind, data.scopes)
    except ValueError as exc:
        raise ValidationFailed(
            "the client is not valid", errors=[FieldProblem("$.scopes", "allowed", str(exc))]
        ) from None
    if not scopes:
        raise ValidationFailed(
            "the client is not valid",
            errors=[FieldProblem("$.scopes", "required", "name at least one scope")],
        )
    now = datetime.now(UTC)
    client_uuid = uuid4()
    client_id = f"cli_{secrets.token_urlsafe(16)}"
    secret = new_secret()
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await uow.execute(
            "INSERT INTO api_client (id, tenant_id, client_id, name, kind, scopes, status, "
            "created_at, created_by) VALUES ({}, {}, {}, {}, {}, {}, 'active', {}, {})",
            client_uuid,
            tenant_id,
            client_id,
            data.name.strip(),
            data.kind.value,
            json.dumps(sorted(s.value for s in scopes)),
            now,
            principal.actor_id,
        )
        await _add_secret(uow, tenant_id, client_uuid, secret, now)
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="api_client.created",
            target_kind="api_client",
            target_id=client_id,
            detail={"kind": data.kind.value, "scopes": sorted(s.value for s in scopes)},
        )
        out = await _out(uow, await access_client(uow, principal, client_id))
    return ApiClientCreated(client=out, client_secret=secret)


async def _add_secret(
    uow: UnitOfWork, tenant_id: UUID, client_uuid: UUID, secret: str, now: datetime
) -> None:
    await uow.execute(
        "INSERT INTO api_client_secret (id, tenant_id, api_client_id, secret_hash, created_at) "
        "VALUES ({}, {}, {}, {}, {})",
        uuid4(),
        tenant_id,
        client_uuid,
        secret_hash(secret),
        now,
    )


async def list_clients(runtime: Runtime, principal: Principal) -> list[ApiClientOut]:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        rows = await uow.fetch(
            "SELECT * FROM api_client WHERE tenant_id = {} ORDER BY created_at", tenant_id
        )
        return [await _out(uow, row) for row in rows]


async def get_client(runtime: Runtime, principal: Principal, client_id: str) -> ApiClientOut:
    async with runtime.db.transaction(tenant_id=tenant_of(principal)) as uow:
        return await _out(uow, await access_client(uow, principal, client_id))


async def rotate_secret(runtime: Runtime, principal: Principal, client_id: str) -> SecretRotated:
    """A new secret; the current ones stay valid for :data:`ROTATION_GRACE` more."""
    tenant_id = tenant_of(principal)
    now = datetime.now(UTC)
    grace_end = now + ROTATION_GRACE
    secret = new_secret()
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        row = await access_client(uow, principal, client_id)
        await uow.execute(
            "UPDATE api_client_secret SET expires_at = {} WHERE tenant_id = {} "
            "AND api_client_id = {} AND revoked_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > {})",
            grace_end,
            tenant_id,
            row["id"],
            grace_end,
        )
        await _add_secret(uow, tenant_id, as_uuid(row["id"]), secret, now)
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="api_client.secret_rotated",
            target_kind="api_client",
            target_id=client_id,
            detail={"previous_expire_at": grace_end.isoformat()},
        )
    return SecretRotated(
        client_id=client_id, client_secret=secret, previous_secrets_expire_at=grace_end
    )


async def disable_client(runtime: Runtime, principal: Principal, client_id: str) -> ApiClientOut:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        row = await access_client(uow, principal, client_id)
        if row["status"] != "disabled":
            now = datetime.now(UTC)
            await uow.execute(
                "UPDATE api_client SET status = 'disabled' WHERE tenant_id = {} AND id = {}",
                tenant_id,
                row["id"],
            )
            await uow.execute(
                "UPDATE api_client_secret SET revoked_at = {} WHERE tenant_id = {} "
                "AND api_client_id = {} AND revoked_at IS NULL",
                now,
                tenant_id,
                row["id"],
            )
            await record(
                uow,
                tenant_id=tenant_id,
                actor=actor_of(principal),
                action="api_client.disabled",
                target_kind="api_client",
                target_id=client_id,
            )
        return await _out(uow, await access_client(uow, principal, client_id))


@dataclass(frozen=True, slots=True)
class AuthenticatedClient:
    id: UUID
    client_id: str
    kind: ClientKind
    scopes: frozenset[Permission]


async def authenticate_client(
    db: Database, tenant_id: UUID, client_id: str, secret: str
) -> AuthenticatedClient | None:
    """The client if ``secret`` is one of its valid secrets (constant-time), else None."""
    now = datetime.now(UTC)
    presented = secret_hash(secret)
    async with db.transaction(tenant_id=tenant_id) as uow:
        rows = await uow.fetch(
            "SELECT c.id, c.client_id, c.kind, c.scopes, c.status, s.id AS secret_id, "
            "s.secret_hash, s.expires_at FROM api_client c JOIN api_client_secret s "
            "ON s.tenant_id = c.tenant_id AND s.api_client_id = c.id "
            "WHERE c.tenant_id = {} AND c.client_id = {} AND s.revoked_at IS NULL",
            tenant_id,
            client_id,
        )
        match = None
        for row in rows:  # compare against every secret: time does not tell which matched
            valid = (as_optional_datetime(row["expires_at"]) or now) >= now
            if hmac.compare_digest(row["secret_hash"], presented) and valid:
                match = row
        if match is None or match["status"] != "active":
            return None
        await uow.execute(
            "UPDATE api_client_secret SET last_used_at = {} WHERE tenant_id = {} AND id = {}",
            now,
            tenant_id,
            match["secret_id"],
        )
    scopes = match["scopes"]
    names = json.loads(scopes) if isinstance(scopes, str) else scopes
    return AuthenticatedClient(
        id=as_uuid(match["id"]),
        client_id=match["client_id"],
        kind=ClientKind(match["kind"]),
        scopes=frozenset(Permission(name) for name in names),
    )
