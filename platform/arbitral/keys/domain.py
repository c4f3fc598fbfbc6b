"""Signing keys as plain values: generation, key ids, sealing at rest, JWS.

No I/O here. A tenant's signing key is an Ed25519 key pair (RFC 8032) whose
key id (``kid``) is the RFC 7638 thumbprint of its public JWK. The private
key never leaves this module in the clear except as a ``cryptography`` key
object used to sign; at rest it is a *sealed* envelope::

    version (1 byte, 0x01) || nonce (12 random bytes) || AES-256-GCM(seed) + tag

encrypted under the key-encryption key (KEK) of the settings, with associated
data that binds the tenant, the kid and the purpose: a ciphertext copied to
another tenant's row, another kid or another purpose does not open.

JWS signatures use the fully-specified algorithm ``Ed25519`` of RFC 9864,
which deprecates the polymorphic ``EdDSA`` of RFC 8037 (joserfc warns on it).
The key's ``algorithm`` is a field, so that later purposes (an X.509 chain
for PDF signatures) can use other algorithms beside it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jws, jwt
from joserfc.jwk import OKPKey
from joserfc.jws import JWSRegistry

Purpose = Literal["jws", "ledger"]
"""What a key signs: ``jws`` (access tokens, signed manifests), ``ledger`` (tree heads)."""

PURPOSES: Final[tuple[Purpose, ...]] = get_args(Purpose)

ED25519: Final = "Ed25519"
"""The key algorithm of ``jws`` and ``ledger`` keys (the ``algorithm`` column)."""

JWS_ALGORITHM: Final = "Ed25519"
"""The JWS ``alg`` of Ed25519 signatures (RFC 9864); verifiers allow exactly this."""

KEK_LENGTH: Final = 32
ED25519_SEED_LENGTH: Final = 32

ENVELOPE_AES256GCM_V1: Final = 0x01
"""Version byte of the envelope: AES-256-GCM, 96-bit nonce, associated data v1."""

_NONCE_LENGTH: Final = 12
_TAG_LENGTH: Final = 16
_AAD_LABEL: Final = b"arbitral signing key v1"

# Header parameters the caller may not set: the key decides them.
_RESERVED_HEADERS: Final = frozenset({"alg", "kid", "jwk", "jku", "x5u", "x5c", "crit", "b64"})


class KeysError(Exception):
    """Base of the errors of the keys context."""


class KeyDecryptionError(KeysError):
    """A sealed private key did not open. Names the kid, never the key."""

    def __init__(self, kid: str, reason: str) -> None:
        super().__init__(f"signing key {kid}: {reason}")
        self.kid = kid
        self.reason = reason


class UnknownPurposeError(KeysError, ValueError):
    """A purpose that has no keys (yet)."""

    def __init__(self, purpose: str) -> None:
        super().__init__(
            f"unknown key purpose {purpose!r} (expected one of: {', '.join(PURPOSES)})"
        )
        self.purpose = purpose


class UnsupportedAlgorithmError(KeysError, ValueError):
    """A stored key of an algorithm this version cannot use."""

    def __init__(self, kid: str, algorithm: str) -> None:
        super().__init__(f"signing key {kid}: unsupported algorithm {algorithm!r}")
        self.kid = kid
        self.algorithm = algorithm


def check_purpose(purpose: str) -> Purpose:
    """``purpose`` as a :data:`Purpose`, or :class:`UnknownPurposeError`."""
    if purpose not in PURPOSES:
        raise UnknownPurposeError(purpose)
    return purpose


def check_kek(kek: bytes) -> bytes:
    """The key-encryption key, if it has the right length (a :class:`ValueError` if not)."""
    if not isinstance(kek, bytes) or len(kek) != KEK_LENGTH:
        raise ValueError(f"the key-encryption key must be {KEK_LENGTH} bytes")
    return kek


# -- key ids and public keys -------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of an OKP public key."""
    if jwk.get("kty") != "OKP":
        raise ValueError(f"expected an OKP key, got kty {jwk.get('kty')!r}")
    # RFC 8037 §2: the required members of an OKP key are crv, kty and x.
    required = {name: jwk[name] for name in ("crv", "kty", "x")}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_jwk(private_key: Ed25519PrivateKey) -> dict[str, str]:
    """The public JWK of ``private_key`` for a JWKS: kty, crv, x, kid, use, alg."""
    x = b64url(private_key.public_key().public_bytes_raw())
    members = {"kty": "OKP", "crv": ED25519, "x": x}
    return {**members, "kid": thumbprint(members), "use": "sig", "alg": JWS_ALGORITHM}


