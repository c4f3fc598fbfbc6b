"""Use cases of the batches context: create a batch, upload its claims file, process it, report.

* **Create** (:func:`create_batch`): the lender's system names the case type, the
  number of rows it will send and itself as claimant, under an ``Idempotency-Key``.
  The same key with the same request answers the first batch (nothing new is made);
  the same key with another request is refused (409), so a retry can never turn into
  a second batch.
* **Upload** (:func:`upload_claims`): the claims file streams into the object store
  (its SHA-256 checked when declared) and into custody, with a leaf in the tenant's
  transparency log: what the lender sent is kept, tamper-evident. The upload and the
  processing job are one transaction.
* **Process** (:func:`process`, the ``batches.process`` job): the file is surveyed
  first (format, encoding, row count: a count other than the one declared stops the
  batch before anything is written), then read in chunks (``ARBITRAL_BATCH_CHUNK_ROWS``).
  Each chunk is checked (:mod:`arbitral.batches.validate`, in worker processes for
  large batches) and written (:mod:`arbitral.batches.bulk`) in one transaction with
  the batch's checkpoint (``rows_read``), so a worker killed mid-batch resumes at
  the last committed chunk and every valid row becomes exactly one case. A lease
  keeps a second delivery of the job from working beside the first; the checkpoint,
  compared under a row lock, keeps it from writing a chunk twice even if it does.
* **Follow** (:func:`get_batch`, :func:`report_lines`): counts by row state,
  percentage, rate and estimated time left; the per-row report.

A lender's system sees its own batches only (404 otherwise); the commission's staff
see every batch of the commission.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

import msgspec
import structlog

from arbitral.audit.services import Actor as AuditActor
from arbitral.audit.services import record
from arbitral.auth.domain import ClientKind, Permission, Principal, PrincipalKind, Role
from arbitral.batches import acceptance, bulk, parse
from arbitral.batches.parse import FileFormat, FileRefused, RawRow
from arbitral.batches.schemas import BatchCounts, BatchFile, BatchIn, BatchOut, BatchPage
from arbitral.batches.validate import BatchRules, CheckedRow, check_rows, evidence_kinds
from arbitral.cases.services import page_cursor, parse_page_cursor
from arbitral.custody.services import Intake, UploadMeta, enter_item, parse_declared_sha256
from arbitral.db.values import as_datetime, as_optional_datetime, as_uuid
from arbitral.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    ProblemError,
    ValidationFailed,
)
from arbitral.identity.services import actor_of, ensure_party_account, tenant_of
from arbitral.ledger import services as ledger
from arbitral.rules.claims import ClaimInvalid, validate_field
from arbitral.rules.model import CaseTypeRules, UnknownRule
from arbitral.storage.errors import DigestMismatch, ObjectTooLarge

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

log = structlog.get_logger(__name__)

PROCESS_JOB: Final = "batches.process"
MAX_ROWS: Final = 1_000_000
MAX_FILE_BYTES: Final = 2 << 30
# Batches at least this large are checked in worker processes beside the writer.
POOL_ROWS: Final = 10_000
LEASE: Final = timedelta(seconds=15)
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
MAX_PAGE: Final = 100


class IdempotencyConflict(ProblemError):
    status = 409
    slug = "idempotency-key-reused"
    title = "The Idempotency-Key was used for another request"


class BatchBusy(Exception):
    """Another run of the processing job holds the batch's lease: try again later."""


# -- creating ------------------------------------------------------------------------------


def _check_key(key: str | None) -> str:
    if key is None or not _KEY.match(key):
        raise ValidationFailed(
            "an Idempotency-Key header is required",
            errors=[
                FieldProblem(
                    "header.Idempotency-Key",
                    "required" if not key else "format",
                    "1 to 200 printable ASCII characters, unique per batch (e.g. a UUID)",
                )
            ],
        )
    return key


