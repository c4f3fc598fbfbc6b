"""The public keys API clients sign with: registered by the commission, revoked by it.

A trading platform or a lender signs the records it pushes (JWS, RFC 7515)
with a private key that never leaves its systems; the commission registers
the public half here. Two kinds are accepted, the two that JOSE libraries of
every language produce and that resist misuse: Ed25519 (``kty: OKP``, signed
``Ed25519`` per RFC 9864 or the older ``EdDSA``) and P-256 (``kty: EC``,
signed ``ES256``). A key's ``kid`` is its RFC 7638 thumbprint, so the client
and the commission agree on it without coordination, and it is unique in the
commission: one key attests for one client. Revoking a key is immediate and
final; a key once registered cannot be registered again.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey, OKPKey, thumbprint

from arbitral.audit.services import record
from arbitral.auth.clients import access_client
from arbitral.auth.domain import Principal
from arbitral.db.values import as_datetime, as_optional_datetime, as_uuid
from arbitral.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from arbitral.identity.services import actor_of, tenant_of
from arbitral.keys.domain import b64url

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime

MAX_ACTIVE_KEYS: Final = 10
"""Active keys per client: enough for any rotation, few enough to review."""

# The JWS algorithms each kind of key verifies. ``EdDSA`` (RFC 8037) is the
# polymorphic name RFC 9864 deprecates; with an Ed25519 key it is Ed25519.
ALGORITHMS: Final[dict[str, tuple[str, ...]]] = {
    "OKP": ("Ed25519", "EdDSA"),
    "EC": ("ES256",),
}
CURVES: Final = {"OKP": "Ed25519", "EC": "P-256"}

# Members that only a private (or symmetric) key has.
_PRIVATE_MEMBERS: Final = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_COORDINATE_BYTES: Final = 32
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]+")


class ClientKeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    """``{"jwk": {...}}``: the client's public key as a JWK (RFC 7517)."""

    jwk: dict[str, Any]


class ClientKeyOut(msgspec.Struct):
    kid: str
    client_id: str
    jwk: dict[str, Any]
    algorithms: list[str]
    status: str
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class ClientKey:
    """A registered key as stored."""

    id: UUID
    api_client_id: UUID
    kid: str
    public_jwk: dict[str, Any]
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None

    @property
    def algorithms(self) -> tuple[str, ...]:
        return ALGORITHMS[str(self.public_jwk["kty"])]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ClientKey:
        jwk = row["public_jwk"]
        return cls(
            id=as_uuid(row["id"]),
            api_client_id=as_uuid(row["api_client_id"]),
            kid=str(row["kid"]),
            public_jwk=json.loads(jwk) if isinstance(jwk, str) else dict(jwk),
            created_at=as_datetime(row["created_at"]),
            created_by=row["created_by"],
            revoked_at=as_optional_datetime(row["revoked_at"]),
        )

    def out(self, client_id: str) -> ClientKeyOut:
        return ClientKeyOut(
            kid=self.kid,
            client_id=client_id,
            jwk=self.public_jwk,
            algorithms=list(self.algorithms),
            status="revoked" if self.revoked_at else "active",
            created_at=self.created_at,
            created_by=self.created_by,
            revoked_at=self.revoked_at,
        )


# -- checking a JWK (no I/O) ---------------------------------------------------------


def _coordinate(jwk: Mapping[str, Any], name: str, problems: list[FieldProblem]) -> bytes | None:
    value = jwk.get(name)
    field = f"$.jwk.{name}"
    if value is None:
        problems.append(FieldProblem(field, "required", f"give the key's {name!r} coordinate"))
        return None
    if not isinstance(value, str) or _BASE64URL.fullmatch(value) is None:
        problems.append(FieldProblem(field, "format", "base64url without padding (RFC 7515 §2)"))
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _COORDINATE_BYTES:
        problems.append(
            FieldProblem(field, "format", f"base64url of exactly {_COORDINATE_BYTES} bytes")
        )
        return None
    return raw


