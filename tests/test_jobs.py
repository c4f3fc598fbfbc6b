"""The outbox, the relay and the actors: exactly one effect per job, whatever happens."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
import redis

from arbitral.app import create_app
from arbitral.jobs.outbox import MAX_PUBLISH_ATTEMPTS, to_message
from arbitral.jobs.registry import job
from arbitral.jobs.worker import InProcessWorker
from arbitral.runtime import Runtime, build_runtime
from arbitral.settings import Settings
from tests.conftest import AMQP_URL, REDIS_URL, REPO_ROOT, PgDatabase, make_env, make_settings
from tests.support.jobs import ATTEMPTS

JOBS = ("tests.support.jobs",)


async def eventually(
    probe: Callable[[], Awaitable[Any]], *, timeout: float = 15.0, interval: float = 0.05
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {value!r})")
        await asyncio.sleep(interval)


async def prepare_effect_table(settings: Settings, pg: PgDatabase | None) -> None:
    if pg is not None:
        conn = await asyncpg.connect(pg.owner_url)
        try:
            await conn.execute("CREATE TABLE IF NOT EXISTS test_effect (key text NOT NULL)")
            await conn.execute("TRUNCATE test_effect, outbox_message, job_run")
        finally:
            await conn.close()
        return
    from arbitral.db.engine import Database
    from arbitral.db.migrate import migrate

    db = Database(settings.database)
    await db.open()
    try:
        await migrate(db)
        async with db.transaction() as uow:
            await uow.execute("CREATE TABLE IF NOT EXISTS test_effect (key text NOT NULL)")
            for table in ("test_effect", "outbox_message", "job_run"):
                await uow.execute(f"DELETE FROM {table}")
    finally:
        await db.close()


@pytest.fixture
async def job_settings(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    pg: PgDatabase | None = None
    overrides: dict[str, str] = {"relay_interval": "0.2"}
    if db_backend == "postgres":
        pg = request.getfixturevalue("pg")
        overrides["database_url"] = pg.app_url
    settings = make_settings(tmp_path, **overrides)
    await prepare_effect_table(settings, pg)
    return settings


async def effects(rt: Runtime) -> list[str]:
    rows = await rt.db.fetch("SELECT key FROM test_effect ORDER BY key")
    return [row["key"] for row in rows]


async def started(settings: Settings) -> tuple[Runtime, InProcessWorker]:
    rt = build_runtime(settings, job_modules=JOBS)
    await rt.open()
    worker = InProcessWorker(rt.broker, threads=2)
    await worker.start()
    rt.relay.start()
    return rt, worker


async def stopped(rt: Runtime, worker: InProcessWorker) -> None:
    await rt.relay.stop()
    await worker.stop()
    await rt.close()


async def test_job_is_published_after_commit_and_has_one_effect(job_settings: Settings) -> None:
    rt, worker = await started(job_settings)
    key = f"a-{secrets.token_hex(3)}"
    try:
        async with rt.db.transaction() as uow:
            await uow.enqueue("testing.record_effect", {"key": key})
            pending = await uow.fetch("SELECT published_at FROM outbox_message")
            assert [row["published_at"] for row in pending] == [None]
            rt.relay.notify()
            await asyncio.sleep(3 * job_settings.relay_interval_s)  # sweeps come and go
            assert ATTEMPTS[key] == 0, "the job ran before the change committed"
        assert await eventually(lambda: effects(rt)) == [key]

        # Deliver the very same message twice more: the job has already had its effect.
        rows = await rt.db.fetch(
            "SELECT message_id, actor_name, queue_name, payload, tenant_id FROM outbox_message"
        )
        for _ in range(2):
            rt.broker.enqueue(to_message(rows[0]))
        await asyncio.to_thread(rt.broker.join, "default", timeout=10_000)
        assert await effects(rt) == [key]
        assert ATTEMPTS[key] == 1  # the later deliveries stopped before the job function
        runs = await rt.db.fetch("SELECT status FROM job_run")
        assert [row["status"] for row in runs] == ["done"]
    finally:
        await stopped(rt, worker)


async def test_rolled_back_change_causes_no_job(job_settings: Settings) -> None:
    rt, worker = await started(job_settings)
    try:
        with pytest.raises(RuntimeError):
            async with rt.db.transaction() as uow:
                await uow.enqueue("testing.record_effect", {"key": "never"})
                raise RuntimeError("the change fails")
        await rt.relay.publish_pending()
        assert await rt.db.fetch("SELECT 1 FROM outbox_message") == []
        assert await effects(rt) == []
    finally:
        await stopped(rt, worker)


async def test_a_job_can_cause_jobs_through_its_own_outbox(job_settings: Settings) -> None:
    rt, worker = await started(job_settings)
    try:
        async with rt.db.transaction() as uow:
            await uow.enqueue("testing.chain", {"key": "k"})
        assert await eventually(lambda: _equals(effects(rt), ["k:first", "k:second"]))
    finally:
        await stopped(rt, worker)


async def _equals(value: Awaitable[Any], expected: Any) -> bool:
    return await value == expected


async def test_a_job_that_keeps_failing_is_recorded_dead(job_settings: Settings) -> None:
    rt, worker = await started(job_settings)
    try:
        async with rt.db.transaction() as uow:
            job_id = await uow.enqueue("testing.always_fails", {"reason": "the court is closed"})
        rows = await eventually(
            lambda: rt.db.fetch("SELECT status, detail FROM job_run WHERE job_id = {}", job_id)
        )
        assert rows[0]["status"] == "dead"
        assert "the court is closed" in rows[0]["detail"]
    finally:
        await stopped(rt, worker)


async def test_unknown_job_and_non_json_payload_are_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await prepare_effect_table(settings, None)
    rt = build_runtime(settings, job_modules=JOBS)
    await rt.open()
    try:
        with pytest.raises(LookupError, match=r"no job named 'testing\.nope'"):
            async with rt.db.transaction() as uow:
                await uow.enqueue("testing.nope", {})
        with pytest.raises(TypeError, match="not plain JSON"):
            async with rt.db.transaction() as uow:
                await uow.enqueue("testing.record_effect", {"key": object()})
        assert await rt.db.fetch("SELECT 1 FROM outbox_message") == []
    finally:
        await rt.close()


async def test_inprocess_broker_recovers_jobs_lost_with_the_process(tmp_path: Path) -> None:
    """The embedded default keeps its queue in memory; the outbox survives a crash."""
    from litestar.testing import AsyncTestClient

    settings = make_settings(tmp_path, relay_interval="0.2")
    await prepare_effect_table(settings, None)
    crashed = build_runtime(settings, job_modules=JOBS)
    await crashed.open()
    async with crashed.db.transaction() as uow:
        await uow.enqueue("testing.record_effect", {"key": "survivor"})
    assert await crashed.relay.publish_pending() == 1  # now only in the dead process's memory
    await crashed.close()

    app = create_app(settings, job_modules=JOBS)
    async with AsyncTestClient(app) as client:
        assert (await client.get("/health/ready")).status_code == 200
        rt: Runtime = app.state.runtime
        assert await eventually(lambda: effects(rt)) == ["survivor"]


# -- shared brokers ---------------------------------------------------------------


def _attempts(client: Any, prefix: str) -> dict[str, int]:
    return {
        key.decode().rsplit(":", 1)[1]: int(client.get(key))
        for key in client.scan_iter(match=f"{prefix}:*")
    }


async def _logged(log: Path, event: str) -> bool:
    return log.exists() and event in log.read_text()


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "arbitral",
                "worker",
                "--module",
                "tests.support.jobs",
                "--threads",
                "8",
            ],
            env=env,
            cwd=REPO_ROOT,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
async def test_killed_worker_loses_nothing_and_duplicates_nothing(
    pg: PgDatabase, tmp_path: Path, redis_broker_url: str
) -> None:
    """SIGKILL a Redis worker mid-batch, start another: every job has exactly one effect."""
    broker_url = f"{redis_broker_url}&heartbeat_timeout_ms=1500&maintenance_chance=1000000"
    settings = make_settings(tmp_path, database_url=pg.app_url, broker_url=broker_url)
    await prepare_effect_table(settings, pg)
    attempts_key = f"attempts-{secrets.token_hex(4)}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ARBITRAL_")},
        **make_env(tmp_path, database_url=pg.app_url, broker_url=broker_url),
        "ARBITRAL_LOG_LEVEL": "INFO",
        "TEST_ATTEMPTS_REDIS": REDIS_URL,
        "TEST_ATTEMPTS_KEY": attempts_key,
        "PYTHONPATH": str(REPO_ROOT),
    }
    total = 120
    rt = build_runtime(settings, job_modules=JOBS)
    await rt.open()
    counter: Any = redis.Redis.from_url(REDIS_URL)
    try:
        async with rt.db.transaction() as uow:
            for i in range(total):
                await uow.enqueue("testing.record_effect", {"key": f"{i:04d}", "sleep_ms": 100})

        async def in_flight() -> bool:
            # Killed with a job started and not yet done (else nothing would run again:
            # it once died between jobs, and the check of redelivery below failed).
            done = len(await effects(rt))
            return done >= 24 and sum(_attempts(counter, attempts_key).values()) > done

        log = tmp_path / "worker.log"
        first = _start_worker(env, log)
        try:
            await eventually(in_flight, timeout=60, interval=0.01)
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        assert len(await effects(rt)) < total, "the worker finished before it could be killed"

        # One more job, whose worker dies after its effect committed and before the ack.
        async with rt.db.transaction() as uow:
            await uow.enqueue("testing.record_effect", {"key": "dies", "die_after_commit": True})
        total += 1
        second = _start_worker(env, log)
        assert second.wait(timeout=90) == -signal.SIGKILL, log.read_text()[-3000:]
        assert "dies" in await effects(rt)

        # The second worker may have done every other job before the one that killed
        # it, so the third must be seen running (its signal handler installed) before
        # it is stopped, and must stay up past the heartbeat timeout so the dead
        # worker's unacknowledged message comes back to it.
        third_log = tmp_path / "worker3.log"
        third = _start_worker(env, third_log)
        try:
            await eventually(lambda: _logged(third_log, "worker.started"), timeout=60)
            await eventually(lambda: _count(rt, at_least=total), timeout=90, interval=0.2)
            await asyncio.sleep(2.0)  # past heartbeat_timeout: redeliveries run now
        finally:
            third.send_signal(signal.SIGTERM)
            third.wait(timeout=60)
        assert third.returncode == 0, third_log.read_text()[-3000:]

        keys = await effects(rt)
        assert len(keys) == total
        assert sorted(set(keys)) == [f"{i:04d}" for i in range(total - 1)] + ["dies"]
        runs = await rt.db.fetch("SELECT status, count(*) AS n FROM job_run GROUP BY status")
        assert {row["status"]: row["n"] for row in runs} == {"done": total}
        attempts = _attempts(counter, attempts_key)
        # Jobs in flight when the first worker died ran again; none of them twice in effect.
        assert sum(attempts.values()) > total
        assert attempts["dies"] == 1  # redelivered, found done, not run again
        assert "job.already_done" in log.read_text() + third_log.read_text()
        assert len(attempts) == total
    finally:
        for key in counter.scan_iter(match=f"{attempts_key}:*"):
            counter.delete(key)
        counter.close()
        await rt.close()


async def _count(rt: Runtime, *, at_least: int) -> bool:
    rows = await rt.db.fetch("SELECT count(*) AS n FROM test_effect")
    return int(rows[0]["n"]) >= at_least


@pytest.mark.rabbitmq
async def test_rabbitmq_broker_carries_jobs(tmp_path: Path) -> None:
    queue = f"test_{secrets.token_hex(4)}"
    name = f"testing.amqp_{secrets.token_hex(4)}"

    @job(name, queue=queue, max_retries=0)
    async def record(ctx: Any, key: str) -> None:
        async with ctx.transaction() as uow:
            await uow.execute("INSERT INTO test_effect (key) VALUES ({})", key)

    settings = make_settings(tmp_path, broker_url=AMQP_URL, relay_interval="0.2")
    await prepare_effect_table(settings, None)
    rt = build_runtime(settings)
    await rt.open()
    worker = InProcessWorker(rt.broker, threads=2)
    await worker.start()
    rt.relay.start()
    try:
        async with rt.db.transaction() as uow:
            await uow.enqueue(name, {"key": "via-amqp"})
        assert await eventually(lambda: effects(rt)) == ["via-amqp"]
    finally:
        await rt.relay.stop()
        await worker.stop()
        channel = rt.broker.channel  # type: ignore[attr-defined]
        for q in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            channel.queue_delete(q)
        await rt.close()


async def test_relay_prunes_finished_rows_but_keeps_their_run_records(
    job_settings: Settings,
) -> None:
    from datetime import timedelta

    rt, worker = await started(job_settings)
    try:
        async with rt.db.transaction() as uow:
            done_id = await uow.enqueue("testing.record_effect", {"key": "old"})
        await eventually(lambda: effects(rt))
        await rt.relay.stop()
        await worker.stop()
        async with rt.db.transaction() as uow:
            # Published, but no worker ran it: pruning must keep it.
            await uow.enqueue("testing.record_effect", {"key": "unfinished"})
        assert await rt.relay.publish_pending() == 1
        assert await rt.relay.prune(older_than=timedelta(days=1)) == 0  # too recent
        assert await rt.relay.prune(older_than=timedelta(seconds=-1)) == 1
        left = await rt.db.fetch("SELECT payload FROM outbox_message")
        assert len(left) == 1
        assert "unfinished" in str(left[0]["payload"])
        runs = await rt.db.fetch("SELECT job_id FROM job_run")
        assert [str(r["job_id"]) for r in runs] == [str(done_id)]
    finally:
        await rt.close()


async def test_a_bad_row_holds_up_nothing(job_settings: Settings) -> None:
    """A row for a job this release lacks, and one the broker refuses, are set aside."""
    rt, worker = await started(job_settings)
    original = rt.broker.enqueue

    def enqueue(message: Any, *, delay: int | None = None) -> Any:
        if message.kwargs["payload"].get("key") == "too big":
            raise ValueError("message exceeds the broker's frame size")
        return original(message, delay=delay)

    rt.broker.enqueue = enqueue  # type: ignore[method-assign]
    try:
        async with rt.db.transaction() as uow:
            await uow.enqueue("testing.record_effect", {"key": "before"})
            await uow.execute(
                "INSERT INTO outbox_message (message_id, actor_name, queue_name, payload, "
                "created_at, publish_attempts) VALUES ({}, 'testing.renamed_away', 'gone', "
                "'{{}}', CURRENT_TIMESTAMP, 0)",
                uuid4(),
            )
            await uow.enqueue("testing.record_effect", {"key": "too big"})
            await uow.enqueue("testing.record_effect", {"key": "after"})
        assert await eventually(lambda: _equals(effects(rt), ["after", "before"]))
        dead = await eventually(
            lambda: rt.db.fetch(
                "SELECT detail FROM job_run WHERE actor_name = 'testing.renamed_away'"
            )
        )
        assert dead[0]["detail"] == "no job named 'testing.renamed_away' in this release"
        # The refused row is retried alone, then parked with its error.
        parked = await eventually(
            lambda: rt.db.fetch(
                "SELECT publish_attempts, last_error, published_at FROM outbox_message "
                "WHERE publish_attempts >= {}",
                MAX_PUBLISH_ATTEMPTS,
            ),
            timeout=30,
        )
        assert parked[0]["last_error"] == "ValueError: message exceeds the broker's frame size"
        assert parked[0]["published_at"] is None
        assert ATTEMPTS["too big"] == 0
    finally:
        await stopped(rt, worker)


async def test_slow_preparation_blocks_no_writer(job_settings: Settings) -> None:
    """A job's slow work happens before its transaction: other writes go on (SQLite too)."""
    rt, worker = await started(job_settings)
    try:
        async with rt.db.transaction() as uow:
            await uow.enqueue("testing.record_effect", {"key": "slow", "sleep_ms": 3000})
        await eventually(lambda: _true(ATTEMPTS["slow"] == 1))  # preparing now
        async with asyncio.timeout(1.5):
            async with rt.db.transaction() as uow:
                await uow.execute("INSERT INTO test_effect (key) VALUES ('web write')")
        assert await eventually(lambda: _equals(effects(rt), ["slow", "web write"]))
    finally:
        await stopped(rt, worker)


