"""Evidence at source: transaction records that trading platforms and lenders push, signed.

A trading platform or a lender (an API client with a registered key, see
:mod:`arbitral.auth.client_keys`) sends each record of a transaction (an
order, a payment, a delivery, a chat, a loan's contract, disbursement and
repayments) as a compact JWS (RFC 7515) whose payload is::

    {"type": "order", "record_id": "<the platform's own id>",
     "occurred_at": "2026-03-01T10:15:00+08:00", "data": {...}, "subject": {...}}

The signature is checked against the calling client's own active keys; the
raw JWS goes to the object store (content-addressed, under the tenant's
prefix) and one transaction records its parsed form, appends its leaf to the
tenant's transparency log and writes the audit event. Its provenance is
*attested*: the platform, not a party, vouches for it. A refused record leaves
nothing behind: every check runs before anything is stored. (One exception,
as with any failure after the bytes are stored: of two requests racing with
the same record id and different payloads, the loser's JWS may already be in
the write-once store, unreferenced by any row or leaf.)

The same record id sent again by the same client finds the first record
(200) when the signed payload is the same (re-signing it, as ECDSA does each
time, changes nothing) and is refused (409, naming the first) when it is not.
The row's id never changes, so cases can cite the record as an exhibit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final
from uuid import UUID, uuid4

import msgspec
import structlog
from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jws import JWSRegistry

from arbitral.audit.services import record as audit
from arbitral.auth.client_keys import find_key, verification_key
from arbitral.auth.domain import ClientKind, Principal, PrincipalKind, Role
from arbitral.custody.services import PayloadTooLarge, UnsupportedMediaType
from arbitral.db.values import as_datetime, as_uuid
from arbitral.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    ProblemError,
    ValidationFailed,
)
from arbitral.identity.services import actor_of, tenant_of
from arbitral.ledger import services as ledger
from arbitral.safejson import decode_json
from arbitral.storage.interfaces import object_key

if TYPE_CHECKING:
    from joserfc.jwa import JWSAlgModel

    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime

log = structlog.get_logger(__name__)

MAX_BODY: Final = 1 << 20
"""The largest request accepted (the JWS, or the JSON that carries it)."""

JOSE_MEDIA_TYPE: Final = "application/jose"
RECORD_TYPES: Final = (
    "order",
    "payment",
    "logistics",
    "chat",
    "loan_disbursement",
    "loan_repayment",
    "loan_contract",
)
SUBMITTERS: Final = frozenset({ClientKind.LENDER, ClientKind.TRADING_PLATFORM})
MAX_RECORD_ID: Final = 128
MAX_NAME: Final = 128
"""The longest ``kid`` or ``alg`` a header may name (a thumbprint has 43 characters)."""
CLOCK_SKEW: Final = timedelta(minutes=5)
"""How far in the future ``occurred_at`` may lie (the platform's clock may run ahead)."""

ACCEPTED_ALGORITHMS: Final = ("Ed25519", "EdDSA", "ES256")
_PAYLOAD_MEMBERS: Final = ("type", "record_id", "occurred_at", "data", "subject")
_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-]+")
_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})"
)
STAFF: Final = frozenset({Role.COMMISSION_ADMIN, Role.SECRETARY})
_NAMED: Final = {"Ed25519": "an Ed25519", "P-256": "a P-256"}


class StoredRecordAltered(ProblemError):
    status = 500
    slug = "stored-record-altered"
    title = "Stored record altered"


# -- responses ----------------------------------------------------------------------


class Provenance(msgspec.Struct):
    """Who vouches for the record: the API client whose key signed it."""

    type: str
    attested_by: str
    name: str
    kind: str
    kid: str
    alg: str


class CustodyRecordOut(msgspec.Struct):
    id: UUID
    type: str
    record_id: str
    occurred_at: datetime
    data: dict[str, Any]
    subject: dict[str, Any] | None
    provenance: Provenance
    jws_sha256: str
    leaf_index: int
    received_at: datetime


class CustodyRecordShown(CustodyRecordOut):
    """A record with the JWS it arrived as, to be checked by anyone with the client's key."""

    jws: str


class RecordReceived(msgspec.Struct):
    record: CustodyRecordOut
    receipt: dict[str, Any]


# -- the request body ---------------------------------------------------------------


