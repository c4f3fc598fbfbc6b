"""The job that issues an approved award (see :mod:`arbitral.awards.issuing`)."""

from __future__ import annotations

from uuid import UUID

import structlog

from arbitral.awards import issuing
from arbitral.awards.services import ISSUE_JOB
from arbitral.jobs.registry import job
from arbitral.jobs.runner import JobContext

log = structlog.get_logger(__name__)


# Rendering and signing take a fraction of a second; a missing signing key or a broken
# template fails every time, so a few retries, then the dead-letter queue reports it.
@job(ISSUE_JOB, max_retries=8, min_backoff_ms=1000, max_backoff_ms=30_000)
async def issue_award(ctx: JobContext, award_id: str) -> None:
    tenant_id = ctx.tenant_id
    if tenant_id is None:
        raise ValueError(f"{ISSUE_JOB} runs for a tenant")
    tenant = await ctx.runtime.tenants.by_id(tenant_id)
    if tenant is None:
        log.warning("awards.tenant_gone", tenant_id=str(tenant_id))
        return
    await issuing.issue(ctx.runtime, tenant, UUID(award_id))
