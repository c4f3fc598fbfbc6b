"""Use cases of the keys context: each tenant's key ring.

A tenant has at most one active (non-retired) key per purpose, generated on
first use; rotation retires it (it stays published and keeps verifying) and
makes a new one. Every access to ``signing_key`` runs inside a transaction of
the tenant it belongs to (row-level security on PostgreSQL, and an explicit
``tenant_id`` condition on every statement for SQLite).

Concurrency rests on the database, not on locks in this process: the partial
unique index ``signing_key_active (tenant_id, purpose) WHERE retired_at IS NULL``
lets exactly one of several concurrent first uses insert its key
(``ON CONFLICT DO NOTHING``); the others read the winner's key back.

Private keys leave the database sealed and are opened only inside
:meth:`SigningKeyHandle.sign` and friends, for one signature; they are never
logged, returned or cached.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import OKPKey

from arbitral.audit.services import Actor, record
from arbitral.db.engine import Database
from arbitral.db.uow import UnitOfWork
from arbitral.keys.domain import (
    KEK_LENGTH,
    PURPOSES,
    NewSigningKey,
    Purpose,
    check_kek,
    check_purpose,
    generate_signing_key,
    import_public_jwk,
    sign_compact,
    sign_jwt,
    unseal_signing_key,
)
from arbitral.settings import ConfigError, Settings, parse_key_encryption_key

log = structlog.get_logger(__name__)

KEK_VARIABLE = "ARBITRAL_KEY_ENCRYPTION_KEY"
KEK_FILE = "key_encryption_key"

# A first use that loses the race reads the winner's key on its next attempt.
_ATTEMPTS = 5
_MAX_KID_LENGTH = 64  # the column's length: longer kids (from a token header) cannot exist


# -- values ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown about a key: everything but its private half."""

    kid: str
    purpose: str
    algorithm: str
    public_jwk: dict[str, Any]
    created_at: datetime
    retired_at: datetime | None

    @property
    def active(self) -> bool:
        return self.retired_at is None


@dataclass(frozen=True, slots=True)
class SigningKeyHandle:
    """A tenant's signing key, able to sign; its private key stays sealed until then."""

    tenant_id: UUID
    kid: str
    purpose: Purpose
    algorithm: str
    public_jwk: dict[str, Any]
    created_at: datetime
    _sealed: bytes = field(repr=False, compare=False)
    _kek: bytes = field(repr=False, compare=False)

    def public_key(self) -> OKPKey:
        """The verification key (public only)."""
        return import_public_jwk(self.public_jwk)

    def _private_key(self) -> Ed25519PrivateKey:
        return unseal_signing_key(
            self._kek,
            self._sealed,
            tenant_id=self.tenant_id,
            kid=self.kid,
            purpose=self.purpose,
            algorithm=self.algorithm,
        )

    def sign(self, data: bytes) -> bytes:
        """A raw Ed25519 signature of ``data`` (e.g. an RFC 9162 tree head)."""
        return self._private_key().sign(data)

    def sign_jws(self, payload: bytes, headers: Mapping[str, Any] | None = None) -> str:
        """A compact JWS of ``payload``: ``alg`` Ed25519, ``kid`` this key, plus ``headers``."""
        return sign_compact(self._private_key(), self.kid, payload, headers)

    def sign_jwt(self, claims: Mapping[str, Any], headers: Mapping[str, Any] | None = None) -> str:
        """A signed JWT of ``claims`` (``headers`` e.g. ``{"typ": "at+jwt"}`` for RFC 9068)."""
        return sign_jwt(self._private_key(), self.kid, claims, headers)


@dataclass(frozen=True, slots=True)
class Rotation:
    """The outcome of a rotation: the kid it retired (if any) and the new signing key."""

    retired_kid: str | None
    new: SigningKeyHandle


# -- the key ring ------------------------------------------------------------------


