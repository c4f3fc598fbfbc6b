"""The platform moves cases (payments, service, deadlines): system commands and their hooks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from arbitral.cases import hooks, services
from arbitral.cases.domain import CaseState
from tests.cases.helpers import URL, accepted_case
from tests.support.world import World


@pytest.fixture
def clean_hooks() -> Iterator[None]:
    # The contexts' hooks first: registered after the snapshot, they would be lost
    # for the rest of the session (the modules are imported once).
    hooks._load()
    saved = {k: list(v) for k, v in hooks._hooks.items()}
    yield
    hooks._hooks.clear()
    hooks._hooks.update(saved)


async def test_a_system_command_moves_the_case_and_runs_its_hooks(
    auth_world: World, clean_hooks: None
) -> None:
    w = auth_world
    case, who = await accepted_case(w)
    seen: list[hooks.Transitioned] = []

    @hooks.after("record_payment")
    async def note(uow: object, runtime: object, event: hooks.Transitioned) -> None:
        seen.append(event)

    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        state = await services.system_command(
            uow,
            w.runtime,
            tenant,
            uuid.UUID(case["id"]),
            "record_payment",
            by="payments",
            data={"payment": "P-1"},
        )
    assert state is CaseState.FEE_PAID
    assert [(e.command, e.from_state, e.to_state) for e in seen] == [
        ("record_payment", CaseState.ACCEPTED, CaseState.FEE_PAID)
    ]
    history = (await w.client.get(f"{URL}/{case['id']}/history", headers=who["claimant"])).json()
    assert history[-1]["actor"] == "payments"
    assert history[-1]["actor_kind"] == "system"
    assert history[-1]["data"] == {"payment": "P-1"}
    # A person cannot issue it bare.
    again = await w.client.post(
        f"{URL}/{case['id']}/commands",
        json={"command": "record_payment"},
        headers=who["secretary"],
    )
    assert again.status_code == 422


async def test_a_failing_hook_undoes_the_transition(auth_world: World, clean_hooks: None) -> None:
    w = auth_world
    case, who = await accepted_case(w)

    @hooks.after("record_payment")
    async def fail(uow: object, runtime: object, event: hooks.Transitioned) -> None:
        raise RuntimeError("the invoice could not be written")

    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    with pytest.raises(RuntimeError):
        async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
            await services.system_command(
                uow, w.runtime, tenant, uuid.UUID(case["id"]), "record_payment", by="payments"
            )
    shown = (await w.client.get(f"{URL}/{case['id']}", headers=who["claimant"])).json()
    assert shown["state"] == "accepted"
    history = (await w.client.get(f"{URL}/{case['id']}/history", headers=who["claimant"])).json()
    assert [e["command"] for e in history] == ["file", "accept"]


async def test_a_system_command_the_machine_refuses(auth_world: World) -> None:
    w = auth_world
    case, _ = await accepted_case(w)
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    with pytest.raises(services.TransitionNotAllowed):
        async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
            await services.system_command(
                uow, w.runtime, tenant, uuid.UUID(case["id"]), "complete_service", by="service"
            )
