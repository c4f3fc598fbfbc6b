"""Witnesses of a commission's transparency log: who they are, what they sign, how it counts.

A witness (another commission, a court, a notary) keeps the last signed tree
head it saw. When the log publishes a new head, the witness fetches the
consistency proof from its last size to the new one, checks it against the
root *it* remembers and the root the commission *signed*, and only then
cosigns: a cosignature says "this head extends everything I saw before". A log
that rewrote its history cannot get a cosignature from a witness that saw the
old one, and whoever holds two signed heads that no proof connects holds
evidence of it.

The protocol (all of it public, per commission ``/t/{slug}``):

* ``GET  /t/{slug}/ledger/head`` the latest signed head, its cosignatures and
  whether ``?required=k`` of them are there;
  ``GET /t/{slug}/ledger/heads/{tree_size}`` the same for an earlier size.
* ``GET  /t/{slug}/ledger/consistency?first=M&second=N`` RFC 9162 §2.1.4.
* ``GET  /t/{slug}/.well-known/ledger-keys.json`` the keys that sign heads.
* ``GET  /t/{slug}/ledger/witnesses`` the commission's published witnesses.
* ``POST /t/{slug}/ledger/cosignatures`` ``{"head_signature", "witness_kid",
  "cosignature"}``: ``head_signature`` is the head's compact JWS exactly as
  published, ``cosignature`` a compact JWS (``alg`` Ed25519, ``typ``
  :data:`COSIGNATURE_TYPE`, ``kid`` the witness's RFC 7638 thumbprint) over the
  very same payload bytes (the RFC 8785 JSON ``{log_id, tree_size, root_hash,
  timestamp}``). A witness authenticates by that signature: no login.

**k of n.** Nothing on the server decides how many cosignatures make a head
trustworthy: the commission states ``k`` when it publishes its witnesses, and
whoever checks a head or a receipt applies it (``?required=k`` on the head
routes, ``required=k`` in :func:`verify_receipt`). A cosignature counts when it
verifies with the key of a witness the checker accepts (on the server: an
active one); each witness counts once.

This module holds the pure checks (:func:`check_public_jwk`,
:func:`verify_cosignature`, :func:`head_status`, :func:`verify_receipt`), the
registry and the cosignature intake in the database, and the witness's own side
(:func:`witness_once`), a faithful stand-in for a court's or a notary's
software that speaks the same protocol over HTTP.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal
from uuid import UUID, uuid4

import httpx
import msgspec
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.errors import JoseError

from arbitral.audit.services import Actor, record
from arbitral.db.values import as_datetime, as_uuid
from arbitral.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    ProblemError,
    ValidationFailed,
)
from arbitral.keys.domain import (
    ED25519,
    JWS_ALGORITHM,
    b64url,
    import_public_jwk,
    jws_registry,
    public_jwk,
    sign_compact,
    thumbprint,
    verify_compact,
)
from arbitral.ledger import merkle, services
from arbitral.ledger.domain import (
    ConsistencyProof,
    ReceiptCheck,
    ReceiptInvalid,
    SignedHead,
    TreeHead,
    b64,
    unb64,
)
from arbitral.ledger.domain import verify_receipt as verify_receipt_alone
from arbitral.safejson import decode_json

if TYPE_CHECKING:
    from arbitral.auth.domain import Principal
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime

log = structlog.get_logger(__name__)

COSIGNATURE_TYPE: Final = "arbitral-cosignature+jws"
"""The ``typ`` of a cosignature: a witness's key signs nothing else by accident."""

WitnessKind = Literal["tenant", "court", "notary"]
MAX_REQUIRED: Final = 100
MAX_JWS_LENGTH: Final = 4096
_MAX_TREE_SIZE: Final = 2**62
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})
_B64URL_32: Final = re.compile(r"^[A-Za-z0-9_-]{43}$")


# -- pure: keys and signatures ------------------------------------------------------------


class WitnessKeyError(ValueError):
    """A JWK that cannot be a witness's key; ``rule`` names what it breaks."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class CosignatureInvalid(ValueError):
    """A cosignature that does not hold; ``rule`` names what failed."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def check_public_jwk(jwk: Any) -> dict[str, str]:
    """The normalised public JWK of a witness (kty, crv, x, kid, use, alg), or an error.

    Only Ed25519 public keys: a JWK with private members is refused (the
    private half must never leave the witness), as is any other key type,
    curve or algorithm, and a ``kid`` that is not the key's RFC 7638 thumbprint.
    """
    if not isinstance(jwk, Mapping):
        raise WitnessKeyError("type", "expected a JWK object")
    private = sorted(_PRIVATE_MEMBERS.intersection(jwk))
    if private:
        raise WitnessKeyError(
            "public_only",
            f"this JWK holds private key material ({', '.join(private)}); register the public "
            "half only (arbitral ledger witness-key prints it)",
        )
    kty, crv, alg = jwk.get("kty"), jwk.get("crv"), jwk.get("alg")
    if kty != "OKP" or crv != ED25519:
        raise WitnessKeyError(
            "algorithm",
            f"a witness key must be Ed25519 (kty OKP, crv Ed25519), not kty {kty!r}, crv {crv!r}",
        )
    if alg is not None and alg not in (JWS_ALGORITHM, "EdDSA"):
        raise WitnessKeyError("algorithm", f"a witness key signs with Ed25519, not alg {alg!r}")
    if jwk.get("use") not in (None, "sig"):
        raise WitnessKeyError("use", f"a witness key is for signatures, not use {jwk['use']!r}")
    x = jwk.get("x")
    if not isinstance(x, str) or not _B64URL_32.match(x) or len(_unb64url(x)) != 32:
        raise WitnessKeyError("format", "x must be the 32-byte public key in unpadded base64url")
    members = {"kty": "OKP", "crv": ED25519, "x": x}
    kid = thumbprint(members)
    if jwk.get("kid") is not None and jwk.get("kid") != kid:
        raise WitnessKeyError(
            "kid", f"the kid {jwk.get('kid')!r} is not the key's RFC 7638 thumbprint {kid}"
        )
    return {**members, "kid": kid, "use": "sig", "alg": JWS_ALGORITHM}


