"""Queueing messages in the transaction that causes them, and the senders that deliver them.

:func:`queue_message` writes an ``outbound_message`` row and the
``notify.deliver`` job in the caller's unit of work: the message exists if and
only if the action that caused it committed, and it leaves only after commit.
The job (:mod:`arbitral.notify.actors`) hands it to the sender built by
:func:`build_sender`: the console, or each channel's adapter (SMTP, the SMS
gateway). What the channel then reports (the mail server's acceptance, an SMS
delivery report through :func:`record_reports`) moves the message from
``sent`` to ``delivered`` or ``failed`` once, and tells the context that sent
it (:func:`on_outcome`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import structlog

from arbitral.identity.domain import mask_destination
from arbitral.notify.aliyun import AliyunSmsConfig, AliyunSmsSender, Report
from arbitral.notify.domain import Channel, DeliveryError, MessageSender, check_body
from arbitral.notify.smtp import SmtpConfig, SmtpSender
from arbitral.settings import ConfigError, Settings, SmsSettings, SmtpSettings

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime

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


class ChannelSender:
    """Each channel to its own adapter (the ``channels`` sender); a missing one refuses."""

    def __init__(self, senders: Mapping[Channel, MessageSender]) -> None:
        self.senders = dict(senders)
        # Channels whose acceptance is delivery (the mail server took the message).
        self.delivered_on_acceptance = frozenset(
            c for c, sender in self.senders.items() if isinstance(sender, SmtpSender)
        )

    async def send(
        self, channel: Channel, destination: str, body: str, *, idempotency_key: str
    ) -> str:
        sender = self.senders.get(channel)
        if sender is None:
            raise DeliveryError(f"no {channel.value} channel is configured", permanent=True)
        return await sender.send(channel, destination, body, idempotency_key=idempotency_key)


def resolve_secret(variable: str, ref: str) -> str:
    """The secret a reference names: ``env:NAME`` (read now, never at import) or ``file:/path``."""
    if ref.startswith("env:"):
        value = os.environ.get(ref[4:], "")
    elif ref.startswith("file:"):
        try:
            value = Path(ref[5:]).read_text("utf-8").strip()
        except OSError as exc:
            raise ConfigError(variable, f"cannot read {ref}: {exc.strerror}") from None
    else:
        raise ConfigError(variable, "a secret is given by reference (env:NAME or file:/path)")
    if not value:
        raise ConfigError(variable, f"{ref} is empty")
    return value


def smtp_config(settings: SmtpSettings) -> SmtpConfig:
    return SmtpConfig(
        host=settings.host,
        port=settings.port,
        sender=settings.sender,
        username=settings.username,
        password=(
            resolve_secret(settings.variable, settings.password_ref)
            if settings.password_ref
            else None
        ),
        tls=settings.tls,
        timeout_s=settings.timeout_s,
    )


def sms_config(settings: SmsSettings) -> AliyunSmsConfig:
    return AliyunSmsConfig(
        endpoint=settings.endpoint,
        access_key_id=settings.access_key_id,
        access_key_secret=resolve_secret(settings.variable, settings.access_key_secret_ref),
        sign_name=settings.sign_name,
        template_code=settings.template_code,
        template_param=settings.template_param,
        region=settings.region,
    )


def build_sender(settings: Settings, *, tenant_id: UUID | None = None) -> MessageSender:
    """The sender for ``settings``: the console, or each channel through its adapter.

    ``tenant_id`` goes into the SMS gateway's ``OutId``, so that its delivery
    reports find the message in its tenant.
    """
    if settings.message_sender != "channels":
        return ConsoleSender()
    senders: dict[Channel, MessageSender] = {}
    if settings.smtp is not None:
        senders[Channel.EMAIL] = SmtpSender(smtp_config(settings.smtp))
    if settings.sms is not None:
        senders[Channel.SMS] = AliyunSmsSender(sms_config(settings.sms), tenant_id)
    return ChannelSender(senders)


# -- outcomes ----------------------------------------------------------------------

# purpose -> the job told when a message of that purpose is sent, delivered or failed.
_OUTCOME_JOBS: dict[str, str] = {}


def on_outcome(purpose: str, job_name: str) -> None:
    """Have ``job_name`` (``message_id``) enqueued whenever a ``purpose`` message moves.

    The job is written in the transaction that records the outcome, so it runs
    once per change, after commit; it reads the message's state, which is the
    truth (a report twice changes nothing the second time, and enqueues nothing).
    """
    existing = _OUTCOME_JOBS.get(purpose)
    if existing is not None and existing != job_name:
        raise ValueError(f"the purpose {purpose!r} already reports to {existing}")
    _OUTCOME_JOBS[purpose] = job_name


async def announce_outcome(uow: UnitOfWork, purpose: str, message_id: UUID) -> None:
    job_name = _OUTCOME_JOBS.get(purpose)
    if job_name is not None:
        await uow.enqueue(job_name, {"message_id": str(message_id)})


@dataclass(frozen=True)
class ReportResult:
    recorded: int  # reports that moved a message
    repeated: int  # reports of messages already settled (or not ours): nothing to do
    early: int  # reports of messages not yet recorded as sent: the gateway should retry


async def record_reports(runtime: Runtime, reports: list[Report]) -> ReportResult:
    """Record SMS delivery reports, each once: ``sent`` -> ``delivered`` or ``failed``.

    A report counts only when its ``biz_id`` is the reference the gateway gave
    for that message; one for a message still pending (the report overtook the
    delivery job's commit) is left for the gateway to push again.
    """
    recorded = repeated = early = 0
    for report in reports:
        tenant = await runtime.tenants.by_id(report.tenant_id)
        if tenant is None:
            repeated += 1
            continue
        now = runtime.clock.now()
        delivered = report.success
        detail = f"{report.code} {report.detail}".strip()[:500]
        async with runtime.db.transaction(tenant_id=tenant.id) as uow:
            rows = await uow.fetch(
                "UPDATE outbound_message SET status = {}, delivered_at = {}, failed_at = {}, "
                "report = {} WHERE tenant_id = {} AND id = {} AND status = 'sent' "
                "AND provider_ref = {} RETURNING purpose",
                "delivered" if delivered else "failed",
                now if delivered else None,
                None if delivered else now,
                detail,
                tenant.id,
                report.message_id,
                report.biz_id,
            )
            if rows:
                await announce_outcome(uow, str(rows[0]["purpose"]), report.message_id)
                recorded += 1
                continue
            pending = await uow.fetch(
                "SELECT 1 AS one FROM outbound_message WHERE tenant_id = {} AND id = {} "
                "AND status = 'pending'",
                tenant.id,
                report.message_id,
            )
        if pending:
            early += 1
        else:
            repeated += 1
    if recorded or early:
        log.info("message.reports", recorded=recorded, repeated=repeated, early=early)
    return ReportResult(recorded, repeated, early)
