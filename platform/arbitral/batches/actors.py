"""The job that turns a batch's claims file into cases (see services.process)."""

from __future__ import annotations

from uuid import UUID

import structlog

from arbitral.batches import services
from arbitral.jobs.registry import job
from arbitral.jobs.runner import JobContext

log = structlog.get_logger(__name__)


# A batch of 100,000 rows takes well under a minute; an hour is the limit. BatchBusy
# (another run holds the lease, e.g. a redelivery while a killed run's lease runs out)
# is retried with backoff until that lease expires and this run takes over.
@job(
    services.PROCESS_JOB,
    max_retries=40,
    time_limit_ms=60 * 60 * 1000,
    min_backoff_ms=1000,
    max_backoff_ms=10_000,
)
async def process_batch(ctx: JobContext, batch_id: str) -> None:
    tenant_id = ctx.tenant_id
    if tenant_id is None:
        raise ValueError(f"{services.PROCESS_JOB} runs for a tenant")
    tenant = await ctx.runtime.tenants.by_id(tenant_id)
    if tenant is None:
        log.warning("batches.tenant_gone", tenant_id=str(tenant_id))
        return
    await services.process(ctx.runtime, tenant, UUID(batch_id))