def _refused(field: str, rule: str, message: str, detail: str | None = None) -> ValidationFailed:
    return ValidationFailed(detail or message, errors=[FieldProblem(field, rule, message)])


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the record is larger than {MAX_BODY >> 20} MiB",
        errors=[FieldProblem("jws", "max_size", f"at most {MAX_BODY} bytes")],
    )


async def read_body(chunks: AsyncIterator[bytes], *, declared_length: int | None) -> bytes:
    """The request body, refused as soon as it passes :data:`MAX_BODY`."""
    if declared_length is not None and declared_length > MAX_BODY:
        raise _too_large()
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > MAX_BODY:
            raise _too_large()
    return bytes(body)


def compact_of(body: bytes, media_type: str) -> str:
    """The compact JWS the body carries: the body itself (``application/jose``) or
    ``{"jws": "..."}`` (``application/json``)."""
    media_type = media_type.strip().lower()
    if media_type == JOSE_MEDIA_TYPE:
        try:
            text = body.decode("ascii")
        except UnicodeDecodeError:
            raise _refused(
                "jws", "format", "a compact JWS is ASCII: base64url segments and dots"
            ) from None
        return text.strip()
    if media_type == "application/json":
        try:
            document = decode_json(body)
        except ValueError as exc:
            raise _refused("$", "syntax", str(exc), "the body is not JSON") from None
        if not isinstance(document, dict):
            raise _refused("$", "type", 'send an object: {"jws": "<compact JWS>"}')
        unknown = sorted(set(document) - {"jws"})
        if unknown:
            raise ValidationFailed(
                "the body holds unknown members",
                errors=[
                    FieldProblem(f"$.{name}", "unknown", 'only "jws" is accepted')
                    for name in unknown
                ],
            )
        value = document.get("jws")
        if value is None:
            raise _refused("jws", "required", 'send {"jws": "<compact JWS>"}')
        if not isinstance(value, str):
            raise _refused("jws", "type", "the compact JWS as a string")
        return value.strip()
    raise UnsupportedMediaType(
        f"send the record as {JOSE_MEDIA_TYPE} (the compact JWS) or application/json "
        '({"jws": "..."}), not ' + (media_type or "an unlabelled body"),
        errors=[FieldProblem("content-type", "allowed", f"{JOSE_MEDIA_TYPE} or application/json")],
    )


# -- the JWS ------------------------------------------------------------------------


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@dataclass(frozen=True, slots=True)
class Envelope:
    """A compact JWS taken apart, before its signature is checked."""

    compact: str
    header: dict[str, Any]
    payload: bytes
    alg: str
    kid: str


def open_envelope(compact: str) -> Envelope:
    """Split and check the JWS's form and header; the signature is checked later."""
    segments = compact.split(".")
    if len(segments) != 3 or not all(_SEGMENT.fullmatch(s) for s in segments[:2]):
        raise _refused(
            "jws",
            "format",
            "a compact JWS: three base64url segments joined by dots (RFC 7515 §7.1)",
            "the record is not a compact JWS",
        )
    header_segment, payload_segment, signature_segment = segments
    try:
        header = decode_json(_b64decode(header_segment))
        payload = _b64decode(payload_segment)
    except (ValueError, binascii.Error):
        header = None
        payload = b""
    if not isinstance(header, dict) or not payload:
        raise _refused(
            "jws", "header", "the protected header must be a JSON object, the payload non-empty"
        )
    alg = header.get("alg")
    if alg not in ACCEPTED_ALGORITHMS:
        accepted = ", ".join(ACCEPTED_ALGORITHMS)
        if alg is None:
            message = f"the header names no alg: sign with {accepted}"
        elif alg == "none":
            message = f'unsigned records (alg "none") are refused: sign with {accepted}'
        elif isinstance(alg, str) and alg.startswith("HS"):
            message = (
                f"{alg} is a shared-secret MAC, not a signature of the platform: "
                f"sign with {accepted}"
            )
        elif isinstance(alg, str) and len(alg) <= MAX_NAME:
            message = f"alg {alg!r} is not accepted: {accepted}"
        else:
            message = f"the alg is not accepted: {accepted}"
        raise _refused("jws", "alg", message, "the record's signature algorithm is refused")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_NAME:
        raise _refused(
            "jws", "kid", "the header must name the signing key's kid (its RFC 7638 thumbprint)"
        )
    if "crit" in header or "b64" in header:
        raise _refused(
            "jws", "crit", "no JWS extensions are understood: no crit, no unencoded payload (b64)"
        )
    if not _SEGMENT.fullmatch(signature_segment):
        raise _refused("jws", "format", "the signature segment is missing or not base64url")
    return Envelope(compact, header, payload, alg, kid)


