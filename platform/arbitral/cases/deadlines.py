"""Time limits on cases: scheduled in the transaction that starts them, fired by a sweep.

A context that starts a period (the fee deadline when a case is accepted, a
step of the service ladder, the answer period once the respondent is served)
calls :func:`schedule` in its transaction with the job to run when the period
ends. :func:`sweep`, run every ``ARBITRAL_DEADLINE_SWEEP_INTERVAL`` seconds by
each web and worker process (:class:`DeadlineTicker`), fires every due
deadline exactly once however many processes sweep (``UPDATE … WHERE status =
'pending'``), by enqueuing its job in the same transaction. The job decides
what the expiry means now (the fee may have been paid in the meantime):
jobs are idempotent, as always.

Time is ``runtime.clock``: tests move it instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

import structlog

from arbitral.db.values import as_datetime, as_uuid

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime

log = structlog.get_logger(__name__)

BATCH: Final = 500
EXPIRED_JOB: Final = "cases.deadline_expired"


@dataclass(frozen=True)
class Deadline:
    id: UUID
    case_id: UUID
    name: str
    due_at: datetime
    job: str
    status: str


def _deadline(row: Mapping[str, Any]) -> Deadline:
    return Deadline(
        id=as_uuid(row["id"]),
        case_id=as_uuid(row["case_id"]),
        name=str(row["name"]),
        due_at=as_datetime(row["due_at"]),
        job=str(row["job"]),
        status=str(row["status"]),
    )


async def schedule(
    uow: UnitOfWork,
    tenant_id: UUID,
    case_id: UUID,
    name: str,
    due_at: datetime,
    *,
    now: datetime,
    payload: Mapping[str, Any] | None = None,
    job: str = EXPIRED_JOB,
) -> UUID:
    """Start (or restart) the deadline ``name`` of a case; a pending one is replaced.

    When it expires, ``job`` runs (by default ``cases.deadline_expired``, which
    calls the handler registered with :func:`arbitral.cases.hooks.on_expiry`).
    """
    await cancel(uow, tenant_id, case_id, name, now=now, status="replaced")
    deadline_id = uuid4()
    await uow.execute(
        "INSERT INTO case_deadline (id, tenant_id, case_id, name, due_at, job, payload, status, "
        "created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, 'pending', {})",
        deadline_id,
        tenant_id,
        case_id,
        name,
        due_at,
        job,
        json.dumps(dict(payload or {}), sort_keys=True, default=str),
        now,
    )
    return deadline_id


async def cancel(
    uow: UnitOfWork,
    tenant_id: UUID,
    case_id: UUID,
    name: str,
    *,
    now: datetime,
    status: str = "cancelled",
) -> bool:
    """Stop the pending deadline ``name`` (met, waived or superseded); False if none ran."""
    rows = await uow.fetch(
        "UPDATE case_deadline SET status = {}, settled_at = {} WHERE tenant_id = {} "
        "AND case_id = {} AND name = {} AND status = 'pending' RETURNING id",
        status,
        now,
        tenant_id,
        case_id,
        name,
    )
    return bool(rows)


async def pending(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> list[Deadline]:
    rows = await uow.fetch(
        "SELECT * FROM case_deadline WHERE tenant_id = {} AND case_id = {} "
        "AND status = 'pending' ORDER BY due_at, name",
        tenant_id,
        case_id,
    )
    return [_deadline(r) for r in rows]


async def sweep(runtime: Runtime, now: datetime | None = None) -> int:
    """Fire every deadline due at ``now`` (default: the runtime's clock); how many fired."""
    moment = now or runtime.clock.now()
    fired = 0
    for tenant in await runtime.tenants.all():
        while True:
            async with runtime.db.transaction(tenant_id=tenant.id) as uow:
                rows = await uow.fetch(
                    "UPDATE case_deadline SET status = 'fired', settled_at = {} "
                    "WHERE tenant_id = {} AND status = 'pending' AND id IN ("
                    "SELECT id FROM case_deadline WHERE tenant_id = {} AND status = 'pending' "
                    "AND due_at <= {} ORDER BY due_at LIMIT {}) "
                    "RETURNING id, case_id, name, job, payload, due_at",
                    moment,
                    tenant.id,
                    tenant.id,
                    moment,
                    BATCH,
                )
                for row in rows:
                    payload = row["payload"]
                    data = json.loads(payload) if isinstance(payload, str) else dict(payload)
                    await uow.enqueue(
                        str(row["job"]),
                        {
                            **data,
                            "case_id": str(row["case_id"]),
                            "deadline_id": str(row["id"]),
                            "deadline": str(row["name"]),
                        },
                    )
            fired += len(rows)
            if len(rows) < BATCH:
                break
    if fired:
        log.info("cases.deadlines_fired", count=fired, at=moment.isoformat())
    return fired


class DeadlineTicker:
    """Sweeps every ``interval_s`` seconds in the background of a web or worker process."""

    def __init__(self, runtime: Runtime, interval_s: float) -> None:
        self.runtime = runtime
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    def start(self) -> None:
        if self.interval_s <= 0 or self._task is not None:
            return
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="deadline-ticker")

    async def stop(self) -> None:
        if self._task is None or self._stop is None:
            return
        self._stop.set()
        await self._task
        self._task = None

    async def _run(self) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            try:
                await sweep(self.runtime)
            except Exception as exc:  # a database outage: try again next tick
                log.warning("cases.deadline_sweep_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval_s)
