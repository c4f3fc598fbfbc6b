"""The registry of jobs, independent of any broker.

A job is an async function ``fn(ctx, **payload)`` registered with :func:`job`;
``ctx`` is a :class:`arbitral.jobs.runner.JobContext`. Registering binds
nothing: the broker built from the settings declares one Dramatiq actor per
registered job (:func:`arbitral.jobs.broker.build_broker`), so importing a
context's ``actors.py`` never connects anywhere.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

# The modules whose import registers the platform's jobs, one per context.
JOB_MODULES: list[str] = [
    "arbitral.notify.actors",
    "arbitral.custody.actors",
    "arbitral.ledger.actors",
    "arbitral.cases.actors",
    "arbitral.payments.actors",
    "arbitral.service.actors",
    "arbitral.awards.actors",
    "arbitral.batches.acceptance_actors",
    "arbitral.batches.actors",
    "arbitral.webhooks.actors",
]


JobFn = Callable[..., Awaitable[None]]


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: str
    fn: JobFn
    queue: str
    max_retries: int
    time_limit_ms: int
    min_backoff_ms: int
    max_backoff_ms: int


_registry: dict[str, JobSpec] = {}


def job(
    name: str,
    *,
    queue: str = "default",
    max_retries: int = 20,
    time_limit_ms: int = 10 * 60 * 1000,
    min_backoff_ms: int = 1_000,
    max_backoff_ms: int = 5 * 60 * 1000,
) -> Callable[[JobFn], JobFn]:
    """Register ``fn`` as the job ``name`` (``context.verb``, e.g. ``awards.render``).

    The job writes its database effects in ``async with ctx.transaction() as
    uow:``, which also records the job as done, so the effects happen exactly
    once however often the broker delivers it. Slow work (rendering, calling
    out) belongs before that block, so the transaction stays short. Effects
    outside the database must be idempotent on ``ctx.job_id``.
    """
    if not _NAME.match(name):
        raise ValueError(f"job name {name!r} must look like 'context.verb'")

    def register(fn: JobFn) -> JobFn:
        existing = _registry.get(name)
        if existing is not None and existing.fn is not fn:
            raise ValueError(f"job {name!r} is already registered by {existing.fn.__module__}")
        _registry[name] = JobSpec(
            name=name,
            fn=fn,
            queue=queue,
            max_retries=max_retries,
            time_limit_ms=time_limit_ms,
            min_backoff_ms=min_backoff_ms,
            max_backoff_ms=max_backoff_ms,
        )
        return fn

    return register


def load_jobs(extra_modules: list[str] | tuple[str, ...] = ()) -> dict[str, JobSpec]:
    """Import the platform's job modules (and ``extra_modules``); return the registry."""
    for module in [*JOB_MODULES, *extra_modules]:
        importlib.import_module(module)
    return dict(_registry)


def get_job(name: str) -> JobSpec:
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"no job named {name!r} is registered") from None


def registered_jobs() -> dict[str, JobSpec]:
    return dict(_registry)
