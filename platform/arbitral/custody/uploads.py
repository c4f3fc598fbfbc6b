"""Resumable uploads: a file announced, sent in parts, completed into custody.

A client announces the file (name, title, size, SHA-256 and the part size) and
gets an upload id and the number of parts. It then sends each part (any order,
through any web process, again after a broken connection: a part sent again
replaces the one received), asks which parts arrived, and completes. Nothing
lives in one process: the session and its parts' sizes and hashes are rows
(``custody_upload``, ``custody_upload_part``), the parts' bytes are staging
objects of the object store (``.staging/{tenant}/upload-{id}.{n}``), on the
local store as on S3.

Completing streams the parts in order through the very intake of a single
upload (:func:`arbitral.custody.services.take_in`): spooled for inspection and
streamed into the object store under the declared SHA-256, committed only when
the whole has the declared size and hash and passes the type and archive
checks; then the item, its leaf and its audit event are recorded with the
session marked completed, in one transaction. A session completes once: a
second complete answers with the same item. Parts are separate staging objects
rather than S3 multipart parts on the final key because the whole file must be
hashed and inspected before anything appears under a content key, and S3 does
not let a multipart upload's parts be read before it is completed.

Sessions expire :data:`UPLOAD_TTL` after they are opened; ``custody.expire_uploads``
(queued when a session opens, safe to run any number of times) discards the
parts of every expired session of the commission.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import structlog

from arbitral.audit.services import Actor, record
from arbitral.custody import services
from arbitral.db.values import as_datetime, as_uuid
from arbitral.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from arbitral.identity.services import actor_of, tenant_of
from arbitral.ledger import services as ledger
from arbitral.storage.errors import ObjectTooLarge, StorageError

if TYPE_CHECKING:
    from arbitral.auth.domain import Principal
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime

log = structlog.get_logger(__name__)

MIN_PART_SIZE = 5 << 20
"""The smallest part but the last (S3's own minimum for multipart parts, which clients know)."""
MAX_PART_SIZE = 5 << 30
DEFAULT_PART_SIZE = 8 << 20
MAX_PARTS = 10_000
UPLOAD_TTL = timedelta(hours=24)
EXPIRE_JOB = "custody.expire_uploads"

OPEN, COMPLETED, ABORTED, EXPIRED = "open", "completed", "aborted", "expired"

_COLUMNS = (
    "id, created_by, filename, title, description, proves, size, sha256, part_size, parts, "
    "state, item_id, created_at, expires_at, finished_at"
)


@dataclass(frozen=True)
class UploadCreate:
    filename: str
    title: str
    size: int
    sha256: str
    description: str = ""
    proves: str = ""
    part_size: int | None = None


@dataclass(frozen=True)
class UploadSession:
    id: UUID
    created_by: str
    meta: services.UploadMeta
    size: int
    sha256: str
    part_size: int
    parts: int
    state: str
    item_id: UUID | None
    created_at: datetime
    expires_at: datetime
    finished_at: datetime | None
    received: list[int] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: dict[str, Any], received: list[int]) -> UploadSession:
        return cls(
            id=as_uuid(row["id"]),
            created_by=str(row["created_by"]),
            meta=services.UploadMeta(
                filename=str(row["filename"]),
                title=str(row["title"]),
                description=str(row["description"]),
                proves=str(row["proves"]),
            ),
            size=int(row["size"]),
            sha256=str(row["sha256"]),
            part_size=int(row["part_size"]),
            parts=int(row["parts"]),
            state=str(row["state"]),
            item_id=as_uuid(row["item_id"]) if row["item_id"] is not None else None,
            created_at=as_datetime(row["created_at"]),
            expires_at=as_datetime(row["expires_at"]),
            finished_at=as_datetime(row["finished_at"]) if row["finished_at"] else None,
            received=received,
        )

    def part_length(self, number: int) -> int:
        """How many bytes part ``number`` has (the last one may be shorter)."""
        return min(self.part_size, self.size - (number - 1) * self.part_size)

    @property
    def missing(self) -> list[int]:
        have = set(self.received)
        return [n for n in range(1, self.parts + 1) if n not in have]


def part_name(upload_id: UUID, number: int) -> str:
    """The staging object holding part ``number`` of an upload."""
    return f"upload-{upload_id.hex}.{number:05d}"


def part_names(session: UploadSession) -> list[str]:
    return [part_name(session.id, n) for n in range(1, session.parts + 1)]


def _problem(field_name: str, rule: str, message: str) -> list[FieldProblem]:
    return [FieldProblem(field_name, rule, message)]


