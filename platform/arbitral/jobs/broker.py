"""Building the Dramatiq broker from the settings and declaring the job actors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

import dramatiq
import structlog
from dramatiq import Broker
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware, SkipMessage

from arbitral.jobs.registry import JobSpec, registered_jobs
from arbitral.jobs.runner import record_dead, run_job
from arbitral.settings import BrokerConfig, ConfigError

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
    try:
        broker = _new_broker(config)
    except ValueError as exc:  # malformed client options in the URL (port, timeouts, …)
        raise ConfigError(config.variable, f"{config.display}: {exc}") from None
    broker.add_middleware(DeadJobRecorder())
    for spec in registered_jobs().values():
        declare_actor(broker, spec)
    return broker


def _new_broker(config: BrokerConfig) -> Broker:
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
        await run_job(
            job_runtime(), spec, UUID(job_id), UUID(tenant_id) if tenant_id else None, payload
        )

    run.__name__ = spec.name.replace(".", "_")
    run.__qualname__ = run.__name__
    run.__module__ = spec.fn.__module__
    return run


def _unknown(message: Any) -> str:
    return f"no job named {message.actor_name!r} in this release"


class DeadJobRecorder(Middleware):
    """Records jobs that will not run as "dead" in ``job_run``, for operators and recovery:
    jobs that exhausted their retries, and jobs this release does not know (renamed or
    removed since they were enqueued), which are skipped instead of failing forever."""

    def before_process_message(self, broker: Broker, message: Any) -> None:
        if message.actor_name not in broker.actors:
            self._record(message, _unknown(message))
            raise SkipMessage(message.actor_name)

    def after_nack(self, broker: Broker, message: Any) -> None:
        # Dramatiq's consumer rejects a message for an unknown actor before any middleware.
        if message.actor_name not in broker.actors:
            detail: str | None = _unknown(message)
        else:
            lines = str(message.options.get("traceback") or "").strip().splitlines()
            detail = lines[-1][:2000] if lines else None
        self._record(message, detail)
        if isinstance(broker, StubBroker):
            # The in-process broker would keep dead letters in memory for ever; job_run has them.
            # (Emptied in place: its consumers hold a reference to the list.)
            dead = broker.dead_letters_by_queue[message.queue_name]
            dead[:] = [m for m in dead if m.message_id != message.message_id]

    def _record(self, message: Any, detail: str | None) -> None:
        log.error("job.dead", job=message.actor_name, job_id=message.message_id, detail=detail)
        loop_thread = get_event_loop_thread()
        if loop_thread is None or _runtime is None:
            return
        try:
            job_id = UUID(message.message_id)
            loop_thread.run_coroutine(record_dead(_runtime, job_id, message.actor_name, detail))
        except Exception as exc:  # never let bookkeeping take the worker down
            log.warning("job.dead_record_failed", job_id=message.message_id, error=str(exc))