def _unb64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return b""


def unverified_jws(token: str) -> tuple[dict[str, Any], bytes]:
    """The protected header and payload of a compact JWS, *without* checking its signature.

    Only to find what a token claims to be (which head, which key) before the
    check that matters. :class:`ValueError` when it is not a compact JWS.
    """
    if not isinstance(token, str) or len(token) > MAX_JWS_LENGTH or token.count(".") != 2:
        raise ValueError("not a compact JWS (three base64url parts separated by dots)")
    try:
        parsed = jws.extract_compact(token.encode("ascii"))
    except (JoseError, ValueError, TypeError, UnicodeError) as exc:
        raise ValueError(f"not a compact JWS: {exc}") from None
    return dict(parsed.headers()), parsed.payload


def sign_cosignature(private_key: Ed25519PrivateKey, payload: bytes) -> str:
    """A witness's cosignature of a head's ``payload`` (its key's thumbprint as ``kid``)."""
    kid = public_jwk(private_key)["kid"]
    return sign_compact(private_key, kid, payload, {"typ": COSIGNATURE_TYPE})


def verify_cosignature(token: str, witness_jwk: Mapping[str, Any], payload: bytes) -> None:
    """Check that ``token`` is the witness's cosignature of exactly ``payload``.

    Raises :class:`CosignatureInvalid` naming the first thing that fails: not a
    JWS, not signed by the witness's key (or not with Ed25519), another ``typ``
    or ``kid``, or another payload.
    """
    try:
        kid = str(witness_jwk.get("kid") or thumbprint(witness_jwk))
        key = import_public_jwk({**witness_jwk, "kid": kid})
    except (KeyError, TypeError, ValueError) as exc:
        raise CosignatureInvalid("key", f"the witness's key is not usable: {exc}") from None
    try:
        unverified_jws(token)
    except ValueError as exc:
        raise CosignatureInvalid("jws", str(exc)) from None
    try:
        signed = jws.deserialize_compact(
            token, key, algorithms=[JWS_ALGORITHM], registry=jws_registry()
        )
    except (JoseError, ValueError, TypeError) as exc:
        raise CosignatureInvalid(
            "signature",
            f"the cosignature does not verify with the key of witness {kid} "
            f"({type(exc).__name__}: {exc})",
        ) from None
    header = signed.headers()
    if header.get("typ") != COSIGNATURE_TYPE:
        raise CosignatureInvalid(
            "typ", f"a cosignature has typ {COSIGNATURE_TYPE!r}, not {header.get('typ')!r}"
        )
    if header.get("kid") not in (None, kid):
        raise CosignatureInvalid(
            "kid", f"the cosignature names key {header.get('kid')!r}, not the witness's {kid}"
        )
    if signed.payload != payload:
        raise CosignatureInvalid(
            "payload",
            f"the cosignature signs {_describe(signed.payload)}, not the head's payload "
            f"{_describe(payload)}",
        )


def _describe(payload: bytes) -> str:
    try:
        head = TreeHead.from_payload(payload)
    except ReceiptInvalid:
        return f"{len(payload)} bytes that are not a tree head"
    return f"the head of size {head.tree_size} with root {b64(head.root_hash)}"


# -- pure: k of n -------------------------------------------------------------------------


@dataclass(frozen=True)
class WitnessRecord:
    id: UUID
    name: str
    kind: str
    kid: str
    public_jwk: Mapping[str, Any]
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class StoredCosignature:
    witness_kid: str
    signature: str
    signed_at: datetime


@dataclass(frozen=True)
class CosignatureCheck:
    cosignature: StoredCosignature
    witness: WitnessRecord | None
    counted: bool
    reason: str | None = None  # why it does not count


@dataclass(frozen=True)
class HeadStatus:
    checks: tuple[CosignatureCheck, ...]
    required: int
    witnesses: int  # n: the active witnesses

    @property
    def valid(self) -> int:
        return sum(1 for check in self.checks if check.counted)

    @property
    def satisfied(self) -> bool:
        return self.valid >= self.required

    @property
    def state(self) -> Literal["cosigned", "pending"]:
        return "cosigned" if self.satisfied else "pending"


