"""Acceptance of a lender batch's cases: automatic, or by a secretary for the whole batch.

A batch is a way of filing, not a way of deciding: every case of it is still accepted on
its own, through the ordinary ``accept`` command (``system_command(..., by="batches")``),
so each gets its history event, its audit event, its ledger milestone and the hooks of
acceptance (its fees invoiced as a line of the batch's invoice, its notice of acceptance
served). What the batch changes is who decides to start: the commission's policy
(``[batches] automatic_acceptance``, :attr:`TenantInfo.batch_automatic_acceptance`) when
the batch is done, or a secretary (``POST /api/v1/batches/{id}/accept``).

:func:`start_acceptance` (the batch pipeline calls it in the transaction that marks a
batch ``done``) and :func:`accept_batch` (the staff route) open the batch's invoice,
record who asked, and enqueue :data:`ACCEPT_JOB`. The job accepts the batch's cases
still ``filed`` in chunks of :data:`CHUNK`, by row number, one transaction per chunk
(the job's own effect transaction, so a redelivered chunk has no second effect), each
chunk enqueuing the next with its cursor. A worker killed mid-chunk rolls the chunk back
and the broker delivers it again; a case accepted meanwhile (a secretary, one by one) is
no longer ``filed`` and is skipped; a case the state machine refuses is skipped and
recorded, never retried forever. The last chunk closes the batch invoice for additions
(its total final: the lender can pay it) and records the run's end.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Final
from uuid import UUID

import msgspec
import structlog

from arbitral.audit.services import Actor as AuditActor
from arbitral.audit.services import record
from arbitral.auth.domain import Principal
from arbitral.cases import domain as cases_domain
from arbitral.cases.services import system_command
from arbitral.db.values import as_optional_datetime, as_uuid
from arbitral.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    ProblemError,
    ServiceUnavailable,
    ValidationFailed,
)
from arbitral.identity.services import actor_of, tenant_of
from arbitral.payments import batch as batch_invoices

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

log = structlog.get_logger(__name__)

ACCEPT_JOB: Final = "batches.accept"
# Cases accepted per transaction: each runs the whole acceptance path (history, ledger,
# audit, fees, notice), so a chunk is a few thousand statements and holds the SQLite
# writer for well under a second per hundred cases.
CHUNK: Final = 200
SYSTEM: Final = "batches"
AUTOMATIC: Final = "automatic"
STAFF: Final = "staff"
MAX_REASON: Final = 2000


class BatchAcceptIn(msgspec.Struct, forbid_unknown_fields=True):
    """A secretary accepts a whole batch (the commission does not accept automatically)."""

    reason: str = ""


class BatchAcceptanceOut(msgspec.Struct):
    batch_id: UUID
    mode: str  # automatic, staff
    requested_by: str
    started_at: datetime | None
    finished_at: datetime | None  # the batch's invoice closed for additions
    accepted_cases: int
    cases_filed: int  # cases of the batch still awaiting acceptance


async def _begin(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant_id: UUID,
    batch_id: UUID,
    *,
    mode: str,
    by: str,
    reason: str,
    actor: AuditActor,
) -> bool:
    """Open the batch's invoice, record the run, enqueue the job; False if it ran before."""
    now = runtime.clock.now()
    invoice = await batch_invoices.open_batch_invoice(uow, tenant_id, batch_id, now)
    if invoice["acceptance_started_at"] is not None:
        return False
    await uow.execute(
        "UPDATE batch_invoice SET acceptance_mode = {}, acceptance_by = {}, "
        "acceptance_reason = {}, acceptance_started_at = {} "
        "WHERE tenant_id = {} AND id = {} AND acceptance_started_at IS NULL",
        mode,
        by[:200],
        reason,
        now,
        tenant_id,
        invoice["id"],
    )
    await uow.enqueue(ACCEPT_JOB, {"batch_id": str(batch_id), "after_row": -1})
    await record(
        uow,
        tenant_id=tenant_id,
        actor=actor,
        action="batch.acceptance_started",
        target_kind="batch",
        target_id=batch_id,
        detail={"mode": mode, "reason": reason},
    )
    return True


async def start_acceptance(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, batch_id: UUID
) -> bool:
    """Accept a batch just marked done, when the commission accepts batches automatically.

    In the caller's transaction (the one that marks the batch ``done``): the job leaves
    through the outbox when it commits. False (nothing done) when the commission's policy
    is off (a secretary accepts the batch) or the acceptance was started before.
    """
    if not tenant.batch_automatic_acceptance:
        return False
    return await _begin(
        uow,
        runtime,
        tenant.id,
        batch_id,
        mode=AUTOMATIC,
        by=SYSTEM,
        reason="[batches] automatic_acceptance",
        actor=AuditActor.system(SYSTEM),
    )


async def _filed(uow: UnitOfWork, tenant_id: UUID, batch_id: UUID) -> int:
    rows = await uow.fetch(
        "SELECT COUNT(*) AS n FROM loan_contract l JOIN arb_case c "
        "ON c.tenant_id = l.tenant_id AND c.id = l.case_id "
        "WHERE l.tenant_id = {} AND l.batch_id = {} AND c.state = 'filed'",
        tenant_id,
        batch_id,
    )
    return int(rows[0]["n"])