def plan(request: UploadCreate, max_size: int) -> tuple[int, int]:
    """(part size, number of parts) for an announced file, or the precise refusal."""
    if request.size < 1:
        raise ValidationFailed(
            "the file is empty", errors=_problem("size", "minimum", "at least 1 byte")
        )
    if request.size > max_size:
        raise services.PayloadTooLarge(
            f"the file is larger than the {max_size >> 20} MiB the rules allow",
            errors=_problem("size", "max_size", f"at most {max_size} bytes"),
        )
    part_size = request.part_size if request.part_size is not None else DEFAULT_PART_SIZE
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise ValidationFailed(
            "the part size is out of range",
            errors=_problem(
                "part_size", "range", f"between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes"
            ),
        )
    parts = -(-request.size // part_size)
    if parts > MAX_PARTS:
        raise ValidationFailed(
            "too many parts",
            errors=_problem(
                "part_size",
                "max_parts",
                f"at most {MAX_PARTS} parts: at least {-(-request.size // MAX_PARTS)} bytes each",
            ),
        )
    return part_size, parts


async def create(runtime: Runtime, principal: Principal, request: UploadCreate) -> UploadSession:
    """Open a session for a file to be sent in parts (checked as a single upload would be)."""
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    meta = services.check_meta(
        services.UploadMeta(request.filename, request.title, request.description, request.proves)
    )
    sha256 = services.parse_declared_sha256(request.sha256) if request.sha256.strip() else None
    if not sha256:
        raise ValidationFailed(
            "the file's SHA-256 is required",
            errors=_problem("sha256", "required", "64 hexadecimal digits"),
        )
    limits = services.evidence_limits(runtime, tenant.rule_set, tenant.rule_set_version)
    part_size, parts = plan(request, limits.max_size)
    upload_id = uuid4()
    now = datetime.now(UTC)
    expires_at = now + UPLOAD_TTL
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await uow.execute(
            "INSERT INTO custody_upload (id, tenant_id, created_by, filename, title, description, "
            "proves, size, sha256, part_size, parts, state, item_id, created_at, expires_at, "
            "finished_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, NULL, {}, {}, "
            "NULL)",
            upload_id,
            tenant_id,
            principal.actor_id,
            meta.filename,
            meta.title,
            meta.description,
            meta.proves,
            request.size,
            sha256,
            part_size,
            parts,
            OPEN,
            now,
            expires_at,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="custody.upload.created",
            target_kind="custody_upload",
            target_id=upload_id,
            detail={"sha256": sha256, "size": request.size, "parts": parts},
        )
        # The session's parts go when it expires, whoever forgets it.
        await uow.enqueue(EXPIRE_JOB, {}, delay=UPLOAD_TTL + timedelta(minutes=5))
    return UploadSession(
        id=upload_id,
        created_by=principal.actor_id,
        meta=meta,
        size=request.size,
        sha256=sha256,
        part_size=part_size,
        parts=parts,
        state=OPEN,
        item_id=None,
        created_at=now,
        expires_at=expires_at,
        finished_at=None,
    )


async def _load(uow: UnitOfWork, tenant_id: UUID, upload_id: UUID) -> UploadSession | None:
    rows = await uow.fetch(
        f"SELECT {_COLUMNS} FROM custody_upload "  # noqa: S608 (constant)
        "WHERE tenant_id = {} AND id = {}",
        tenant_id,
        upload_id,
    )
    if not rows:
        return None
    numbers = await uow.fetch(
        "SELECT number FROM custody_upload_part WHERE tenant_id = {} AND upload_id = {} "
        "ORDER BY number",
        tenant_id,
        upload_id,
    )
    return UploadSession.from_row(rows[0], [int(r["number"]) for r in numbers])


async def access_upload(runtime: Runtime, principal: Principal, upload_id: UUID) -> UploadSession:
    """The session, if this principal opened it (or is staff); 404 otherwise."""
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        session = await _load(uow, tenant_id, upload_id)
    if session is None or not services.may_see(principal, {"submitted_by": session.created_by}):
        raise NotFound("no such upload")
    return session


def _require_open(session: UploadSession) -> None:
    if session.state != OPEN:
        raise Conflict(
            f"the upload is {session.state}",
            errors=_problem("upload_id", "state", f"the upload is {session.state}, not open"),
        )


def _require_completed(session: UploadSession) -> None:
    if session.state != COMPLETED:
        raise Conflict(
            f"the upload is {session.state}",
            errors=_problem("upload_id", "state", f"the upload is {session.state}"),
        )


async def _forget_part(runtime: Runtime, tenant_id: UUID, upload_id: UUID, number: int) -> None:
    await runtime.store.discard_staged(str(tenant_id), [part_name(upload_id, number)])
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await uow.execute(
            "DELETE FROM custody_upload_part WHERE tenant_id = {} AND upload_id = {} "
            "AND number = {}",
            tenant_id,
            upload_id,
            number,
        )


async def put_part(
    runtime: Runtime,
    principal: Principal,
    upload_id: UUID,
    number: int,
    chunks: AsyncIterator[bytes],
    *,
    declared_length: int | None,
    declared_sha256: str | None,
) -> UploadSession:
    """Receive part ``number`` (streamed), replacing one received before; the session after.

    A part of the wrong size or hash is refused and leaves that part missing (a
    part received before under that number is gone: it was being replaced).
    """
    session = await access_upload(runtime, principal, upload_id)
    _require_open(session)
    tenant_id = tenant_of(principal)
    if not 1 <= number <= session.parts:
        raise ValidationFailed(
            f"there is no part {number}",
            errors=_problem("part", "range", f"parts are numbered 1 to {session.parts}"),
        )
    length = session.part_length(number)
    wrong_size = _problem("part", "size", f"part {number} is {length} bytes")
    if declared_length is not None and declared_length > length:
        raise services.PayloadTooLarge(f"part {number} is {length} bytes", errors=wrong_size)
    if declared_length is not None and declared_length < length:
        raise services.IncompleteUpload(f"part {number} is {length} bytes", errors=wrong_size)
    expected = services.parse_declared_sha256(declared_sha256)
    try:
        staged = await runtime.store.stage(
            str(tenant_id), part_name(upload_id, number), chunks, max_size=length
        )
    except ObjectTooLarge:  # the part received before, if any, is as it was
        raise services.PayloadTooLarge(
            f"part {number} is {length} bytes", errors=wrong_size
        ) from None
    if staged.size != length:
        await _forget_part(runtime, tenant_id, upload_id, number)
        raise services.IncompleteUpload(
            f"received {staged.size} of the {length} bytes of part {number}; send it again",
            errors=wrong_size,
        )
    if expected is not None and staged.sha256 != expected:
        await _forget_part(runtime, tenant_id, upload_id, number)
        raise ValidationFailed(
            f"part {number}'s SHA-256 is not the one declared; send it again",
            errors=_problem("sha256", "mismatch", f"declared {expected}, received {staged.sha256}"),
        )
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        current = await _load(uow, tenant_id, upload_id)
        assert current is not None
        if current.state != OPEN:  # completed or aborted meanwhile: the part is not taken
            await runtime.store.discard_staged(str(tenant_id), [part_name(upload_id, number)])
            _require_open(current)
        await uow.execute(
            "DELETE FROM custody_upload_part WHERE tenant_id = {} AND upload_id = {} "
            "AND number = {}",
            tenant_id,
            upload_id,
            number,
        )
        await uow.execute(
            "INSERT INTO custody_upload_part (id, tenant_id, upload_id, number, size, sha256, "
            "received_at) VALUES ({}, {}, {}, {}, {}, {}, {})",
            uuid4(),
            tenant_id,
            upload_id,
            number,
            staged.size,
            staged.sha256,
            datetime.now(UTC),
        )
        after = await _load(uow, tenant_id, upload_id)
    assert after is not None
    return after


async def _parts(runtime: Runtime, tenant_id: UUID, session: UploadSession) -> AsyncIterator[bytes]:
    for name in part_names(session):
        async for chunk in runtime.store.open_staged(str(tenant_id), name):
            yield chunk


class _AlreadyCompleted(Exception):
    """Another request completed the session first (this transaction rolls back)."""


async def complete(
    runtime: Runtime, principal: Principal, upload_id: UUID
) -> tuple[services.CustodyItem, dict[str, Any], bool]:
    """Assemble, check and take the file into custody: (item, receipt, whether new).

    Whole or nothing: a refusal (a part missing, the size or hash not the one
    announced, a type not allowed) stores nothing and logs nothing, and the
    session stays open. Completed already: the same item again.
    """
    session = await access_upload(runtime, principal, upload_id)
    tenant_id = tenant_of(principal)
    if session.state == COMPLETED:
        return await _completed_item(runtime, principal, session)
    _require_open(session)
    if session.missing:
        listed = ", ".join(str(n) for n in session.missing[:50])
        more = " …" if len(session.missing) > 50 else ""
        raise Conflict(
            f"{len(session.missing)} of the {session.parts} parts have not arrived",
            errors=_problem("parts", "missing", f"send parts {listed}{more} first"),
            extensions={"missing_parts": session.missing},
        )
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    limits = services.evidence_limits(runtime, tenant.rule_set, tenant.rule_set_version)
    intake = await services.take_in(
        runtime,
        tenant_id,
        _parts(runtime, tenant_id, session),
        session.meta,
        limits,
        declared_length=session.size,
        expected=session.sha256,
    )

    async def mark_completed(uow: UnitOfWork, item: services.CustodyItem) -> None:
        done = await uow.fetch(
            "UPDATE custody_upload SET state = {}, item_id = {}, finished_at = {} "
            "WHERE tenant_id = {} AND id = {} AND state = {} RETURNING id",
            COMPLETED,
            item.id,
            item.created_at,
            tenant_id,
            upload_id,
            OPEN,
        )
        if not done:
            raise _AlreadyCompleted
        await uow.execute(
            "DELETE FROM custody_upload_part WHERE tenant_id = {} AND upload_id = {}",
            tenant_id,
            upload_id,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="custody.upload.completed",
            target_kind="custody_upload",
            target_id=upload_id,
            detail={"item_id": str(item.id), "sha256": item.sha256, "parts": session.parts},
        )

    try:
        item, receipt = await services.record_item(
            runtime, principal, tenant, session.meta, intake, also=mark_completed
        )
    except _AlreadyCompleted:
        again = await access_upload(runtime, principal, upload_id)
        _require_completed(again)
        return await _completed_item(runtime, principal, again)
    await _discard_parts(runtime, tenant_id, session)
    return item, receipt, True


async def _completed_item(
    runtime: Runtime, principal: Principal, session: UploadSession
) -> tuple[services.CustodyItem, dict[str, Any], bool]:
    assert session.item_id is not None
    item = await services.access_item(runtime, principal, session.item_id)
    receipt = await ledger.receipt(runtime, tenant_of(principal), item.leaf_index)
    return item, receipt, False


async def _discard_parts(runtime: Runtime, tenant_id: UUID, session: UploadSession) -> None:
    """Best effort once the session is over (the expiry sweep and lifecycle rules follow)."""
    try:
        await runtime.store.discard_staged(str(tenant_id), part_names(session))
    except StorageError as exc:
        log.warning("custody.upload.parts_left", upload_id=str(session.id), problem=str(exc))


async def _close(
    runtime: Runtime,
    tenant_id: UUID,
    session: UploadSession,
    state: str,
    actor: Actor,
) -> bool:
    """Discard the parts, then mark the session ``state``; False when it was not open."""
    await runtime.store.discard_staged(str(tenant_id), part_names(session))
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        closed = await uow.fetch(
            "UPDATE custody_upload SET state = {}, finished_at = {} "
            "WHERE tenant_id = {} AND id = {} AND state = {} RETURNING id",
            state,
            datetime.now(UTC),
            tenant_id,
            session.id,
            OPEN,
        )
        if not closed:
            return False
        await uow.execute(
            "DELETE FROM custody_upload_part WHERE tenant_id = {} AND upload_id = {}",
            tenant_id,
            session.id,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor,
            action=f"custody.upload.{state}",
            target_kind="custody_upload",
            target_id=session.id,
            detail={"parts_received": len(session.received), "parts": session.parts},
        )
    return True


async def abort(runtime: Runtime, principal: Principal, upload_id: UUID) -> None:
    """Abort the session and remove its parts (again: nothing to do; completed: 409)."""
    session = await access_upload(runtime, principal, upload_id)
    if session.state in {ABORTED, EXPIRED}:
        return
    _require_open(session)
    if not await _close(runtime, tenant_of(principal), session, ABORTED, actor_of(principal)):
        _require_open(await access_upload(runtime, principal, upload_id))


async def expire_stale(runtime: Runtime, tenant_id: UUID, *, now: datetime | None = None) -> int:
    """Expire the commission's open sessions past their time; how many (safe to run again)."""
    moment = now or datetime.now(UTC)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT id FROM custody_upload WHERE tenant_id = {} AND state = {} "
            "AND expires_at < {} ORDER BY expires_at",
            tenant_id,
            OPEN,
            moment,
        )
    expired = 0
    for row in rows:
        async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
            session = await _load(uow, tenant_id, as_uuid(row["id"]))
        if session is None or session.state != OPEN:
            continue
        if await _close(runtime, tenant_id, session, EXPIRED, Actor.system("custody")):
            expired += 1
    if expired:
        log.info("custody.uploads_expired", tenant_id=str(tenant_id), count=expired)
    return expired