class _RecordRegistry(JWSRegistry):
    """joserfc's registry for records: sizes for 1 MiB, ``EdDSA`` verified as Ed25519.

    RFC 9864 deprecates the polymorphic ``EdDSA`` (joserfc warns on it); with
    the Ed25519 keys this module accepts, it is exactly ``Ed25519``.
    """

    max_header_length = 4096
    max_payload_length = MAX_BODY
    max_signature_length = 1024

    def get_alg(self, name: str) -> JWSAlgModel:
        return super().get_alg("Ed25519" if name == "EdDSA" else name)


# -- the payload --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedRecord:
    type: str
    record_id: str
    occurred_at: datetime
    data: dict[str, Any]
    subject: dict[str, Any] | None
    payload: dict[str, Any]


def _has_control(text: str) -> bool:
    return any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in text)


def parse_payload(payload: bytes, *, now: datetime) -> ParsedRecord:
    """The record in the payload; :class:`ValidationFailed` naming every problem."""
    try:
        document = decode_json(payload)
    except ValueError as exc:
        raise _refused("payload", "syntax", str(exc), "the signed payload is not JSON") from None
    if not isinstance(document, dict):
        raise _refused("payload", "type", "the payload must be a JSON object")
    problems: list[FieldProblem] = [
        FieldProblem(f"payload.{name}", "unknown", "allowed: " + ", ".join(_PAYLOAD_MEMBERS))
        for name in sorted(set(document) - set(_PAYLOAD_MEMBERS))
    ]

    kind = document.get("type")
    if kind is None:
        problems.append(FieldProblem("payload.type", "required", "give the record's type"))
    elif kind not in RECORD_TYPES:
        problems.append(
            FieldProblem("payload.type", "allowed", "one of: " + ", ".join(RECORD_TYPES))
        )

    record_id = document.get("record_id")
    if record_id is None:
        problems.append(
            FieldProblem("payload.record_id", "required", "give the platform's id of the record")
        )
    elif not isinstance(record_id, str):
        problems.append(FieldProblem("payload.record_id", "type", "a string"))
    elif not record_id.strip():
        problems.append(FieldProblem("payload.record_id", "required", "not empty"))
    elif len(record_id) > MAX_RECORD_ID:
        problems.append(
            FieldProblem("payload.record_id", "max_length", f"at most {MAX_RECORD_ID} characters")
        )
    elif _has_control(record_id) or record_id != record_id.strip():
        problems.append(
            FieldProblem(
                "payload.record_id",
                "format",
                "no control characters, no leading or trailing spaces",
            )
        )

    occurred_at: datetime | None = None
    text = document.get("occurred_at")
    if text is None:
        problems.append(FieldProblem("payload.occurred_at", "required", "when it happened"))
    elif not isinstance(text, str) or _RFC3339.fullmatch(text) is None:
        problems.append(
            FieldProblem(
                "payload.occurred_at",
                "format",
                "an RFC 3339 date-time with its offset, e.g. 2026-03-01T10:15:00+08:00",
            )
        )
    else:
        try:
            occurred_at = datetime.fromisoformat(text.upper()).astimezone(UTC)
        except ValueError as exc:
            problems.append(FieldProblem("payload.occurred_at", "format", str(exc)))
        else:
            if occurred_at > now + CLOCK_SKEW:
                problems.append(
                    FieldProblem(
                        "payload.occurred_at",
                        "future",
                        f"{text} is in the future (it is {now.isoformat()} here)",
                    )
                )

    data = document.get("data")
    if data is None:
        problems.append(FieldProblem("payload.data", "required", "the record's content"))
    elif not isinstance(data, dict):
        problems.append(FieldProblem("payload.data", "type", "a JSON object"))
    elif not data:
        problems.append(FieldProblem("payload.data", "required", "the record's content"))

    subject = document.get("subject")
    if subject is not None and not isinstance(subject, dict):
        problems.append(FieldProblem("payload.subject", "type", "a JSON object, or left out"))

    if problems:
        raise ValidationFailed("the record is not valid", errors=problems)
    assert isinstance(kind, str)
    assert isinstance(record_id, str)
    assert occurred_at is not None
    assert isinstance(data, dict)
    return ParsedRecord(kind, record_id, occurred_at, data, subject, document)