async def accept_batch(
    runtime: Runtime, principal: Principal, batch_id: UUID, data: BatchAcceptIn
) -> BatchAcceptanceOut:
    """A secretary accepts the batch's cases (each still accepted on its own, by the job).

    409 when the batch is not done (its cases are still being created, or it failed) or
    its acceptance was started already (automatically, or by another secretary).
    """
    reason = data.reason.strip()
    if len(reason) > MAX_REASON:
        raise ValidationFailed(
            "the reason is too long",
            errors=[FieldProblem("$.reason", "max_length", f"at most {MAX_REASON} characters")],
        )
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        rows = await uow.fetch(
            "SELECT id, state FROM claim_batch WHERE tenant_id = {} AND id = {}",
            tenant_id,
            batch_id,
        )
        if not rows:
            raise NotFound("no such batch")
        if not cases_domain.is_staff(principal):
            raise Forbidden("a batch is accepted by the commission's staff")
        if rows[0]["state"] != "done":
            raise Conflict(
                f"the batch is {rows[0]['state']}, not done: its cases are not all filed",
                extensions={"state": rows[0]["state"]},
            )
        started = await _begin(
            uow,
            runtime,
            tenant_id,
            batch_id,
            mode=STAFF,
            by=principal.actor_id,
            reason=reason,
            actor=actor_of(principal),
        )
        if not started:
            raise Conflict("the batch's acceptance was started already")
        return await _acceptance_out(uow, tenant_id, batch_id)


async def _acceptance_out(uow: UnitOfWork, tenant_id: UUID, batch_id: UUID) -> BatchAcceptanceOut:
    row = (
        await uow.fetch(
            "SELECT * FROM batch_invoice WHERE tenant_id = {} AND batch_id = {}",
            tenant_id,
            batch_id,
        )
    )[0]
    return BatchAcceptanceOut(
        batch_id=batch_id,
        mode=str(row["acceptance_mode"]),
        requested_by=str(row["acceptance_by"]),
        started_at=as_optional_datetime(row["acceptance_started_at"]),
        finished_at=as_optional_datetime(row["closed_at"]),
        accepted_cases=int(row["accepted_cases"]),
        cases_filed=await _filed(uow, tenant_id, batch_id),
    )


# -- the job -------------------------------------------------------------------------------


async def run_chunk(
    runtime: Runtime,
    tenant_id: UUID,
    batch_id: UUID,
    after_row: int,
    transaction: Callable[[], AbstractAsyncContextManager[UnitOfWork]],
) -> int:
    """Accept the next :data:`CHUNK` cases of the batch still filed after ``after_row``.

    In ``transaction`` (the job's effect transaction); enqueues the next chunk, or closes
    the batch's invoice when the batch is gone through. The number of cases accepted.
    """
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        log.warning("batches.accept_no_tenant", tenant_id=str(tenant_id))
        return 0
    accepted = 0
    async with transaction() as uow:
        # One run at a time per batch: a second chain (never expected) waits here.
        invoice = await batch_invoices.open_batch_invoice(
            uow, tenant_id, batch_id, runtime.clock.now()
        )
        if invoice["closed_at"] is not None:
            return 0
        state = await uow.fetch(
            "SELECT state FROM claim_batch WHERE tenant_id = {} AND id = {}", tenant_id, batch_id
        )
        if not state or state[0]["state"] != "done":
            log.warning("batches.accept_not_done", batch_id=str(batch_id))
            return 0
        rows = await uow.fetch(
            "SELECT l.case_id, l.row_no FROM loan_contract l JOIN arb_case c "
            "ON c.tenant_id = l.tenant_id AND c.id = l.case_id "
            "WHERE l.tenant_id = {} AND l.batch_id = {} AND l.row_no > {} AND c.state = 'filed' "
            "ORDER BY l.row_no LIMIT {}",
            tenant_id,
            batch_id,
            after_row,
            CHUNK,
        )
        last_row = after_row
        for row in rows:
            last_row = int(row["row_no"])
            case_id = as_uuid(row["case_id"])
            try:
                async with runtime.db.transaction(tenant_id=tenant_id) as savepoint:
                    await system_command(
                        savepoint,
                        runtime,
                        tenant,
                        case_id,
                        "accept",
                        by=SYSTEM,
                        reason=(
                            "accepted with its batch"
                            if invoice["acceptance_mode"] == STAFF
                            else "accepted with its batch ([batches] automatic_acceptance)"
                        ),
                        data={
                            "batch_id": str(batch_id),
                            "row_no": last_row,
                            "decided_by": str(invoice["acceptance_by"]),
                        },
                    )
            except ServiceUnavailable:
                raise  # the rules or calendar are missing: the chunk waits and is retried
            except ProblemError as exc:  # refused for this case: recorded, never retried
                log.warning("batches.case_not_accepted", case_id=str(case_id), problem=str(exc))
                await record(
                    uow,
                    tenant_id=tenant_id,
                    actor=AuditActor.system(SYSTEM),
                    action="batch.case_not_accepted",
                    outcome="failure",
                    target_kind="case",
                    target_id=case_id,
                    detail={"batch_id": str(batch_id), "row_no": last_row, "problem": str(exc)},
                )
                continue
            accepted += 1
        finished = len(rows) < CHUNK
        now = runtime.clock.now()
        await uow.execute(
            "UPDATE batch_invoice SET accepted_cases = accepted_cases + {} "
            "WHERE tenant_id = {} AND id = {}",
            accepted,
            tenant_id,
            invoice["id"],
        )
        closed = await batch_invoices.refresh(uow, tenant_id, batch_id, now=now, close=finished)
        if not finished:
            await uow.enqueue(ACCEPT_JOB, {"batch_id": str(batch_id), "after_row": last_row})
        else:
            await record(
                uow,
                tenant_id=tenant_id,
                actor=AuditActor.system(SYSTEM),
                action="batch.acceptance_finished",
                target_kind="batch",
                target_id=batch_id,
                detail={
                    "accepted_cases": int(closed["accepted_cases"]),
                    "invoice_total": f"{Decimal(str(closed['total'])):.2f}",
                    "invoice_cases": int(closed["cases"]),
                },
            )
    return accepted