def head_status(
    head: SignedHead,
    cosignatures: Sequence[StoredCosignature],
    witnesses: Sequence[WitnessRecord],
    *,
    required: int,
) -> HeadStatus:
    """Whether ``head`` has ``required`` cosignatures (k of the n active witnesses).

    Each stored cosignature is checked again against its witness's key and the
    head's payload; one counts when it verifies and its witness is active, and
    each witness counts once.
    """
    if not 0 <= required <= MAX_REQUIRED:
        raise ValueError(f"required must be between 0 and {MAX_REQUIRED}")
    payload = head.head.payload()
    by_kid = {w.kid: w for w in witnesses}
    counted: set[str] = set()
    checks: list[CosignatureCheck] = []
    for cosignature in cosignatures:
        witness = by_kid.get(cosignature.witness_kid)
        reason: str | None = None
        if witness is None:
            reason = "not a witness of this log"
        elif not witness.active:
            reason = "the witness was deactivated"
        elif witness.kid in counted:
            reason = "the witness is counted once"
        else:
            try:
                verify_cosignature(cosignature.signature, witness.public_jwk, payload)
            except CosignatureInvalid as exc:
                reason = str(exc)
        if reason is None:
            counted.add(cosignature.witness_kid)
        checks.append(CosignatureCheck(cosignature, witness, reason is None, reason))
    active = sum(1 for w in witnesses if w.active)
    return HeadStatus(tuple(checks), required, active)


def valid_cosigners(
    payload: bytes,
    cosignatures: Sequence[Mapping[str, Any]],
    witness_keys: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    """The kids of ``witness_keys`` whose cosignature of ``payload`` is among ``cosignatures``."""
    valid: list[str] = []
    for item in cosignatures:
        kid = item.get("witness_kid") if isinstance(item, Mapping) else None
        token = item.get("signature") if isinstance(item, Mapping) else None
        if not isinstance(kid, str) or not isinstance(token, str) or kid in valid:
            continue
        jwk = witness_keys.get(kid)
        if jwk is None:
            continue
        try:
            verify_cosignature(token, {**jwk, "kid": kid}, payload)
        except CosignatureInvalid:
            continue
        valid.append(kid)
    return valid


@dataclass(frozen=True)
class WitnessedReceiptCheck(ReceiptCheck):
    cosigned_by: tuple[str, ...] = ()


def verify_receipt(
    receipt: Mapping[str, Any],
    *,
    verify_signature: Callable[[str, str | None], bytes],
    content_sha256: str | None = None,
    witness_keys: Mapping[str, Mapping[str, Any]] | None = None,
    required: int = 0,
) -> WitnessedReceiptCheck:
    """:func:`arbitral.ledger.domain.verify_receipt`, and ``required`` cosignatures of its head.

    ``witness_keys`` maps the kid of each witness the checker accepts (as the
    commission published them) to its public JWK. The receipt's cosignatures
    (``{"witness_kid", "signature"}``) that verify over the head's signed
    payload are counted, each witness once; fewer than ``required`` is a
    :class:`ReceiptInvalid` such as "2 of 3 cosignatures required, 1 valid".
    """
    signed: list[bytes] = []

    def capture(token: str, kid: str | None) -> bytes:
        payload = verify_signature(token, kid)
        signed.append(payload)
        return payload

    check = verify_receipt_alone(receipt, verify_signature=capture, content_sha256=content_sha256)
    keys = dict(witness_keys or {})
    cosignatures = receipt.get("cosignatures", [])
    if not isinstance(cosignatures, list):
        raise ReceiptInvalid("the receipt is malformed: cosignatures must be a list")
    valid = valid_cosigners(signed[-1], cosignatures, keys) if keys else []
    if len(valid) < required:
        raise ReceiptInvalid(f"{required} of {len(keys)} cosignatures required, {len(valid)} valid")
    return WitnessedReceiptCheck(
        log_id=check.log_id,
        leaf_index=check.leaf_index,
        tree_size=check.tree_size,
        root_hash=check.root_hash,
        timestamp=check.timestamp,
        entry=check.entry,
        cosigned_by=tuple(valid),
    )


# -- request and response types ---------------------------------------------------------


class WitnessCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    kind: WitnessKind
    public_jwk: dict[str, Any]


class WitnessOut(msgspec.Struct):
    id: UUID
    name: str
    kind: str
    kid: str
    public_jwk: dict[str, Any]
    active: bool
    created_at: datetime


class PublishedWitness(msgspec.Struct):
    kid: str
    name: str
    kind: str
    public_jwk: dict[str, Any]


class PublishedWitnesses(msgspec.Struct):
    log_id: str
    witnesses: list[PublishedWitness]


_Jws = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_JWS_LENGTH)]


class CosignatureIn(msgspec.Struct, forbid_unknown_fields=True):
    head_signature: _Jws
    witness_kid: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    cosignature: _Jws


class CosignatureOut(msgspec.Struct):
    log_id: str
    tree_size: int
    root_hash: str  # hex, as in every other JSON view of the log
    head_kid: str
    witness_kid: str
    witness_name: str
    signature: str
    signed_at: datetime
    created: bool


