"""Events to a real receiver on loopback: signed, retried, once, only to their own client."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from arbitral.auth.domain import ClientKind, Role
from arbitral.jobs.registry import get_job
from arbitral.jobs.runner import run_job
from arbitral.webhooks import domain, services
from arbitral.webhooks.receiver import Receiver, WebhookVerificationError, verify
from tests.cases.helpers import URL as CASES
from tests.cases.helpers import claim_against, command
from tests.support.world import World

ENDPOINT = "/api/v1/webhooks/endpoint"


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 30.0) -> None:
    # Generous: a retry went past 15 s once with a second test run loading both cores.
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def lender(w: World, tenant: Any = None) -> dict[str, str]:
    return {"authorization": f"Bearer {await w.token(tenant or w.a, ClientKind.LENDER)}"}


async def register(w: World, receiver: Receiver, headers: dict[str, str]) -> str:
    response = await w.client.put(
        ENDPOINT, json={"url": f"http://127.0.0.1:{receiver.port}/hooks/arbitral"}, headers=headers
    )
    assert response.status_code == 200, response.text
    receiver.secret = response.json()["secret"]
    return receiver.secret


async def lender_case(w: World, headers: dict[str, str]) -> dict[str, Any]:
    response = await w.client.post(
        CASES, json={"case_type": "online-purchase", "claim": claim_against(w.a)}, headers=headers
    )
    assert response.status_code == 201, response.text
    case: dict[str, Any] = response.json()
    return case


async def deliveries(w: World, tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    async with w.runtime.db.transaction(tenant_id=tenant_id) as uow:
        return await uow.fetch(
            "SELECT * FROM webhook_delivery WHERE tenant_id = {} ORDER BY created_at", tenant_id
        )


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries a fraction of a second apart (the schedule itself is tested in test_domain)."""
    monkeypatch.setattr(domain, "BACKOFF", (timedelta(seconds=0.2),) * 3)


async def test_a_transition_reaches_the_lender_signed(
    hook_world: World, receiver: Receiver
) -> None:
    w = hook_world
    headers = await lender(w)
    secret = await register(w, receiver, headers)
    case = await lender_case(w, headers)
    # Filing is not a transition: nothing yet.
    assert await deliveries(w, w.a.id) == []
    secretary = await w.login(w.a, Role.SECRETARY)
    accepted = await command(w, secretary, case["id"], "accept")
    assert accepted.status_code == 200, accepted.text

    async def received() -> bool:
        return len(receiver.verified()) >= 1

    await until(received)
    (event,) = receiver.verified()
    assert event["type"] == "case.state_changed"
    data = event["payload"]["data"]
    assert data["case_id"] == case["id"]
    assert data["number"] == case["number"]
    assert (data["from_state"], data["to_state"], data["command"]) == (
        "filed",
        "accepted",
        "accept",
    )
    assert not event["duplicate"]
    (row,) = await deliveries(w, w.a.id)
    assert event["id"] == str(row["id"])

    async def delivered() -> bool:
        return (await deliveries(w, w.a.id))[0]["status"] == "delivered"

    await until(delivered)
    (row,) = await deliveries(w, w.a.id)
    assert row["attempts"] == 1
    assert row["last_status_code"] == 204
    assert row["client_id"] == w.a.clients[ClientKind.LENDER][0]
    shown = (await w.client.get(ENDPOINT, headers=headers)).json()
    assert [(d["type"], d["status"]) for d in shown["deliveries"]] == [
        ("case.state_changed", "delivered")
    ]
    # What came over the wire verifies with the secret shown at registration, and only so.
    ((sent_headers, sent_body),) = receiver.requests
    assert abs(int(sent_headers["webhook-timestamp"]) - time.time()) < 60
    assert sent_headers["content-type"] == "application/json"
    assert verify(secret, sent_headers, sent_body)["data"] == data
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify(domain.format_secret(domain.new_secret()), sent_headers, sent_body)
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify(secret, sent_headers, sent_body.replace(b"accepted", b"rejected"))


@pytest.mark.usefixtures("quick_backoff")
async def test_retried_on_500_then_delivered(hook_world: World, receiver: Receiver) -> None:
    w = hook_world
    headers = await lender(w)
    await register(w, receiver, headers)
    receiver.fail_first = 2
    case = await lender_case(w, headers)
    response = await command(w, await w.login(w.a, Role.SECRETARY), case["id"], "accept")
    assert response.status_code == 200

    async def delivered() -> bool:
        rows = await deliveries(w, w.a.id)
        return bool(rows) and rows[0]["status"] == "delivered"

    await until(delivered)
    (row,) = await deliveries(w, w.a.id)
    assert row["attempts"] == 3
    assert row["last_status_code"] == 204
    assert row["last_error"] is None
    assert [e["error"] is None for e in receiver.events] == [False, False, True]
    ids = {e["id"] for e in receiver.events}
    assert ids == {str(row["id"])}, "every attempt carries the same webhook-id"
    assert len(receiver.verified()) == 1


