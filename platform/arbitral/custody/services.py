"""Receiving items into custody, and giving them out to those entitled.

An upload streams to a spool file on local disk (bounded memory whatever its
size, written off the event loop), hashing as it goes; then it is checked
(declared length and SHA-256, the rule set's size limit, its name, and what its
bytes really are); then it is stored in the object store under the tenant's
prefix and its hash (never overwriting). When the client declares the SHA-256,
the bytes also stream into the object store as they arrive (on S3, a multipart
upload of the final key), committed after the checks or aborted; otherwise they
are stored from the spool. Then one transaction records the item, appends its
leaf to the tenant's transparency log and writes the audit event. A refused
upload leaves nothing behind: no row, no leaf, no object.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import queue
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar
from uuid import UUID, uuid4

import anyio
import structlog

from arbitral.audit.services import record
from arbitral.auth.domain import Principal, PrincipalKind, Role
from arbitral.custody import inspect
from arbitral.db.values import as_datetime, as_uuid
from arbitral.errors import (
    FieldProblem,
    NotFound,
    ProblemError,
    ServiceUnavailable,
    ValidationFailed,
)
from arbitral.identity.services import actor_of, tenant_of
from arbitral.ledger import services as ledger
from arbitral.rules.model import UnknownRule
from arbitral.storage.errors import DigestMismatch
from arbitral.storage.interfaces import StoredObject

if TYPE_CHECKING:
    from arbitral.rules.model import EvidenceFiles
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

log = structlog.get_logger(__name__)

SPOOL_CHUNK = 1 << 20
SPOOL_QUEUE = 4  # batches of SPOOL_CHUNK bytes waiting for the disk, at most
MAX_TEXT = 5000


class PayloadTooLarge(ProblemError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(ProblemError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class IncompleteUpload(ProblemError):
    status = 400
    slug = "incomplete-upload"
    title = "Incomplete upload"


@dataclass(frozen=True)
class UploadMeta:
    filename: str
    title: str
    description: str = ""
    proves: str = ""


@dataclass(frozen=True)
class CustodyItem:
    id: UUID
    sha256: str
    size: int
    media_type: str
    filename: str
    title: str
    description: str
    proves: str
    provenance: str
    submitted_by: str
    submitter_kind: str
    leaf_index: int
    created_at: datetime
    object_key: str

    _COLUMNS: ClassVar[str] = (
        "id, sha256, size, media_type, filename, title, description, proves, provenance, "
        "submitted_by, submitter_kind, leaf_index, created_at, object_key"
    )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CustodyItem:
        return cls(
            id=as_uuid(row["id"]),
            sha256=str(row["sha256"]),
            size=int(row["size"]),
            media_type=str(row["media_type"]),
            filename=str(row["filename"]),
            title=str(row["title"]),
            description=str(row["description"]),
            proves=str(row["proves"]),
            provenance=str(row["provenance"]),
            submitted_by=str(row["submitted_by"]),
            submitter_kind=str(row["submitter_kind"]),
            leaf_index=int(row["leaf_index"]),
            created_at=as_datetime(row["created_at"]),
            object_key=str(row["object_key"]),
        )


def _text(field: str, value: str | None, *, required: bool, limit: int) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationFailed(
            f"{field} is required", errors=[FieldProblem(field, "required", f"give the {field}")]
        )
    if len(text) > limit:
        raise ValidationFailed(
            f"{field} is too long",
            errors=[FieldProblem(field, "max_length", f"at most {limit} characters")],
        )
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text):
        raise ValidationFailed(
            f"{field} holds control characters",
            errors=[FieldProblem(field, "format", "no control characters")],
        )
    return text


def check_meta(meta: UploadMeta) -> UploadMeta:
    try:
        filename = inspect.check_filename(meta.filename)
    except inspect.InspectionError as exc:
        raise ValidationFailed(
            "the file name is not acceptable",
            errors=[FieldProblem("filename", exc.rule, exc.message)],
        ) from None
    return UploadMeta(
        filename=filename,
        title=_text("title", meta.title, required=True, limit=200),
        description=_text("description", meta.description, required=False, limit=MAX_TEXT),
        proves=_text("proves", meta.proves, required=False, limit=MAX_TEXT),
    )


def parse_declared_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip().lower()
    if len(text) != 64 or any(ch not in "0123456789abcdef" for ch in text):
        raise ValidationFailed(
            "the declared SHA-256 is malformed",
            errors=[FieldProblem("sha256", "format", "64 hexadecimal digits")],
        )
    return text


def evidence_limits(runtime: Runtime, rule_set: str, version: str) -> EvidenceFiles:
    """What files the rule set the commission adopts accepts.

    A commission whose rule set is not in this process's rules directory (a
    deployment without its published version) is misconfigured: 503, logged.
    """
    try:
        return runtime.rules.get(rule_set, version).evidence_files
    except UnknownRule as exc:
        log.error("custody.rules_missing", rule_set=rule_set, version=version, problem=str(exc))
        raise ServiceUnavailable(
            "the commission's rules are not available here; try again later"
        ) from None


def years_after(moment: datetime, years: int) -> datetime:
    """The same instant ``years`` later (29 February becomes 28 February)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


