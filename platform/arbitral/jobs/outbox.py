"""The transactional outbox and the relay that publishes it.

A change and the jobs it causes are written in one transaction
(:meth:`arbitral.db.uow.UnitOfWork.enqueue` adds an :class:`OutboxMessage`).
After commit, the :class:`Relay` publishes unpublished rows to the broker and
marks them published. A crash between publishing and marking publishes the
row again: delivery is at-least-once, and jobs are idempotent on their id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import anyio.to_thread
import structlog
from dramatiq import Message

from arbitral.jobs.registry import get_job
from arbitral.jobs.tables import OutboxMessage

if TYPE_CHECKING:
    from dramatiq import Broker

    from arbitral.db.engine import Database

log = structlog.get_logger(__name__)

# Published rows of finished jobs are kept this long (for inspection), then deleted.
OUTBOX_RETENTION = timedelta(days=7)
PRUNE_EVERY_S = 3600.0


async def add_to_outbox(
    job: str, payload: dict[str, Any], *, tenant_id: UUID | None, delay_ms: int = 0
) -> UUID:
    """Insert an outbox row in the current transaction (callers: ``uow.enqueue``)."""
    spec = get_job(job)
    try:
        encoded = json.dumps(payload, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"payload of job {job!r} is not plain JSON: {exc}") from None
    if delay_ms < 0:
        raise ValueError("delay_ms must not be negative")
    message_id = uuid4()
    await OutboxMessage.insert(
        OutboxMessage(
            message_id=message_id,
            actor_name=spec.name,
            queue_name=spec.queue,
            payload=encoded,
            tenant_id=tenant_id,
            delay_ms=delay_ms,
            created_at=datetime.now(UTC),
        )
    ).run()
    return message_id


def to_message(row: dict[str, Any]) -> Message[Any]:
    payload = row["payload"]
    if isinstance(payload, str):
        payload = json.loads(payload)
    tenant = row["tenant_id"]
    return Message(
        queue_name=row["queue_name"],
        actor_name=row["actor_name"],
        args=(),
        kwargs={
            "job_id": str(row["message_id"]),
            "tenant_id": None if tenant is None else str(tenant),
            "payload": payload,
        },
        options={},
        message_id=str(row["message_id"]),
    )


class Relay:
    """Publishes committed outbox rows to the broker.

    Woken after each commit that enqueued jobs (:meth:`notify`) and otherwise
    every ``interval_s`` seconds, so rows left by a process that died after
    its commit are published too. On PostgreSQL, ``FOR UPDATE SKIP LOCKED``
    lets relays in several processes share the work.
    """

    def __init__(
        self,
        database: Database,
        broker: Broker,
        *,
        interval_s: float = 2.0,
        batch_size: int = 500,
    ) -> None:
        self.database = database
        self.broker = broker
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.published = 0
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def notify(self, *_: object) -> None:
        """Ask the relay to publish now (safe from any thread)."""
        if self._wake is None or self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def publish_pending(self) -> int:
        """Publish every unpublished row; return how many were published."""
        total = 0
        while True:
            count = await self._publish_batch()
            total += count
            if count < self.batch_size:
                self.published += total
                return total

    async def _publish_batch(self) -> int:
        lock = " FOR UPDATE SKIP LOCKED" if self.database.is_postgres else ""
        async with self.database.transaction() as uow:
            rows = await uow.fetch(
                "SELECT id, message_id, actor_name, queue_name, payload, tenant_id, delay_ms "
                "FROM outbox_message WHERE published_at IS NULL "
                "ORDER BY id LIMIT {}" + lock,
                self.batch_size,
            )
            if not rows:
                return 0
            messages = [(to_message(row), int(row["delay_ms"] or 0)) for row in rows]
            await anyio.to_thread.run_sync(self._enqueue_all, messages)
            ids = [int(row["id"]) for row in rows]
            await OutboxMessage.update(
                {
                    OutboxMessage.published_at: datetime.now(UTC),
                    OutboxMessage.publish_attempts: OutboxMessage.publish_attempts + 1,
                }
            ).where(OutboxMessage.id.is_in(ids))
        log.debug("outbox.published", count=len(rows))
        return len(rows)

    def _enqueue_all(self, messages: list[tuple[Message[Any], int]]) -> None:
        for message, delay in messages:
            self.broker.enqueue(message, delay=delay or None)

    async def prune(self, *, older_than: timedelta = OUTBOX_RETENTION) -> int:
        """Delete outbox rows published before ``older_than`` whose job has finished.

        The ``job_run`` rows stay: they are what makes a late redelivery harmless.
        """
        cutoff = datetime.now(UTC) - older_than
        async with self.database.transaction() as uow:
            rows = await uow.fetch(
                "DELETE FROM outbox_message WHERE published_at < {} AND EXISTS "
                "(SELECT 1 FROM job_run WHERE job_run.job_id = outbox_message.message_id) "
                "RETURNING id",
                cutoff,
            )
        if rows:
            log.info("outbox.pruned", count=len(rows))
        return len(rows)

    async def recover_unfinished(self) -> int:
        """Mark published-but-unfinished rows unpublished again.

        For the in-process broker only: its queue lives in memory, so whatever
        it held when the process stopped is gone; the outbox still knows.
        """
        async with self.database.transaction() as uow:
            rows = await uow.fetch(
                "UPDATE outbox_message SET published_at = NULL "
                "WHERE published_at IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM job_run WHERE job_run.job_id = outbox_message.message_id) "
                "RETURNING id"
            )
        if rows:
            log.info("outbox.recovered", count=len(rows))
        return len(rows)

    # -- background loop ---------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-relay")
        self.database.add_commit_listener(self._on_commit)
        return self._task

    def _on_commit(self, uow: Any) -> None:
        if uow.enqueued:
            self.notify()

    async def stop(self) -> None:
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        assert self._wake is not None
        failures = 0
        next_prune = time.monotonic()
        while not self._stopping:
            self._wake.clear()
            try:
                await self.publish_pending()
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + PRUNE_EVERY_S
                    await self.prune()
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning("outbox.publish_failed", error=str(exc), failures=failures)
            delay = self.interval_s * min(2**failures, 30)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
        # A last pass so nothing committed before shutdown waits for the next start.
        try:
            await self.publish_pending()
        except Exception as exc:
            log.warning("outbox.publish_failed", error=str(exc), final=True)
