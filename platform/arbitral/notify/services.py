"""Queueing messages in the transaction that causes them, and the senders that deliver them.

:func:`queue_message` writes an ``outbound_message`` row and the
``notify.deliver`` job in the caller's unit of work: the message exists if and
only if the action that caused it committed, and it leaves only after commit.
The job (:mod:`arbitral.notify.actors`) hands it to the sender built by
:func:`build_sender`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import structlog

from arbitral.identity.domain import mask_destination
from arbitral.notify.domain import Channel, MessageSender, check_body

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.settings import Settings

log = structlog.get_logger(__name__)

DELIVER_JOB = "notify.deliver"


async def queue_message(
    uow: UnitOfWork,
    tenant_id: UUID,
    channel: Channel | str,
    destination: str,
    purpose: str,
    body: str,
) -> UUID:
    """Write a message and its delivery job in ``uow``'s transaction; return the message id.

    Raises ValueError for an unknown channel, an empty body or one over the
    channel's limit (:func:`arbitral.notify.domain.check_body`): the caller
    builds bodies from templates, so that is a bug, not bad input.
    """
    if uow.tenant_id != tenant_id:
        raise ValueError("a message is queued in a transaction of its own tenant")
    channel = Channel(channel)
    check_body(channel, body)
    if not destination or len(destination) > 254:
        raise ValueError("a message needs a destination of at most 254 characters")
    if not purpose or len(purpose) > 50:
        raise ValueError("a message needs a purpose of at most 50 characters")
    message_id = uuid4()
    await uow.execute(
        "INSERT INTO outbound_message (id, tenant_id, channel, destination, purpose, body, "
        "status, attempts, created_at) VALUES ({}, {}, {}, {}, {}, {}, 'pending', 0, {})",
        message_id,
        tenant_id,
        channel.value,
        destination,
        purpose,
        body,
        datetime.now(UTC),
    )
    await uow.enqueue(DELIVER_JOB, {"message_id": str(message_id)}, tenant_id=tenant_id)
    return message_id


class ConsoleSender:
    """The embedded default: "delivers" by writing the message to the log, at WARNING.

    The demo's operator reads login codes in the terminal. The destination is
    masked; the body is whole, since reading it is the point. Never the sender
    of a deployment that has real channels.
    """

    async def send(
        self, channel: Channel, destination: str, body: str, *, idempotency_key: str
    ) -> str:
        log.warning(
            "message.delivered_to_console",
            channel=channel.value,
            destination=mask_destination(destination),
            body=body,
            message_id=idempotency_key,
        )
        return f"console:{idempotency_key}"


def build_sender(settings: Settings) -> MessageSender:
    """The sender for ``settings``.

    Only the console sender exists so far. The SMS gateway and SMTP adapters
    arrive with the channels, each selected here by a URL-style setting of its
    own, with this console sender remaining the embedded default.
    """
    del settings  # nothing to choose from yet
    return ConsoleSender()
