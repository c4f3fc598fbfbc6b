"""The outbound outbox: queued with the action, delivered by the worker, then redacted."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from arbitral.jobs.runner import JobContext
from arbitral.logs import configure_logging
from arbitral.notify.actors import MAX_ATTEMPTS, deliver_message
from arbitral.notify.domain import Channel, DeliveryError, login_code_message
from arbitral.notify.services import DELIVER_JOB, ConsoleSender, build_sender, queue_message
from tests.conftest import make_settings
from tests.notify.conftest import NotifyWorld as World

PHONE = "+8613812345678"


def console_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        r.msg
        for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == "message.delivered_to_console"
    ]


async def message_row(w: World, tenant_id: uuid.UUID, message_id: uuid.UUID) -> dict[str, Any]:
    async with w.runtime.db.transaction(tenant_id=tenant_id) as uow:
        rows = await uow.fetch(
            "SELECT * FROM outbound_message WHERE tenant_id = {} AND id = {}", tenant_id, message_id
        )
    assert rows
    return rows[0]


async def until_sent(w: World, tenant_id: uuid.UUID, message_id: uuid.UUID) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        row = await message_row(w, tenant_id, message_id)
        if row["status"] != "pending":
            return row
        assert time.monotonic() < deadline, "the message was not delivered"
        await asyncio.sleep(0.02)


async def queue(
    w: World, tenant_id: uuid.UUID, body: str, purpose: str = "login_code"
) -> uuid.UUID:
    async with w.runtime.db.transaction(tenant_id=tenant_id) as uow:
        return await queue_message(uow, tenant_id, "sms", PHONE, purpose, body)


def context(w: World, tenant_id: uuid.UUID, job_id: uuid.UUID | None = None) -> JobContext:
    return JobContext(
        runtime=w.runtime, job_id=job_id or uuid.uuid4(), job_name=DELIVER_JOB, tenant_id=tenant_id
    )


class FailingSender:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc
        self.calls = 0

    async def send(
        self, channel: Channel, destination: str, body: str, *, idempotency_key: str
    ) -> str:
        self.calls += 1
        raise self.exc


async def test_the_worker_delivers_to_the_console_and_redacts_the_code(
    notify_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    w = notify_world
    body = login_code_message(locale="zh-CN", sender="测试仲裁委员会", code="246810", minutes=10)
    message_id = await queue(w, w.a, body)

    row = await until_sent(w, w.a, message_id)
    assert row["status"] == "sent"
    assert row["attempts"] == 1
    assert row["provider_ref"] == f"console:{message_id}"
    assert row["sent_at"] is not None
    assert "246810" not in row["body"]
    assert row["body"] == body.replace("246810", "******")

    (line,) = [x for x in console_lines(caplog) if x["message_id"] == str(message_id)]
    assert line["body"] == body  # the operator reads the whole message
    assert line["channel"] == "sms"
    assert line["destination"] == "+8613****78"
    assert PHONE not in str(line)
    assert [r.levelname for r in caplog.records if r.msg is line] == ["WARNING"]


async def test_a_message_exists_only_if_its_action_commits_and_is_sendable(
    notify_world: World,
) -> None:
    w = notify_world
    with pytest.raises(RuntimeError, match="the action failed"):
        async with w.runtime.db.transaction(tenant_id=w.a) as uow:
            await queue_message(uow, w.a, Channel.EMAIL, "x@a.example.cn", "login_code", "hi")
            raise RuntimeError("the action failed")
    async with w.runtime.db.transaction(tenant_id=w.a) as uow:
        with pytest.raises(ValueError, match="parts"):
            await queue_message(uow, w.a, "sms", PHONE, "login_code", "中" * 1000)
        with pytest.raises(ValueError, match="fax"):
            await queue_message(uow, w.a, "fax", PHONE, "login_code", "hello")
        with pytest.raises(ValueError, match="own tenant"):
            await queue_message(uow, w.b, "sms", PHONE, "login_code", "hello")
        with pytest.raises(ValueError, match="destination"):
            await queue_message(uow, w.a, "sms", "", "login_code", "hello")
    async with w.runtime.db.transaction(tenant_id=w.a) as uow:
        messages = await uow.fetch("SELECT id FROM outbound_message WHERE tenant_id = {}", w.a)
        jobs = await uow.fetch(
            "SELECT message_id FROM outbox_message WHERE tenant_id = {} AND actor_name = {}",
            w.a,
            DELIVER_JOB,
        )
    assert messages == []
    assert jobs == []


async def test_failures_are_recorded_and_retried_then_the_message_is_given_up(
    notify_world: World,
) -> None:
    w = notify_world
    body = login_code_message(locale="en", sender="Test", code="135791", minutes=10)
    # Let the worker deliver it, then put it back as pending and play Dramatiq ourselves.
    message_id = await queue(w, w.b, body)
    await until_sent(w, w.b, message_id)
    async with w.runtime.db.transaction(tenant_id=w.b) as uow:
        await uow.execute(
            "UPDATE outbound_message SET status = 'pending', attempts = 0, body = {} "
            "WHERE tenant_id = {} AND id = {}",
            body,
            w.b,
            message_id,
        )
    sender = FailingSender(ConnectionError("gateway unreachable\nmore detail"))
    job_id = uuid.uuid4()  # Dramatiq redelivers a job under the same id
    for attempt in range(1, MAX_ATTEMPTS):
        with pytest.raises(ConnectionError):
            await deliver_message(context(w, w.b, job_id), message_id, sender)
        row = await message_row(w, w.b, message_id)
        assert row["status"] == "pending"
        assert row["attempts"] == attempt
        assert row["last_error"] == "ConnectionError: gateway unreachable"
        assert row["body"] == body  # still to be sent
    outcome = await deliver_message(context(w, w.b, job_id), message_id, sender)
    assert outcome == "failed"
    row = await message_row(w, w.b, message_id)
    assert row["status"] == "failed"
    assert row["attempts"] == MAX_ATTEMPTS
    assert "135791" not in row["body"]
    assert sender.calls == MAX_ATTEMPTS
    # Done for good: the job is recorded, a later delivery sends nothing.
    again = await deliver_message(context(w, w.b), message_id, sender)
    assert again == "skipped"
    assert sender.calls == MAX_ATTEMPTS


async def test_a_permanent_failure_is_not_retried(notify_world: World) -> None:
    w = notify_world
    message_id = await queue(w, w.a, "案件通知 0001234", purpose="case_notice")
    await until_sent(w, w.a, message_id)
    async with w.runtime.db.transaction(tenant_id=w.a) as uow:
        await uow.execute(
            "UPDATE outbound_message SET status = 'pending', attempts = 0 "
            "WHERE tenant_id = {} AND id = {}",
            w.a,
            message_id,
        )
    sender = FailingSender(DeliveryError("no such number", permanent=True))
    assert await deliver_message(context(w, w.a), message_id, sender) == "failed"
    row = await message_row(w, w.a, message_id)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"] == "DeliveryError: no such number"
    assert row["body"] == "案件通知 0001234"  # not a secret: kept as the record of what was sent
    assert await deliver_message(context(w, w.a), message_id, sender) == "skipped"
    assert sender.calls == 1


async def test_the_sender_of_the_embedded_default_is_the_console(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path)
    configure_logging(settings.log_level, settings.log_format)
    sender = build_sender(settings)
    assert isinstance(sender, ConsoleSender)
    ref = await sender.send(Channel.EMAIL, "ann@example.cn", "body", idempotency_key="k1")
    assert ref == "console:k1"
    (line,) = [x for x in console_lines(caplog) if x["message_id"] == "k1"]
    assert (line["channel"], line["destination"], line["body"]) == (
        "email",
        "a***@example.cn",
        "body",
    )