@pytest.mark.usefixtures("quick_backoff")
async def test_gives_up_after_the_last_attempt(hook_world: World, receiver: Receiver) -> None:
    w = hook_world
    headers = await lender(w)
    await register(w, receiver, headers)
    receiver.fail_first = 100
    case = await lender_case(w, headers)
    await command(w, await w.login(w.a, Role.SECRETARY), case["id"], "accept")

    async def failed() -> bool:
        rows = await deliveries(w, w.a.id)
        return bool(rows) and rows[0]["status"] == "failed"

    await until(failed)
    (row,) = await deliveries(w, w.a.id)
    assert row["attempts"] == 4  # the first and three retries
    assert row["last_status_code"] == 500
    assert row["last_error"] == "answered HTTP 500"
    await asyncio.sleep(0.5)
    assert len(receiver.events) == 4


async def pending_event(w: World, client_id: str) -> uuid.UUID:
    """An event whose delivery job is left out of the outbox (the test runs it by hand)."""
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        event_id = await services.notify(
            uow, w.a.id, client_id, domain.BATCH_COMPLETED, {"batch_id": "b-1", "cases": 3}
        )
        assert event_id is not None
        await uow.execute("DELETE FROM outbox_message WHERE message_id = {}", uow.enqueued[-1])
    return event_id


async def test_a_job_run_twice_delivers_once(hook_world: World, receiver: Receiver) -> None:
    w = hook_world
    await register(w, receiver, await lender(w))
    event_id = await pending_event(w, w.a.clients[ClientKind.LENDER][0])
    spec = get_job(services.DELIVER_JOB)
    payload = {"delivery_id": str(event_id)}
    # Two deliveries of the job at once (a broker's redelivery), then a third later.
    outcomes = await asyncio.gather(
        run_job(w.runtime, spec, uuid.uuid4(), w.a.id, payload),
        run_job(w.runtime, spec, uuid.uuid4(), w.a.id, payload),
        return_exceptions=True,
    )
    for outcome in outcomes:
        assert outcome is None or isinstance(outcome, services.DeliveryInProgress), outcome
    await run_job(w.runtime, spec, uuid.uuid4(), w.a.id, payload)
    job_id = uuid.uuid4()
    await run_job(w.runtime, spec, job_id, w.a.id, payload)
    await run_job(w.runtime, spec, job_id, w.a.id, payload)
    assert len(receiver.events) == 1
    (event,) = receiver.verified()
    assert event["type"] == "batch.completed"
    assert event["payload"]["data"] == {"batch_id": "b-1", "cases": 3}
    (row,) = await deliveries(w, w.a.id)
    assert (row["status"], row["attempts"], row["lease_until"]) == ("delivered", 1, None)


async def test_a_held_event_is_retried_not_posted(hook_world: World, receiver: Receiver) -> None:
    w = hook_world
    await register(w, receiver, await lender(w))
    event_id = await pending_event(w, w.a.clients[ClientKind.LENDER][0])
    assert await services._take_lease(w.runtime, w.a.id, event_id)
    spec = get_job(services.DELIVER_JOB)
    with pytest.raises(services.DeliveryInProgress):
        await run_job(w.runtime, spec, uuid.uuid4(), w.a.id, {"delivery_id": str(event_id)})
    assert receiver.events == []


async def test_notify_with_a_key_is_one_event(hook_world: World, receiver: Receiver) -> None:
    w = hook_world
    await register(w, receiver, await lender(w))
    client_id = w.a.clients[ClientKind.LENDER][0]
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        first = await services.notify(
            uow, w.a.id, client_id, domain.BATCH_COMPLETED, {"batch_id": "b"}, key="b"
        )
        second = await services.notify(
            uow, w.a.id, client_id, domain.BATCH_COMPLETED, {"batch_id": "b"}, key="b"
        )
    assert first is not None
    assert second is None
    assert len(await deliveries(w, w.a.id)) == 1
    with pytest.raises(ValueError, match="unknown webhook event type"):
        async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
            await services.notify(uow, w.a.id, client_id, "case.deleted", {})


