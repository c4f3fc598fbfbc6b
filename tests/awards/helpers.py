"""Bringing a case of the tests' world to its award: ready for award, with a tribunal; or
settled by an agreement signed by both sides, for a consent award or mediation statement."""

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


async def signed_agreement(
    w: World, case_id: str, who: Who, *, outcome: str, text: str, record: bool = True
) -> dict[str, Any]:
    """A mediation by the case's arbitrator that ends in ``text`` signed by both sides
    (asking for ``outcome``) and, with ``record``, recorded by the secretary: the case
    settled. The agreement as the settlement API shows it."""
    base = f"{URL}/{case_id}/settlement"
    started = await w.client.post(
        f"{base}/mediation",
        json={"mediator_user_id": str(w.a.users[Role.ARBITRATOR])},
        headers=who["secretary"],
    )
    assert started.status_code == 201, started.text
    assert started.json()["mediations"][0]["mediator_kind"] == "arbitrator"
    proposed = await w.client.post(
        f"{base}/agreements", json={"text": text, "outcome": outcome}, headers=who["arbitrator"]
    )
    assert proposed.status_code == 201, proposed.text
    agreement: dict[str, Any] = proposed.json()["agreements"][-1]
    for side in ("claimant", "respondent"):
        signed = await w.client.post(
            f"{base}/agreements/{agreement['id']}/signatures",
            json={"side": side, "sha256": agreement["sha256"]},
            headers=who[side],
        )
        assert signed.status_code == 201, signed.text
    if record:
        await record_settlement(w, case_id, who, agreement["id"])
    return agreement


async def record_settlement(w: World, case_id: str, who: Who, agreement_id: str) -> None:
    recorded = await w.client.post(
        f"{URL}/{case_id}/settlement/agreements/{agreement_id}/record",
        json={},
        headers=who["secretary"],
    )
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["case_state"] == "settled"