class KeyRing:
    """Every tenant's signing keys, sealed under one key-encryption key.

    One instance per process serves all tenants. It caches public keys by
    (tenant, kid), never across tenants, and nothing private.
    """

    CACHE_SIZE = 4096

    def __init__(self, db: Database, kek: bytes) -> None:
        self.db = db
        self._kek = check_kek(kek)
        self._public: OrderedDict[tuple[UUID, str], tuple[str, OKPKey]] = OrderedDict()

    def __repr__(self) -> str:
        return f"KeyRing(db={self.db.dialect}, cached={len(self._public)})"

    @asynccontextmanager
    async def _unit(self, tenant_id: UUID, *, readonly: bool = False) -> AsyncIterator[UnitOfWork]:
        """The caller's unit of work if it is this tenant's, else one of our own.

        A caller's unit of work of another tenant (or database) is refused by
        :class:`UnitOfWork` itself.
        """
        current = UnitOfWork.current()
        if current is not None and current.database is self.db and current.tenant_id == tenant_id:
            yield current
            return
        async with self.db.transaction(tenant_id=tenant_id, readonly=readonly) as uow:
            yield uow

    def _handle(self, tenant_id: UUID, row: Mapping[str, Any]) -> SigningKeyHandle:
        return SigningKeyHandle(
            tenant_id=tenant_id,
            kid=row["kid"],
            purpose=check_purpose(row["purpose"]),
            algorithm=row["algorithm"],
            public_jwk=_json(row["public_jwk"]),
            created_at=row["created_at"],
            _sealed=bytes(row["private_key_enc"]),
            _kek=self._kek,
        )

    async def active_key(self, tenant_id: UUID, purpose: str) -> SigningKeyHandle:
        """The key that signs for ``purpose`` now, generated on first use."""
        checked = check_purpose(purpose)
        async with self._unit(tenant_id) as uow:
            for _ in range(_ATTEMPTS):
                row = await _active_row(uow, tenant_id, checked)
                if row is not None:
                    return self._handle(tenant_id, row)
                new = generate_signing_key(self._kek, tenant_id=tenant_id, purpose=checked)
                row = await _insert(uow, tenant_id, new)
                if row is not None:
                    await record(
                        uow,
                        tenant_id=tenant_id,
                        actor=Actor.system(),
                        action="key.generated",
                        target_kind="signing_key",
                        target_id=new.kid,
                        detail={"purpose": checked, "kid": new.kid, "algorithm": new.algorithm},
                    )
                    log.info(
                        "keys.generated", tenant_id=str(tenant_id), purpose=checked, kid=new.kid
                    )
                    return self._handle(tenant_id, row)
                # Another transaction made the first key meanwhile: read it on the next turn.
        raise RuntimeError(
            f"no active {checked} key for tenant {tenant_id} after {_ATTEMPTS} tries"
        )

    async def rotate(self, tenant_id: UUID, purpose: str, *, actor: Actor) -> SigningKeyHandle:
        """Retire the active key of ``purpose`` (it keeps verifying) and make a new one.

        Audited as ``key.rotated`` with both kids, in the same transaction.
        """
        return (await self.rotate_detailed(tenant_id, purpose, actor=actor)).new

    async def rotate_detailed(self, tenant_id: UUID, purpose: str, *, actor: Actor) -> Rotation:
        """:meth:`rotate`, also telling which key it retired (None if there was none)."""
        checked = check_purpose(purpose)
        async with self._unit(tenant_id) as uow:
            for _ in range(_ATTEMPTS):
                old = await _active_row(uow, tenant_id, checked, lock=True)
                now = datetime.now(UTC)
                if old is not None:
                    await uow.execute(
                        "UPDATE signing_key SET retired_at = {} "
                        "WHERE tenant_id = {} AND kid = {} AND retired_at IS NULL",
                        now,
                        tenant_id,
                        old["kid"],
                    )
                new = generate_signing_key(self._kek, tenant_id=tenant_id, purpose=checked)
                row = await _insert(uow, tenant_id, new, created_at=now)
                if row is None:
                    # A concurrent first use made a key after we looked: retire that one instead.
                    continue
                old_kid = None if old is None else old["kid"]
                await record(
                    uow,
                    tenant_id=tenant_id,
                    actor=actor,
                    action="key.rotated",
                    target_kind="signing_key",
                    target_id=new.kid,
                    detail={"purpose": checked, "old_kid": old_kid, "new_kid": new.kid},
                )
                log.info(
                    "keys.rotated",
                    tenant_id=str(tenant_id),
                    purpose=checked,
                    old_kid=old_kid,
                    new_kid=new.kid,
                )
                return Rotation(retired_kid=old_kid, new=self._handle(tenant_id, row))
        raise RuntimeError(f"could not rotate the {checked} key of tenant {tenant_id}")

    async def keys(self, tenant_id: UUID, purpose: str | None = None) -> list[KeyInfo]:
        """The tenant's keys (newest first), without their private halves."""
        async with self._unit(tenant_id, readonly=True) as uow:
            return await _key_infos(uow, tenant_id, purpose)

    async def public_keys(
        self, tenant_id: UUID, purpose: str | None = None, *, include_retired: bool = True
    ) -> list[dict[str, Any]]:
        """Public JWKs for a JWKS document, active keys first, then newest first.

        Retired keys are included by default: what they signed before a
        rotation must still verify.
        """
        infos = await self.keys(tenant_id, purpose)
        chosen = [info for info in infos if include_retired or info.active]
        chosen.sort(key=lambda info: not info.active)  # stable: keeps newest first
        return [dict(info.public_jwk) for info in chosen]

    async def verification_key(
        self, tenant_id: UUID, kid: str, *, purpose: str | None = None
    ) -> OKPKey | None:
        """The public key ``kid`` of ``tenant_id`` (active or retired), or None.

        Only that tenant's keys are found: a kid of another tenant is None.
        With ``purpose``, a key of another purpose is None too (an access
        token must not verify with a ledger key).
        """
        if purpose is not None:
            check_purpose(purpose)
        if not kid or len(kid) > _MAX_KID_LENGTH:
            return None
        cache_key = (tenant_id, kid)
        cached = self._public.get(cache_key)
        if cached is None:
            async with self._unit(tenant_id, readonly=True) as uow:
                rows = await uow.fetch(
                    "SELECT purpose, public_jwk FROM signing_key WHERE tenant_id = {} AND kid = {}",
                    tenant_id,
                    kid,
                )
            if not rows:
                return None  # misses are not cached: the key may appear, and kids are untrusted
            if rows[0]["purpose"] not in PURPOSES:
                return None  # a document key (X.509, not Ed25519) never verifies a JWS
            cached = (rows[0]["purpose"], import_public_jwk(_json(rows[0]["public_jwk"])))
            self._public[cache_key] = cached
            while len(self._public) > self.CACHE_SIZE:
                self._public.popitem(last=False)
        else:
            self._public.move_to_end(cache_key)
        key_purpose, key = cached
        if purpose is not None and key_purpose != purpose:
            return None
        return key