@dataclass
class _Spooled:
    path: Path
    size: int
    sha256: str


def _new_spool_file(directory: Path) -> tuple[Path, BinaryIO]:
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix="upload-")
    return Path(name), os.fdopen(fd, "wb")


class Spool:
    """A local file the upload is copied to while it arrives, hashed and counted.

    The event loop never writes: batches of :data:`SPOOL_CHUNK` bytes go through a
    bounded queue (:data:`SPOOL_QUEUE` batches) to a task that hashes and writes each
    in a worker thread, so receiving goes on while the disk works, in bounded memory.
    Past ``max_size`` bytes it refuses (413). Use as an async context manager: the
    file is removed on leaving the block.
    """

    def __init__(self, directory: Path, *, max_size: int) -> None:
        self.directory = directory
        self.max_size = max_size
        self.size = 0
        self.path = Path()
        self._handle: BinaryIO | None = None
        self._digest = hashlib.sha256()
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._queue: asyncio.Queue[list[bytes] | None] = asyncio.Queue(maxsize=SPOOL_QUEUE)
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    async def __aenter__(self) -> Spool:
        self.path, self._handle = await anyio.to_thread.run_sync(_new_spool_file, self.directory)
        self._task = asyncio.create_task(self._drain())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.discard()

    async def discard(self) -> None:
        """Stop, close and remove the file (again: nothing to do).

        Removed as soon as it has been read, its pages need never reach the disk.
        """
        with anyio.CancelScope(shield=True):
            if self._task is not None and not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            handle, self._handle = self._handle, None
            if handle is not None:
                await anyio.to_thread.run_sync(handle.close)
            await anyio.Path(self.path).unlink(missing_ok=True)

    def _write(self, batch: list[bytes]) -> None:
        assert self._handle is not None
        for data in batch:
            self._digest.update(data)
            self._handle.write(data)

    async def _drain(self) -> None:
        while (batch := await self._queue.get()) is not None:
            if self._error is None:  # after a failure, batches are only taken off the queue
                try:
                    await anyio.to_thread.run_sync(self._write, batch)
                except Exception as exc:
                    self._error = exc

    async def _flush(self) -> None:
        batch, self._pending, self._pending_size = self._pending, [], 0
        if batch:
            await self._queue.put(batch)

    async def write(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self.size += len(chunk)
        if self.size > self.max_size:
            raise _too_large(self.max_size)
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        if self._pending_size >= SPOOL_CHUNK:
            await self._flush()

    async def finish(self) -> _Spooled:
        """Wait until every byte is written (and flushed): the spool's path, size and hash."""
        await self._flush()
        await self._queue.put(None)
        assert self._task is not None
        assert self._handle is not None
        await self._task
        if self._error is not None:
            raise self._error
        await anyio.to_thread.run_sync(self._handle.flush)
        return _Spooled(self.path, self.size, self._digest.hexdigest())


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as handle:
        while chunk := await handle.read(SPOOL_CHUNK):
            yield chunk


def archive_limits(limits: EvidenceFiles) -> inspect.ArchiveLimits:
    return inspect.ArchiveLimits(
        max_entries=limits.archive_max_entries,
        max_total_uncompressed=limits.archive_max_total,
        max_ratio=limits.archive_max_ratio,
        max_depth=limits.archive_max_depth,
    )


def check_received(
    size: int, sha256: str | None, *, declared_length: int | None, expected: str | None
) -> None:
    """What the bytes received must be before they are looked at: all there, some, as hashed."""
    if declared_length is not None and size != declared_length:
        raise IncompleteUpload(
            f"received {size} of the {declared_length} bytes announced",
            errors=[FieldProblem("file", "truncated", "send the whole file again")],
        )
    if size == 0:
        raise ValidationFailed(
            "the file is empty", errors=[FieldProblem("file", "empty", "send a non-empty file")]
        )
    if expected is not None and sha256 is not None and expected != sha256:
        raise hash_mismatch(expected, sha256)


def hash_mismatch(declared: str, received: str) -> ValidationFailed:
    return ValidationFailed(
        "the file's SHA-256 is not the one declared",
        errors=[FieldProblem("sha256", "mismatch", f"declared {declared}, received {received}")],
    )


async def inspect_spool(spool: _Spooled, meta: UploadMeta, limits: EvidenceFiles) -> str:
    """The media type the spooled bytes really have, or the refusal (415 or 422)."""
    archive = archive_limits(limits)
    try:
        detected = await anyio.to_thread.run_sync(
            lambda: inspect.inspect_file(
                spool.path, filename=meta.filename, allowed=limits.allowed_types, limits=archive
            )
        )
    except inspect.InspectionError as exc:
        kind = UnsupportedMediaType if exc.rule.startswith("type_") else ValidationFailed
        raise kind(exc.message, errors=[FieldProblem("file", exc.rule, exc.message)]) from None
    return detected.media_type


@dataclass(frozen=True)
class Intake:
    """Bytes received, checked and stored: what the record of the item needs."""

    stored: StoredObject
    media_type: str


def _too_large(max_size: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the file is larger than the {max_size >> 20} MiB the rules allow",
        errors=[FieldProblem("file", "max_size", f"at most {max_size} bytes")],
    )


class StreamInspection:
    """The inspection of an upload, run in its own thread on the bytes as they arrive.

    Chunks go over in batches of :data:`SPOOL_CHUNK` bytes through a queue of at most
    :data:`SPOOL_QUEUE` batches (bounded memory; the event loop waits, without blocking,
    while the queue is full). Once the inspection has decided (a recording is decided by
    its header) the rest is not handed over. The thread is its own, not one of the
    shared pool's: it waits for the request's bytes, which may be slow in coming. Use
    as an async context manager; :meth:`result` is the media type or the refusal.
    """

    def __init__(self, meta: UploadMeta, limits: EvidenceFiles, spool_dir: Path) -> None:
        self.meta = meta
        self.limits = limits
        self.spool_dir = spool_dir
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=SPOOL_QUEUE)
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._closed = threading.Event()  # no more bytes are coming
        self._decided = threading.Event()  # the thread has its answer
        self._space = asyncio.Event()
        self._outcome: asyncio.Future[str] | None = None
        self._thread: threading.Thread | None = None

    async def __aenter__(self) -> StreamInspection:
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[str] = loop.create_future()
        self._outcome = outcome

        def settle(media_type: str | None, error: BaseException | None) -> None:
            if outcome.done():
                return
            if error is not None:
                outcome.set_exception(error)
            else:
                assert media_type is not None
                outcome.set_result(media_type)

        def run() -> None:
            media_type, error = None, None
            try:
                media_type = self._inspect()
            except BaseException as exc:  # handed to the event loop, raised there
                error = exc
            finally:
                self._decided.set()
                with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                    loop.call_soon_threadsafe(settle, media_type, error)
                self._wake()

        self._thread = threading.Thread(target=run, name="upload-inspection", daemon=True)
        self._thread.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closed.set()
        if self._outcome is not None and not self._outcome.done():
            with anyio.CancelScope(shield=True):
                with contextlib.suppress(BaseException):
                    await self._outcome
        elif self._outcome is not None:
            self._outcome.exception()  # retrieved: never reported as unhandled

    def _chunks(self) -> Iterator[bytes]:
        """The bytes, in the thread: until the end is said (or the upload is over)."""
        while True:
            try:
                batch = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._closed.is_set():
                    return
                continue
            self._wake()
            if batch is None:
                return
            yield from batch

    def _wake(self) -> None:
        """Tell the event loop there is room in the queue again (from the thread)."""
        assert self._outcome is not None
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
            self._outcome.get_loop().call_soon_threadsafe(self._space.set)

    def _inspect(self) -> str:
        limits = self.limits
        try:
            detected = inspect.inspect_stream(
                self._chunks(),
                filename=self.meta.filename,
                allowed=limits.allowed_types,
                limits=archive_limits(limits),
                spool_dir=self.spool_dir,
            )
        except inspect.InspectionError as exc:
            kind = UnsupportedMediaType if exc.rule.startswith("type_") else ValidationFailed
            raise kind(exc.message, errors=[FieldProblem("file", exc.rule, exc.message)]) from None
        return detected.media_type

    @property
    def decided(self) -> bool:
        return self._decided.is_set()

    @property
    def refused(self) -> bool:
        """Decided, and not in favour: the bytes still coming need not be stored."""
        outcome = self._outcome
        return outcome is not None and outcome.done() and outcome.exception() is not None

    async def _put(self, item: list[bytes] | None) -> None:
        while not self._decided.is_set():
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                self._space.clear()
                if not self._queue.full() or self._decided.is_set():
                    continue
                await self._space.wait()

    async def write(self, chunk: bytes) -> None:
        if self._decided.is_set():
            return  # decided: the rest is not needed
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        if self._pending_size >= SPOOL_CHUNK:
            batch, self._pending, self._pending_size = self._pending, [], 0
            await self._put(batch)

    async def result(self) -> str:
        """Hand over the rest, say the end has come, and wait for the answer."""
        if self._pending:
            batch, self._pending, self._pending_size = self._pending, [], 0
            await self._put(batch)
        await self._put(None)
        self._closed.set()
        assert self._outcome is not None
        return await self._outcome