def _request_digest(data: BatchIn) -> str:
    canonical = json.dumps(msgspec.to_builtins(data), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def case_type_rules(runtime: Runtime, tenant: TenantInfo, case_type: str) -> CaseTypeRules:
    """The rules of a case type that batches may file: it has a loan in its claim form
    (a contract number is how a batch knows a claim is not filed twice)."""
    try:
        rules = runtime.rules.get(tenant.rule_set, tenant.rule_set_version)
    except UnknownRule:
        log.error("batches.rules_missing", rule_set=tenant.rule_set)
        raise ValidationFailed("the commission's rules are not available") from None
    batchable = sorted(
        name
        for name, ct in rules.case_types.items()
        if any(f.type == "loan" for f in ct.claim_form.fields)
    )
    if case_type not in batchable:
        raise ValidationFailed(
            "batches file claims of a case type with a loan",
            errors=[FieldProblem("$.case_type", "choice", f"one of {', '.join(batchable)}")],
        )
    return rules.case_types[case_type]


def _check_claimant(case_type: CaseTypeRules, claimant: object, today: Any) -> dict[str, Any]:
    """The lender as the claim form's claimant field checks it (every problem at once)."""
    if claimant is None:
        raise ValidationFailed(
            "the claimant is required",
            errors=[FieldProblem("$.claimant", "required", "the lender, as claimant")],
        )
    try:
        party = validate_field(case_type.claim_form, "claimant", claimant, filed_on=today)
    except ClaimInvalid as exc:
        raise ValidationFailed("the claimant is not valid", errors=list(exc.problems)) from None
    out: dict[str, Any] = msgspec.to_builtins(dict(party))
    return out


def _check_filer(principal: Principal) -> None:
    if principal.kind is PrincipalKind.OPERATOR:
        return
    if principal.kind is PrincipalKind.API_CLIENT and principal.client_kind is ClientKind.LENDER:
        return
    raise Forbidden(
        "batches are filed by a lender's system",
        errors=[FieldProblem("$", "filer", "use the lender's API client credentials")],
    )


async def create_batch(
    runtime: Runtime, principal: Principal, data: BatchIn, idempotency_key: str | None
) -> tuple[BatchOut, bool]:
    """(the batch, whether it is new): the first batch again for a repeated request."""
    key = _check_key(idempotency_key)
    _check_filer(principal)
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    digest = _request_digest(data)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        found = await _by_key(uow, tenant_id, principal.actor_id, key)
    if found is not None:
        return _replay(principal, found, digest), False
    case_type = case_type_rules(runtime, tenant, data.case_type)
    if not 1 <= data.declared_rows <= MAX_ROWS:
        raise ValidationFailed(
            "the declared row count is out of range",
            errors=[FieldProblem("$.declared_rows", "range", f"from 1 to {MAX_ROWS}")],
        )
    now = runtime.clock.now()
    claimant = _check_claimant(case_type, data.claimant, now.astimezone(tenant.zone).date())
    batch_id = uuid4()
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        # Two requests with one key at once: the unique index lets one in; the other
        # finds it here after waiting for its commit.
        if uow.is_postgres:
            await uow.fetch(
                "SELECT pg_advisory_xact_lock(hashtextextended({}, 0))",
                f"batch:{tenant_id}:{principal.actor_id}:{key}",
            )
        found = await _by_key(uow, tenant_id, principal.actor_id, key)
        if found is not None:
            return _replay(principal, found, digest), False
        user_id = await ensure_party_account(
            uow,
            principal,
            tenant_id,
            name=str(claimant["name"]),
            email=claimant.get("email"),
            phone=claimant.get("phone"),
            role=Role.CLAIMANT,
        )
        await uow.execute(
            "INSERT INTO claim_batch (id, tenant_id, client_id, filed_by, filer_kind, "
            "idempotency_key, request_sha256, case_type, rule_set, rule_set_version, claimant, "
            "declared_rows, state, problems, created_at, updated_at) VALUES ({}, {}, {}, {}, "
            "{}, {}, {}, {}, {}, {}, {}, {}, 'created', '[]', {}, {})",
            batch_id,
            tenant_id,
            principal.client_id if principal.kind is PrincipalKind.API_CLIENT else None,
            principal.actor_id,
            principal.kind.value,
            key,
            digest,
            case_type.case_type,
            tenant.rule_set,
            tenant.rule_set_version,
            json.dumps(
                {"party": claimant, "user_id": str(user_id) if user_id else None},
                ensure_ascii=False,
                sort_keys=True,
            ),
            data.declared_rows,
            now,
            now,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="batch.created",
            target_kind="batch",
            target_id=batch_id,
            detail={
                "case_type": case_type.case_type,
                "declared_rows": data.declared_rows,
                "idempotency_key": key,
            },
        )
        row = await _load(uow, tenant_id, batch_id)
    assert row is not None
    return batch_out(row), True


def _replay(principal: Principal, row: Mapping[str, Any], digest: str) -> BatchOut:
    if str(row["request_sha256"]) != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was used for a different batch request",
            errors=[
                FieldProblem(
                    "header.Idempotency-Key",
                    "reused",
                    f"already used for batch {row['id']} with another request body",
                )
            ],
            extensions={"batch_id": str(row["id"])},
        )
    return batch_out(row)