# -- the stored record ----------------------------------------------------------------


@dataclass(frozen=True)
class CustodyRecord:
    id: UUID
    api_client_id: UUID
    client_id: str
    client_name: str
    client_kind: str
    kid: str
    alg: str
    record_type: str
    record_id: str
    occurred_at: datetime
    payload: dict[str, Any]
    payload_sha256: str
    jws_sha256: str
    object_key: str
    leaf_index: int
    received_at: datetime

    SELECT: ClassVar[str] = (
        "SELECT r.id, r.api_client_id, r.client_id, c.name AS client_name, "
        "c.kind AS client_kind, r.kid, r.alg, r.record_type, r.record_id, r.occurred_at, "
        "r.payload, r.payload_sha256, r.jws_sha256, r.object_key, r.leaf_index, r.received_at "
        "FROM custody_record r JOIN api_client c "
        "ON c.tenant_id = r.tenant_id AND c.id = r.api_client_id "
    )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CustodyRecord:
        payload = row["payload"]
        return cls(
            id=as_uuid(row["id"]),
            api_client_id=as_uuid(row["api_client_id"]),
            client_id=str(row["client_id"]),
            client_name=str(row["client_name"]),
            client_kind=str(row["client_kind"]),
            kid=str(row["kid"]),
            alg=str(row["alg"]),
            record_type=str(row["record_type"]),
            record_id=str(row["record_id"]),
            occurred_at=as_datetime(row["occurred_at"]),
            payload=json.loads(payload) if isinstance(payload, str) else dict(payload),
            payload_sha256=str(row["payload_sha256"]),
            jws_sha256=str(row["jws_sha256"]),
            object_key=str(row["object_key"]),
            leaf_index=int(row["leaf_index"]),
            received_at=as_datetime(row["received_at"]),
        )

    def out(self) -> CustodyRecordOut:
        return CustodyRecordOut(**self._out_fields())

    def shown(self, compact: str) -> CustodyRecordShown:
        return CustodyRecordShown(**self._out_fields(), jws=compact)

    def _out_fields(self) -> dict[str, Any]:
        subject = self.payload.get("subject")
        return {
            "id": self.id,
            "type": self.record_type,
            "record_id": self.record_id,
            "occurred_at": self.occurred_at,
            "data": self.payload["data"],
            "subject": subject if isinstance(subject, dict) else None,
            "provenance": Provenance(
                type="attested",
                attested_by=self.client_id,
                name=self.client_name,
                kind=self.client_kind,
                kid=self.kid,
                alg=self.alg,
            ),
            "jws_sha256": self.jws_sha256,
            "leaf_index": self.leaf_index,
            "received_at": self.received_at,
        }


async def _by_record_id(
    uow: UnitOfWork, tenant_id: UUID, client_id: str, record_id: str
) -> CustodyRecord | None:
    rows = await uow.fetch(
        CustodyRecord.SELECT + "WHERE r.tenant_id = {} AND r.client_id = {} AND r.record_id = {}",
        tenant_id,
        client_id,
        record_id,
    )
    return CustodyRecord.from_row(rows[0]) if rows else None


class _AlreadyReceived(Exception):
    """Raised inside the transaction to undo it: a concurrent request stored the record."""

    def __init__(self, existing: CustodyRecord) -> None:
        super().__init__(existing.record_id)
        self.existing = existing


def _same_or_conflict(existing: CustodyRecord, payload_sha256: str) -> CustodyRecord:
    if existing.payload_sha256 == payload_sha256:
        return existing
    raise Conflict(
        f"record {existing.record_id!r} was received on {existing.received_at.isoformat()} "
        f"as {existing.id} with other content; a record is never replaced: "
        "send a correction as a new record",
        extensions={"existing_id": str(existing.id), "existing_jws_sha256": existing.jws_sha256},
    )


@dataclass(frozen=True, slots=True)
class _Submitter:
    api_client_id: UUID
    client_id: str
    name: str
    kind: str


def _check_submitter(principal: Principal) -> None:
    """Only the API clients of trading platforms and lenders push records (403 otherwise)."""
    if principal.kind is not PrincipalKind.API_CLIENT or principal.client_id is None:
        raise Forbidden(
            "signed transaction records come from the API clients of trading platforms and "
            "lenders, with their registered keys; upload files to /api/v1/custody/items"
        )
    if principal.client_kind not in SUBMITTERS:
        kind = principal.client_kind.value if principal.client_kind else "unknown"
        raise Forbidden(
            f"only trading platforms and lenders submit transaction records, not {kind} clients"
        )


