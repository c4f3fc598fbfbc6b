"""Cases brought to the tribunal stage and arbitrators put on the panel, in the tests world."""

from __future__ import annotations

import uuid
from typing import Any

from arbitral.auth.domain import Principal, PrincipalKind, Role, permissions_of_roles
from arbitral.cases import services
from arbitral.cases.schemas import CommandIn
from arbitral.identity.schemas import UserCreate
from arbitral.identity.services import create_user
from arbitral.runtime import Runtime
from arbitral.tribunal import services as tribunal
from arbitral.tribunal.schemas import ChallengeIn, NominationIn, ProfileIn
from tests.cases.helpers import URL, accepted_case, case_of
from tests.support.world import PASSWORD, Tenant, World

PANEL = "/api/v1/arbitrators"


def tribunal_url(case_id: str, tail: str = "") -> str:
    return f"{URL}/{case_id}/tribunal{tail}"


async def new_arbitrator(w: World, tenant: Tenant, name: str, *roles: Role) -> uuid.UUID:
    """Another arbitrator account of ``tenant`` (not yet on the panel)."""
    user = await create_user(
        w.runtime,
        Principal.operator(tenant.id, "tests"),
        UserCreate(
            display_name=name,
            email=f"{name.lower().replace(' ', '.')}.{uuid.uuid4().hex[:6]}@{tenant.slug}.example",
            roles=[Role.ARBITRATOR, *roles],
            password=PASSWORD,
        ),
    )
    return user.id


async def on_panel(w: World, admin: dict[str, str], user_id: uuid.UUID, **profile: Any) -> Any:
    response = await w.client.post(PANEL, json={"user_id": str(user_id), **profile}, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


async def panel(w: World, admin: dict[str, str], n: int, **profile: Any) -> list[uuid.UUID]:
    """``n`` new arbitrators of tenant A on its panel."""
    found = []
    for i in range(n):
        user_id = await new_arbitrator(w, w.a, f"Arbitrator {i}")
        await on_panel(w, admin, user_id, **profile)
        found.append(user_id)
    return found


async def serve(w: World, case_id: str) -> None:
    """Paid and served (as payments and service of process would do it)."""
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    for command in ("record_payment", "complete_service"):
        async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
            await services.system_command(
                uow, w.runtime, tenant, uuid.UUID(case_id), command, by="tests"
            )


async def served_case(w: World) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """A case of tenant A in its answer period: the time to choose an arbitrator runs."""
    case, who = await accepted_case(w)
    await serve(w, case["id"])
    return case, who


async def nominate(
    w: World, headers: dict[str, str], case_id: str, user_id: uuid.UUID, role: str = "sole"
) -> Any:
    return await w.client.post(
        tribunal_url(case_id, "/nominations"),
        json={"user_id": str(user_id), "role": role},
        headers=headers,
    )


async def seat_by_agreement(
    w: World, who: dict[str, dict[str, str]], case_id: str, user_id: uuid.UUID
) -> dict[str, Any]:
    for side in ("claimant", "respondent"):
        response = await nominate(w, who[side], case_id, user_id)
        assert response.status_code == 200, response.text
    tribunal: dict[str, Any] = response.json()
    assert [s["user_id"] for s in tribunal["seats"]] == [str(user_id)]
    return tribunal


def person(tenant: Tenant, role: Role) -> Principal:
    return Principal(
        kind=PrincipalKind.USER,
        subject_id=tenant.users[role],
        tenant_id=tenant.id,
        permissions=permissions_of_roles([role]),
        roles=frozenset({role}),
    )


async def challenge_of(runtime: Runtime, tenant: Tenant) -> tuple[str, str]:
    """(case id, challenge id) of a case of ``tenant`` whose arbitrator is challenged (no HTTP)."""
    operator = Principal.operator(tenant.id, "tests")
    arbitrator = tenant.users[Role.ARBITRATOR]
    existing = await tribunal.list_profiles(runtime, operator)
    if not any(p.user_id == arbitrator for p in existing):
        await tribunal.create_profile(runtime, operator, ProfileIn(user_id=arbitrator))
    case_id, _ = await case_of(runtime, tenant)
    case = uuid.UUID(case_id)
    await services.command(runtime, operator, case, CommandIn(command="accept"))
    info = await runtime.tenants.by_id(tenant.id)
    assert info is not None
    for command in ("record_payment", "complete_service"):
        async with runtime.db.transaction(tenant_id=tenant.id) as uow:
            await services.system_command(uow, runtime, info, case, command, by="tests")
    for role in (Role.CLAIMANT, Role.RESPONDENT):
        await tribunal.nominate(runtime, person(tenant, role), case, NominationIn(arbitrator))
    challenge = await tribunal.challenge(
        runtime,
        person(tenant, Role.RESPONDENT),
        case,
        ChallengeIn(user_id=arbitrator, grounds="与申请人存在利害关系"),
    )
    return case_id, str(challenge.id)
