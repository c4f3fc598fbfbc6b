"""Jobs of the payments context: a refund executed at the provider."""

from __future__ import annotations

from uuid import UUID

from arbitral.jobs.registry import job
from arbitral.jobs.runner import JobContext
from arbitral.payments import services


@job(services.REFUND_JOB, max_retries=20)
async def refund(ctx: JobContext, refund_id: str) -> None:
    """Refund at the provider (idempotent on the refund's out_request_no), record the result.

    A provider that cannot be reached raises, and Dramatiq tries again with backoff.
    """
    if ctx.tenant_id is None:
        raise ValueError(f"{services.REFUND_JOB} runs for a tenant")
    await services.execute_refund(ctx.runtime, ctx.tenant_id, UUID(refund_id), ctx.transaction)