async def _by_key(
    uow: UnitOfWork, tenant_id: UUID, filed_by: str, key: str
) -> dict[str, Any] | None:
    rows = await uow.fetch(
        "SELECT * FROM claim_batch WHERE tenant_id = {} AND filed_by = {} AND idempotency_key = {}",
        tenant_id,
        filed_by,
        key,
    )
    return rows[0] if rows else None


async def _load(uow: UnitOfWork, tenant_id: UUID, batch_id: UUID) -> dict[str, Any] | None:
    rows = await uow.fetch(
        "SELECT * FROM claim_batch WHERE tenant_id = {} AND id = {}", tenant_id, batch_id
    )
    return rows[0] if rows else None


# -- access and views ------------------------------------------------------------------------


def may_see(principal: Principal, row: Mapping[str, Any]) -> bool:
    """The lender's system that filed it, the operator, and the commission's staff."""
    if principal.kind is PrincipalKind.OPERATOR:
        return True
    if principal.kind is PrincipalKind.API_CLIENT:
        return principal.client_id is not None and row["client_id"] == principal.client_id
    return principal.kind is PrincipalKind.USER and principal.can(Permission.CASES_MANAGE)


async def access_batch(uow: UnitOfWork, principal: Principal, batch_id: UUID) -> dict[str, Any]:
    row = await _load(uow, tenant_of(principal), batch_id)
    if row is None or not may_see(principal, row):
        raise NotFound("no such batch")
    return row


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def batch_out(row: Mapping[str, Any], *, now: datetime | None = None) -> BatchOut:
    declared = int(row["declared_rows"])
    read = int(row["rows_read"])
    created, rejected, duplicate = (
        int(row["cases_created"]),
        int(row["rows_rejected"]),
        int(row["rows_duplicate"]),
    )
    state = str(row["state"])
    started = as_optional_datetime(row["started_at"])
    finished = as_optional_datetime(row["finished_at"])
    rate: float | None = None
    eta: float | None = None
    if started is not None and read:
        until = finished or now or as_datetime(row["updated_at"])
        elapsed = max((until - started).total_seconds(), 1e-3)
        rate = round(read / elapsed, 1)
        if state == "processing":
            eta = round(max(declared - read, 0) / rate, 1) if rate else None
    if state == "done":
        eta = 0.0
    total = max(declared, 1)
    file = None
    if row["file_object_id"] is not None:
        file = BatchFile(
            sha256=str(row["file_sha256"]),
            size=int(row["file_size"]),
            format=row["file_format"],
            encoding=row["file_encoding"],
            custody_item_id=as_uuid(row["file_object_id"]),
        )
    claimant = _json(row["claimant"])
    base = f"/api/v1/batches/{row['id']}/report"
    return BatchOut(
        id=as_uuid(row["id"]),
        state=state,
        case_type=str(row["case_type"]),
        rule_set=str(row["rule_set"]),
        rule_set_version=str(row["rule_set_version"]),
        idempotency_key=str(row["idempotency_key"]),
        counts=BatchCounts(
            declared=declared,
            read=read,
            created=created,
            rejected=rejected,
            duplicate=duplicate,
            pending=max(declared - read, 0) if state not in {"done", "failed"} else 0,
        ),
        percent=100.0 if state == "done" else round(min(read / total, 1.0) * 100, 1),
        rate_per_second=rate,
        eta_seconds=eta,
        problems=[FieldProblem(**p) for p in _json(row["problems"]) or []],
        file=file,
        created_at=as_datetime(row["created_at"]),
        uploaded_at=as_optional_datetime(row["uploaded_at"]),
        started_at=started,
        finished_at=finished,
        filed_by=str(row["filed_by"]),
        claimant_name=str(claimant["party"]["name"]),
        report={"csv": f"{base}?format=csv", "jsonl": f"{base}?format=jsonl"},
    )