async def take_in(
    runtime: Runtime,
    tenant_id: UUID,
    chunks: AsyncIterator[bytes],
    meta: UploadMeta,
    limits: EvidenceFiles,
    *,
    declared_length: int | None,
    expected: str | None,
) -> Intake:
    """Receive ``chunks``, check them and store them under their hash; whole or nothing.

    When their SHA-256 is declared, the final key is known up front: the bytes stream
    straight into the object store (a multipart upload of that key on S3) while they
    are inspected in a thread as they go by; the writer hashes them and refuses a digest
    that is not the declared one, and the object is committed only once every check has
    passed (aborted otherwise). Nothing goes to local disk unless the type must be read
    at random (ZIP, OLE, MP4), so a 1 GiB recording is handled at the endpoint's pace.
    Without a declared hash, the bytes are spooled to local disk while they arrive,
    hashed and inspected, and stored from the spool once checked.
    """
    spool_dir = Path(runtime.settings.data_dir) / "spool"
    if expected is not None:
        return await _take_in_streaming(
            runtime, str(tenant_id), chunks, meta, limits, spool_dir, declared_length, expected
        )
    namespace = str(tenant_id)
    async with Spool(spool_dir, max_size=limits.max_size) as spool:
        async for chunk in chunks:
            if chunk:
                await spool.write(chunk)
        spooled = await spool.finish()
        check_received(spooled.size, spooled.sha256, declared_length=declared_length, expected=None)
        media_type = await inspect_spool(spooled, meta, limits)
        try:
            stored = await runtime.store.put(
                namespace, _file_chunks(spooled.path), expected_sha256=spooled.sha256
            )
        except DigestMismatch:
            raise IncompleteUpload(
                "the file changed while it was being stored",
                errors=[FieldProblem("file", "changed", "send the file again")],
            ) from None
    return Intake(stored, media_type)


