"""The transactional outbox and the relay that publishes it.

A change and the jobs it causes are written in one transaction
(:meth:`arbitral.db.uow.UnitOfWork.enqueue` adds an ``outbox_message`` row).
After commit, the :class:`Relay` publishes unpublished rows to the broker and
marks them published. A crash between publishing and marking publishes the
row again: delivery is at-least-once, and jobs are idempotent on their id.

All statements go through the unit of work of the database they belong to,
never through a globally bound table, so a process with two databases writes
each outbox row in its own transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import anyio.to_thread
import structlog
from dramatiq import Message
from dramatiq.errors import BrokerConnectionError

from arbitral.jobs.registry import get_job

if TYPE_CHECKING:
    from dramatiq import Broker

    from arbitral.db.engine import Database
    from arbitral.db.uow import UnitOfWork

log = structlog.get_logger(__name__)

# Published rows of finished jobs are kept this long (for inspection), then deleted.
OUTBOX_RETENTION = timedelta(days=7)
PRUNE_EVERY_S = 3600.0
# A row that fails to publish this often (for a reason of its own, not a broker outage)
# is parked: left unpublished with its last error, for an operator to look at.
MAX_PUBLISH_ATTEMPTS = 10


async def add_to_outbox(
    uow: UnitOfWork,
    job: str,
    payload: dict[str, Any],
    *,
    tenant_id: UUID | None,
    delay: timedelta | None = None,
) -> UUID:
    """Insert an outbox row in ``uow``'s transaction (callers: ``uow.enqueue``)."""
    spec = get_job(job)
    try:
        encoded = json.dumps(payload, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"payload of job {job!r} is not plain JSON: {exc}") from None
    if delay is not None and delay < timedelta(0):
        raise ValueError("a job's delay must not be negative")
    now = datetime.now(UTC)
    message_id = uuid4()
    await uow.execute(
        "INSERT INTO outbox_message (message_id, actor_name, queue_name, payload, tenant_id, "
        "created_at, not_before, publish_attempts) VALUES ({}, {}, {}, {}, {}, {}, {}, 0)",
        message_id,
        spec.name,
        spec.queue,
        encoded,
        tenant_id,
        now,
        now + delay if delay else None,
    )
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


def _remaining_ms(not_before: Any, now: datetime) -> int | None:
    """Milliseconds until ``not_before`` (None when due): delays survive republishing."""
    if not_before is None:
        return None
    if isinstance(not_before, str):  # SQLite hands timestamps back as text
        not_before = datetime.fromisoformat(not_before)
    if not_before.tzinfo is None:
        not_before = not_before.replace(tzinfo=UTC)
    remaining = int((not_before - now).total_seconds() * 1000)
    return remaining if remaining > 0 else None


@dataclass
class _Sent:
    published: list[int]
    failed: list[tuple[int, str]]
    broker_error: Exception | None = None


class Relay:
    """Publishes committed outbox rows to the broker.

    Woken after each commit that enqueued jobs (:meth:`notify`) and otherwise
    every ``interval_s`` seconds, so rows left by a process that died after
    its commit are published too. On PostgreSQL, ``FOR UPDATE SKIP LOCKED``
    lets relays in several processes share the work. A row that cannot be
    published for a reason of its own is counted and skipped (and parked
    after :data:`MAX_PUBLISH_ATTEMPTS`); it never holds up the rows behind it.
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
        """Publish every publishable row; return how many were published.

        Raises the broker's connection error (after recording what did go
        out) when the broker itself is unreachable.
        """
        total = 0
        while True:
            sent = await self._publish_batch()
            total += len(sent.published)
            if sent.broker_error is not None:
                self.published += total
                raise sent.broker_error
            if len(sent.published) + len(sent.failed) < self.batch_size or sent.failed:
                self.published += total
                return total

    async def _publish_batch(self) -> _Sent:
        lock = " FOR UPDATE SKIP LOCKED" if self.database.is_postgres else ""
        async with self.database.transaction(outbox_relay=True) as uow:
            rows = await uow.fetch(
                "SELECT id, message_id, actor_name, queue_name, payload, tenant_id, not_before "
                "FROM outbox_message WHERE published_at IS NULL AND publish_attempts < {} "
                "ORDER BY id LIMIT {}" + lock,
                MAX_PUBLISH_ATTEMPTS,
                self.batch_size,
            )
            if not rows:
                return _Sent([], [])
            sent = await anyio.to_thread.run_sync(self._send, rows)
            now = datetime.now(UTC)
            if sent.published:
                marks = ", ".join("{}" for _ in sent.published)  # placeholders only
                statement = "UPDATE outbox_message SET published_at = {}, last_error = NULL "
                await uow.execute(statement + f"WHERE id IN ({marks})", now, *sent.published)
            for row_id, error in sent.failed:
                await uow.execute(
                    "UPDATE outbox_message SET publish_attempts = publish_attempts + 1, "
                    "last_error = {} WHERE id = {}",
                    error[:2000],
                    row_id,
                )
        for row_id, error in sent.failed:
            log.warning("outbox.row_failed", row=row_id, error=error)
        if sent.published:
            log.debug("outbox.published", count=len(sent.published))
        return sent

    def _send(self, rows: list[dict[str, Any]]) -> _Sent:
        sent = _Sent([], [])
        now = datetime.now(UTC)
        declared = self.broker.get_declared_queues()
        for row in rows:
            try:
                message = to_message(row)
                if message.queue_name not in declared:
                    # A job this process does not run may still have workers elsewhere.
                    self.broker.declare_queue(message.queue_name)
                    declared = self.broker.get_declared_queues()
                self.broker.enqueue(message, delay=_remaining_ms(row["not_before"], now))
            except BrokerConnectionError as exc:
                sent.broker_error = exc
                break
            except Exception as exc:
                sent.failed.append((int(row["id"]), f"{type(exc).__name__}: {exc}"))
            else:
                sent.published.append(int(row["id"]))
        return sent

    async def prune(self, *, older_than: timedelta = OUTBOX_RETENTION) -> int:
        """Delete outbox rows published before ``older_than`` whose job has finished.

        The ``job_run`` rows stay: they are what makes a late redelivery harmless.
        """
        cutoff = datetime.now(UTC) - older_than
        async with self.database.transaction(outbox_relay=True) as uow:
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
        async with self.database.transaction(outbox_relay=True) as uow:
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
