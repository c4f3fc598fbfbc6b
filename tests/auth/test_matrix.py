"""Every route × every kind of principal: another tenant's objects are 404, no credentials 401.

New routes join the matrix by themselves: a route whose path parameter names
an object this test does not know how to make fails the test until it learns.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from litestar.routes import HTTPRoute

from arbitral.auth.domain import ClientKind, Principal, Role
from arbitral.auth.guards import PUBLIC
from arbitral.auth.platform import create_admin
from arbitral.custody import uploads
from arbitral.custody.services import UploadMeta, receive
from arbitral.identity.schemas import PowerOfAttorneyCreate
from arbitral.identity.services import create_power
from arbitral.ledger.witness import WitnessCreate, new_witness_key, register_witness
from tests.awards.helpers import award_of
from tests.cases.helpers import case_of
from tests.custody.test_inspect import make_pdf
from tests.custody.test_records import ed25519_key, record_of
from tests.fairness.builder import Book
from tests.service.helpers import case_document_of, inbox_item_of
from tests.settlement.helpers import hearing_and_settlement_of
from tests.support.world import PASSWORD, Tenant, World
from tests.tribunal.helpers import challenge_of

# Path parameters that do not name an object of a tenant (checked separately).
NOT_TENANT_OBJECTS = {"purpose"}

# A well-formed body for each unsafe route, so that validation never answers first.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/users/{user_id:uuid}"): {"display_name": "renamed"},
    ("POST", "/api/v1/users/{user_id:uuid}/memberships"): {"role": "secretary"},
    ("POST", "/api/v1/api-clients/{client_id:str}/keys"): {"jwk": ed25519_key()[1]},
    ("POST", "/api/v1/cases/{case_id:uuid}/commands"): {"command": "accept"},
    ("POST", "/api/v1/cases/{case_id:uuid}/waivers"): {"period": "answer"},
    ("POST", "/api/v1/cases/{case_id:uuid}/amendment"): {"claim": {}},
    ("POST", "/api/v1/cases/{case_id:uuid}/tribunal"): {"user_id": str(uuid.uuid4())},
    ("POST", "/api/v1/cases/{case_id:uuid}/exhibits"): {
        "title": "exhibit",
        "item_id": str(uuid.uuid4()),
    },
    ("POST", "/api/v1/cases/{case_id:uuid}/exhibits/{exhibit_id:uuid}/views"): {
        "authenticity": "admits",
        "legality": "admits",
        "relevance": "admits",
    },
    ("POST", "/api/v1/cases/{case_id:uuid}/exhibits/{exhibit_id:uuid}/ruling"): {
        "ruling": "admitted"
    },
    ("POST", "/api/v1/cases/{case_id:uuid}/invoice/refunds"): {"amount": "1.00", "reason": "r"},
    ("POST", "/api/v1/batches/{batch_id:uuid}/accept"): {"reason": ""},
    ("POST", "/api/v1/cases/{case_id:uuid}/service/record"): {
        "request_id": str(uuid.uuid4()),
        "method": "post",
        "reason": "EMS 1234",
    },
    ("POST", "/api/v1/cases/{case_id:uuid}/answer"): {"text": "答辩"},
    ("POST", "/api/v1/cases/{case_id:uuid}/counterclaims"): {
        "claims": "反请求",
        "amount": "100.00",
        "facts_and_reasons": "理由",
    },
    ("POST", "/api/v1/cases/{case_id:uuid}/counterclaims/answer"): {"text": "答辩"},
    ("POST", "/api/v1/cases/{case_id:uuid}/hearing"): {"mode": "documents"},
    ("POST", "/api/v1/cases/{case_id:uuid}/awards"): {"place": "广州"},
    ("PATCH", "/api/v1/awards/{award_id:uuid}"): {"if_version": 1, "place": "广州"},
    ("POST", "/api/v1/awards/{award_id:uuid}/votes"): {
        "vote": "concur",
        "content_sha256": "0" * 64,
    },
    ("POST", "/api/v1/awards/{award_id:uuid}/corrections"): {"reason": "笔误"},
    ("POST", "/api/v1/cases/{case_id:uuid}/hearing/posts"): {"kind": "argument", "text": "意见"},
    ("POST", "/api/v1/cases/{case_id:uuid}/hearing/rounds/close"): {"round": "questioning"},
    ("POST", "/api/v1/cases/{case_id:uuid}/hearing/sessions"): {
        "starts_at": "2030-01-07T09:00:00+08:00",
        "ends_at": "2030-01-07T10:00:00+08:00",
        "link": "https://video.example.cn/room/1",
    },
    ("POST", "/api/v1/cases/{case_id:uuid}/hearing/sessions/{session_id:uuid}/reschedule"): {
        "starts_at": "2030-01-08T09:00:00+08:00",
        "ends_at": "2030-01-08T10:00:00+08:00",
        "link": "https://video.example.cn/room/2",
        "reason": "改期",
    },
    ("POST", "/api/v1/cases/{case_id:uuid}/hearing/sessions/{session_id:uuid}/outcome"): {
        "outcome": "held"
    },
    ("POST", "/api/v1/cases/{case_id:uuid}/hearing/close"): {},
    ("POST", "/api/v1/cases/{case_id:uuid}/hearing/deliberation"): {},
    ("POST", "/api/v1/cases/{case_id:uuid}/settlement/offers"): {"terms": "退款"},
    ("POST", "/api/v1/cases/{case_id:uuid}/settlement/offers/{offer_id:uuid}/decision"): {
        "decision": "accept"
    },
    ("POST", "/api/v1/cases/{case_id:uuid}/settlement/mediation"): {
        "mediator_user_id": str(uuid.uuid4())
    },
    ("POST", "/api/v1/cases/{case_id:uuid}/settlement/mediation/end"): {"result": "failed"},
    ("POST", "/api/v1/cases/{case_id:uuid}/settlement/agreements"): {
        "text": "协议",
        "outcome": "consent_award",
    },
    (
        "POST",
        "/api/v1/cases/{case_id:uuid}/settlement/agreements/{agreement_id:uuid}/signatures",
    ): {"side": "claimant", "sha256": "0" * 64},
    ("POST", "/api/v1/cases/{case_id:uuid}/settlement/agreements/{agreement_id:uuid}/record"): {},
    ("POST", "/api/v1/cases/{case_id:uuid}/settlement/agreements/{agreement_id:uuid}/withdraw"): {},
    ("PATCH", "/api/v1/arbitrators/{user_id:uuid}"): {"accepting": False},
    ("POST", "/api/v1/cases/{case_id:uuid}/tribunal/nominations"): {"user_id": str(uuid.uuid4())},
    ("POST", "/api/v1/cases/{case_id:uuid}/tribunal/disclosure"): {"statement": "无"},
    ("POST", "/api/v1/cases/{case_id:uuid}/tribunal/constitute"): {},
    ("POST", "/api/v1/cases/{case_id:uuid}/tribunal/challenges"): {
        "user_id": str(uuid.uuid4()),
        "grounds": "有利害关系",
    },
    (
        "POST",
        "/api/v1/cases/{case_id:uuid}/tribunal/challenges/{challenge_id:uuid}/decision",
    ): {"outcome": "rejected", "reason": "理由不成立"},
    ("POST", "/api/v1/cases/{case_id:uuid}/tribunal/members/{user_id:uuid}/release"): {
        "reason": "自行回避"
    },
    ("PUT", "/api/v1/webhooks/endpoint"): {"url": "https://hooks.lender.example/arbitral"},
}


def routes(w: World) -> list[tuple[str, str]]:
    found = []
    for route in w.app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.opt.get(PUBLIC):
                continue
            for method in handler.http_methods:
                found.append((method, route.path))
    return sorted(found)


async def objects_of(w: World, tenant: Tenant) -> dict[str, str]:
    """One object of ``tenant`` for every kind of path parameter."""
    runtime = w.runtime
    operator = Principal.operator(tenant.id, "tests")

    async def chunks() -> Any:
        yield b"%PDF-1.7 power of attorney of " + tenant.slug.encode()

    stored = await runtime.store.put(str(tenant.id), chunks())
    power = await create_power(
        runtime,
        operator,
        PowerOfAttorneyCreate(
            agent_user_id=tenant.users[Role.AGENT],
            principal_user_id=tenant.users[Role.CLAIMANT],
            document_key=stored.key,
        ),
    )
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        membership = (
            await uow.fetch(
                "SELECT id FROM membership WHERE tenant_id = {} AND user_id = {}",
                tenant.id,
                tenant.users[Role.SECRETARY],
            )
        )[0]["id"]

    async def pdf() -> Any:
        yield make_pdf()

    item, _ = await receive(
        runtime,
        operator,
        pdf(),
        UploadMeta("合同.pdf", "合同"),
        declared_length=None,
        declared_sha256=None,
    )
    _, key = new_witness_key()
    witness = await register_witness(
        runtime,
        operator,
        WitnessCreate(name=f"notary of {tenant.slug}", kind="notary", public_jwk=key.public_jwk),
    )
    kid, record_uuid = await record_of(runtime, tenant)
    case_id, exhibit_id = await case_of(runtime, tenant)
    notice_id = await inbox_item_of(runtime, tenant, case_id)
    document_id = await case_document_of(runtime, tenant, case_id)
    _, challenge_id = await challenge_of(runtime, tenant)
    settlement_ids = await hearing_and_settlement_of(runtime, tenant.id, case_id)
    award_id = await award_of(runtime, tenant.id, case_id)
    upload = await uploads.create(
        runtime, operator, uploads.UploadCreate("录音.wav", "录音", size=1 << 20, sha256="a" * 64)
    )
    book = Book(runtime, tenant.id)
    batch_id = await book.batch(client_id=tenant.clients[ClientKind.LENDER][0])
    lender = f"LENDER-{tenant.slug}"
    await book.case(lender=lender, state="awarded", awarded=[("1.00", "respondent")])
    return {
        "upload_id": str(upload.id),
        "number": "1",
        "case_id": case_id,
        "award_id": award_id,
        "exhibit_id": exhibit_id,
        "notice_id": notice_id,
        "document_id": document_id,
        "challenge_id": challenge_id,
        **settlement_ids,
        "item_id": str(item.id),
        "kid": kid,
        "record_uuid": record_uuid,
        "witness_id": str(witness.id),
        "user_id": str(tenant.users[Role.SECRETARY]),
        "membership_id": str(membership),
        "power_id": str(power.id),
        "client_id": tenant.clients[ClientKind.LENDER][0],
        "batch_id": str(batch_id),
        "id_number": lender,
    }


def concrete(path: str, values: dict[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in NOT_TENANT_OBJECTS:
            return "jws"
        if name not in values:
            raise AssertionError(f"no object of the other tenant for {{{name}}} in {path}")
        return values[name]

    return re.sub(r"\{(\w+)(?::\w+)?\}", fill, path)


async def principals(w: World) -> dict[str, dict[str, str]]:
    """Headers for every kind of principal of tenant A."""
    found = {f"user:{role.value}": await w.login(w.a, role) for role in Role}
    for kind in ClientKind:
        found[f"client:{kind.value}"] = {"authorization": f"Bearer {await w.token(w.a, kind)}"}
    await create_admin(
        w.runtime.db, email="root@alliance.example.cn", display_name="alliance", password=PASSWORD
    )
    response = await w.client.post(
        "/platform/auth/password", json={"email": "root@alliance.example.cn", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    found["alliance_admin"] = {
        "cookie": f"arbitral_platform_session={response.cookies['arbitral_platform_session']}",
        "x-csrf-token": response.json()["csrf_token"],
    }
    w.client.cookies.clear()
    return found


@pytest.mark.slow
async def test_other_tenants_objects_are_404_for_everyone(auth_world: World) -> None:
    w = auth_world
    b_objects = await objects_of(w, w.b)
    who = await principals(w)
    assert set(BODIES) <= set(routes(w)), "a body is kept for a route that is gone"
    checked = 0
    wrong: list[str] = []
    for method, path in routes(w):
        names = re.findall(r"\{(\w+)", path)
        if not names or set(names) <= NOT_TENANT_OBJECTS:
            continue
        url = concrete(path, b_objects)
        body = BODIES.get((method, path))
        for name, headers in who.items():
            response = await w.client.request(method, url, headers=headers, json=body)
            checked += 1
            if response.status_code != 404:
                wrong.append(f"{name} {method} {url}: {response.status_code} {response.text[:120]}")
    assert wrong == []
    assert checked >= 10 * 10


async def test_every_route_needs_credentials(auth_world: World) -> None:
    w = auth_world
    b_objects = await objects_of(w, w.b)
    wrong = []
    all_routes = routes(w)
    assert len(all_routes) >= 15
    for method, path in all_routes:
        url = concrete(path, b_objects)
        response = await w.client.request(method, url, json=BODIES.get((method, path)))
        if (
            response.status_code != 401
            or "bearer" not in response.headers.get("www-authenticate", "").lower()
        ):
            wrong.append(f"{method} {url}: {response.status_code}")
    assert wrong == []


async def test_lists_show_only_the_callers_tenant(auth_world: World) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    users = (await w.client.get("/api/v1/users", params={"limit": 100}, headers=admin)).json()
    ids = {u["id"] for u in users["items"]}
    assert {str(u) for u in w.a.users.values()} <= ids
    assert not ({str(u) for u in w.b.users.values()} & ids)
    clients = (await w.client.get("/api/v1/api-clients", headers=admin)).json()
    assert {c["client_id"] for c in clients} == {cid for cid, _ in w.a.clients.values()}
    events = (await w.client.get("/api/v1/audit-events", headers=admin)).json()["items"]
    b_users = {str(u) for u in w.b.users.values()}
    assert events
    assert not any(e["target_id"] in b_users for e in events)


async def test_a_route_without_a_permission_does_not_start(tmp_path: Any) -> None:
    from litestar import get

    from arbitral.app import create_app
    from arbitral.auth.guards import check_routes
    from tests.conftest import make_settings

    @get("/api/v1/forgotten", sync_to_thread=False)
    def forgotten() -> None:
        return None

    app = create_app(make_settings(tmp_path))
    app.register(forgotten)
    with pytest.raises(RuntimeError, match=r"GET /api/v1/forgotten \(forgotten\)"):
        check_routes(app)
