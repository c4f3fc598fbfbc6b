"""OAuth 2 client credentials (RFC 6749 §4.4) and JWT access tokens (RFC 9068).

Each commission is its own authorization server, with issuer
``{public_url}/t/{slug}``. Tokens are short-lived JWTs signed with the
tenant's current ``jws`` key (Ed25519), ``typ: at+jwt``, for the audience
``{public_url}/api``. Verification needs no database round trip once the
tenant's public key is cached, and only the issuing tenant's keys are tried:
a token signed with another tenant's key, of another algorithm (``none``
included), expired, or for another audience is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from joserfc import jwt
from joserfc.errors import JoseError

from arbitral.auth.domain import (
    CLIENT_SCOPES,
    ClientKind,
    Permission,
    Principal,
    PrincipalKind,
)
from arbitral.keys.domain import JWS_ALGORITHM, jws_registry
from arbitral.safejson import decode_json

if TYPE_CHECKING:
    from arbitral.auth.clients import AuthenticatedClient
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

ACCESS_TOKEN_LIFETIME_S = 600
TOKEN_TYPE = "at+jwt"  # noqa: S105 (RFC 9068 typ, not a secret)
CLOCK_LEEWAY_S = 30
MAX_TOKEN_LENGTH = 8192


class InvalidToken(Exception):
    """The bearer token is not acceptable; the message says why (for the log only)."""


def issuer(public_url: str, slug: str) -> str:
    return f"{public_url}/t/{slug}"


def audience(public_url: str) -> str:
    return f"{public_url}/api"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str = field(repr=False)
    expires_in: int = 0
    scope: str = ""


async def issue_access_token(
    runtime: Runtime,
    tenant: TenantInfo,
    client: AuthenticatedClient,
    requested: frozenset[Permission] | None,
) -> IssuedToken:
    """An access token for ``client`` with ``requested`` scopes (all of its own if None).

    Raises ValueError naming a scope the client does not hold.
    """
    if requested is None:
        scopes = client.scopes
    else:
        extra = requested - client.scopes
        if extra:
            raise ValueError(f"the client does not hold {sorted(s.value for s in extra)[0]!r}")
        scopes = requested
    now = int(time.time())
    public_url = runtime.settings.public_url
    scope = " ".join(sorted(s.value for s in scopes))
    claims = {
        "iss": issuer(public_url, tenant.slug),
        "sub": client.client_id,
        "aud": audience(public_url),
        "exp": now + ACCESS_TOKEN_LIFETIME_S,
        "iat": now,
        "nbf": now,
        "jti": secrets.token_urlsafe(16),
        "client_id": client.client_id,
        "scope": scope,
        "tid": str(tenant.id),
        "cid": str(client.id),
        "ckind": client.kind.value,
    }
    key = await runtime.keys.active_key(tenant.id, "jws")
    token = key.sign_jwt(claims, {"typ": TOKEN_TYPE})
    return IssuedToken(token, ACCESS_TOKEN_LIFETIME_S, scope)


def _segment(part: str) -> dict[str, Any]:
    try:
        # Depth-checked first: decoders recurse, and "[" * 5000 would be a RecursionError.
        data = decode_json(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidToken("not a JWT") from None
    if not isinstance(data, dict):
        raise InvalidToken("not a JWT")
    return data


class VerifiedTokens:
    """Tokens already verified, until they expire (a client reuses its token for minutes).

    A token is immutable, so a verified one stays valid until ``exp``; the
    cache only spares the signature check on the next request with it. Keyed
    by the SHA-256 of the token, bounded, oldest out first.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()

    def get(self, token: str) -> Principal | None:
        key = hashlib.sha256(token.encode()).digest()
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.time():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, token: str, expires_at: float, principal: Principal) -> None:
        self._entries[hashlib.sha256(token.encode()).digest()] = (expires_at, principal)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


async def verify_access_token(runtime: Runtime, token: str) -> Principal:
    """The API client behind ``token``; raises InvalidToken with the reason."""
    cache = runtime.verified_tokens
    cached = cache.get(token)
    if cached is not None:
        return cached
    principal, expires_at = await _verify(runtime, token)
    cache.put(token, expires_at, principal)
    return principal


async def _verify(runtime: Runtime, token: str) -> tuple[Principal, float]:
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise InvalidToken("not a compact JWS")
    header_part, claims_part, _ = token.split(".")
    header = _segment(header_part)
    unverified = _segment(claims_part)
    if header.get("alg") != JWS_ALGORITHM:
        raise InvalidToken(f"algorithm {header.get('alg')!r} is not accepted")
    if header.get("typ") != TOKEN_TYPE:
        raise InvalidToken("not an access token (typ)")
    kid = header.get("kid")
    iss = unverified.get("iss")
    public_url = runtime.settings.public_url
    prefix = f"{public_url}/t/"
    if not isinstance(kid, str) or not isinstance(iss, str) or not iss.startswith(prefix):
        raise InvalidToken("unknown issuer or key")
    tenant = await runtime.tenants.by_slug(iss[len(prefix) :])
    if tenant is None:
        raise InvalidToken("unknown issuer")
    key = await runtime.keys.verification_key(tenant.id, kid, purpose="jws")
    if key is None:
        raise InvalidToken("the key is not one of the issuer's")
    try:
        verified = jwt.decode(token, key, algorithms=[JWS_ALGORITHM], registry=jws_registry())
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY_S,
            iss={"essential": True, "value": issuer(public_url, tenant.slug)},
            aud={"essential": True, "value": audience(public_url)},
            exp={"essential": True},
            sub={"essential": True},
            tid={"essential": True, "value": str(tenant.id)},
        ).validate(verified.claims)
    except JoseError as exc:
        raise InvalidToken(f"{type(exc).__name__}: {exc}") from None
    claims = verified.claims
    try:
        kind = ClientKind(claims["ckind"])
        client_uuid = UUID(claims["cid"])
        held = {Permission(name) for name in str(claims.get("scope", "")).split()}
    except (KeyError, ValueError):
        raise InvalidToken("malformed claims") from None
    principal = Principal(
        kind=PrincipalKind.API_CLIENT,
        subject_id=client_uuid,
        tenant_id=tenant.id,
        permissions=frozenset(held & CLIENT_SCOPES[kind]),
        client_id=str(claims["sub"]),
        client_kind=kind,
        auth_method="client_credentials",
        display_name=str(claims["sub"]),
    )
    return principal, float(claims["exp"]) + CLOCK_LEEWAY_S