def check_public_jwk(jwk: Mapping[str, Any]) -> dict[str, str]:
    """The key in the form it is stored: its public members, ``kid`` (thumbprint) and ``use``.

    Raises :class:`ValidationFailed` naming every problem (``$.jwk.<member>``).
    """
    private = [name for name in _PRIVATE_MEMBERS if name in jwk]
    if private:
        raise ValidationFailed(
            "this is a private key: register the public key only",
            errors=[
                FieldProblem(
                    f"$.jwk.{private[0]}",
                    "private_key",
                    "send the public key only, without "
                    + ", ".join(repr(name) for name in private)
                    + "; this private key has left your systems: generate a new key pair",
                )
            ],
        )
    problems: list[FieldProblem] = []
    kty = jwk.get("kty")
    if kty is None:
        raise ValidationFailed(
            "the key has no type",
            errors=[FieldProblem("$.jwk.kty", "required", 'give "kty": "OKP" or "EC"')],
        )
    if kty not in CURVES:
        raise ValidationFailed(
            "this kind of key is not accepted",
            errors=[
                FieldProblem(
                    "$.jwk.kty",
                    "allowed",
                    f'{kty!r} is not accepted: "OKP" (Ed25519) or "EC" (P-256)',
                )
            ],
        )
    curve = CURVES[kty]
    if jwk.get("crv") != curve:
        problems.append(
            FieldProblem(
                "$.jwk.crv",
                "allowed",
                f"{kty} keys must be on {curve}, not {jwk.get('crv')!r}"
                if "crv" in jwk
                else f'give "crv": "{curve}"',
            )
        )
    x = _coordinate(jwk, "x", problems)
    y = _coordinate(jwk, "y", problems) if kty == "EC" else None
    alg = jwk.get("alg")
    if alg is not None and alg not in ALGORITHMS[kty]:
        problems.append(
            FieldProblem(
                "$.jwk.alg",
                "allowed",
                f"{alg!r} does not go with this key: " + " or ".join(ALGORITHMS[kty]),
            )
        )
    if "use" in jwk and jwk["use"] != "sig":
        problems.append(FieldProblem("$.jwk.use", "allowed", 'a signing key: "use": "sig"'))
    key_ops = jwk.get("key_ops")
    if key_ops is not None and key_ops != ["verify"]:
        problems.append(
            FieldProblem("$.jwk.key_ops", "allowed", 'a public signing key: ["verify"] or none')
        )
    if problems:
        raise ValidationFailed("the key is not acceptable", errors=problems)
    assert x is not None
    # Re-encoded, so that one key has one spelling and one thumbprint.
    members = {"kty": str(kty), "crv": curve, "x": b64url(x)}
    if kty == "EC":
        assert y is not None
        members["y"] = b64url(y)
        try:
            ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
            ).public_key()
        except ValueError:
            raise ValidationFailed(
                "the key is not acceptable",
                errors=[FieldProblem("$.jwk", "invalid_key", "(x, y) is not a point of P-256")],
            ) from None
    kid = thumbprint(members)
    given = jwk.get("kid")
    if given is not None and given != kid:
        raise ValidationFailed(
            "the key id is not the key's thumbprint",
            errors=[
                FieldProblem(
                    "$.jwk.kid",
                    "thumbprint",
                    f"the kid must be the key's RFC 7638 thumbprint, {kid}, or be left out",
                )
            ],
        )
    stored = {**members, "kid": kid, "use": "sig"}
    if alg is not None:
        stored["alg"] = str(alg)
    return stored


def verification_key(key: ClientKey) -> OKPKey | ECKey:
    """The joserfc key that verifies signatures of ``key``."""
    jwk = key.public_jwk
    if jwk["kty"] == "OKP":
        return OKPKey.import_key({name: jwk[name] for name in ("kty", "crv", "x")})
    return ECKey.import_key({name: jwk[name] for name in ("kty", "crv", "x", "y")})


# -- access -------------------------------------------------------------------------


_COLUMNS = "id, api_client_id, kid, public_jwk, created_at, created_by, revoked_at"


async def find_key(uow: UnitOfWork, tenant_id: UUID, kid: str) -> ClientKey | None:
    """The key ``kid`` of the commission, revoked or not, whichever client it belongs to."""
    rows = await uow.fetch(
        f"SELECT {_COLUMNS} FROM api_client_key "  # noqa: S608 (constant)
        "WHERE tenant_id = {} AND kid = {}",
        tenant_id,
        kid,
    )
    return ClientKey.from_row(rows[0]) if rows else None