async def list_keys(db: Database, tenant_id: UUID, purpose: str | None = None) -> list[KeyInfo]:
    """The tenant's keys (newest first); needs no key-encryption key."""
    async with db.transaction(tenant_id=tenant_id) as uow:
        return await _key_infos(uow, tenant_id, purpose)


# -- statements --------------------------------------------------------------------


async def _active_row(
    uow: UnitOfWork, tenant_id: UUID, purpose: str, *, lock: bool = False
) -> dict[str, Any] | None:
    # SQLite has no FOR UPDATE and needs none: its writers are serialised (BEGIN IMMEDIATE).
    suffix = " FOR UPDATE" if lock and uow.is_postgres else ""
    rows = await uow.fetch(
        "SELECT kid, purpose, algorithm, public_jwk, private_key_enc, created_at, retired_at "
        "FROM signing_key "
        "WHERE tenant_id = {} AND purpose = {} AND retired_at IS NULL" + suffix,
        tenant_id,
        purpose,
    )
    return rows[0] if rows else None


async def _insert(
    uow: UnitOfWork, tenant_id: UUID, new: NewSigningKey, *, created_at: datetime | None = None
) -> dict[str, Any] | None:
    """Insert ``new`` as the active key; None if an active key (or the kid) exists already."""
    rows = await uow.fetch(
        "INSERT INTO signing_key (id, tenant_id, kid, purpose, algorithm, public_jwk, "
        "private_key_enc, created_at, retired_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, NULL) "
        "ON CONFLICT DO NOTHING "
        "RETURNING kid, purpose, algorithm, public_jwk, private_key_enc, created_at, retired_at",
        uuid4(),
        tenant_id,
        new.kid,
        new.purpose,
        new.algorithm,
        json.dumps(new.public_jwk, sort_keys=True),
        new.private_key_enc,
        created_at or datetime.now(UTC),
    )
    return rows[0] if rows else None


