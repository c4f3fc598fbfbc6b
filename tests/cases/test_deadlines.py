"""Case deadlines: scheduled with the change that starts them, fired once by the sweep."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from arbitral.cases import deadlines, hooks, services
from tests.cases.helpers import URL, accepted_case
from tests.support.clock import FakeClock
from tests.support.world import World


@pytest.fixture
def clean_hooks() -> Iterator[None]:
    # The contexts' hooks first: registered after the snapshot, they would be lost
    # for the rest of the session (the modules are imported once).
    hooks._load()
    saved_hooks = {k: list(v) for k, v in hooks._hooks.items()}
    saved_expiry = dict(hooks._expiry)
    yield
    hooks._hooks.clear()
    hooks._hooks.update(saved_hooks)
    hooks._expiry.clear()
    hooks._expiry.update(saved_expiry)


async def wait_for(predicate: Any, *, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_an_expired_deadline_moves_the_case_once(
    auth_world: World, clean_hooks: None
) -> None:
    w = auth_world
    clock = FakeClock()
    w.runtime.clock = clock
    case, who = await accepted_case(w)
    case_id = uuid.UUID(case["id"])
    ran: list[dict[str, Any]] = []

    @hooks.on_expiry("test_payment_window")
    async def expire(uow: Any, runtime: Any, tenant: Any, expired: uuid.UUID, payload: Any) -> None:
        ran.append(payload)
        await services.system_command(
            uow, runtime, tenant, expired, "record_payment", by="deadlines"
        )

    due = clock.now() + timedelta(days=7)
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await deadlines.schedule(
            uow,
            w.a.id,
            case_id,
            "test_payment_window",
            due,
            now=clock.now(),
            payload={"invoice": "INV-1"},
        )
    shown = (await w.client.get(f"{URL}/{case['id']}", headers=who["claimant"])).json()
    # Beside the periods other contexts start on acceptance (the fees' own, for one).
    assert "test_payment_window" in [d["name"] for d in shown["deadlines"]]

    assert await deadlines.sweep(w.runtime) == 0  # not due yet
    clock.advance(days=7, seconds=1)
    fired = await asyncio.gather(deadlines.sweep(w.runtime), deadlines.sweep(w.runtime))
    # Two processes sweeping: fired once (the handler ran once, below). Other tests'
    # cases in the shared database may have deadlines due by then too (the arbitrator
    # selection of a served case), so the counts are not this case's alone.
    assert sum(fired) >= 1

    async def moved() -> bool:
        got = await w.client.get(f"{URL}/{case['id']}", headers=who["claimant"])
        return bool(got.json()["state"] == "fee_paid")

    await wait_for(moved)
    assert ran == [{"invoice": "INV-1"}]
    shown = (await w.client.get(f"{URL}/{case['id']}", headers=who["claimant"])).json()
    assert "test_payment_window" not in [d["name"] for d in shown["deadlines"]]
    history = (await w.client.get(f"{URL}/{case['id']}/history", headers=who["claimant"])).json()
    assert history[-1]["actor"] == "deadlines"


async def test_a_cancelled_deadline_never_fires(auth_world: World) -> None:
    w = auth_world
    clock = FakeClock()
    w.runtime.clock = clock
    case, _ = await accepted_case(w)
    case_id = uuid.UUID(case["id"])
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await deadlines.schedule(
            uow, w.a.id, case_id, "fee_payment", clock.now() + timedelta(hours=1), now=clock.now()
        )
        # Rescheduling replaces the running one: one pending per name.
        await deadlines.schedule(
            uow, w.a.id, case_id, "fee_payment", clock.now() + timedelta(hours=2), now=clock.now()
        )
        assert len(await deadlines.pending(uow, w.a.id, case_id)) == 1
        assert await deadlines.cancel(uow, w.a.id, case_id, "fee_payment", now=clock.now())
        assert not await deadlines.cancel(uow, w.a.id, case_id, "fee_payment", now=clock.now())
    clock.advance(days=1)
    assert await deadlines.sweep(w.runtime) == 0
