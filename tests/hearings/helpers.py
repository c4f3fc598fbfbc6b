"""Bringing a case of the tests' world to its answer period, or before its tribunal."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from arbitral.auth.domain import Principal, Role
from arbitral.cases import deadlines, services
from tests.cases.helpers import URL, accepted_case
from tests.support.world import World

Who = dict[str, dict[str, str]]


async def served_case(w: World, *, periods: bool = True) -> tuple[dict[str, Any], Who]:
    """A case in its answer period; with ``periods``, the answer (15 days) and counterclaim
    (10 days) periods running, as service of process starts them."""
    case, who = await accepted_case(w)
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    case_id = uuid.UUID(case["id"])
    now = w.runtime.clock.now()
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await services.system_command(uow, w.runtime, tenant, case_id, "record_payment", by="t")
        await services.system_command(uow, w.runtime, tenant, case_id, "complete_service", by="t")
        if periods:
            for name, days in (("answer", 15), ("counterclaim", 10)):
                await deadlines.schedule(
                    uow, w.a.id, case_id, name, now + timedelta(days=days), now=now
                )
    return case, who


async def run_out_periods(w: World, case_id: str) -> None:
    """Every period still running on the case has run its course (as if the sweep fired it)."""
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await uow.execute(
            "UPDATE case_deadline SET status = 'fired', settled_at = {} WHERE tenant_id = {} "
            "AND case_id = {} AND status = 'pending'",
            w.runtime.clock.now(),
            w.a.id,
            uuid.UUID(case_id),
        )


async def constituted_case(w: World) -> tuple[dict[str, Any], Who]:
    """A served case whose periods ran, with the world's arbitrator as sole arbitrator."""
    case, who = await served_case(w, periods=False)
    await run_out_periods(w, case["id"])
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    case_id = uuid.UUID(case["id"])
    staff = Principal.operator(w.a.id, "tests")
    now = w.runtime.clock.now()
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await uow.execute(
            "INSERT INTO tribunal_member (id, tenant_id, case_id, user_id, role, appointed_at, "
            "appointed_by, chosen_by) VALUES ({}, {}, {}, {}, 'sole', {}, 'tests', 'commission')",
            uuid.uuid4(),
            w.a.id,
            case_id,
            w.a.users[Role.ARBITRATOR],
            now,
        )
        await services.issue_command(
            uow, w.runtime, tenant, staff, case_id, "constitute_tribunal", reason="tests"
        )
    return case, who


async def state_of(w: World, case_id: str, headers: dict[str, str]) -> str:
    got = await w.client.get(f"{URL}/{case_id}", headers=headers)
    assert got.status_code == 200, got.text
    return str(got.json()["state"])


async def wait_for(predicate: Callable[[], Awaitable[bool]], *, seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def history(w: World, case_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    got = await w.client.get(f"{URL}/{case_id}/history", headers=headers)
    assert got.status_code == 200, got.text
    events: list[dict[str, Any]] = got.json()
    return events
