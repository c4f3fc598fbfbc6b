"""The delivery job: one outbound message to its channel, then the secret out of the database.

``notify.deliver`` runs at least once per message. It skips a message that is
no longer pending, sends the rest with the message id as idempotency key and
then, in the job's effect transaction, marks it sent, keeps the provider's
reference and replaces the body with its redacted form. A failed send is
counted on the message (attempts, last error) in a transaction of its own and
raised, so Dramatiq retries with backoff; after :data:`MAX_ATTEMPTS` (or at
once for a permanent failure) the message is marked failed and redacted too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog

from arbitral.errors import first_line
from arbitral.identity.domain import mask_destination
from arbitral.jobs.registry import job
from arbitral.jobs.runner import JobContext
from arbitral.notify.domain import Channel, DeliveryError, MessageSender, redact
from arbitral.notify.services import DELIVER_JOB, build_sender

log = structlog.get_logger(__name__)

# Attempts recorded on a message before it is given up (Dramatiq may retry more: a
# delivery whose failure could not even be recorded is retried past this).
MAX_ATTEMPTS = 5


@job(DELIVER_JOB, max_retries=MAX_ATTEMPTS * 2, min_backoff_ms=1_000, max_backoff_ms=60_000)
async def deliver(ctx: JobContext, message_id: str) -> None:
    await deliver_message(ctx, UUID(message_id), build_sender(ctx.runtime.settings))


async def deliver_message(ctx: JobContext, message_id: UUID, sender: MessageSender) -> str:
    """Deliver one message; return what became of it (``sent``, ``failed``, ``skipped``)."""
    tenant_id = ctx.tenant_id
    if tenant_id is None:
        raise ValueError("notify.deliver runs for a tenant")
    db = ctx.runtime.db
    async with db.transaction(tenant_id=tenant_id) as uow:
        rows = await uow.fetch(
            "SELECT channel, destination, purpose, body, status, attempts FROM outbound_message "
            "WHERE tenant_id = {} AND id = {}",
            tenant_id,
            message_id,
        )
    if not rows or rows[0]["status"] != "pending":
        log.info("message.skipped", message_id=str(message_id), found=bool(rows))
        return "skipped"
    message: dict[str, Any] = rows[0]
    channel = Channel(message["channel"])
    try:
        provider_ref = await sender.send(
            channel, message["destination"], message["body"], idempotency_key=str(message_id)
        )
    except Exception as exc:
        error = f"{type(exc).__name__}: {first_line(exc)}"[:2000]
        permanent = isinstance(exc, DeliveryError) and exc.permanent
        attempts = await _count_failure(ctx, tenant_id, message_id, error)
        log.warning(
            "message.delivery_failed",
            message_id=str(message_id),
            channel=channel.value,
            destination=mask_destination(message["destination"]),
            attempts=attempts,
            error=error,
            permanent=permanent,
        )
        if permanent or attempts >= MAX_ATTEMPTS:
            async with ctx.transaction() as uow:
                await uow.execute(
                    "UPDATE outbound_message SET status = 'failed', body = {} "
                    "WHERE tenant_id = {} AND id = {} AND status = 'pending'",
                    redact(message["purpose"], message["body"]),
                    tenant_id,
                    message_id,
                )
            return "failed"
        raise
    async with ctx.transaction() as uow:
        await uow.execute(
            "UPDATE outbound_message SET status = 'sent', sent_at = {}, provider_ref = {}, "
            "body = {}, attempts = attempts + 1, last_error = NULL "
            "WHERE tenant_id = {} AND id = {} AND status = 'pending'",
            datetime.now(UTC),
            provider_ref[:200],
            redact(message["purpose"], message["body"]),
            tenant_id,
            message_id,
        )
    return "sent"


async def _count_failure(ctx: JobContext, tenant_id: UUID, message_id: UUID, error: str) -> int:
    """Record a failed attempt (a transaction of its own: the job itself goes on failing)."""
    async with ctx.runtime.db.transaction(tenant_id=tenant_id) as uow:
        rows = await uow.fetch(
            "UPDATE outbound_message SET attempts = attempts + 1, last_error = {} "
            "WHERE tenant_id = {} AND id = {} RETURNING attempts",
            error,
            tenant_id,
            message_id,
        )
    return int(rows[0]["attempts"]) if rows else MAX_ATTEMPTS
