"""Running one delivery of a job, with exactly-once database effects.

Dramatiq delivers at least once. Each job's database effects happen in one
transaction (:meth:`JobContext.transaction`) that also inserts the job's
``job_run`` row; a second delivery finds the row and has no effect. The
transaction opens only when the job asks for it, so slow preparation (reading,
rendering, calling out) holds no lock, which matters on SQLite, where a write
transaction locks the whole database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import structlog

from arbitral.jobs.registry import JobSpec

if TYPE_CHECKING:
    from arbitral.db.engine import Database
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime

log = structlog.get_logger(__name__)


class JobAlreadyDone(Exception):
    """Another delivery of this job committed its effects first."""


@dataclass
class JobContext:
    """What a running job gets besides its payload."""

    runtime: Runtime
    job_id: UUID
    job_name: str
    tenant_id: UUID | None
    committed: bool = field(default=False, init=False)
    _opened: bool = field(default=False, init=False, repr=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        """The job's one effect transaction (it records the job as done on commit)."""
        if self._opened:
            raise RuntimeError(f"job {self.job_name} opened its effect transaction twice")
        self._opened = True
        async with self.runtime.db.transaction(tenant_id=self.tenant_id) as uow:
            if not await claim(uow, self.job_id, self.job_name, "done"):
                raise JobAlreadyDone(str(self.job_id))
            yield uow
        self.committed = True


async def claim(
    uow: UnitOfWork, job_id: UUID, job_name: str, status: str, detail: str | None = None
) -> bool:
    """Insert the job's ``job_run`` row in ``uow``; False if it is already there."""
    rows = await uow.fetch(
        "INSERT INTO job_run (job_id, actor_name, status, finished_at, detail) "
        "VALUES ({}, {}, {}, {}, {}) ON CONFLICT (job_id) DO NOTHING RETURNING job_id",
        job_id,
        job_name,
        status,
        datetime.now(UTC),
        detail,
    )
    return bool(rows)


async def is_finished(db: Database, job_id: UUID) -> bool:
    rows = await db.fetch("SELECT 1 AS one FROM job_run WHERE job_id = {}", job_id)
    return bool(rows)


async def run_job(
    runtime: Runtime,
    spec: JobSpec,
    job_id: UUID,
    tenant_id: UUID | None,
    payload: dict[str, Any],
) -> None:
    """Run one delivery of a job."""
    if await is_finished(runtime.db, job_id):
        log.info("job.already_done", job=spec.name, job_id=str(job_id))
        return
    ctx = JobContext(runtime=runtime, job_id=job_id, job_name=spec.name, tenant_id=tenant_id)
    try:
        await spec.fn(ctx, **payload)
        if not ctx.committed:
            # A job without database effects is still recorded, so it runs once.
            async with ctx.transaction():
                pass
    except JobAlreadyDone:
        log.info("job.already_done", job=spec.name, job_id=str(job_id))
        return
    log.info("job.done", job=spec.name, job_id=str(job_id))


async def record_dead(runtime: Runtime, job_id: UUID, job_name: str, detail: str | None) -> None:
    """Record a job that will not run again (retries exhausted, or unknown to this release)."""
    async with runtime.db.transaction() as uow:
        await claim(uow, job_id, job_name, "dead", detail)