def import_public_jwk(jwk: Mapping[str, Any]) -> OKPKey:
    """A joserfc verification key from a stored public JWK (its kid checked)."""
    members = {name: jwk[name] for name in ("kty", "crv", "x")}
    if members["crv"] != ED25519:
        raise ValueError(f"expected an Ed25519 key, got crv {members['crv']!r}")
    kid = jwk.get("kid")
    if kid is not None and kid != thumbprint(members):
        raise ValueError(f"the kid {kid!r} is not the thumbprint of the key")
    params: dict[str, Any] = {"use": "sig", "alg": JWS_ALGORITHM}
    if kid is not None:
        params["kid"] = kid
    return OKPKey.import_key(members, params)  # type: ignore[arg-type]


# -- sealing at rest ---------------------------------------------------------------


def associated_data(*, tenant_id: UUID, kid: str, purpose: str, version: int) -> bytes:
    """What a sealed key is bound to: envelope version, tenant, kid and purpose.

    Each variable field is length-prefixed, so no two different bindings
    serialise to the same bytes.
    """
    parts = [_AAD_LABEL, bytes([version]), tenant_id.bytes]
    for text in (kid, purpose):
        raw = text.encode("utf-8")
        parts.append(len(raw).to_bytes(2, "big") + raw)
    return b"".join(parts)


def seal_private_key(
    kek: bytes, secret: bytes, *, tenant_id: UUID, kid: str, purpose: str
) -> bytes:
    """Encrypt ``secret`` (a raw seed or PKCS#8) for the row (tenant, kid, purpose)."""
    check_kek(kek)
    nonce = os.urandom(_NONCE_LENGTH)
    aad = associated_data(
        tenant_id=tenant_id, kid=kid, purpose=purpose, version=ENVELOPE_AES256GCM_V1
    )
    return bytes([ENVELOPE_AES256GCM_V1]) + nonce + AESGCM(kek).encrypt(nonce, secret, aad)


def open_private_key(
    kek: bytes, sealed: bytes, *, tenant_id: UUID, kid: str, purpose: str
) -> bytes:
    """Decrypt a sealed key; :class:`KeyDecryptionError` if it does not open."""
    check_kek(kek)
    if not sealed:
        raise KeyDecryptionError(kid, "the stored private key is empty")
    version = sealed[0]
    if version != ENVELOPE_AES256GCM_V1:
        raise KeyDecryptionError(kid, f"unknown envelope version 0x{version:02x}")
    if len(sealed) < 1 + _NONCE_LENGTH + _TAG_LENGTH:
        raise KeyDecryptionError(kid, "the stored private key is truncated")
    nonce, ciphertext = sealed[1 : 1 + _NONCE_LENGTH], sealed[1 + _NONCE_LENGTH :]
    aad = associated_data(tenant_id=tenant_id, kid=kid, purpose=purpose, version=version)
    try:
        return AESGCM(kek).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise KeyDecryptionError(
            kid,
            "does not decrypt: the key-encryption key is not the one it was sealed with, "
            "or the stored key or its tenant, kid or purpose was altered",
        ) from None


# -- key pairs ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewSigningKey:
    """A freshly generated key, already sealed: what a row of ``signing_key`` stores."""

    kid: str
    purpose: Purpose
    algorithm: str
    public_jwk: dict[str, str]
    private_key_enc: bytes = field(repr=False)