async def _true(value: bool) -> bool:
    return value


async def test_delayed_job_waits_and_keeps_its_time_when_republished(
    job_settings: Settings,
) -> None:
    from datetime import timedelta

    rt, worker = await started(job_settings)
    try:
        async with rt.db.transaction() as uow:
            await uow.enqueue("testing.record_effect", {"key": "later"}, delay=timedelta(seconds=2))
        await asyncio.sleep(0.8)
        assert await effects(rt) == []
        # Republishing (as after an in-process restart) must not start the delay over.
        await rt.relay.recover_unfinished()
        await rt.relay.publish_pending()
        assert await eventually(lambda: effects(rt), timeout=10) == ["later"]
        rows = await rt.db.fetch("SELECT created_at, not_before FROM outbox_message")
        assert rows[0]["not_before"] is not None
    finally:
        await stopped(rt, worker)


async def test_a_job_without_database_effects_still_runs_once(job_settings: Settings) -> None:
    rt, worker = await started(job_settings)
    key = f"noop-{secrets.token_hex(3)}"
    try:
        async with rt.db.transaction() as uow:
            await uow.enqueue("testing.no_effect", {"key": key})
        await eventually(lambda: rt.db.fetch("SELECT 1 AS one FROM job_run"))
        rows = await rt.db.fetch(
            "SELECT message_id, actor_name, queue_name, payload, tenant_id FROM outbox_message"
        )
        rt.broker.enqueue(to_message(rows[0]))
        await asyncio.to_thread(rt.broker.join, "default", timeout=10_000)
        assert ATTEMPTS[key] == 1
    finally:
        await stopped(rt, worker)