class CosignatureView(msgspec.Struct):
    witness_kid: str
    witness_name: str | None
    witness_kind: str | None
    signature: str
    signed_at: datetime
    counted: bool
    reason: str | None = None


class HeadOut(msgspec.Struct):
    log_id: str
    tree_size: int
    root_hash: str
    timestamp: datetime
    kid: str
    signature: str
    cosignatures: list[CosignatureView]
    required: int
    witnesses: int
    valid: int
    satisfied: bool
    status: Literal["cosigned", "pending"]


class ConsistencyOut(msgspec.Struct):
    first: int
    second: int
    first_root: str
    second_root: str
    consistency_path: list[str]


# -- the registry (commission admin) ------------------------------------------------------


def _json(value: Any) -> dict[str, Any]:
    loaded = json.loads(value) if isinstance(value, str | bytes) else value
    return dict(loaded)


def _witness(row: Mapping[str, Any]) -> WitnessRecord:
    return WitnessRecord(
        id=as_uuid(row["id"]),
        name=str(row["name"]),
        kind=str(row["kind"]),
        kid=str(row["kid"]),
        public_jwk=_json(row["public_jwk"]),
        active=bool(row["active"]),
        created_at=as_datetime(row["created_at"]),
    )


def _out(witness: WitnessRecord) -> WitnessOut:
    return WitnessOut(
        id=witness.id,
        name=witness.name,
        kind=witness.kind,
        kid=witness.kid,
        public_jwk=dict(witness.public_jwk),
        active=witness.active,
        created_at=witness.created_at,
    )


_WITNESS_COLUMNS = "id, name, kind, kid, public_jwk, active, created_at"


async def witnesses_of(uow: UnitOfWork, tenant_id: UUID) -> list[WitnessRecord]:
    rows = await uow.fetch(
        f"SELECT {_WITNESS_COLUMNS} FROM ledger_witness WHERE tenant_id = {{}} "  # noqa: S608
        "ORDER BY created_at, kid",
        tenant_id,
    )
    return [_witness(row) for row in rows]


async def access_witness(uow: UnitOfWork, principal: Principal, witness_id: UUID) -> WitnessRecord:
    """The witness ``witness_id`` of the principal's commission; 404 for any other."""
    from arbitral.identity.services import tenant_of

    rows = await uow.fetch(
        f"SELECT {_WITNESS_COLUMNS} FROM ledger_witness "  # noqa: S608
        "WHERE tenant_id = {} AND id = {}",
        tenant_of(principal),
        witness_id,
    )
    if not rows:
        raise NotFound("no such witness")
    return _witness(rows[0])


async def register_witness(
    runtime: Runtime, principal: Principal, data: WitnessCreate
) -> WitnessOut:
    """Register a witness of the commission's log (audited as ``ledger.witness_registered``)."""
    from arbitral.identity.services import actor_of, tenant_of

    tenant_id = tenant_of(principal)
    name = data.name.strip()
    if not name:
        raise ValidationFailed(
            "the witness is not valid",
            errors=[FieldProblem("$.name", "required", "name the witness")],
        )
    try:
        jwk = check_public_jwk(data.public_jwk)
    except WitnessKeyError as exc:
        raise ValidationFailed(
            f"the witness's key is not valid: {exc}",
            errors=[FieldProblem("$.public_jwk", exc.rule, str(exc))],
        ) from None
    if await runtime.keys.verification_key(tenant_id, jwk["kid"]) is not None:
        raise ValidationFailed(
            "a witness must hold its own key",
            errors=[
                FieldProblem(
                    "$.public_jwk",
                    "independent",
                    "this is one of the commission's own signing keys; a witness cosigns "
                    "with a key of its own",
                )
            ],
        )
    witness = WitnessRecord(
        id=uuid4(),
        name=name,
        kind=data.kind,
        kid=jwk["kid"],
        public_jwk=jwk,
        active=True,
        created_at=datetime.now(UTC),
    )
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        existing = await uow.fetch(
            "SELECT id, name, active FROM ledger_witness WHERE tenant_id = {} AND kid = {}",
            tenant_id,
            witness.kid,
        )
        if existing:
            state = "active" if existing[0]["active"] else "deactivated"
            raise Conflict(
                f"this key is already registered, as witness {existing[0]['name']!r} "
                f"({existing[0]['id']}, {state}); a witness with a new key registers that key",
                errors=[FieldProblem("$.public_jwk", "unique", "key already registered")],
            )
        await uow.execute(
            "INSERT INTO ledger_witness (id, tenant_id, name, kind, public_jwk, kid, active, "
            "created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
            witness.id,
            tenant_id,
            witness.name,
            witness.kind,
            json.dumps(jwk, sort_keys=True),
            witness.kid,
            True,
            witness.created_at,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="ledger.witness_registered",
            target_kind="ledger_witness",
            target_id=witness.id,
            detail={"name": witness.name, "kind": witness.kind, "kid": witness.kid},
        )
    return _out(witness)