def generate_signing_key(kek: bytes, *, tenant_id: UUID, purpose: str) -> NewSigningKey:
    """A new Ed25519 key for ``tenant_id`` and ``purpose``, its private half sealed."""
    checked = check_purpose(purpose)
    private_key = Ed25519PrivateKey.generate()
    jwk = public_jwk(private_key)
    sealed = seal_private_key(
        kek,
        private_key.private_bytes_raw(),
        tenant_id=tenant_id,
        kid=jwk["kid"],
        purpose=checked,
    )
    return NewSigningKey(
        kid=jwk["kid"], purpose=checked, algorithm=ED25519, public_jwk=jwk, private_key_enc=sealed
    )


def unseal_signing_key(
    kek: bytes,
    sealed: bytes,
    *,
    tenant_id: UUID,
    kid: str,
    purpose: str,
    algorithm: str,
) -> Ed25519PrivateKey:
    """The private key of a stored row, checked against its kid."""
    if algorithm != ED25519:
        raise UnsupportedAlgorithmError(kid, algorithm)
    seed = open_private_key(kek, sealed, tenant_id=tenant_id, kid=kid, purpose=purpose)
    if len(seed) != ED25519_SEED_LENGTH:
        raise KeyDecryptionError(kid, f"decrypts to {len(seed)} bytes, not an Ed25519 seed")
    private_key = Ed25519PrivateKey.from_private_bytes(seed)
    if public_jwk(private_key)["kid"] != kid:
        raise KeyDecryptionError(kid, "decrypts to a key whose thumbprint is not its kid")
    return private_key


# -- signing -----------------------------------------------------------------------


def _protected_header(kid: str, headers: Mapping[str, Any] | None) -> dict[str, Any]:
    extra = dict(headers or {})
    reserved = sorted(_RESERVED_HEADERS.intersection(extra))
    if reserved:
        raise ValueError(f"header parameters set by the key cannot be given: {reserved}")
    return {"alg": JWS_ALGORITHM, "kid": kid, **extra}


def jws_registry() -> JWSRegistry:
    """The joserfc registry for our signatures: ``alg`` pinned to Ed25519.

    Application header parameters (``typ``, ``cty``, a manifest's own) are
    allowed; verifiers pass it (or ``algorithms=[JWS_ALGORITHM]``) to joserfc.
    """
    return JWSRegistry(algorithms=[JWS_ALGORITHM], strict_check_header=False)


def sign_compact(
    private_key: Ed25519PrivateKey,
    kid: str,
    payload: bytes,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """A compact JWS (RFC 7515) of ``payload`` with ``alg`` Ed25519 and ``kid``."""
    key = OKPKey.import_key(private_key)
    return jws.serialize_compact(
        _protected_header(kid, headers),
        payload,
        key,
        algorithms=[JWS_ALGORITHM],
        registry=jws_registry(),
    )


def sign_jwt(
    private_key: Ed25519PrivateKey,
    kid: str,
    claims: Mapping[str, Any],
    headers: Mapping[str, Any] | None = None,
) -> str:
    """A signed JWT of ``claims``; ``typ`` defaults to ``JWT`` (give ``at+jwt`` for RFC 9068)."""
    key = OKPKey.import_key(private_key)
    return jwt.encode(
        _protected_header(kid, headers),
        dict(claims),
        key,
        algorithms=[JWS_ALGORITHM],
        registry=jws_registry(),
    )


def verify_compact(token: str, public_key: OKPKey) -> bytes:
    """The payload of a compact JWS signed by ``public_key`` with ``alg`` Ed25519.

    Raises joserfc's ``JoseError`` subclasses (``BadSignatureError``, ...) when
    the token is malformed, of another algorithm or not signed by the key.
    """
    return jws.deserialize_compact(
        token, public_key, algorithms=[JWS_ALGORITHM], registry=jws_registry()
    ).payload
