"""Tables of the jobs context: the outbox and the record of finished jobs."""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    UUID,
    BigSerial,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class OutboxMessage(Table, tablename="outbox_message"):
    """A job caused by a committed change, waiting to be (or already) published."""

    id = BigSerial(primary_key=True)
    message_id = UUID(unique=True)
    actor_name = Varchar(length=200)
    queue_name = Varchar(length=100)
    payload = JSON()
    tenant_id = UUID(null=True, default=None)
    created_at = Timestamptz()
    # The job must not run before this instant (delayed jobs); kept across republishing.
    not_before = Timestamptz(null=True, default=None)
    published_at = Timestamptz(null=True, default=None, index=True)
    # Attempts that failed for this row alone; past MAX_PUBLISH_ATTEMPTS the row is parked.
    publish_attempts = Integer(default=0)
    last_error = Text(null=True, default=None)


class JobRun(Table, tablename="job_run"):
    """One row per job that has had its effect ("done") or given up ("dead").

    The "done" row is written in the same transaction as the job's effect, so a
    job delivered twice finds it and does nothing the second time.
    """

    job_id = UUID(primary_key=True)
    actor_name = Varchar(length=200)
    status = Varchar(length=10)
    finished_at = Timestamptz()
    detail = Text(null=True, default=None)