async def get_batch(runtime: Runtime, principal: Principal, batch_id: UUID) -> BatchOut:
    async with runtime.db.transaction(tenant_id=tenant_of(principal), readonly=True) as uow:
        row = await access_batch(uow, principal, batch_id)
    return batch_out(row, now=runtime.clock.now())


async def list_batches(
    runtime: Runtime, principal: Principal, *, cursor: str | None, limit: int
) -> BatchPage:
    """Newest first; a lender's system lists its own, the staff every batch."""
    tenant_id = tenant_of(principal)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(
            "limit out of range", errors=[FieldProblem("limit", "range", f"1 to {MAX_PAGE}")]
        )
    where = ["tenant_id = {}"]
    args: list[Any] = [tenant_id]
    if principal.kind is PrincipalKind.API_CLIENT:
        where.append("client_id = {}")
        args.append(principal.client_id)
    elif principal.kind is PrincipalKind.USER and not principal.can(Permission.CASES_MANAGE):
        return BatchPage(items=[], next_cursor=None)
    if cursor:
        at, last = parse_page_cursor(cursor)
        where.append("(created_at < {} OR (created_at = {} AND id < {}))")
        args += [at, at, last]
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        rows = await uow.fetch(
            f"SELECT * FROM claim_batch WHERE {' AND '.join(where)} "  # noqa: S608 (constants)
            "ORDER BY created_at DESC, id DESC LIMIT {}",
            *args,
            limit + 1,
        )
    now = runtime.clock.now()
    items = [batch_out(r, now=now) for r in rows[:limit]]
    more = len(rows) > limit
    last_row = rows[limit - 1] if more else None
    return BatchPage(
        items=items,
        next_cursor=page_cursor(as_datetime(last_row["created_at"]), as_uuid(last_row["id"]))
        if last_row
        else None,
    )


# -- uploading the claims file -----------------------------------------------------------------


def _declared_format(content_type: str | None) -> str | None:
    if not content_type:
        return None
    kind = content_type.split(";")[0].strip().lower()
    if kind in {"application/x-ndjson", "application/jsonl", "application/json-lines"}:
        return FileFormat.JSONL.value
    if kind in {"text/csv", "application/csv"}:
        return FileFormat.CSV.value
    if kind in {"application/octet-stream", ""}:
        return None
    raise ValidationFailed(
        "the claims file is JSON Lines or CSV",
        errors=[
            FieldProblem(
                "header.Content-Type",
                "choice",
                "application/x-ndjson, text/csv or application/octet-stream",
            )
        ],
    )


async def upload_claims(
    runtime: Runtime,
    principal: Principal,
    batch_id: UUID,
    chunks: AsyncIterator[bytes],
    *,
    content_type: str | None,
    declared_sha256: str | None,
    filename: str | None = None,
) -> BatchOut:
    """Keep the claims file (streamed into custody) and start processing it: whole or nothing.

    Uploading the same file again (same SHA-256) answers the batch as it is; a different
    file for a batch that has one is refused (409): a new file is a new batch.
    """
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    expected = parse_declared_sha256(declared_sha256)
    fmt = _declared_format(content_type)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        row = await access_batch(uow, principal, batch_id)
    if str(row["filed_by"]) != principal.actor_id:
        raise NotFound("no such batch")  # only its filer uploads (the staff read it)
    if row["state"] != "created":
        if expected is not None and row["file_sha256"] == expected:
            return batch_out(row, now=runtime.clock.now())
        raise Conflict(
            "this batch has its claims file already; a new file is a new batch",
            errors=[FieldProblem("file", "uploaded", f"the batch is {row['state']}")],
        )
    try:
        stored = await runtime.store.put(
            str(tenant_id), chunks, expected_sha256=expected, max_size=MAX_FILE_BYTES
        )
    except DigestMismatch as exc:
        raise ValidationFailed(
            "the file does not match the declared SHA-256",
            errors=[FieldProblem("header.X-Content-SHA256", "sha256", str(exc))],
        ) from None
    except ObjectTooLarge:
        raise ValidationFailed(
            "the claims file is too large",
            errors=[FieldProblem("file", "max_size", f"at most {MAX_FILE_BYTES} bytes")],
        ) from None
    if stored.size == 0:
        raise ValidationFailed(
            "the claims file is empty", errors=[FieldProblem("file", "empty", "no rows")]
        )
    media = (
        "application/x-ndjson"
        if fmt == "jsonl"
        else "text/csv"
        if fmt == "csv"
        else ("application/octet-stream")
    )
    name = (filename or f"batch-{batch_id}.{fmt or 'dat'}")[:255]

    async def also(uow: Any, item: Any) -> None:
        now = uow.now()
        rows = await uow.fetch(
            "UPDATE claim_batch SET state = 'uploaded', file_object_id = {}, file_sha256 = {}, "
            "file_size = {}, file_format = {}, uploaded_at = {}, updated_at = {} "
            "WHERE tenant_id = {} AND id = {} AND state = 'created' RETURNING id",
            item.id,
            stored.sha256,
            stored.size,
            fmt,
            now,
            now,
            tenant_id,
            batch_id,
        )
        if not rows:
            raise Conflict(
                "this batch has its claims file already; a new file is a new batch",
                errors=[FieldProblem("file", "uploaded", "another upload came first")],
            )
        await uow.enqueue(PROCESS_JOB, {"batch_id": str(batch_id)})
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="batch.uploaded",
            target_kind="batch",
            target_id=batch_id,
            detail={"sha256": stored.sha256, "size": stored.size, "format": fmt},
        )

    await enter_item(
        runtime,
        principal,
        tenant,
        UploadMeta(filename=name, title=f"批量申请文件 / claims file of batch {batch_id}"),
        Intake(stored=stored, media_type=media),
        also=also,
    )
    return await get_batch(runtime, principal, batch_id)


