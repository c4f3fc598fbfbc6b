"""Ledger jobs: signed tree heads on a schedule.

``ledger.issue_heads`` signs a new head for every active commission whose log
grew since its last head (:func:`arbitral.ledger.services.issue_due_heads`),
so that witnesses find fresh heads to check and cosign. Operators schedule it:
from cron with ``arbitral ledger issue-heads`` (all commissions) or
``arbitral ledger head --issue --tenant SLUG`` (one), or by enqueueing this job.
It is safe to run twice: a log that did not grow gets no new head.
"""

from __future__ import annotations

from arbitral.jobs.registry import job
from arbitral.jobs.runner import JobContext
from arbitral.ledger import services

ISSUE_HEADS_JOB = "ledger.issue_heads"


@job(ISSUE_HEADS_JOB, max_retries=5, min_backoff_ms=10_000)
async def issue_heads(ctx: JobContext) -> None:
    await services.issue_due_heads(ctx.runtime)