async def _key_infos(uow: UnitOfWork, tenant_id: UUID, purpose: str | None) -> list[KeyInfo]:
    sql = (
        "SELECT kid, purpose, algorithm, public_jwk, created_at, retired_at FROM signing_key "
        "WHERE tenant_id = {}"
    )
    args: list[Any] = [tenant_id]
    if purpose is not None:
        sql += " AND purpose = {}"
        args.append(check_purpose(purpose))
    rows = await uow.fetch(sql + " ORDER BY created_at DESC, kid", *args)
    return [
        KeyInfo(
            kid=row["kid"],
            purpose=row["purpose"],
            algorithm=row["algorithm"],
            public_jwk=_json(row["public_jwk"]),
            created_at=row["created_at"],
            retired_at=row["retired_at"],
        )
        for row in rows
    ]


def _json(value: Any) -> dict[str, Any]:
    """A JSON column's value: text on both drivers as the platform configures them."""
    loaded = json.loads(value) if isinstance(value, str | bytes) else value
    if not isinstance(loaded, dict):
        raise ValueError("a stored public JWK is not a JSON object")
    return loaded


# -- the key-encryption key --------------------------------------------------------


def resolve_key_encryption_key(settings: Settings) -> bytes:
    """``ARBITRAL_KEY_ENCRYPTION_KEY``, or (embedded default only) one kept in the data dir.

    On PostgreSQL the variable is required: web and worker processes on
    several machines must share the key, and a key generated on one of them
    would leave the others unable to sign. On SQLite a random key is written
    once to ``<data_dir>/key_encryption_key`` (mode 0600, base64, created
    whole: temporary file, then a link that fails if another process won).
    Losing that file loses every tenant's private keys.
    """
    if settings.key_encryption_key:
        return check_kek(settings.key_encryption_key)
    if settings.database.dialect == "postgres":
        raise ConfigError(
            KEK_VARIABLE,
            "must be set when the database is PostgreSQL: 32 random bytes in base64 or hex "
            "(e.g. `openssl rand -base64 32`), the same for every web and worker process",
        )
    path = Path(settings.data_dir) / KEK_FILE
    key = _read_kek(path)
    if key is None:
        candidate = secrets.token_bytes(KEK_LENGTH)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{KEK_FILE}.")  # mode 0600
            with os.fdopen(fd, "wb") as handle:
                handle.write(base64.b64encode(candidate) + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temp, path)  # fails if another process got there first
            except FileExistsError:
                pass
            finally:
                os.unlink(temp)
        except OSError as exc:
            raise ConfigError("ARBITRAL_DATA_DIR", f"cannot write {path}: {exc.strerror}") from exc
        key = _read_kek(path)
        assert key is not None
    return key


def _read_kek(path: Path) -> bytes | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError("ARBITRAL_DATA_DIR", f"cannot read {path}: {exc.strerror}") from exc
    try:
        key = parse_key_encryption_key(str(path), raw.decode("ascii", "replace"))
    except ConfigError as exc:
        raise ConfigError(
            "ARBITRAL_DATA_DIR",
            f"{path} does not hold a usable key-encryption key ({exc.problem}); restore it from "
            "a backup: without it the tenants' private keys cannot be decrypted",
        ) from None
    assert key is not None
    return key
