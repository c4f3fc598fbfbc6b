"""Jobs of the payments context: a refund executed at the provider; a paid batch settled."""

from __future__ import annotations

from uuid import UUID

from arbitral.jobs.registry import job
from arbitral.jobs.runner import JobContext
from arbitral.payments import batch, services


@job(services.REFUND_JOB, max_retries=20)
async def refund(ctx: JobContext, refund_id: str) -> None:
    """Refund at the provider (idempotent on the refund's out_request_no), record the result.

    A provider that cannot be reached raises, and Dramatiq tries again with backoff.
    """
    if ctx.tenant_id is None:
        raise ValueError(f"{services.REFUND_JOB} runs for a tenant")
    await services.execute_refund(ctx.runtime, ctx.tenant_id, UUID(refund_id), ctx.transaction)


@job(batch.BATCH_PAID_JOB, max_retries=20)
async def batch_paid(ctx: JobContext, batch_id: str) -> None:
    """A batch's invoice was paid: the next chunk of its cases moved by ``record_payment``."""
    if ctx.tenant_id is None:
        raise ValueError(f"{batch.BATCH_PAID_JOB} runs for a tenant")
    await batch.run_paid_chunk(ctx.runtime, ctx.tenant_id, UUID(batch_id), ctx.transaction)