async def _keys_of(uow: UnitOfWork, tenant_id: UUID, api_client_id: UUID) -> list[ClientKey]:
    rows = await uow.fetch(
        f"SELECT {_COLUMNS} FROM api_client_key "  # noqa: S608 (constant)
        "WHERE tenant_id = {} AND api_client_id = {} ORDER BY created_at, kid",
        tenant_id,
        api_client_id,
    )
    return [ClientKey.from_row(row) for row in rows]


# -- actions ------------------------------------------------------------------------


async def register_key(
    runtime: Runtime, principal: Principal, client_id: str, data: ClientKeyCreate
) -> ClientKeyOut:
    """Register ``data.jwk`` for the client; 409 if the key is known or the client disabled."""
    tenant_id = tenant_of(principal)
    now = datetime.now(UTC)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        client = await access_client(uow, principal, client_id)
        jwk = check_public_jwk(data.jwk)  # after access: another tenant's client is a 404
        if client["status"] != "active":
            raise Conflict(f"the API client {client_id} is disabled: it takes no new keys")
        existing = await find_key(uow, tenant_id, jwk["kid"])
        if existing is not None:
            if existing.api_client_id != as_uuid(client["id"]):
                owner = await uow.fetch(
                    "SELECT client_id FROM api_client WHERE tenant_id = {} AND id = {}",
                    tenant_id,
                    existing.api_client_id,
                )
                raise Conflict(
                    f"the key {jwk['kid']} is registered for another API client, "
                    f"{owner[0]['client_id']}: a key attests for one client only"
                )
            if existing.revoked_at is not None:
                raise Conflict(
                    f"the key {jwk['kid']} was revoked on {existing.revoked_at.isoformat()} "
                    "and cannot be registered again: generate a new key pair"
                )
            raise Conflict(f"the key {jwk['kid']} is already registered for this client")
        active = [
            k for k in await _keys_of(uow, tenant_id, as_uuid(client["id"])) if not k.revoked_at
        ]
        if len(active) >= MAX_ACTIVE_KEYS:
            raise Conflict(
                f"the client has {len(active)} active keys, the most it may have: "
                "revoke one it no longer uses first"
            )
        await uow.execute(
            "INSERT INTO api_client_key (id, tenant_id, api_client_id, kid, public_jwk, "
            "created_at, created_by) VALUES ({}, {}, {}, {}, {}, {}, {})",
            uuid4(),
            tenant_id,
            client["id"],
            jwk["kid"],
            json.dumps(jwk),
            now,
            principal.actor_id,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="api_client.key_registered",
            target_kind="api_client",
            target_id=client_id,
            detail={"kid": jwk["kid"], "kty": jwk["kty"], "crv": jwk["crv"]},
        )
        key = await find_key(uow, tenant_id, jwk["kid"])
    assert key is not None
    return key.out(client_id)


async def list_keys(runtime: Runtime, principal: Principal, client_id: str) -> list[ClientKeyOut]:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        client = await access_client(uow, principal, client_id)
        keys = await _keys_of(uow, tenant_id, as_uuid(client["id"]))
    return [key.out(client_id) for key in keys]


async def revoke_key(
    runtime: Runtime, principal: Principal, client_id: str, kid: str
) -> ClientKeyOut:
    """Revoke the key at once (again: nothing changes); another client's key is a 404."""
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        client = await access_client(uow, principal, client_id)
        key = await find_key(uow, tenant_id, kid)
        if key is None or key.api_client_id != as_uuid(client["id"]):
            raise NotFound("no such key")
        if key.revoked_at is None:
            await uow.execute(
                "UPDATE api_client_key SET revoked_at = {} WHERE tenant_id = {} AND id = {} "
                "AND revoked_at IS NULL",
                datetime.now(UTC),
                tenant_id,
                key.id,
            )
            await record(
                uow,
                tenant_id=tenant_id,
                actor=actor_of(principal),
                action="api_client.key_revoked",
                target_kind="api_client",
                target_id=client_id,
                detail={"kid": kid},
            )
            key = await find_key(uow, tenant_id, kid)
            assert key is not None
    return key.out(client_id)
