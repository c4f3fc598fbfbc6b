"""The reconciliation of a batch: its summary (JSON), or its per-case lines (CSV, JSON Lines)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.batches import reconciliation
from arbitral.batches.reconciliation import BatchReconciliation

AnyRequest = Request[Any, Any, Any]


class BatchReconciliationController(Controller):
    path = "/api/v1/batches/{batch_id:uuid}/reconciliation"
    tags = ("batches",)

    @get(
        "/",
        # The route admits any member (lender clients hold batches:submit, staff
        # cases:read/cases:manage): who sees which batch is decided per batch, and
        # everyone else gets 404 as for an unknown batch.
        opt=require(Permission.TENANT_READ),
        summary="What became of a batch: rows, refused rows, every case's outcome and amounts",
        description=(
            "For the lender API client that submitted the batch and the commission's staff "
            "(404 for anyone else). Without format (or format=json): the batch's counters, "
            "its refused rows per state, its cases' outcomes (in progress per state, "
            "accepted, rejected, settled, awarded, enforced, withdrawn; enforced stays 0 "
            "until court enforcement arrives) and the amounts claimed and awarded (what the "
            "issued award orders the respondent to pay) with their ratio. format=csv or "
            "format=jsonl: one line per case, in row order (row_no, contract_number, "
            "case_id, number, state, amount_claimed, amount_awarded), streamed."
        ),
    )
    async def show(
        self,
        request: AnyRequest,
        batch_id: FromPath[UUID],
        format: FromQuery[str] = "json",
    ) -> BatchReconciliation | Stream:
        runtime = request.app.state.runtime
        principal = current_principal(request)
        if format == "json":
            return await reconciliation.reconciliation(runtime, principal, batch_id)
        body, media_type, name = await reconciliation.lines(runtime, principal, batch_id, format)
        return Stream(
            body,
            media_type=media_type,
            # The route's own media type (JSON) would win over Stream's: set the header.
            headers={
                "content-type": media_type,
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "private, no-store",
            },
        )
