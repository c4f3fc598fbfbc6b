"""Jobs of batch acceptance: one chunk of a batch's cases accepted per run."""

from __future__ import annotations

from uuid import UUID

from arbitral.batches import acceptance
from arbitral.jobs.registry import job
from arbitral.jobs.runner import JobContext


@job(acceptance.ACCEPT_JOB, max_retries=20)
async def accept(ctx: JobContext, batch_id: str, after_row: int = -1) -> None:
    """Accept the next chunk of the batch's filed cases (the next chunk is its own job)."""
    if ctx.tenant_id is None:
        raise ValueError(f"{acceptance.ACCEPT_JOB} runs for a tenant")
    await acceptance.run_chunk(
        ctx.runtime, ctx.tenant_id, UUID(batch_id), after_row, ctx.transaction
    )