# -- processing (the job) -------------------------------------------------------------------


async def _take_lease(runtime: Runtime, tenant_id: UUID, batch_id: UUID) -> dict[str, Any] | None:
    """The batch, leased to this run; None when there is nothing to do. BatchBusy when
    another run holds it."""
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        now = uow.now()
        rows = await uow.fetch(
            "UPDATE claim_batch SET state = 'processing', lease_until = {}, "
            "started_at = COALESCE(started_at, {}), updated_at = {} "
            "WHERE tenant_id = {} AND id = {} AND state IN ('uploaded', 'processing') "
            "AND (lease_until IS NULL OR lease_until < {}) RETURNING *",
            now + LEASE,
            now,
            now,
            tenant_id,
            batch_id,
            now,
        )
        if rows:
            return rows[0]
        row = await _load(uow, tenant_id, batch_id)
    if row is not None and row["state"] == "processing":
        raise BatchBusy(str(batch_id))
    return None


def _filer(runtime: Runtime, tenant: TenantInfo, row: Mapping[str, Any]) -> bulk.BatchFiler:
    claimant = _json(row["claimant"])
    rules = runtime.rules.get(str(row["rule_set"]), str(row["rule_set_version"]))
    case_type = rules.case_type(str(row["case_type"]))
    user = claimant.get("user_id")
    return bulk.BatchFiler(
        batch_id=as_uuid(row["id"]),
        tenant=tenant,
        case_type=str(row["case_type"]),
        rule_set=str(row["rule_set"]),
        rule_set_version=str(row["rule_set_version"]),
        filed_by=str(row["filed_by"]),
        filer_kind=str(row["filer_kind"]),
        client_id=row["client_id"],
        claimant=claimant["party"],
        claimant_user_id=UUID(user) if user else None,
        evidence=case_type.evidence,
        locale=tenant.locale,
    )