async def _take_in_streaming(
    runtime: Runtime,
    namespace: str,
    chunks: AsyncIterator[bytes],
    meta: UploadMeta,
    limits: EvidenceFiles,
    spool_dir: Path,
    declared_length: int | None,
    expected: str,
) -> Intake:
    await anyio.Path(spool_dir).mkdir(parents=True, exist_ok=True)
    async with StreamInspection(meta, limits, spool_dir) as inspection:
        writer = await runtime.store.writer(
            namespace, expected_sha256=expected, max_size=limits.max_size
        )
        try:
            size = 0
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > limits.max_size:
                    raise _too_large(limits.max_size)
                await inspection.write(chunk)
                if not inspection.refused:  # refused: the rest is received, not stored
                    await writer.write(chunk)
            check_received(size, None, declared_length=declared_length, expected=expected)
            media_type = await inspection.result()
            try:
                stored = await writer.commit()
            except DigestMismatch as exc:  # the writer's hash is the only one
                raise hash_mismatch(exc.expected, exc.actual) from None
        finally:
            await writer.abort()  # nothing after a commit; the upload otherwise
    return Intake(stored, media_type)


async def receive(
    runtime: Runtime,
    principal: Principal,
    chunks: AsyncIterator[bytes],
    meta: UploadMeta,
    *,
    declared_length: int | None,
    declared_sha256: str | None,
) -> tuple[CustodyItem, dict[str, Any]]:
    """Take one upload into custody; (the item, its receipt). Whole or nothing."""
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    meta = check_meta(meta)
    expected = parse_declared_sha256(declared_sha256)
    limits = evidence_limits(runtime, tenant.rule_set, tenant.rule_set_version)
    if declared_length is not None and declared_length > limits.max_size:
        raise _too_large(limits.max_size)
    intake = await take_in(
        runtime,
        tenant_id,
        chunks,
        meta,
        limits,
        declared_length=declared_length,
        expected=expected,
    )
    return await record_item(runtime, principal, tenant, meta, intake)


