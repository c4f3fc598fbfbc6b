"""Jobs used by the job tests (imported by the worker with ``--module tests.support.jobs``)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from typing import Any

from arbitral.jobs.registry import job
from arbitral.jobs.runner import JobContext

# Deliveries that reached the job function, per key (in-process tests read this).
ATTEMPTS: Counter[str] = Counter()


@job("testing.record_effect", max_retries=5, min_backoff_ms=10, max_backoff_ms=50)
async def record_effect(
    ctx: JobContext, key: str, sleep_ms: int = 0, die_after_commit: bool = False
) -> None:
    """Count the attempt outside the transaction, then write the effect inside it.

    ``sleep_ms`` is slow preparation (outside the transaction). ``die_after_commit``
    kills the worker process with SIGKILL right after the effect committed and
    before the broker hears of it: the message will be delivered again, and only
    the job's idempotency keeps the effect single.
    """
    ATTEMPTS[key] += 1
    attempts_url = os.environ.get("TEST_ATTEMPTS_REDIS")
    if attempts_url:
        import redis.asyncio as aioredis

        client: Any = aioredis.Redis.from_url(attempts_url)
        try:
            await client.incr(f"{os.environ['TEST_ATTEMPTS_KEY']}:{key}")
        finally:
            await client.aclose()
    if sleep_ms:
        await asyncio.sleep(sleep_ms / 1000)
    async with ctx.transaction() as uow:
        await uow.execute("INSERT INTO test_effect (key) VALUES ({})", key)
        if die_after_commit:
            uow.after_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))


@job("testing.slow_writer", max_retries=0)
async def slow_writer(ctx: JobContext, key: str, sleep_ms: int) -> None:
    """Slow work inside the effect transaction (what jobs should avoid)."""
    async with ctx.transaction() as uow:
        await uow.execute("INSERT INTO test_effect (key) VALUES ({})", key)
        await asyncio.sleep(sleep_ms / 1000)


@job("testing.no_effect", max_retries=0)
async def no_effect(ctx: JobContext, key: str) -> None:
    """A job with no database effect: still recorded done, so it runs once."""
    ATTEMPTS[key] += 1


@job("testing.always_fails", max_retries=1, min_backoff_ms=10, max_backoff_ms=20)
async def always_fails(ctx: JobContext, reason: str) -> None:
    raise RuntimeError(reason)


@job("testing.chain", max_retries=0)
async def chain(ctx: JobContext, key: str) -> None:
    """A job that causes another job through the outbox of its own transaction."""
    async with ctx.transaction() as uow:
        await uow.execute("INSERT INTO test_effect (key) VALUES ({})", f"{key}:first")
        await uow.enqueue("testing.record_effect", {"key": f"{key}:second"})
