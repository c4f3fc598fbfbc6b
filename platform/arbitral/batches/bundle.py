"""A lender's contract bundle: one ZIP file whose entries become custody items, one by one.

A lender's system refers to each loan's evidence (the contract with its arbitration
clause and agreed service addresses, the disbursement proof, the repayment record, the
identity verification) by SHA-256 in its claims file. It can send those files object
by object (the custody API), or all together as one ZIP: ``POST /api/v1/bundles``.

How a bundle is taken in:

1. The body streams to a spool file on local disk (:class:`custody.services.Spool`:
   bounded memory, hashed while it arrives), at most the rule set's
   ``archive.max_total_mb``; a declared ``X-Content-SHA256`` and ``Content-Length``
   are checked against what arrived.
2. The whole archive is inspected once, in a worker thread, before anything is stored
   (:func:`custody.inspect.inspect_bundle`): every check an uploaded ZIP gets (its
   directory, unsafe or duplicate names, links, encryption, compression methods,
   declared sizes and ratios, the entry count, the byte budget shared by all levels,
   nesting), and every file really decompressed, hashed and inspected as a single
   upload of it would be. A bundle that is not a readable ZIP or breaks those limits is
   refused whole (422, naming the entry and the rule) and nothing is stored. A file
   whose own content is refused (a type not allowed, a name that lies about the type,
   a damaged PDF, an empty file) is listed among the manifest's ``refused`` and the
   others go on.
3. Each accepted file is streamed out of the spooled ZIP, one at a time, into the
   object store under its SHA-256 (the same bytes twice are one object: keys are
   content hashes and a put of existing content writes nothing), then recorded exactly
   as a single upload is (:func:`custody.services.enter_item`): the item, its leaf in
   the tenant's transparency log and its audit event, in one transaction, with the
   submitter as the principal of the request.

One transaction per file, not per bundle: each item is whole or absent, and a bundle
broken off half way is simply sent again. That retry is idempotent: a file whose
SHA-256 the same submitter already holds in custody is not recorded again, its
existing item (the first) is listed instead (``new`` false). The check runs twice: once
before storing, and again inside the item's transaction after the log is locked (every
append takes the tenant's log row first), so two identical bundles at once still give
one item per file and submitter. The same file from another submitter is another item
(custody records who submitted what; the object is still one).

A ``manifest.json`` at the top of the archive, if present, names the files: a JSON
object from entry name to ``{"title", "description", "proves"}`` (all optional
strings). It is metadata, not evidence: it is not taken into custody. Without it an
item's title is its path in the archive.

:func:`find_evidence` is how the batch pipeline turns the SHA-256s of a chunk of
claim rows into custody items, in one query per chunk.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import anyio
import msgspec
import structlog

from arbitral.audit.services import record
from arbitral.auth.domain import ClientKind, Principal, PrincipalKind
from arbitral.custody import inspect, services
from arbitral.db.bulk import lateral_sql
from arbitral.db.values import as_uuid
from arbitral.errors import FieldProblem, Forbidden, NotFound, ValidationFailed
from arbitral.identity.services import actor_of, tenant_of
from arbitral.storage.errors import DigestMismatch, ObjectTooLarge

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.rules.model import EvidenceFiles
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

log = structlog.get_logger(__name__)

MANIFEST_NAME = "manifest.json"
MAX_MANIFEST = 8 << 20  # 10,000 entries with generous titles fit in far less
READ_CHUNK = 1 << 20
FIND_CHUNK_POSTGRES = 5000  # hashes per array (one query)
FIND_CHUNK_SQLITE = 500  # SQLite's IN lists: well under its 32,766 bound variables
MAX_TITLE = 200
AUDIT_LISTED = 100  # refused entries named in the bundle's audit event


class EntryMeta(msgspec.Struct, forbid_unknown_fields=True):
    """What ``manifest.json`` may say about one file."""

    title: str | None = None
    description: str = ""
    proves: str = ""


@dataclass(frozen=True)
class BundleItem:
    """A file of the bundle that is in custody: the item recorded now, or held already."""

    name: str
    sha256: str
    size: int
    media_type: str
    item_id: UUID
    new: bool


@dataclass(frozen=True)
class BundleRefusal:
    """A file of the bundle that was not taken in, and the rule it broke."""

    name: str
    rule: str
    message: str


@dataclass(frozen=True)
class Manifest:
    """What became of a bundle: its own hash and size, then every file."""

    sha256: str
    size: int
    items: list[BundleItem]
    refused: list[BundleRefusal]
    skipped: list[str]  # platform debris (.DS_Store...) and manifest.json


class BundleRefused(ValidationFailed):
    """The bundle as a whole: unreadable, or beyond the archive limits (nothing stored)."""


class _AlreadyHeld(Exception):
    """The submitter holds these bytes already (this item's transaction rolls back)."""

    def __init__(self, item_id: UUID) -> None:
        super().__init__(str(item_id))
        self.item_id = item_id


def check_submitter(principal: Principal) -> None:
    """Bundles are for lenders' systems (and operators at the console); 403 otherwise.

    Parties and trading platforms hold ``evidence:submit`` too, but send files one by
    one; the bundle route exists for a batch's contracts.
    """
    if principal.kind is PrincipalKind.OPERATOR:
        return
    if principal.kind is PrincipalKind.API_CLIENT and principal.client_kind is ClientKind.LENDER:
        return
    raise Forbidden("contract bundles are sent by lenders' API clients")


def _refused(exc: inspect.InspectionError) -> BundleRefused:
    entry = "/".join(exc.entry)
    return BundleRefused(
        f"the bundle is refused: {exc.message}",
        errors=[FieldProblem(f"file/{entry}" if entry else "file", exc.rule, exc.message)],
        extensions={"entry": entry} if entry else None,
    )


def _too_large(limit: int) -> services.PayloadTooLarge:
    return services.PayloadTooLarge(
        f"the bundle is larger than the {limit >> 20} MiB the rules allow",
        errors=[FieldProblem("file", "max_size", f"at most {limit} bytes")],
    )


def read_manifest(path: Path, entries: list[inspect.BundleEntry]) -> dict[str, EntryMeta]:
    """``manifest.json``'s entries (empty without one); a malformed one refuses the bundle.

    Runs in a worker thread; the entry was verified by the inspection (its size, CRC).
    """
    found = next((e for e in entries if e.name == MANIFEST_NAME), None)
    if found is None:
        return {}
    problem = None
    if found.size > MAX_MANIFEST:
        problem = f"manifest.json is larger than {MAX_MANIFEST >> 20} MiB"
    else:
        with zipfile.ZipFile(path) as archive, archive.open(found.info) as handle:
            data = handle.read(MAX_MANIFEST + 1)
        try:
            return msgspec.json.decode(data, type=dict[str, EntryMeta])
        except msgspec.DecodeError as exc:
            problem = (
                "manifest.json is not an object of entry names to "
                f"{{title, description, proves}} ({exc})"
            )
    raise BundleRefused(
        "the bundle's manifest.json is not readable",
        errors=[FieldProblem(f"file/{MANIFEST_NAME}", "manifest", problem)],
        extensions={"entry": MANIFEST_NAME},
    )


def entry_meta(entry: inspect.BundleEntry, given: EntryMeta | None) -> services.UploadMeta:
    """The item's name (the entry's file name), title and notes; ValidationFailed if unfit."""
    filename = posixpath.basename(entry.name)
    title = given.title if given is not None and given.title else entry.name
    if len(title) > MAX_TITLE and (given is None or not given.title):
        title = "…" + title[-(MAX_TITLE - 1) :]  # a long path: its end says most
    return services.check_meta(
        services.UploadMeta(
            filename=filename,
            title=title,
            description=given.description if given is not None else "",
            proves=given.proves if given is not None else "",
        )
    )


async def _entry_chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> AsyncIterator[bytes]:
    """One file's bytes, decompressed in a worker thread a chunk at a time."""
    handle = await anyio.to_thread.run_sync(archive.open, info)
    try:
        while chunk := await anyio.to_thread.run_sync(handle.read, READ_CHUNK):
            yield chunk
    finally:
        await anyio.to_thread.run_sync(handle.close)


async def held_by(
    uow: UnitOfWork, tenant_id: UUID, submitted_by: str, sha256: str, *, besides: UUID | None = None
) -> UUID | None:
    """The first item of these bytes the submitter holds (other than ``besides``)."""
    rows = await uow.fetch(
        "SELECT id FROM custody_object WHERE tenant_id = {} AND sha256 = {} "
        "AND submitted_by = {} AND id <> {} ORDER BY leaf_index LIMIT 1",
        tenant_id,
        sha256,
        submitted_by,
        besides or UUID(int=0),
    )
    return as_uuid(rows[0]["id"]) if rows else None


async def _take_entry(
    runtime: Runtime,
    principal: Principal,
    tenant: TenantInfo,
    archive: zipfile.ZipFile,
    entry: inspect.BundleEntry,
    given: EntryMeta | None,
    limits: EvidenceFiles,
) -> BundleItem | BundleRefusal:
    """Take one accepted file into custody (whole or absent), or say why it is not."""
    if entry.error is not None:
        return BundleRefusal(entry.name, entry.error.rule, entry.error.message)
    assert entry.detected is not None
    media_type = entry.detected.media_type
    if entry.size > limits.max_size:
        return BundleRefusal(
            entry.name,
            "max_size",
            f"{entry.name!r} is larger than the {limits.max_size >> 20} MiB the rules allow",
        )
    try:
        meta = entry_meta(entry, given)
    except ValidationFailed as exc:
        problem = exc.errors[0] if exc.errors else FieldProblem("file", "invalid", str(exc))
        return BundleRefusal(entry.name, problem.rule, f"{problem.field}: {problem.message}")

    def item(item_id: UUID, *, new: bool) -> BundleItem:
        return BundleItem(entry.name, entry.sha256, entry.size, media_type, item_id, new)

    tenant_id = tenant.id
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        existing = await held_by(uow, tenant_id, principal.actor_id, entry.sha256)
    if existing is not None:
        return item(existing, new=False)
    try:
        stored = await runtime.store.put(
            str(tenant_id),
            _entry_chunks(archive, entry.info),
            expected_sha256=entry.sha256,
            max_size=limits.max_size,
        )
    except (DigestMismatch, ObjectTooLarge, zipfile.BadZipFile):  # the spool changed under us
        return BundleRefusal(entry.name, "corrupt", f"{entry.name!r} could not be read back")

    async def first_of_its_kind(uow: UnitOfWork, recorded: services.CustodyItem) -> None:
        # After the log's lock (taken by the append): a twin bundle's item is visible now.
        earlier = await held_by(
            uow, tenant_id, principal.actor_id, entry.sha256, besides=recorded.id
        )
        if earlier is not None:
            raise _AlreadyHeld(earlier)

    try:
        recorded = await services.enter_item(
            runtime,
            principal,
            tenant,
            meta,
            services.Intake(stored, media_type),
            also=first_of_its_kind,
        )
    except _AlreadyHeld as held:
        return item(held.item_id, new=False)
    return item(recorded.id, new=True)


async def receive_bundle(
    runtime: Runtime,
    principal: Principal,
    chunks: AsyncIterator[bytes],
    *,
    declared_length: int | None,
    declared_sha256: str | None,
) -> Manifest:
    """Take a ZIP of files into custody, file by file; what became of each (see the module)."""
    check_submitter(principal)
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    expected = services.parse_declared_sha256(declared_sha256)
    limits = services.evidence_limits(runtime, tenant.rule_set, tenant.rule_set_version)
    most = limits.archive_max_total
    if declared_length is not None and declared_length > most:
        raise _too_large(most)
    spool_dir = Path(runtime.settings.data_dir) / "spool"
    items: list[BundleItem] = []
    refused: list[BundleRefusal] = []
    skipped: list[str] = []
    async with services.Spool(spool_dir, max_size=most) as spool:
        try:
            async for chunk in chunks:
                if chunk:
                    await spool.write(chunk)
        except services.PayloadTooLarge:
            raise _too_large(most) from None
        spooled = await spool.finish()
        services.check_received(
            spooled.size, spooled.sha256, declared_length=declared_length, expected=expected
        )
        path = spooled.path

        def inspect_all() -> tuple[list[inspect.BundleEntry], dict[str, EntryMeta]]:
            entries = inspect.inspect_bundle(
                path,
                allowed=limits.allowed_types,
                limits=services.archive_limits(limits),
                spool_dir=spool_dir,
            )
            return entries, read_manifest(path, entries)

        try:
            entries, given = await anyio.to_thread.run_sync(inspect_all)
        except inspect.InspectionError as exc:
            raise _refused(exc) from None
        archive = await anyio.to_thread.run_sync(zipfile.ZipFile, path)
        try:
            for entry in entries:
                if entry.skipped or entry.name == MANIFEST_NAME:
                    skipped.append(entry.name)
                    continue
                outcome = await _take_entry(
                    runtime, principal, tenant, archive, entry, given.get(entry.name), limits
                )
                if isinstance(outcome, BundleItem):
                    items.append(outcome)
                else:
                    refused.append(outcome)
        finally:
            await anyio.to_thread.run_sync(archive.close)
    manifest = Manifest(spooled.sha256, spooled.size, items, refused, skipped)
    await _audit(runtime, principal, tenant_id, manifest)
    return manifest


async def _audit(
    runtime: Runtime, principal: Principal, tenant_id: UUID, manifest: Manifest
) -> None:
    """One event for the bundle (each new item has its own, written with it)."""
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="custody.bundle.received",
            target_kind="custody_bundle",
            target_id=manifest.sha256,
            detail={
                "size": manifest.size,
                "files": len(manifest.items),
                "new": sum(1 for i in manifest.items if i.new),
                "refused": [
                    {"name": r.name, "rule": r.rule} for r in manifest.refused[:AUDIT_LISTED]
                ],
                "refused_count": len(manifest.refused),
            },
        )
    log.info(
        "custody.bundle_received",
        tenant_id=str(tenant_id),
        sha256=manifest.sha256,
        items=len(manifest.items),
        refused=len(manifest.refused),
    )


