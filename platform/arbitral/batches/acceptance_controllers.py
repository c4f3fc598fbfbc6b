"""Batch acceptance route: a secretary accepts a whole batch's cases."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, post
from litestar.params import FromPath, JSONBody

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.batches import acceptance
from arbitral.batches.acceptance import BatchAcceptanceOut, BatchAcceptIn

AnyRequest = Request[Any, Any, Any]


class BatchAcceptanceController(Controller):
    path = "/api/v1/batches/{batch_id:uuid}/accept"
    tags = ("batches",)

    @post(
        "/",
        opt=require(Permission.CASES_MANAGE),
        summary="Accept the batch's cases (the commission's staff)",
        description=(
            "For a commission that does not accept batches automatically "
            "(`[batches] automatic_acceptance = false`). Each case of the batch still filed "
            "is accepted on its own by a job, in chunks, through the ordinary `accept` "
            "command (its history, audit, fees and notice of acceptance); its fees become "
            "a line of the batch's invoice (GET /api/v1/batches/{id}/invoice), which the "
            "lender pays once. 409 when the batch is not done or its acceptance was "
            "started already. `reason` is optional."
        ),
        status_code=202,
    )
    async def accept(
        self, request: AnyRequest, batch_id: FromPath[UUID], data: JSONBody[BatchAcceptIn]
    ) -> BatchAcceptanceOut:
        return await acceptance.accept_batch(
            request.app.state.runtime, current_principal(request), batch_id, data
        )