async def _verify(
    uow: UnitOfWork, principal: Principal, envelope: Envelope
) -> tuple[_Submitter, bytes]:
    """The submitting client and the verified payload; 422 ``jws``/``signature`` if not."""
    tenant_id = tenant_of(principal)
    clients = await uow.fetch(
        "SELECT id, client_id, name, kind, status FROM api_client WHERE tenant_id = {} AND id = {}",
        tenant_id,
        principal.subject_id,
    )
    if not clients or clients[0]["status"] != "active":
        raise Forbidden("this API client is disabled")
    client = clients[0]
    key = await find_key(uow, tenant_id, envelope.kid)
    if key is None or key.api_client_id != as_uuid(client["id"]):
        raise _refused(
            "jws",
            "signature",
            f"no key {envelope.kid} is registered for this client: ask the commission "
            "to register the public key first",
            "the record is not signed with a key of this client",
        )
    if key.revoked_at is not None:
        raise _refused(
            "jws",
            "signature",
            f"the key {envelope.kid} was revoked on {key.revoked_at.isoformat()}",
            "the record is signed with a revoked key",
        )
    if envelope.alg not in key.algorithms:
        raise _refused(
            "jws",
            "alg",
            f"the key {envelope.kid} is {_NAMED[key.public_jwk['crv']]} key: sign with "
            + " or ".join(key.algorithms),
        )
    allowed = ["ES256"] if envelope.alg == "ES256" else ["Ed25519"]
    registry = _RecordRegistry(algorithms=allowed, strict_check_header=False)
    try:
        verified = jws.deserialize_compact(
            envelope.compact, verification_key(key), registry=registry
        )
    except BadSignatureError:
        raise _refused(
            "jws",
            "signature",
            f"the signature does not verify with the key {envelope.kid}: the record was "
            "altered after signing, or signed with another key",
            "the record's signature does not verify",
        ) from None
    except JoseError as exc:
        raise _refused("jws", "header", exc.description or exc.error) from None
    submitter = _Submitter(
        as_uuid(client["id"]), str(client["client_id"]), str(client["name"]), str(client["kind"])
    )
    return submitter, verified.payload


