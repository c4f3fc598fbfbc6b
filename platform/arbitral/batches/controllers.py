"""Batch routes: create a batch, upload its claims file, follow it, download its report."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.batches import filings, services
from arbitral.batches.schemas import BatchIn, BatchOut, BatchPage
from arbitral.errors import FieldProblem, ValidationFailed

AnyRequest = Request[Any, Any, Any]


class BatchController(Controller):
    path = "/api/v1/batches"
    tags = ("batches",)

    @post(
        "/",
        opt=require(Permission.BATCHES_SUBMIT),
        summary="Create a batch of claims (a lender's system; Idempotency-Key required)",
        description=(
            "Names the case type (online-loan), the number of rows the claims file will have "
            "and the lender as claimant of every case. The `Idempotency-Key` header (1-200 "
            "printable ASCII characters) makes a retry safe: the same key with the same body "
            "answers the first batch (200) and creates nothing; the same key with another "
            "body is refused (409 idempotency-key-reused). Then upload the claims file with "
            "PUT .../claims."
        ),
        status_code=201,
    )
    async def create(self, request: AnyRequest, data: JSONBody[BatchIn]) -> Response[BatchOut]:
        batch, new = await services.create_batch(
            request.app.state.runtime,
            current_principal(request),
            data,
            request.headers.get("idempotency-key"),
        )
        return Response(batch, status_code=201 if new else 200)

    @get("/", opt=require(Permission.TENANT_READ), summary="Batches, newest first")
    async def index(
        self, request: AnyRequest, cursor: FromQuery[str | None] = None, limit: FromQuery[int] = 50
    ) -> BatchPage:
        return await services.list_batches(
            request.app.state.runtime, current_principal(request), cursor=cursor, limit=limit
        )

    @get(
        "/{batch_id:uuid}",
        opt=require(Permission.TENANT_READ),
        summary="A batch and its progress (counts by row state, percentage, rate, time left)",
    )
    async def show(self, request: AnyRequest, batch_id: FromPath[UUID]) -> BatchOut:
        return await services.get_batch(
            request.app.state.runtime, current_principal(request), batch_id
        )

    @put(
        "/{batch_id:uuid}/claims",
        opt=require(Permission.BATCHES_SUBMIT),
        summary="Upload the batch's claims file (JSON Lines or CSV, streamed)",
        description=(
            "The body is the file: `Content-Type: application/x-ndjson` (JSON Lines, UTF-8) or "
            "`text/csv` (UTF-8 or GB 18030, detected), or application/octet-stream to let the "
            "first byte tell. `X-Content-SHA256` (hex) declares its hash: a file that hashes "
            "differently is refused, and sending the same file again is harmless. The file is "
            "kept in custody and processed by a job: follow the batch with GET."
        ),
        request_max_body_size=None,
        status_code=202,
    )
    async def upload(
        self, request: AnyRequest, batch_id: FromPath[UUID], filename: FromQuery[str | None] = None
    ) -> BatchOut:
        return await services.upload_claims(
            request.app.state.runtime,
            current_principal(request),
            batch_id,
            request.stream(),
            content_type=request.headers.get("content-type"),
            declared_sha256=request.headers.get("x-content-sha256"),
            filename=filename,
        )

    @get(
        "/{batch_id:uuid}/filings/verification",
        opt=require(Permission.TENANT_READ),
        summary="The batch's filings against the transparency log",
        description=(
            "Each chunk of the batch is one leaf of the commission's log holding a Merkle root "
            "over its cases' filing entries. Every root is rebuilt from the cases' history and "
            "compared: `altered_chunks` lists the leaves the history no longer matches."
        ),
    )
    async def verify_filings(self, request: AnyRequest, batch_id: FromPath[UUID]) -> dict[str, Any]:
        check = await filings.verify(
            request.app.state.runtime, current_principal(request), batch_id
        )
        return {**asdict(check), "ok": check.ok}

    @get(
        "/{batch_id:uuid}/filings/{case_id:uuid}/receipt",
        opt=require(Permission.TENANT_READ),
        summary="A case's filing receipt: its entry, the path to its chunk's root, the chunk's",
        description=(
            "`leaf_hash(entry)` climbs `path` (RFC 9162 inclusion, leaf `index` of `size`) to "
            "the `cases_root` of the leaf in `ledger_receipt`, which is checked like any "
            "receipt of the log (signed tree head, inclusion proof)."
        ),
    )
    async def filing_receipt(
        self, request: AnyRequest, batch_id: FromPath[UUID], case_id: FromPath[UUID]
    ) -> dict[str, Any]:
        return await filings.receipt(
            request.app.state.runtime, current_principal(request), batch_id, case_id
        )

    @get(
        "/{batch_id:uuid}/report",
        opt=require(Permission.TENANT_READ),
        summary="The per-row report (CSV or JSON Lines, streamed)",
        description=(
            "One line per problem of each refused row (row, line, contract number, state "
            "rejected or duplicate, field, rule, message; a duplicate names the existing case), "
            "one per case created (its id and number; a warning line when the interest "
            "claimed is above what the ceiling supports). format=csv (UTF-8 with a byte-order "
            "mark, for spreadsheet programs) or jsonl."
        ),
    )
    async def report(
        self, request: AnyRequest, batch_id: FromPath[UUID], format: FromQuery[str] = "csv"
    ) -> Stream:
        if format not in {"csv", "jsonl"}:
            raise ValidationFailed(
                "unknown report format",
                errors=[FieldProblem("format", "choice", "csv or jsonl")],
            )
        lines = await services.report_lines(
            request.app.state.runtime, current_principal(request), batch_id
        )
        body = csv_lines(lines) if format == "csv" else jsonl_lines(lines)
        media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
        return Stream(
            body,
            media_type=media,
            headers={
                "Content-Disposition": f'attachment; filename="batch-{batch_id}.{format}"',
                "Cache-Control": "private, no-store",
            },
        )


async def csv_lines(lines: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(services.REPORT_COLUMNS)
    yield ("\ufeff" + buffer.getvalue()).encode()
    count = 0
    buffer.seek(0)
    buffer.truncate()
    async for line in lines:
        writer.writerow(["" if line[c] is None else line[c] for c in services.REPORT_COLUMNS])
        count += 1
        if count % 1000 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


async def jsonl_lines(lines: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    parts: list[str] = []
    async for line in lines:
        parts.append(json.dumps(line, ensure_ascii=False))
        if len(parts) >= 1000:
            yield ("\n".join(parts) + "\n").encode()
            parts = []
    if parts:
        yield ("\n".join(parts) + "\n").encode()