async def _spool(runtime: Runtime, key: str, directory: Path) -> Path:
    """The stored claims file copied to local disk (it is read twice, at random)."""
    fd, name = tempfile.mkstemp(prefix="batch-", suffix=".dat", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            async for chunk in runtime.store.open(key):
                await asyncio.to_thread(handle.write, chunk)
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return path


async def _fail(
    runtime: Runtime, tenant_id: UUID, row: Mapping[str, Any], problems: Sequence[FieldProblem]
) -> None:
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        now = uow.now()
        failed = await uow.fetch(
            "UPDATE claim_batch SET state = 'failed', problems = {}, finished_at = {}, "
            "updated_at = {}, lease_until = NULL WHERE tenant_id = {} AND id = {} "
            "AND state = 'processing' RETURNING *",
            json.dumps([msgspec.to_builtins(p) for p in problems], ensure_ascii=False),
            now,
            now,
            tenant_id,
            row["id"],
        )
        if not failed:
            return
        await _tell_lender(
            uow,
            failed[0],
            {
                "batch_id": str(row["id"]),
                "problems": [msgspec.to_builtins(p) for p in problems],
                "finished_at": now.isoformat(),
            },
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=AuditActor.system("batches"),
            action="batch.failed",
            outcome="failure",
            target_kind="batch",
            target_id=as_uuid(row["id"]),
            detail={"problems": [p.message for p in problems]},
        )


def _chunks(rows: Iterator[RawRow], skip: int, size: int) -> Iterator[list[RawRow]]:
    chunk: list[RawRow] = []
    for raw in rows:
        if raw.row_no <= skip:
            continue
        chunk.append(raw)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _pool_workers() -> int:
    return max(1, min(2, (os.cpu_count() or 1)))


async def process(runtime: Runtime, tenant: TenantInfo, batch_id: UUID) -> dict[str, float]:
    """The ``batches.process`` job: the whole batch, resumably (see the module docstring).

    Returns the seconds this run spent per part (also logged as ``batch.processed``).
    """
    timings = bulk.Timings()
    row = await _take_lease(runtime, tenant.id, batch_id)
    if row is None:
        return {}
    filer = _filer(runtime, tenant, row)
    rules = runtime.rules.get(filer.rule_set, filer.rule_set_version)
    case_type = rules.case_type(filer.case_type)
    kinds = evidence_kinds(case_type)
    directory = runtime.settings.data_dir / "spool"
    directory.mkdir(parents=True, exist_ok=True)
    key = await _object_key(runtime, tenant.id, as_uuid(row["file_object_id"]))
    path = await _spool(runtime, key, directory)
    try:
        declared_fmt = row["file_format"]
        with path.open("rb") as handle:
            head = handle.read(4096)
        fmt = parse.detect_format(head, None) if declared_fmt is None else FileFormat(declared_fmt)
        started = time.perf_counter()
        try:
            survey = await asyncio.to_thread(parse.survey, path, fmt, kinds)
        except FileRefused as exc:
            await _fail(runtime, tenant.id, row, [exc.problem])
            return timings.rounded()
        timings.lap("survey", started)
        if survey.rows != int(row["declared_rows"]):
            await _fail(
                runtime,
                tenant.id,
                row,
                [
                    FieldProblem(
                        "$.declared_rows",
                        "row_count",
                        f"the batch declared {row['declared_rows']} rows and the file has "
                        f"{survey.rows}: nothing was filed; send the file again in a new batch "
                        "with the right count",
                    )
                ],
            )
            return timings.rounded()
        await _note_survey(runtime, tenant.id, batch_id, survey)
        ctx = BatchRules(
            rules_dir=runtime.settings.rules_dir,
            rule_set=filer.rule_set,
            version=filer.rule_set_version,
            case_type=filer.case_type,
            filed_on=as_datetime(row["created_at"]).astimezone(tenant.zone).date(),
            claimant=filer.claimant,
            commission_names=tuple(n for n in (tenant.names.zh, tenant.names.en) if n),
        )
        await _run_chunks(runtime, filer, ctx, path, survey, int(row["rows_read"]), timings)
    finally:
        path.unlink(missing_ok=True)
    log.info("batch.processed", batch_id=str(batch_id), seconds=timings.rounded())
    return timings.rounded()


async def _object_key(runtime: Runtime, tenant_id: UUID, item_id: UUID) -> str:
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT object_key FROM custody_object WHERE tenant_id = {} AND id = {}",
            tenant_id,
            item_id,
        )
    return str(rows[0]["object_key"])


async def _note_survey(
    runtime: Runtime, tenant_id: UUID, batch_id: UUID, survey: parse.FileSurvey
) -> None:
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await uow.execute(
            "UPDATE claim_batch SET file_format = {}, file_encoding = {} "
            "WHERE tenant_id = {} AND id = {}",
            survey.format.value,
            survey.encoding,
            tenant_id,
            batch_id,
        )


