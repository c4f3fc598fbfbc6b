"""Jobs of service of process: a notice's message moved, a step's wait ran out.

Both run their effects in the job's one transaction (exactly once however
often Dramatiq delivers them) and are idempotent on top: an outcome already
recorded, or a step the ladder has left, changes nothing.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import structlog

from arbitral.jobs.registry import job
from arbitral.jobs.runner import JobContext
from arbitral.notify.services import on_outcome
from arbitral.service import documents, services

log = structlog.get_logger(__name__)

OUTCOME_JOB = "service.message_outcome"

# The delivery outbox tells this job whenever a notice's message is sent, delivered or fails.
on_outcome(services.PURPOSE, OUTCOME_JOB)


@job(OUTCOME_JOB, max_retries=10)
async def message_outcome(ctx: JobContext, message_id: str) -> None:
    tenant_id = ctx.tenant_id
    if tenant_id is None:
        raise ValueError(f"{OUTCOME_JOB} runs for a tenant")
    tenant = await ctx.runtime.tenants.by_id(tenant_id)
    if tenant is None:
        log.warning("service.tenant_gone", tenant_id=str(tenant_id))
        return
    async with ctx.transaction() as uow:
        await services.message_outcome(uow, ctx.runtime, tenant, UUID(message_id))


@job(services.WAIT_JOB, max_retries=10)
async def wait_expired(
    ctx: JobContext, case_id: str, deadline_id: str, deadline: str, **payload: Any
) -> None:
    tenant_id = ctx.tenant_id
    if tenant_id is None:
        raise ValueError(f"{services.WAIT_JOB} runs for a tenant")
    tenant = await ctx.runtime.tenants.by_id(tenant_id)
    if tenant is None:
        log.warning("service.tenant_gone", tenant_id=str(tenant_id))
        return
    async with ctx.transaction() as uow:
        await services.wait_expired(
            uow, ctx.runtime, tenant, UUID(str(payload["request_id"])), int(payload["step"])
        )
    log.info("service.wait_expired", case_id=case_id, deadline=deadline, step=payload["step"])


# Rendering and signing take a fraction of a second; a commission without a document
# signer (or a broken template) fails every time: a few retries, then dead, with the error
# naming the command that issues a signer. The text notice is served all the same.
@job(services.DOCUMENT_JOB, max_retries=3, min_backoff_ms=1000, max_backoff_ms=30_000)
async def make_document(ctx: JobContext, request_id: str, kind: str) -> None:
    tenant_id = ctx.tenant_id
    if tenant_id is None:
        raise ValueError(f"{services.DOCUMENT_JOB} runs for a tenant")
    tenant = await ctx.runtime.tenants.by_id(tenant_id)
    if tenant is None:
        log.warning("service.tenant_gone", tenant_id=str(tenant_id))
        return
    await documents.make(ctx.runtime, tenant, UUID(request_id), kind)