async def record_item(
    runtime: Runtime,
    principal: Principal,
    tenant: TenantInfo,
    meta: UploadMeta,
    intake: Intake,
    *,
    item_id: UUID | None = None,
    also: Callable[[Any, CustodyItem], Awaitable[None]] | None = None,
    lock_case: UUID | None = None,
) -> tuple[CustodyItem, dict[str, Any]]:
    """Retain the stored object, then record the item, its leaf and its audit event at once.

    ``also`` runs in the same transaction (a resumable upload marks itself done there).
    ``lock_case``: the case ``also`` writes to, locked first. Locks are always taken
    case first, then the log (as every action on a case does): the other order
    deadlocks against an action on the same case waiting for the log.
    """
    item = await enter_item(
        runtime, principal, tenant, meta, intake, item_id=item_id, also=also, lock_case=lock_case
    )
    return item, await ledger.receipt(runtime, tenant.id, item.leaf_index)


async def enter_item(
    runtime: Runtime,
    principal: Principal,
    tenant: TenantInfo,
    meta: UploadMeta,
    intake: Intake,
    *,
    item_id: UUID | None = None,
    also: Callable[[Any, CustodyItem], Awaitable[None]] | None = None,
    lock_case: UUID | None = None,
) -> CustodyItem:
    """:func:`record_item` without the receipt: a bundle of thousands of files would
    otherwise sign a tree head per file (each receipt is one request away later)."""
    tenant_id = tenant.id
    stored = intake.stored
    size, sha256 = stored.size, stored.sha256
    item_id = item_id or uuid4()
    now = datetime.now(UTC)
    retention = await runtime.store.retain(stored.key, years_after(now, tenant.retention_years))
    actor = actor_of(principal)
    submitter_id = principal.subject_id if principal.kind is not PrincipalKind.OPERATOR else None
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        if lock_case is not None and uow.is_postgres:
            await uow.fetch(
                "SELECT id FROM arb_case WHERE tenant_id = {} AND id = {} FOR UPDATE",
                tenant_id,
                lock_case,
            )
        appended = await ledger.append(
            uow,
            tenant_id,
            "custody.object",
            {
                "object_id": str(item_id),
                "sha256": sha256,
                "size": size,
                "media_type": intake.media_type,
                "filename": meta.filename,
                "title": meta.title,
                "provenance": "uploaded",
                "submitted_by": principal.actor_id,
                "object_key": stored.key,
                "retention": retention,
            },
        )
        await uow.execute(
            "INSERT INTO custody_object (id, tenant_id, sha256, size, media_type, object_key, "
            "filename, title, description, proves, provenance, submitted_by, submitter_kind, "
            "submitter_id, leaf_index, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, "
            "{}, {}, {}, {}, {}, {}, {})",
            item_id,
            tenant_id,
            sha256,
            size,
            intake.media_type,
            stored.key,
            meta.filename,
            meta.title,
            meta.description,
            meta.proves,
            "uploaded",
            principal.actor_id,
            principal.kind.value,
            submitter_id,
            appended.leaf_index,
            now,
        )
        item = CustodyItem(
            id=item_id,
            sha256=sha256,
            size=size,
            media_type=intake.media_type,
            filename=meta.filename,
            title=meta.title,
            description=meta.description,
            proves=meta.proves,
            provenance="uploaded",
            submitted_by=principal.actor_id,
            submitter_kind=principal.kind.value,
            leaf_index=appended.leaf_index,
            created_at=now,
            object_key=stored.key,
        )
        if also is not None:
            await also(uow, item)
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor,
            action="custody.object.received",
            target_kind="custody_object",
            target_id=item_id,
            detail={
                "sha256": sha256,
                "size": size,
                "media_type": intake.media_type,
                "leaf_index": appended.leaf_index,
            },
        )
    log.info("custody.received", tenant_id=str(tenant_id), sha256=sha256, size=size)
    return item