async def _run_chunks(
    runtime: Runtime,
    filer: bulk.BatchFiler,
    ctx: BatchRules,
    path: Path,
    survey: parse.FileSurvey,
    done: int,
    timings: bulk.Timings,
) -> None:
    kinds = tuple(e.kind for e in filer.evidence)
    rows = parse.read_rows(path, survey.format, survey.encoding, kinds)
    chunks = _chunks(rows, done, runtime.settings.batch_chunk_rows)
    pool: Executor | None = None
    if survey.rows - done >= POOL_ROWS and _pool_workers() > 1:
        pool = ProcessPoolExecutor(max_workers=_pool_workers(), mp_context=get_context("spawn"))
    try:
        pending: list[asyncio.Future[list[CheckedRow]]] = []

        def submit() -> bool:
            chunk = next(chunks, None)
            if chunk is None:
                return False
            if pool is not None:
                pending.append(asyncio.wrap_future(pool.submit(check_rows, ctx, chunk)))
            else:
                pending.append(asyncio.ensure_future(asyncio.to_thread(check_rows, ctx, chunk)))
            return True

        depth = 2 * _pool_workers() if pool is not None else 1
        for _ in range(depth):
            if not submit():
                break
        written = 0
        while pending:
            waited = time.perf_counter()
            checked = await pending.pop(0)
            timings.lap("waiting for checks", waited)
            submit()
            done = await _write(runtime, filer, checked, done, timings)
            written += 1
            if written & (written - 1) == 0 and runtime.db.is_postgres:  # chunks 1, 2, 4, …
                started = time.perf_counter()
                await _analyze(runtime)
                timings.lap("statistics", started)
    finally:
        for task in pending:
            task.cancel()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    await _finish(runtime, filer)


async def _analyze(runtime: Runtime) -> None:
    """Fresh statistics for the tables the batch is growing (see migration 2026-12-06T16:00):
    their lookups stay index probes however new the commission is."""
    async with runtime.db.transaction() as uow:
        await uow.execute("SELECT arbitral_analyze_batch_tables()")


async def _write(
    runtime: Runtime,
    filer: bulk.BatchFiler,
    checked: Sequence[CheckedRow],
    done: int,
    timings: bulk.Timings,
) -> int:
    """One chunk, with the checkpoint moved past it (refused if another run moved it)."""
    tenant_id = filer.tenant.id
    last = checked[-1].row_no
    started = time.perf_counter()
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        lock = " FOR UPDATE" if uow.is_postgres else ""
        rows = await uow.fetch(
            f"SELECT rows_read, state FROM claim_batch WHERE tenant_id = {{}} AND id = {{}}{lock}",  # noqa: S608
            tenant_id,
            filer.batch_id,
        )
        if int(rows[0]["rows_read"]) != done or rows[0]["state"] != "processing":
            raise BatchBusy(f"batch {filer.batch_id} moved on beside this run")
        outcome = await bulk.write_chunk(uow, filer, checked)
        now = uow.now()
        await uow.execute(
            "UPDATE claim_batch SET rows_read = {}, cases_created = cases_created + {}, "
            "rows_rejected = rows_rejected + {}, rows_duplicate = rows_duplicate + {}, "
            "updated_at = {}, lease_until = {} WHERE tenant_id = {} AND id = {}",
            last,
            outcome.cases,
            outcome.rejected,
            outcome.duplicate,
            now,
            now + LEASE,
            tenant_id,
            filer.batch_id,
        )
        committing = time.perf_counter()
    outcome.timings.lap("commit", committing)
    timings.merge(outcome.timings)
    timings.lap("chunks", started)
    log.debug(
        "batch.chunk_written",
        rows=len(checked),
        cases=outcome.cases,
        seconds=outcome.timings.rounded(),
    )
    return last


async def _finish(runtime: Runtime, filer: bulk.BatchFiler) -> None:
    tenant_id = filer.tenant.id
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        now = uow.now()
        rows = await uow.fetch(
            "UPDATE claim_batch SET state = 'done', finished_at = {}, updated_at = {}, "
            "lease_until = NULL WHERE tenant_id = {} AND id = {} AND state = 'processing' "
            "RETURNING *",
            now,
            now,
            tenant_id,
            filer.batch_id,
        )
        if not rows:
            return
        row = rows[0]
        summary = {
            "batch_id": str(filer.batch_id),
            "file_sha256": row["file_sha256"],
            "rows": int(row["rows_read"]),
            "cases_created": int(row["cases_created"]),
            "rows_rejected": int(row["rows_rejected"]),
            "rows_duplicate": int(row["rows_duplicate"]),
            "finished_at": now.isoformat(),
        }
        await ledger.append(uow, tenant_id, "batch.completed", summary)
        await record(
            uow,
            tenant_id=tenant_id,
            actor=AuditActor.system("batches"),
            action="batch.completed",
            target_kind="batch",
            target_id=filer.batch_id,
            detail=summary,
        )
        await _tell_lender(uow, row, summary)
        if int(row["cases_created"]):
            # The commission's policy decides: accepted now case by case, or by a secretary.
            await acceptance.start_acceptance(uow, runtime, filer.tenant, filer.batch_id)


