"""Bringing a case of the tests' world to its award: ready for award, with a tribunal."""

from __future__ import annotations

import json
import uuid
from typing import Any

from arbitral.auth.domain import Principal, Role
from arbitral.identity.schemas import UserCreate
from arbitral.identity.services import create_user
from arbitral.runtime import Runtime
from tests.cases.helpers import URL
from tests.hearings.helpers import Who, constituted_case, run_out_periods
from tests.support.world import PASSWORD, Tenant, World

AWARDS = "/api/v1/awards"


def awards_url(case_id: str) -> str:
    return f"{URL}/{case_id}/awards"


async def ready_case(w: World) -> tuple[dict[str, Any], Who]:
    """A case ready for award after a documents-only hearing, the world's arbitrator sole."""
    case, who = await constituted_case(w)
    await _through_hearing(w, case["id"], who["arbitrator"])
    return case, who


async def _through_hearing(w: World, case_id: str, tribunal: dict[str, str]) -> None:
    await run_out_periods(w, case_id)
    hearing = f"{URL}/{case_id}/hearing"
    for step, body in (("", {}), ("/close", {"reason": "书面审理"}), ("/deliberation", {})):
        response = await w.client.post(f"{hearing}{step}", json=body, headers=tribunal)
        assert response.status_code in (200, 201), response.text


async def arbitrator_login(w: World, tenant: Tenant, name: str) -> tuple[uuid.UUID, dict[str, str]]:
    """A new arbitrator account of ``tenant``, logged in."""
    email = f"arb.{uuid.uuid4().hex[:8]}@{tenant.slug}.example"
    user = await create_user(
        w.runtime,
        Principal.operator(tenant.id, "tests"),
        UserCreate(display_name=name, email=email, roles=[Role.ARBITRATOR], password=PASSWORD),
    )
    response = await w.client.post(
        f"/t/{tenant.slug}/auth/password", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    cookie = response.cookies.get("arbitral_session")
    w.client.cookies.clear()
    return user.id, {
        "cookie": f"arbitral_session={cookie}",
        "x-csrf-token": response.json()["csrf_token"],
    }


async def three_member_case(w: World) -> tuple[dict[str, Any], Who, list[dict[str, str]]]:
    """A case ready for award before a presiding arbitrator (the world's) and two members."""
    case, who = await constituted_case(w)
    case_id = uuid.UUID(case["id"])
    members = [await arbitrator_login(w, w.a, name) for name in ("李仲裁", "王仲裁")]
    now = w.runtime.clock.now()
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await uow.execute(
            "UPDATE tribunal_member SET role = 'presiding' WHERE tenant_id = {} AND case_id = {}",
            w.a.id,
            case_id,
        )
        for user_id, _ in members:
            await uow.execute(
                "INSERT INTO tribunal_member (id, tenant_id, case_id, user_id, role, appointed_at, "
                "appointed_by, chosen_by) VALUES ({}, {}, {}, {}, 'member', {}, 'tests', "
                "'commission')",
                uuid.uuid4(),
                w.a.id,
                case_id,
                user_id,
                now,
            )
    await _through_hearing(w, case["id"], who["arbitrator"])
    return case, who, [headers for _, headers in members]


COMPLETE = {
    "facts": "申请人于2026年2月1日在被申请人经营的网店购买商品，支付货款1999.90元。",
    "reasoning": "被申请人交付的商品与描述不符，应当退还货款并赔偿损失。",
    "place": "广州",
}


async def award_of(runtime: Runtime, tenant_id: uuid.UUID, case_id: str) -> str:
    """A draft award of the case (for tests that need one of each kind of object)."""
    award_id = uuid.uuid4()
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await uow.execute(
            "INSERT INTO award (id, tenant_id, case_id, kind, status, content, version, "
            "drafted_by, drafted_at, updated_at) VALUES ({}, {}, {}, 'award', 'draft', {}, 1, "
            "'tests', {}, {})",
            award_id,
            tenant_id,
            uuid.UUID(case_id),
            json.dumps({"place": "广州"}),
            now,
            now,
        )
    return str(award_id)