STAFF = frozenset({Role.COMMISSION_ADMIN, Role.SECRETARY})


def may_see(principal: Principal, row: dict[str, Any]) -> bool:
    """Staff of the commission, and whoever submitted the item (cases widen this later)."""
    if principal.kind is PrincipalKind.OPERATOR or principal.roles & STAFF:
        return True
    return str(row["submitted_by"]) == principal.actor_id


async def access_item(runtime: Runtime, principal: Principal, item_id: UUID) -> CustodyItem:
    """The item, if this principal may see it; 404 otherwise (unknown and forbidden alike)."""
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        rows = await uow.fetch(
            f"SELECT {CustodyItem._COLUMNS} FROM custody_object "  # noqa: S608 (constant)
            "WHERE tenant_id = {} AND id = {}",
            tenant_id,
            item_id,
        )
    if not rows or not may_see(principal, rows[0]):
        raise NotFound("no such item")
    return CustodyItem.from_row(rows[0])


async def download_url(
    runtime: Runtime, principal: Principal, item_id: UUID, *, expires_in: int = 300
) -> tuple[CustodyItem, str]:
    """A short-lived URL to the item's bytes; the access is recorded first."""
    item = await access_item(runtime, principal, item_id)
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="custody.object.downloaded",
            target_kind="custody_object",
            target_id=item.id,
            detail={"sha256": item.sha256, "expires_in": expires_in},
        )
    url = await runtime.store.presigned_url(
        item.object_key, expires_in=expires_in, filename=item.filename
    )
    return item, url


async def item_receipt(runtime: Runtime, principal: Principal, item_id: UUID) -> dict[str, Any]:
    item = await access_item(runtime, principal, item_id)
    return await ledger.receipt(runtime, tenant_of(principal), item.leaf_index)