async def _tell_lender(uow: UnitOfWork, row: Mapping[str, Any], summary: Mapping[str, Any]) -> None:
    """The lender's system hears that its batch is done or failed (a signed webhook)."""
    if row["client_id"] is None:
        return
    from arbitral.webhooks import services as webhooks

    await webhooks.notify(
        uow,
        as_uuid(row["tenant_id"]),
        str(row["client_id"]),
        "batch.completed",
        {"state": str(row["state"]), "idempotency_key": str(row["idempotency_key"]), **summary},
        key=str(row["id"]),
    )


# -- the per-row report ----------------------------------------------------------------------

REPORT_COLUMNS: Final = (
    "row",
    "line",
    "contract_number",
    "state",
    "field",
    "rule",
    "message",
    "case_id",
    "case_number",
)
_REPORT_PAGE: Final = 5_000


async def report_lines(
    runtime: Runtime, principal: Principal, batch_id: UUID
) -> AsyncIterator[dict[str, Any]]:
    """Every row of the batch in order: one line per problem of a refused row, one per case
    (with a warning line when its interest is above what the ceiling supports)."""
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        await access_batch(uow, principal, batch_id)
    return _report(runtime, tenant_id, batch_id)


async def _report(
    runtime: Runtime, tenant_id: UUID, batch_id: UUID
) -> AsyncIterator[dict[str, Any]]:
    after = 0
    while True:
        async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
            created = await uow.fetch(
                "SELECT l.row_no, l.contract_number, l.case_id, c.number, l.over_cap, "
                "l.interest_claimed, l.interest_supported FROM loan_contract l "
                "JOIN arb_case c ON c.tenant_id = l.tenant_id AND c.id = l.case_id "
                "WHERE l.tenant_id = {} AND l.batch_id = {} AND l.row_no > {} "
                "ORDER BY l.row_no LIMIT {}",
                tenant_id,
                batch_id,
                after,
                _REPORT_PAGE,
            )
            refused = await uow.fetch(
                "SELECT row_no, line_no, contract_number, state, problems, existing_case_id "
                "FROM batch_problem WHERE tenant_id = {} AND batch_id = {} AND row_no > {} "
                "ORDER BY row_no LIMIT {}",
                tenant_id,
                batch_id,
                after,
                _REPORT_PAGE,
            )
        if not created and not refused:
            return
        # Both pages are complete up to the smaller of their last rows.
        ends = [int(p[-1]["row_no"]) for p in (created, refused) if len(p) == _REPORT_PAGE]
        limit = min(ends) if ends else None
        merged: list[tuple[int, dict[str, Any]]] = []
        for r in created:
            merged.append((int(r["row_no"]), {"kind": "case", **r}))
        for r in refused:
            merged.append((int(r["row_no"]), {"kind": "problem", **r}))
        merged.sort(key=lambda item: item[0])
        for row_no, r in merged:
            if limit is not None and row_no > limit:
                break
            after = row_no
            for line in _lines(r):
                yield line
        if limit is None:
            return


def _lines(r: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    if r["kind"] == "case":
        base = {
            "row": int(r["row_no"]),
            "line": None,
            "contract_number": r["contract_number"],
            "state": "created",
            "case_id": str(r["case_id"]),
            "case_number": r["number"],
        }
        if r["over_cap"]:
            yield {
                **base,
                "field": "$.loan.claimed",
                "rule": "interest_cap",
                "message": (
                    f"interest and charges claimed {r['interest_claimed']} exceed the "
                    f"{r['interest_supported']} the ceiling supports; filed, the tribunal decides"
                ),
            }
        else:
            yield {**base, "field": None, "rule": None, "message": None}
        return
    existing = r["existing_case_id"]
    for problem in _json(r["problems"]):
        yield {
            "row": int(r["row_no"]),
            "line": int(r["line_no"]),
            "contract_number": r["contract_number"],
            "state": str(r["state"]),
            "field": problem["field"],
            "rule": problem["rule"],
            "message": problem["message"],
            "case_id": str(existing) if existing else None,
            "case_number": None,
        }