async def list_witnesses(runtime: Runtime, principal: Principal) -> list[WitnessOut]:
    from arbitral.identity.services import tenant_of

    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        return [_out(w) for w in await witnesses_of(uow, tenant_id)]


async def deactivate_witness(
    runtime: Runtime, principal: Principal, witness_id: UUID
) -> WitnessOut:
    """Stop counting a witness (its key lost, its role ended); idempotent, audited once.

    Its cosignatures stay in the log's records (they are append-only) but no
    longer count towards k, here or in the commission's published list.
    """
    from arbitral.identity.services import actor_of, tenant_of

    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        witness = await access_witness(uow, principal, witness_id)
        if witness.active:
            await uow.execute(
                "UPDATE ledger_witness SET active = {} WHERE tenant_id = {} AND id = {}",
                False,
                tenant_id,
                witness.id,
            )
            await record(
                uow,
                tenant_id=tenant_id,
                actor=actor_of(principal),
                action="ledger.witness_deactivated",
                target_kind="ledger_witness",
                target_id=witness.id,
                detail={"name": witness.name, "kind": witness.kind, "kid": witness.kid},
            )
    return _out(
        WitnessRecord(
            witness.id,
            witness.name,
            witness.kind,
            witness.kid,
            witness.public_jwk,
            False,
            witness.created_at,
        )
    )


async def published_witnesses(runtime: Runtime, tenant_id: UUID) -> PublishedWitnesses:
    """The active witnesses and their keys: what a checker of receipts counts."""
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        found = await witnesses_of(uow, tenant_id)
    return PublishedWitnesses(
        log_id=services.log_id_of(tenant_id),
        witnesses=[
            PublishedWitness(w.kid, w.name, w.kind, dict(w.public_jwk)) for w in found if w.active
        ],
    )


# -- heads and their cosignatures (public) ------------------------------------------------

_HEAD_COLUMNS = "id, tree_size, root_hash, issued_at, kid, signature"


def _signed_head(row: Mapping[str, Any], tenant_id: UUID) -> SignedHead:
    root = row["root_hash"]
    return SignedHead(
        head=TreeHead(
            log_id=services.log_id_of(tenant_id),
            tree_size=int(row["tree_size"]),
            root_hash=root if isinstance(root, bytes) else bytes(root),
            timestamp=as_datetime(row["issued_at"]),
        ),
        kid=str(row["kid"]),
        signature=str(row["signature"]),
    )


async def _stored_cosignatures(
    uow: UnitOfWork, tenant_id: UUID, head_id: Any
) -> list[StoredCosignature]:
    rows = await uow.fetch(
        "SELECT w.kid, c.signature, c.signed_at FROM ledger_cosignature c "
        "JOIN ledger_witness w ON w.tenant_id = c.tenant_id AND w.id = c.witness_id "
        "WHERE c.tenant_id = {} AND c.head_id = {} ORDER BY c.signed_at, w.kid",
        tenant_id,
        head_id,
    )
    return [
        StoredCosignature(str(r["kid"]), str(r["signature"]), as_datetime(r["signed_at"]))
        for r in rows
    ]


async def head_view(
    runtime: Runtime, tenant_id: UUID, *, tree_size: int | None = None, required: int = 1
) -> HeadOut:
    """The latest signed head (one is issued if the log has none), or the latest of a size.

    With its cosignatures, each re-checked, and whether ``required`` of them count.
    """
    if not 0 <= required <= MAX_REQUIRED:
        raise ProblemError(
            f"required must be between 0 and {MAX_REQUIRED}, not {required}",
            errors=[FieldProblem("query:required", "range", f"between 0 and {MAX_REQUIRED}")],
        )
    latest = tree_size is None
    query = f"SELECT {_HEAD_COLUMNS} FROM ledger_head WHERE tenant_id = {{}}"  # noqa: S608
    args: list[Any] = [tenant_id]
    if not latest:
        query += " AND tree_size = {}"
        args.append(tree_size)
    query += " ORDER BY tree_size DESC, issued_at DESC LIMIT 1"
    for attempt in range(2):
        async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
            rows = await uow.fetch(query, *args)
            if rows:
                cosignatures = await _stored_cosignatures(uow, tenant_id, rows[0]["id"])
                witnesses = await witnesses_of(uow, tenant_id)
                break
        if not latest or attempt:
            raise NotFound(f"the log has signed no head of size {tree_size}")
        await services.issue_head(runtime, tenant_id)
    head = _signed_head(rows[0], tenant_id)
    status = head_status(head, cosignatures, witnesses, required=required)
    return HeadOut(
        log_id=head.head.log_id,
        tree_size=head.head.tree_size,
        root_hash=head.head.root_hash.hex(),
        timestamp=head.head.timestamp,
        kid=head.kid,
        signature=head.signature,
        cosignatures=[
            CosignatureView(
                witness_kid=check.cosignature.witness_kid,
                witness_name=check.witness.name if check.witness else None,
                witness_kind=check.witness.kind if check.witness else None,
                signature=check.cosignature.signature,
                signed_at=check.cosignature.signed_at,
                counted=check.counted,
                reason=check.reason,
            )
            for check in status.checks
        ],
        required=status.required,
        witnesses=status.witnesses,
        valid=status.valid,
        satisfied=status.satisfied,
        status=status.state,
    )