async def submit(
    runtime: Runtime,
    principal: Principal,
    chunks: AsyncIterator[bytes],
    *,
    media_type: str,
    declared_length: int | None,
) -> tuple[RecordReceived, bool]:
    """Take a signed record into custody: (the record and its receipt, whether it is new)."""
    _check_submitter(principal)
    tenant_id = tenant_of(principal)
    body = await read_body(chunks, declared_length=declared_length)
    envelope = open_envelope(compact_of(body, media_type))
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        submitter, payload = await _verify(uow, principal, envelope)
    now = datetime.now(UTC)
    parsed = parse_payload(payload, now=now)
    raw = envelope.compact.encode("ascii")
    jws_sha256 = hashlib.sha256(raw).hexdigest()
    payload_sha256 = hashlib.sha256(payload).hexdigest()

    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        existing = await _by_record_id(uow, tenant_id, submitter.client_id, parsed.record_id)
    if existing is not None:
        return await _received(runtime, tenant_id, _same_or_conflict(existing, payload_sha256))

    async def chunk() -> AsyncIterator[bytes]:
        yield raw

    # Stored before the transaction: the tenant's log stays locked only for the inserts.
    key = object_key(str(tenant_id), jws_sha256)
    stored = await runtime.store.put(str(tenant_id), chunk(), expected_sha256=jws_sha256)
    assert stored.key == key
    record_uuid = uuid4()
    try:
        async with runtime.db.transaction(tenant_id=tenant_id) as uow:
            appended = await ledger.append(
                uow,
                tenant_id,
                "custody.record",
                {
                    "custody_record_id": str(record_uuid),
                    "record_id": parsed.record_id,
                    "type": parsed.type,
                    "occurred_at": parsed.occurred_at.isoformat(),
                    "provenance": "attested",
                    "client_id": submitter.client_id,
                    "kid": envelope.kid,
                    "alg": envelope.alg,
                    "media_type": JOSE_MEDIA_TYPE,
                    "size": len(raw),
                    "sha256": jws_sha256,
                    "jws_sha256": jws_sha256,
                    "payload_sha256": payload_sha256,
                    "object_key": stored.key,
                },
            )
            # The log's lock is held from here to the commit: a request for the same
            # record that got here first has committed, and is seen now.
            raced = await _by_record_id(uow, tenant_id, submitter.client_id, parsed.record_id)
            if raced is not None:
                raise _AlreadyReceived(raced)
            await uow.execute(
                "INSERT INTO custody_record (id, tenant_id, api_client_id, client_id, kid, alg, "
                "record_type, record_id, occurred_at, payload, payload_sha256, jws_sha256, "
                "object_key, leaf_index, received_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, "
                "{}, {}, {}, {}, {}, {}, {})",
                record_uuid,
                tenant_id,
                submitter.api_client_id,
                submitter.client_id,
                envelope.kid,
                envelope.alg,
                parsed.type,
                parsed.record_id,
                parsed.occurred_at,
                msgspec.json.encode(parsed.payload).decode("utf-8"),
                payload_sha256,
                jws_sha256,
                stored.key,
                appended.leaf_index,
                now,
            )
            await audit(
                uow,
                tenant_id=tenant_id,
                actor=actor_of(principal),
                action="custody.record.received",
                target_kind="custody_record",
                target_id=record_uuid,
                detail={
                    "record_id": parsed.record_id,
                    "type": parsed.type,
                    "kid": envelope.kid,
                    "jws_sha256": jws_sha256,
                    "leaf_index": appended.leaf_index,
                },
            )
    except _AlreadyReceived as exc:
        return await _received(runtime, tenant_id, _same_or_conflict(exc.existing, payload_sha256))
    log.info(
        "custody.record_received",
        tenant_id=str(tenant_id),
        client_id=submitter.client_id,
        record_type=parsed.type,
        jws_sha256=jws_sha256,
    )
    received = CustodyRecord(
        id=record_uuid,
        api_client_id=submitter.api_client_id,
        client_id=submitter.client_id,
        client_name=submitter.name,
        client_kind=submitter.kind,
        kid=envelope.kid,
        alg=envelope.alg,
        record_type=parsed.type,
        record_id=parsed.record_id,
        occurred_at=parsed.occurred_at,
        payload=parsed.payload,
        payload_sha256=payload_sha256,
        jws_sha256=jws_sha256,
        object_key=stored.key,
        leaf_index=appended.leaf_index,
        received_at=now,
    )
    return await _received(runtime, tenant_id, received, new=True)


async def _received(
    runtime: Runtime, tenant_id: UUID, record: CustodyRecord, *, new: bool = False
) -> tuple[RecordReceived, bool]:
    receipt = await ledger.receipt(runtime, tenant_id, record.leaf_index)
    return RecordReceived(record=record.out(), receipt=receipt), new


# -- reading ------------------------------------------------------------------------


def may_see(principal: Principal, record: CustodyRecord) -> bool:
    """The commission's staff, and the client that submitted it (cases widen this later)."""
    if principal.kind is PrincipalKind.OPERATOR or principal.roles & STAFF:
        return True
    return principal.kind is PrincipalKind.API_CLIENT and principal.client_id == record.client_id


async def access_record(runtime: Runtime, principal: Principal, record_uuid: UUID) -> CustodyRecord:
    """The record, if this principal may see it; 404 otherwise (unknown and forbidden alike)."""
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        rows = await uow.fetch(
            CustodyRecord.SELECT + "WHERE r.tenant_id = {} AND r.id = {}", tenant_id, record_uuid
        )
    if not rows:
        raise NotFound("no such record")
    record = CustodyRecord.from_row(rows[0])
    if not may_see(principal, record):
        raise NotFound("no such record")
    return record


async def show(runtime: Runtime, principal: Principal, record_uuid: UUID) -> CustodyRecordShown:
    """The record with its JWS as stored, its digest re-checked."""
    record = await access_record(runtime, principal, record_uuid)
    raw = bytearray()
    async for chunk in runtime.store.open(record.object_key):
        raw += chunk
    if hashlib.sha256(raw).hexdigest() != record.jws_sha256:
        log.error("custody.record_altered", record=str(record.id), key=record.object_key)
        raise StoredRecordAltered(
            "the stored JWS no longer matches its digest; the commission has been alerted"
        )
    return record.shown(raw.decode("ascii"))
