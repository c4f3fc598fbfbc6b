"""Running Dramatiq workers: in-process (embedded default) or as a worker process.

Jobs are async; Dramatiq runs them on one event loop thread, and the Piccolo
pool must belong to that loop. The worker process therefore opens the runtime
(the pool) *on* Dramatiq's event loop thread before the worker threads start.
In-process, the web app's own loop plays that part, so jobs and requests
share one pool.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import dramatiq
import structlog
from dramatiq import Broker
from dramatiq.asyncio import EventLoopThread, set_event_loop_thread

from arbitral.errors import first_line
from arbitral.health.services import probe_broker
from arbitral.settings import ConfigError, Settings

log = structlog.get_logger(__name__)

WORKER_TIMEOUT_MS = 200


class RunningLoop(EventLoopThread):
    """Dramatiq's event-loop handle for a loop that is already running (the web app's)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        threading.Thread.__init__(self, name="arbitral-loop-handle", daemon=True)
        self.logger = logging.getLogger(__name__)
        self.interrupt_check_ival = 0.1
        self.loop = loop

    def start(self, *, timeout: float | None = None) -> None:  # the loop already runs
        return None

    def stop(self) -> None:  # the loop belongs to its owner
        return None

    def run_coroutine(self, coro: Any) -> Any:
        """Dramatiq's, except that a job that never started is closed, not left unawaited.

        Dramatiq makes the job's coroutine before it knows whether it can run: when the
        loop is not running (between two tests, or after its owner stopped it) or the
        job is interrupted before it started, the coroutine was left to the garbage
        collector, which reports it as never awaited, in whatever code runs next.
        """
        try:
            if not self.loop.is_running():
                raise RuntimeError("Event loop is not running.")
            return super().run_coroutine(coro)
        except BaseException:
            if inspect.iscoroutine(coro) and (
                inspect.getcoroutinestate(coro) == inspect.CORO_CREATED
            ):
                coro.close()
            raise


class InProcessWorker:
    """Dramatiq worker threads inside the web process, running jobs on the web's loop."""

    def __init__(self, broker: Broker, *, threads: int) -> None:
        self.broker = broker
        self.threads = threads
        self._worker: dramatiq.Worker | None = None

    @property
    def running(self) -> bool:
        return self._worker is not None

    async def start(self) -> None:
        set_event_loop_thread(RunningLoop(asyncio.get_running_loop()))
        worker = dramatiq.Worker(
            self.broker, worker_threads=self.threads, worker_timeout=WORKER_TIMEOUT_MS
        )
        worker.start()
        self._worker = worker

    async def stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            # Worker threads wait on coroutines that run on this loop: stop from a thread.
            await anyio.to_thread.run_sync(lambda: worker.stop(timeout=30_000))
        set_event_loop_thread(None)


def run_worker_process(
    settings: Settings,
    *,
    job_modules: tuple[str, ...] = (),
    threads: int | None = None,
    queues: set[str] | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Run a worker process until SIGINT or SIGTERM (``arbitral worker``)."""
    from arbitral.runtime import build_runtime

    if settings.broker.kind == "inprocess":
        raise ConfigError(
            settings.broker.variable,
            "arbitral worker needs a shared broker (redis:// or amqp://); "
            "the in-process broker runs inside 'arbitral serve' and 'arbitral demo'",
        )
    runtime = build_runtime(settings, job_modules=job_modules)
    try:
        probe_broker(settings.broker, runtime.broker)
    except Exception as exc:
        raise ConfigError(
            settings.broker.variable, f"{settings.broker.display}: {first_line(exc)}"
        ) from None
    loop_thread = EventLoopThread(logging.getLogger("arbitral.worker.loop"))
    loop_thread.start(timeout=5.0)
    set_event_loop_thread(loop_thread)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("worker.signal", signal=signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    worker: dramatiq.Worker | None = None
    try:
        loop_thread.run_coroutine(runtime.open())
        loop_thread.run_coroutine(_refuse_pending_migrations(runtime))
        loop_thread.run_coroutine(_start_relay(runtime))
        worker = dramatiq.Worker(
            runtime.broker,
            worker_threads=threads or settings.worker_threads,
            worker_timeout=WORKER_TIMEOUT_MS,
            queues=queues,
        )
        worker.start()
        log.info(
            "worker.started",
            broker=settings.broker.display,
            jobs=sorted(runtime.broker.actors),
            threads=worker.worker_threads,
        )
        if ready is not None:
            ready()
        stop.wait()
    finally:
        if worker is not None:
            worker.stop(timeout=30_000)
        try:
            loop_thread.run_coroutine(runtime.close())
        finally:
            loop_thread.stop()  # type: ignore[no-untyped-call]
            set_event_loop_thread(None)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("worker.stopped")


async def _refuse_pending_migrations(runtime: Any) -> None:
    from arbitral.db.migrate import migration_state

    state = await migration_state(runtime.db)
    if state.pending:
        raise ConfigError(
            runtime.settings.database.variable,
            f"{len(state.pending)} migration(s) pending; run 'arbitral migrate' first",
        )


async def _start_relay(runtime: Any) -> None:
    runtime.start_background()