async def find_evidence(
    uow: UnitOfWork, tenant_id: UUID, sha256s: Collection[str], *, submitted_by: str | None
) -> dict[str, UUID]:
    """The custody item of each SHA-256 (lower-case hex) the tenant holds: the newest.

    ``submitted_by``: only the items that submitter took in (a party cites only what it
    submitted itself, see :func:`arbitral.cases.exhibits._source`; a batch's rows cite
    the lender's items). None: anyone's.

    One query for up to :data:`FIND_CHUNK_POSTGRES` hashes on PostgreSQL (an array, one
    probe per hash), per :data:`FIND_CHUNK_SQLITE` on SQLite (an ``IN`` list); both use the
    ``custody_object (tenant_id, sha256)`` index. Hashes the tenant does not hold are
    absent from the answer; another tenant's items are never seen (the query names the
    tenant, and row-level security says it again on PostgreSQL).
    """
    wanted = sorted({s for s in sha256s})
    found: dict[str, UUID] = {}
    if uow.is_postgres:
        for start in range(0, len(wanted), FIND_CHUNK_POSTGRES):
            rows = await uow.fetch(
                # One index probe per hash, however stale the planner's statistics of a
                # fast-growing table are (see arbitral.db.bulk.select_in).
                lateral_sql(
                    "SELECT sha256, id FROM custody_object WHERE tenant_id = {} "
                    "AND sha256 {in} AND ({}::varchar IS NULL OR submitted_by = {}) "
                    "ORDER BY leaf_index DESC LIMIT 1",
                    "varchar",
                ),
                wanted[start : start + FIND_CHUNK_POSTGRES],
                tenant_id,
                submitted_by,
                submitted_by,
            )
            found.update((str(row["sha256"]), as_uuid(row["id"])) for row in rows)
        return found
    for start in range(0, len(wanted), FIND_CHUNK_SQLITE):
        chunk = wanted[start : start + FIND_CHUNK_SQLITE]
        marks = ", ".join("{}" for _ in chunk)
        # The newest item per hash: the row with the highest leaf index (SQLite takes a
        # bare column from the row that gives max()).
        rows = await uow.fetch(
            "SELECT sha256, id, max(leaf_index) AS leaf FROM custody_object "  # noqa: S608 (marks)
            f"WHERE tenant_id = {{}} AND sha256 IN ({marks}) "
            "AND ({} IS NULL OR submitted_by = {}) GROUP BY sha256",
            tenant_id,
            *chunk,
            submitted_by,
            submitted_by,
        )
        found.update((str(row["sha256"]), as_uuid(row["id"])) for row in rows)
    return found
