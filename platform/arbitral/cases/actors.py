"""Jobs of the cases context: a deadline expired."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import structlog

from arbitral.cases import hooks
from arbitral.cases.deadlines import EXPIRED_JOB
from arbitral.jobs.registry import job
from arbitral.jobs.runner import JobContext

log = structlog.get_logger(__name__)


@job(EXPIRED_JOB, max_retries=10)
async def deadline_expired(
    ctx: JobContext, case_id: str, deadline_id: str, deadline: str, **payload: Any
) -> None:
    """Run the expiry handler of ``deadline`` on the case (once: the job claims its run)."""
    tenant_id = ctx.tenant_id
    if tenant_id is None:
        raise ValueError(f"{EXPIRED_JOB} runs for a tenant")
    handler = hooks.expiry_handler(deadline)
    if handler is None:
        # A deadline nobody handles is a deployment error: fail loudly, retry later.
        raise LookupError(f"no handler for the deadline {deadline!r}")
    tenant = await ctx.runtime.tenants.by_id(tenant_id)
    if tenant is None:
        log.warning("cases.deadline_tenant_gone", tenant_id=str(tenant_id), deadline=deadline)
        return
    async with ctx.transaction() as uow:
        await handler(uow, ctx.runtime, tenant, UUID(case_id), dict(payload))
    log.info("cases.deadline_expired", case_id=case_id, deadline=deadline, deadline_id=deadline_id)