async def consistency_view(
    runtime: Runtime, tenant_id: UUID, first: int, second: int
) -> ConsistencyOut:
    """The consistency proof from ``first`` to ``second`` leaves (400/404 when there is none)."""
    if not 1 <= first <= second:
        raise ProblemError(
            f"no consistency proof from {first} to {second}: 1 <= first <= second",
            errors=[FieldProblem("query:first", "range", "first must be between 1 and second")],
        )
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        size = await services.size_of(uow, tenant_id)
        if second > size:
            raise NotFound(f"the log has {size} leaves; there is no tree of size {second}")
        proof: ConsistencyProof = await services.consistency(uow, tenant_id, first, second)
    return ConsistencyOut(
        first=proof.first,
        second=proof.second,
        first_root=proof.first_root.hex(),
        second_root=proof.second_root.hex(),
        consistency_path=[h.hex() for h in proof.path],
    )


def _refuse(field_name: str, rule: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[FieldProblem(field_name, rule, message)])


async def submit_cosignature(
    runtime: Runtime, tenant_id: UUID, data: CosignatureIn
) -> CosignatureOut:
    """Keep a witness's cosignature of one of the log's heads, once.

    The witness must be registered with this commission and active, the head
    one the log signed (``head_signature`` exactly as published), and the
    cosignature must verify with the witness's key over that head's payload.
    The same witness cosigning the same head again gets the stored one back
    (``created`` false). Refusals: 422 naming the field and the rule, 403 for a
    deactivated witness.
    """
    try:
        _, claimed = unverified_jws(data.head_signature)
        claimed_head = TreeHead.from_payload(claimed)
    except (ValueError, ReceiptInvalid) as exc:
        raise _refuse(
            "$.head_signature", "jws", f"head_signature is not a signed tree head: {exc}"
        ) from None
    log_id = services.log_id_of(tenant_id)
    if claimed_head.log_id != log_id or not 0 <= claimed_head.tree_size < _MAX_TREE_SIZE:
        raise _refuse(
            "$.head_signature",
            "known_head",
            f"head_signature is a head of {claimed_head.log_id!r}, not of this log ({log_id})",
        )
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        rows = await uow.fetch(
            f"SELECT {_WITNESS_COLUMNS} FROM ledger_witness "  # noqa: S608
            "WHERE tenant_id = {} AND kid = {}",
            tenant_id,
            data.witness_kid,
        )
        if not rows:
            raise _refuse(
                "$.witness_kid",
                "registered",
                f"no witness of this commission has the key {data.witness_kid!r}",
            )
        witness = _witness(rows[0])
        if not witness.active:
            raise Forbidden(
                f"witness {witness.name!r} ({witness.kid}) was deactivated by the commission; "
                "its cosignatures are no longer taken",
                errors=[FieldProblem("$.witness_kid", "active", "the witness was deactivated")],
            )
        heads = await uow.fetch(
            f"SELECT {_HEAD_COLUMNS} FROM ledger_head "  # noqa: S608
            "WHERE tenant_id = {} AND tree_size = {}",
            tenant_id,
            claimed_head.tree_size,
        )
        matching = [row for row in heads if row["signature"] == data.head_signature]
        if not matching:
            raise _refuse(
                "$.head_signature",
                "known_head",
                f"the log signed no such head (of size {claimed_head.tree_size}): "
                "head_signature must be a head exactly as the log published it",
            )
        head_row = matching[0]
        head = _signed_head(head_row, tenant_id)
        try:
            verify_cosignature(data.cosignature, witness.public_jwk, head.head.payload())
        except CosignatureInvalid as exc:
            raise _refuse("$.cosignature", exc.rule, str(exc)) from None
        existing = await uow.fetch(
            "SELECT signature, signed_at FROM ledger_cosignature "
            "WHERE tenant_id = {} AND head_id = {} AND witness_id = {}",
            tenant_id,
            head_row["id"],
            witness.id,
        )
        created = not existing
        if created:
            signed_at = datetime.now(UTC)
            signature = data.cosignature
            await uow.execute(
                "INSERT INTO ledger_cosignature (id, tenant_id, head_id, witness_id, signature, "
                "signed_at) VALUES ({}, {}, {}, {}, {}, {})",
                uuid4(),
                tenant_id,
                head_row["id"],
                witness.id,
                signature,
                signed_at,
            )
            await record(
                uow,
                tenant_id=tenant_id,
                actor=Actor("anonymous", f"witness:{witness.kid}"),
                action="ledger.cosigned",
                target_kind="ledger_head",
                target_id=as_uuid(head_row["id"]),
                detail={
                    "witness_id": str(witness.id),
                    "witness": witness.name,
                    "tree_size": head.head.tree_size,
                },
            )
        else:
            signature = str(existing[0]["signature"])
            signed_at = as_datetime(existing[0]["signed_at"])
    log.info(
        "ledger.cosignature",
        tenant_id=str(tenant_id),
        witness=witness.kid,
        tree_size=head.head.tree_size,
        created=created,
    )
    return CosignatureOut(
        log_id=log_id,
        tree_size=head.head.tree_size,
        root_hash=head.head.root_hash.hex(),
        head_kid=head.kid,
        witness_kid=witness.kid,
        witness_name=witness.name,
        signature=signature,
        signed_at=signed_at,
        created=created,
    )


