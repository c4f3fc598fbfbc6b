"""Custody jobs: the scrub, and the expiry of resumable uploads left unfinished.

``custody.expire_uploads`` expires every open upload of the commission past its
time: its parts are discarded, the session is marked expired and audited. It is
queued when an upload opens (due just after that upload expires), and running it
again, or for a commission with nothing stale, changes nothing.

The scrub: every stored item re-hashed against its log entry, on a schedule.

``custody.scrub`` recomputes the tenant's transparency log from its leaves
(every leaf hash, every stored subtree hash, every signed head) and re-reads
and re-hashes every object a leaf names. Each problem found is written to the
commission's audit trail (``custody.scrub.problem``, outcome ``failure``) and
logged as an error; nothing is repaired. The run itself is recorded
(``custody.scrub.completed``). With ``every_hours`` the job schedules its next
run in the same transaction, so a schedule started once keeps itself going.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import structlog

from arbitral.audit.services import Actor, record
from arbitral.custody.uploads import EXPIRE_JOB, expire_stale
from arbitral.jobs.registry import job
from arbitral.jobs.runner import JobContext
from arbitral.ledger.services import LedgerReport, verify_log

log = structlog.get_logger(__name__)

SCRUB_JOB = "custody.scrub"
MAX_RECORDED_PROBLEMS = 1000  # per run, in the audit trail (the log has them all)


async def record_scrub(uow: Any, tenant_id: UUID, report: LedgerReport) -> None:
    """The run and its problems, in the commission's audit trail; altered evidence flagged
    on its cases (never repaired)."""
    from arbitral.cases.services import flag_altered_evidence

    actor = Actor.system("scrub")
    await flag_altered_evidence(uow, tenant_id, report.altered_objects)
    for problem in report.problems[:MAX_RECORDED_PROBLEMS]:
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor,
            action="custody.scrub.problem",
            outcome="failure",
            detail={"problem": problem},
        )
    await record(
        uow,
        tenant_id=tenant_id,
        actor=actor,
        action="custody.scrub.completed",
        outcome="success" if report.ok else "failure",
        detail={k: v for k, v in report.as_json().items() if k != "problems"}
        | {"problems": len(report.problems)},
    )


@job(SCRUB_JOB, max_retries=3, min_backoff_ms=60_000, max_backoff_ms=600_000)
async def scrub(ctx: JobContext, every_hours: float | None = None) -> None:
    tenant_id = ctx.tenant_id
    if tenant_id is None:
        raise ValueError("custody.scrub runs for a tenant")
    report = await verify_log(ctx.runtime, tenant_id, store=ctx.runtime.store)
    for problem in report.problems:
        log.error("custody.scrub.problem", tenant_id=str(tenant_id), problem=problem)
    async with ctx.transaction() as uow:
        await record_scrub(uow, tenant_id, report)
        if every_hours:
            await uow.enqueue(
                SCRUB_JOB, {"every_hours": every_hours}, delay=timedelta(hours=every_hours)
            )
    log.info(
        "custody.scrub.completed",
        tenant_id=str(tenant_id),
        objects=report.objects_checked,
        problems=len(report.problems),
    )


@job(EXPIRE_JOB, max_retries=5, min_backoff_ms=60_000, max_backoff_ms=600_000)
async def expire_uploads(ctx: JobContext) -> None:
    tenant_id = ctx.tenant_id
    if tenant_id is None:
        raise ValueError("custody.expire_uploads runs for a tenant")
    await expire_stale(ctx.runtime, tenant_id)  # one transaction per upload, each idempotent
    async with ctx.transaction():
        pass  # the job's done mark
