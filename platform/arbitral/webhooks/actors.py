"""The job that posts one webhook event (see :mod:`arbitral.webhooks.services`)."""

from __future__ import annotations

from uuid import UUID

from arbitral.jobs.registry import job
from arbitral.jobs.runner import JobContext
from arbitral.webhooks import services
from arbitral.webhooks.services import DELIVER_JOB


# The webhook's own retries are new jobs written with the outcome of each attempt
# (minutes to hours apart). Dramatiq's retries here only cover a run that finds another
# holding the event (its lease is 30 s: 8 retries backing off up to a minute outlive it)
# or a database that was briefly unreachable.
@job(DELIVER_JOB, max_retries=8, min_backoff_ms=2_000, max_backoff_ms=60_000)
async def deliver(ctx: JobContext, delivery_id: str) -> None:
    await services.deliver(ctx, UUID(delivery_id))