# -- the witness's side (a court's or a notary's software) --------------------------------


class WitnessFailure(Exception):
    """The witness could not do its round (network, a refusal, a bad file): nothing signed."""


class WitnessAlarm(Exception):
    """The log misbehaved: a forged or unknown head, a rollback, a fork, a rewritten history.

    ``evidence`` holds what proves it (the heads the log signed), to hand on.
    """

    def __init__(self, message: str, evidence: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.evidence = dict(evidence or {})


@dataclass(frozen=True)
class WitnessKey:
    private_key: Ed25519PrivateKey = field(repr=False)
    kid: str

    @property
    def public_jwk(self) -> dict[str, str]:
        return public_jwk(self.private_key)


def new_witness_key() -> tuple[dict[str, str], WitnessKey]:
    """A fresh Ed25519 key: its private JWK (for the witness's file) and the key."""
    private_key = Ed25519PrivateKey.generate()
    jwk = public_jwk(private_key)
    private_jwk = {**jwk, "d": b64url(private_key.private_bytes_raw())}
    return private_jwk, WitnessKey(private_key, jwk["kid"])


def witness_key_from_jwk(jwk: Any) -> WitnessKey:
    """The witness's key from its private JWK (an Ed25519 OKP key with ``d``)."""
    if not isinstance(jwk, Mapping) or not isinstance(jwk.get("d"), str):
        raise WitnessKeyError("private", "expected the witness's private JWK (with d)")
    public = check_public_jwk({k: v for k, v in jwk.items() if k != "d"})
    seed = _unb64url(jwk["d"])
    if len(seed) != 32:
        raise WitnessKeyError("format", "d must be the 32-byte private key in base64url")
    private_key = Ed25519PrivateKey.from_private_bytes(seed)
    if public_jwk(private_key)["kid"] != public["kid"]:
        raise WitnessKeyError("format", "d is not the private half of x")
    return WitnessKey(private_key, public["kid"])


def write_private_jwk(path: Path, jwk: Mapping[str, Any]) -> None:
    """Write a private JWK to a new file readable by its owner only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(dict(jwk), indent=2) + "\n")


def load_witness_key(path: Path) -> WitnessKey:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WitnessFailure(f"key {path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise WitnessFailure(f"key {path}: not JSON: {exc}") from None
    try:
        return witness_key_from_jwk(document)
    except (WitnessKeyError, ValueError) as exc:
        raise WitnessFailure(f"key {path}: {exc}") from None


@dataclass(frozen=True)
class WitnessState:
    """What the witness remembers: the last head it checked (and cosigned)."""

    log_id: str
    tree_size: int
    root_hash: bytes
    timestamp_ms: int
    head_signature: str

    def as_json(self) -> dict[str, Any]:
        return {
            "log_id": self.log_id,
            "tree_size": self.tree_size,
            "root_hash": b64(self.root_hash),
            "timestamp": self.timestamp_ms,
            "head_signature": self.head_signature,
        }

    @classmethod
    def from_json(cls, document: Any) -> WitnessState:
        try:
            return cls(
                log_id=str(document["log_id"]),
                tree_size=int(document["tree_size"]),
                root_hash=unb64(document["root_hash"]),
                timestamp_ms=int(document["timestamp"]),
                head_signature=str(document["head_signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WitnessFailure(f"the state is malformed: {exc}") from None


def load_state(path: Path) -> WitnessState | None:
    """The witness's state, or None before its first round (no file yet)."""
    if not path.exists():
        return None
    try:
        return WitnessState.from_json(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise WitnessFailure(f"state {path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise WitnessFailure(f"state {path}: not JSON: {exc}") from None


def save_state(path: Path, state: WitnessState) -> None:
    """Replace the state file atomically (a crash leaves the old state or the new one)."""
    temporary = path.with_name(f".{path.name}.{uuid4().hex}.tmp")
    temporary.write_text(json.dumps(state.as_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


@dataclass(frozen=True)
class WitnessRound:
    state: WitnessState
    previous_size: int | None
    checked: Literal["first sight", "unchanged", "consistent"]
    created: bool  # the cosignature is new on the server

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "log_id": self.state.log_id,
            "tree_size": self.state.tree_size,
            "root_hash": b64(self.state.root_hash),
            "previous_size": self.previous_size,
            "checked": self.checked,
            "cosigned": True,
            "cosignature_created": self.created,
        }


async def _fetch_json(
    client: httpx.AsyncClient, url: str, what: str, params: Mapping[str, Any] | None = None
) -> Any:
    try:
        response = await client.get(url, params=dict(params or {}))
    except httpx.HTTPError as exc:
        raise WitnessFailure(f"{what}: GET {url}: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise WitnessFailure(
            f"{what}: GET {url} answered {response.status_code}: {response.text[:300]}"
        )
    try:
        return decode_json(response.content)  # depth-checked: the server is not trusted
    except ValueError:
        raise WitnessFailure(f"{what}: GET {url} answered something that is not JSON") from None


def _check_head(head_json: Any, ledger_keys: Any) -> tuple[TreeHead, bytes, str]:
    """The head the log signed (payload checked with one of its ledger keys), or an alarm."""
    token = head_json.get("signature") if isinstance(head_json, dict) else None
    if not isinstance(token, str):
        raise WitnessFailure("the log's head has no signature")
    try:
        header, _ = unverified_jws(token)
    except ValueError as exc:
        raise WitnessAlarm(f"the log published a head that is not a JWS: {exc}") from None
    kid = header.get("kid")
    keys = ledger_keys.get("keys") if isinstance(ledger_keys, dict) else None
    jwk = next((k for k in keys or [] if isinstance(k, dict) and k.get("kid") == kid and kid), None)
    if jwk is None:
        raise WitnessAlarm(
            f"the head is signed by key {kid!r}, which is not among the log's ledger keys",
            {"head": token},
        )
    try:
        payload = verify_compact(token, import_public_jwk(jwk))
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise WitnessAlarm(
            f"the head's signature does not verify with the log's key {kid}: {exc}",
            {"head": token},
        ) from None
    try:
        head = TreeHead.from_payload(payload)
    except ReceiptInvalid as exc:
        raise WitnessAlarm(f"the log signed a malformed head: {exc}", {"head": token}) from None
    return head, payload, token


async def witness_once(
    client: httpx.AsyncClient,
    log_url: str,
    key: WitnessKey,
    state: WitnessState | None,
) -> WitnessRound:
    """One round of a witness: fetch, verify, check consistency, cosign, post.

    ``log_url`` is the commission's base (``https://host/t/slug``). Raises
    :class:`WitnessAlarm` when the log misbehaves (nothing is signed then) and
    :class:`WitnessFailure` when the round cannot complete. The caller keeps
    the returned state for the next round.
    """
    base = log_url.rstrip("/")
    head_json = await _fetch_json(client, f"{base}/ledger/head", "the log's head")
    ledger_keys = await _fetch_json(
        client, f"{base}/.well-known/ledger-keys.json", "the log's ledger keys"
    )
    head, payload, token = _check_head(head_json, ledger_keys)
    root = head.root_hash
    size = head.tree_size
    checked: Literal["first sight", "unchanged", "consistent"] = "first sight"
    if state is not None:
        evidence = {"previous_head": state.head_signature, "head": token}
        seen = f"the tree of size {state.tree_size} (root {b64(state.root_hash)}) this witness saw"
        if head.log_id != state.log_id:
            raise WitnessAlarm(
                f"the log's id changed from {state.log_id} to {head.log_id}", evidence
            )
        if size < state.tree_size:
            raise WitnessAlarm(
                f"the log shrank: it now signs a head of size {size} after {seen}", evidence
            )
        if size == state.tree_size:
            if root != state.root_hash:
                raise WitnessAlarm(
                    f"the log signed another root ({b64(root)}) for {seen}: history was rewritten",
                    evidence,
                )
            checked = "unchanged"
        elif state.tree_size == 0:
            checked = "consistent"  # every tree extends the empty one
        else:
            proof = await _fetch_json(
                client,
                f"{base}/ledger/consistency",
                "the consistency proof",
                {"first": state.tree_size, "second": size},
            )
            try:
                path = [bytes.fromhex(h) for h in proof["consistency_path"]]
                ok = (proof["first"], proof["second"]) == (state.tree_size, size)
            except (KeyError, TypeError, ValueError):
                raise WitnessAlarm(
                    f"the log answered a malformed consistency proof from {state.tree_size} "
                    f"to {size}",
                    {**evidence, "proof": proof},
                ) from None
            if not ok or not merkle.verify_consistency(
                state.tree_size, size, state.root_hash, root, path
            ):
                raise WitnessAlarm(
                    f"the tree of size {size} (root {b64(root)}) the log signed does not "
                    f"extend {seen}: the consistency proof fails; history was rewritten",
                    {**evidence, "proof": proof},
                )
            checked = "consistent"
    cosignature = sign_cosignature(key.private_key, payload)
    try:
        response = await client.post(
            f"{base}/ledger/cosignatures",
            json={"head_signature": token, "witness_kid": key.kid, "cosignature": cosignature},
        )
    except httpx.HTTPError as exc:
        raise WitnessFailure(f"posting the cosignature: {type(exc).__name__}: {exc}") from None
    if response.status_code not in (200, 201):
        raise WitnessFailure(
            f"the log refused the cosignature ({response.status_code}): {response.text[:500]}"
        )
    new_state = WitnessState(
        log_id=head.log_id,
        tree_size=size,
        root_hash=root,
        timestamp_ms=int(json.loads(payload)["timestamp"]),
        head_signature=token,
    )
    return WitnessRound(
        state=new_state,
        previous_size=None if state is None else state.tree_size,
        checked=checked,
        created=response.status_code == 201,
    )