async def test_no_endpoint_no_rows(hook_world: World, receiver: Receiver) -> None:
    w = hook_world
    headers = await lender(w)
    secretary = await w.login(w.a, Role.SECRETARY)
    case = await lender_case(w, headers)
    assert (await command(w, secretary, case["id"], "accept")).status_code == 200
    assert await deliveries(w, w.a.id) == []
    # A case a person filed has no client to tell, endpoint or not.
    await register(w, receiver, headers)
    claimant = await w.login(w.a, Role.CLAIMANT)
    filed = await w.client.post(
        CASES, json={"case_type": "online-purchase", "claim": claim_against(w.a)}, headers=claimant
    )
    assert (await command(w, secretary, filed.json()["id"], "accept")).status_code == 200
    assert await deliveries(w, w.a.id) == []
    # A disabled endpoint gets nothing new either.
    assert (await w.client.delete(ENDPOINT, headers=headers)).status_code == 204
    another = await lender_case(w, headers)
    assert (await command(w, secretary, another["id"], "accept")).status_code == 200
    assert await deliveries(w, w.a.id) == []
    await asyncio.sleep(0.3)
    assert receiver.events == []


async def test_another_tenants_client_never_gets_the_event(
    hook_world: World, receiver: Receiver
) -> None:
    w = hook_world
    # Tenant B's lender listens; tenant A's lender has no endpoint.
    await register(w, receiver, await lender(w, w.b))
    b_client = w.b.clients[ClientKind.LENDER][0]
    case = await lender_case(w, await lender(w, w.a))
    assert (
        await command(w, await w.login(w.a, Role.SECRETARY), case["id"], "accept")
    ).status_code == 200
    # Even named explicitly, tenant B's client is unknown in tenant A's transaction.
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        assert await services.notify(uow, w.a.id, b_client, domain.BATCH_COMPLETED, {}) is None
    assert await deliveries(w, w.a.id) == []
    assert await deliveries(w, w.b.id) == []
    await asyncio.sleep(0.3)
    assert receiver.events == []


async def test_private_addresses_are_refused_outside_development(receiver: Receiver) -> None:
    secret = domain.new_secret()
    headers = domain.sign_headers([secret], "msg_1", int(time.time()), b"{}")
    url = f"http://localhost:{receiver.port}/hooks"
    refused = await services.post_event(url, b"{}", headers, insecure=False)
    assert refused.status_code is None
    assert refused.error is not None
    assert refused.error.startswith("refused: localhost resolves to")
    assert receiver.events == []
    # The development switch lets it through (and the host header names the host).
    receiver.secret = domain.format_secret(secret)
    allowed = await services.post_event(url, b"{}", headers, insecure=True)
    assert allowed.status_code == 204
    assert len(receiver.verified()) == 1


def test_the_hook_follows_every_case_command() -> None:
    from arbitral.cases import hooks
    from arbitral.cases.domain import COMMANDS
    from arbitral.webhooks.hooks import case_state_changed

    hooks._load()
    missing = [c for c in COMMANDS if case_state_changed not in hooks._hooks.get(c, [])]
    assert missing == []


async def test_after_a_rotation_both_secrets_sign(hook_world: World, receiver: Receiver) -> None:
    w = hook_world
    headers = await lender(w)
    old = await register(w, receiver, headers)
    rotated = await w.client.post(ENDPOINT + "/rotate", headers=headers)
    new = rotated.json()["secret"]
    receiver.secret = new
    event_id = await pending_event(w, w.a.clients[ClientKind.LENDER][0])
    spec = get_job(services.DELIVER_JOB)
    await run_job(w.runtime, spec, uuid.uuid4(), w.a.id, {"delivery_id": str(event_id)})
    ((sent_headers, sent_body),) = receiver.requests
    assert len(sent_headers["webhook-signature"].split(" ")) == 2
    assert verify(new, sent_headers, sent_body)["type"] == "batch.completed"
    assert verify(old, sent_headers, sent_body)["type"] == "batch.completed"
    # A day later only the new secret signs.
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await uow.execute(
            "UPDATE webhook_endpoint SET previous_until = {} WHERE tenant_id = {}",
            datetime.now(UTC) - timedelta(seconds=1),
            w.a.id,
        )
    second = await pending_event(w, w.a.clients[ClientKind.LENDER][0])
    await run_job(w.runtime, spec, uuid.uuid4(), w.a.id, {"delivery_id": str(second)})
    (_, (late_headers, late_body)) = receiver.requests
    assert len(late_headers["webhook-signature"].split(" ")) == 1
    assert verify(new, late_headers, late_body)
    with pytest.raises(WebhookVerificationError):
        verify(old, late_headers, late_body)


async def test_a_disabled_endpoint_ends_what_was_pending(
    hook_world: World, receiver: Receiver
) -> None:
    w = hook_world
    headers = await lender(w)
    await register(w, receiver, headers)
    event_id = await pending_event(w, w.a.clients[ClientKind.LENDER][0])
    assert (await w.client.delete(ENDPOINT, headers=headers)).status_code == 204
    spec = get_job(services.DELIVER_JOB)
    await run_job(w.runtime, spec, uuid.uuid4(), w.a.id, {"delivery_id": str(event_id)})
    (row,) = await deliveries(w, w.a.id)
    assert (row["status"], row["last_error"]) == ("failed", "the endpoint was disabled")
    assert receiver.events == []
