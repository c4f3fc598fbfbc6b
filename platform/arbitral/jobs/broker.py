"""Building the Dramatiq broker from the settings and declaring the job actors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import dramatiq
import structlog
from dramatiq import Broker
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

from arbitral.jobs.registry import JobContext, JobSpec, registered_jobs
from arbitral.jobs.tables import JobRun
from arbitral.settings import BrokerConfig

if TYPE_CHECKING:
    from arbitral.runtime import Runtime

log = structlog.get_logger(__name__)

_runtime: Runtime | None = None


def set_job_runtime(runtime: Runtime | None) -> None:
    """The runtime (database, object store, …) the jobs of this process use."""
    global _runtime
    _runtime = runtime


def job_runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("no runtime is installed for jobs in this process")
    return _runtime


def build_broker(config: BrokerConfig) -> Broker:
    """A broker for ``config`` with one actor per registered job.

    Building connects nowhere: Redis and RabbitMQ clients connect lazily.
    """
    broker: Broker
    if config.kind == "inprocess":
        broker = StubBroker()
    elif config.kind == "redis":
        from dramatiq.brokers.redis import RedisBroker

        url = config.client_url
        if "socket_connect_timeout" not in url:
            url += ("&" if "?" in url else "?") + "socket_connect_timeout=5"
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=url,
            namespace=config.namespace,
            heartbeat_timeout=config.heartbeat_timeout_ms,
            maintenance_chance=config.maintenance_chance,
        )
    else:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=config.client_url, confirm_delivery=True)
    broker.add_middleware(DeadJobRecorder())
    for spec in registered_jobs().values():
        declare_actor(broker, spec)
    return broker


def declare_actor(broker: Broker, spec: JobSpec) -> dramatiq.Actor[Any, Any]:
    if spec.name in broker.actors:
        return broker.actors[spec.name]
    return dramatiq.Actor(
        _actor_fn(spec),
        broker=broker,
        actor_name=spec.name,
        queue_name=spec.queue,
        priority=0,
        options={
            "max_retries": spec.max_retries,
            "time_limit": spec.time_limit_ms,
            "min_backoff": spec.min_backoff_ms,
            "max_backoff": spec.max_backoff_ms,
        },
    )


def _actor_fn(spec: JobSpec) -> Any:
    async def run(job_id: str, tenant_id: str | None, payload: dict[str, Any]) -> None:
        await run_job(spec, UUID(job_id), UUID(tenant_id) if tenant_id else None, payload)

    run.__name__ = spec.name.replace(".", "_")
    run.__qualname__ = run.__name__
    run.__module__ = spec.fn.__module__
    return run


async def run_job(
    spec: JobSpec, job_id: UUID, tenant_id: UUID | None, payload: dict[str, Any]
) -> None:
    """Run one delivery of a job: its effect and its "done" record in one transaction."""
    runtime = job_runtime()
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        claimed = await uow.fetch(
            "INSERT INTO job_run (job_id, actor_name, status, finished_at) "
            "VALUES ({}, {}, 'done', {}) ON CONFLICT (job_id) DO NOTHING RETURNING job_id",
            job_id,
            spec.name,
            datetime.now(UTC),
        )
        if not claimed:
            log.info("job.already_done", job=spec.name, job_id=str(job_id))
            return
        ctx = JobContext(runtime=runtime, uow=uow, job_id=job_id, tenant_id=tenant_id, attempt=0)
        await spec.fn(ctx, **payload)
    log.info("job.done", job=spec.name, job_id=str(job_id))


class DeadJobRecorder(Middleware):
    """Records a job that exhausted its retries as "dead", for operators and recovery."""

    def after_nack(self, broker: Broker, message: Any) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is None or _runtime is None:
            return
        error = message.options.get("traceback") or ""
        detail = str(error).strip().splitlines()[-1][:2000] if error else None
        try:
            loop_thread.run_coroutine(_record_dead(message.message_id, message.actor_name, detail))
        except Exception as exc:  # never let bookkeeping take the worker down
            log.warning("job.dead_record_failed", job_id=message.message_id, error=str(exc))
        log.error("job.dead", job=message.actor_name, job_id=message.message_id, detail=detail)


async def _record_dead(job_id: str, actor_name: str, detail: str | None) -> None:
    runtime = job_runtime()
    async with runtime.db.transaction():
        await JobRun.insert(
            JobRun(
                job_id=UUID(job_id),
                actor_name=actor_name,
                status="dead",
                finished_at=datetime.now(UTC),
                detail=detail,
            )
        ).on_conflict(action="DO NOTHING")
