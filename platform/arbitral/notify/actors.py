"""The delivery job: one outbound message to its channel, then the secret out of the database.

``notify.deliver`` runs at least once per message. It skips a message that is
no longer pending, sends the rest with the message id as idempotency key and
then, in the job's effect transaction, marks it sent (an email the server
accepted: delivered), keeps the provider's reference and replaces the body
with its redacted form; the context that queued it hears of it
(:func:`arbitral.notify.services.on_outcome`). A failed send is
counted on the message (attempts, last error) in a transaction of its own and
raised, so Dramatiq retries with backoff; after :data:`MAX_ATTEMPTS` (or at
once for a permanent failure) the message is marked failed and redacted too.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import structlog

from arbitral.errors import first_line
from arbitral.identity.domain import mask_destination
from arbitral.jobs.registry import job
from arbitral.jobs.runner import JobContext
from arbitral.notify.domain import Channel, DeliveryError, MessageSender, redact
from arbitral.notify.services import DELIVER_JOB, announce_outcome, build_sender

log = structlog.get_logger(__name__)

# Attempts recorded on a message before it is given up (Dramatiq may retry more: a
# delivery whose failure could not even be recorded is retried past this).
MAX_ATTEMPTS = 5


@job(DELIVER_JOB, max_retries=MAX_ATTEMPTS * 2, min_backoff_ms=1_000, max_backoff_ms=60_000)
async def deliver(ctx: JobContext, message_id: str) -> None:
    tenant_id = ctx.tenant_id
    sender = build_sender(ctx.runtime.settings, tenant_id=tenant_id)
    await deliver_message(ctx, UUID(message_id), sender)


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
                failed = await uow.fetch(
                    "UPDATE outbound_message SET status = 'failed', body = {}, failed_at = {} "
                    "WHERE tenant_id = {} AND id = {} AND status = 'pending' RETURNING id",
                    redact(message["purpose"], message["body"]),
                    ctx.runtime.clock.now(),
                    tenant_id,
                    message_id,
                )
                if failed:
                    await announce_outcome(uow, message["purpose"], message_id)
            return "failed"
        raise
    # An email the mail server accepted has reached the recipient's mail system: delivered
    # (the console delivers nothing). An SMS is sent; its delivery report comes later
    # (notify.services.record_reports).
    now = ctx.runtime.clock.now()
    confirms: frozenset[Channel] = getattr(sender, "delivered_on_acceptance", frozenset())
    status = "delivered" if channel in confirms else "sent"
    async with ctx.transaction() as uow:
        sent = await uow.fetch(
            "UPDATE outbound_message SET status = {}, sent_at = {}, delivered_at = {}, "
            "provider_ref = {}, body = {}, attempts = attempts + 1, last_error = NULL "
            "WHERE tenant_id = {} AND id = {} AND status = 'pending' RETURNING id",
            status,
            now,
            now if status == "delivered" else None,
            provider_ref[:200],
            redact(message["purpose"], message["body"]),
            tenant_id,
            message_id,
        )
        if sent:
            await announce_outcome(uow, message["purpose"], message_id)
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
