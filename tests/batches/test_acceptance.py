"""Batch acceptance (automatic or by a secretary) and one invoice per batch, paid once.

Each case of a batch is still accepted on its own (history, audit, fees, notice); its
fees are a line of the batch's invoice, which the submitting lender pays once through
the sandbox provider (its own process); the payment moves every case and serves each
respondent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from arbitral.auth.clients import ApiClientCreate, create_client
from arbitral.auth.domain import ClientKind, Principal, Role
from arbitral.batches import acceptance
from arbitral.cases import deadlines
from arbitral.db.uow import UnitOfWork
from arbitral.tenancy.services import load_tenant_files
from tests.auth.conftest import auth_world, cheap_password_hashing
from tests.batches.acceptance_helpers import file_cases, insert_batch
from tests.cases.helpers import URL, command
from tests.conftest import REPO_ROOT
from tests.payments.conftest import PayWorld, pay_world, sandbox, sandbox_keys
from tests.payments.test_payments import (
    TOTAL,
    datetime_of,
    notify,
    pay_on_the_cashier_page,
    signed_notify,
    wait_for,
)
from tests.support.clock import FakeClock
from tests.support.world import World

__all__ = ["auth_world", "cheap_password_hashing", "pay_world", "sandbox", "sandbox_keys"]


def batch_url(batch_id: uuid.UUID, tail: str = "") -> str:
    return f"/api/v1/batches/{batch_id}{tail}"


async def set_policy(w: World, automatic: bool) -> None:
    async with w.runtime.db.transaction() as uow:
        await uow.execute(
            "UPDATE tenant SET batch_automatic_acceptance = {} WHERE id = {}", automatic, w.a.id
        )
    w.runtime.tenants.invalidate()


async def start(w: World, batch_id: uuid.UUID) -> bool:
    """What the batch pipeline does in the transaction that marks the batch done."""
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        return await acceptance.start_acceptance(uow, w.runtime, tenant, batch_id)


async def states(w: World, case_ids: list[uuid.UUID]) -> list[str]:
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        found = {
            str(r["id"]): str(r["state"])
            for r in await uow.fetch("SELECT id, state FROM arb_case WHERE tenant_id = {}", w.a.id)
        }
    return [found[str(c)] for c in case_ids]


async def all_in(w: World, case_ids: list[uuid.UUID], state: str) -> None:
    async def done() -> bool:
        return await states(w, case_ids) == [state] * len(case_ids)

    await wait_for(done, seconds=30)


async def accepts(w: World, case_id: uuid.UUID) -> list[dict[str, Any]]:
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        return await uow.fetch(
            "SELECT actor, reason, data FROM case_event WHERE tenant_id = {} AND case_id = {} "
            "AND command = 'accept'",
            w.a.id,
            case_id,
        )


async def lender(w: World) -> dict[str, str]:
    return {"authorization": f"Bearer {await w.token(w.a, ClientKind.LENDER)}"}


async def accepted_batch(w: World, count: int = 3) -> tuple[uuid.UUID, list[uuid.UUID]]:
    await set_policy(w, True)
    case_ids = await file_cases(w.runtime, w.a, count)
    batch_id = await insert_batch(w.runtime, w.a, case_ids)
    assert await start(w, batch_id)
    await all_in(w, case_ids, "accepted")

    async def closed() -> bool:
        got = await w.client.get(batch_url(batch_id, "/invoice"), headers=await lender(w))
        return got.status_code == 200 and not got.json()["open_for_additions"]

    await wait_for(closed)
    return batch_id, case_ids


def test_the_commissions_files_say_whether_batches_are_accepted_automatically() -> None:
    specs = {f.spec.slug: f.spec for f in load_tenant_files(REPO_ROOT / "tenants")}
    assert specs["gz"].batch_automatic_acceptance is True
    assert specs["sz"].batch_automatic_acceptance is False


async def test_a_batch_is_accepted_automatically_each_case_on_its_own(auth_world: World) -> None:
    w = auth_world
    alone = (await file_cases(w.runtime, w.a, 1))[0]
    batch_id, case_ids = await accepted_batch(w, 3)
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    assert tenant.batch_automatic_acceptance
    assert await start(w, batch_id) is False  # started already: nothing more
    assert await states(w, [alone]) == ["filed"]  # not of the batch
    for case_id in case_ids:
        [event] = await accepts(w, case_id)
        assert event["actor"] == "batches"
        assert "automatic_acceptance" in event["reason"]

    invoice = (await w.client.get(batch_url(batch_id, "/invoice"), headers=await lender(w))).json()
    assert invoice["status"] == "open"
    assert invoice["total"] == str(Decimal(TOTAL) * 3)
    assert invoice["cases"] == 3
    assert invoice["lines"] == {"open": 3}
    assert invoice["acceptance_mode"] == "automatic"
    assert invoice["accepted_cases"] == 3
    assert invoice["out_trade_no"] == f"ARBB{uuid.UUID(invoice['id']).hex}"

    # Each case keeps its own invoice (lines, deadline), a line of the batch's.
    who = {role: await w.login(w.a, role) for role in (Role.CLAIMANT, Role.SECRETARY)}
    for case_id in case_ids:
        own = (await w.client.get(f"{URL}/{case_id}/invoice", headers=who[Role.CLAIMANT])).json()
        assert own["batch_id"] == str(batch_id)
        assert own["total"] == TOTAL
        shown = (await w.client.get(f"{URL}/{case_id}", headers=who[Role.CLAIMANT])).json()
        assert [d["name"] for d in shown["deadlines"]].count("fee_payment") == 1
        refused = await w.client.post(
            f"{URL}/{case_id}/invoice/checkout", headers=who[Role.CLAIMANT]
        )
        assert refused.status_code == 409
        assert refused.json()["batch_id"] == str(batch_id)
    audit = (
        await w.client.get(
            "/api/v1/audit-events?limit=200", headers=await w.login(w.a, Role.COMMISSION_ADMIN)
        )
    ).json()["items"]
    actions = [e["action"] for e in audit if e["target_id"] == str(batch_id)]
    assert actions.count("batch.acceptance_started") == 1
    assert actions.count("batch.acceptance_finished") == 1
    # The staff see it; another lender of the commission and other people do not.
    assert (
        await w.client.get(batch_url(batch_id, "/invoice"), headers=who[Role.SECRETARY])
    ).status_code == 200
    assert (
        await w.client.get(batch_url(batch_id, "/invoice"), headers=who[Role.CLAIMANT])
    ).status_code == 404


async def test_the_job_accepts_each_case_once_however_often_it_runs(
    auth_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = auth_world
    monkeypatch.setattr(acceptance, "CHUNK", 2)
    case_ids = await file_cases(w.runtime, w.a, 5)
    batch_id = await insert_batch(w.runtime, w.a, case_ids)

    class Killed(Exception):
        pass

    @asynccontextmanager
    async def killed() -> AsyncIterator[UnitOfWork]:
        async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
            yield uow
            raise Killed  # the worker dies before the chunk commits

    @asynccontextmanager
    async def job() -> AsyncIterator[UnitOfWork]:
        async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
            yield uow

    with pytest.raises(Killed):
        await acceptance.run_chunk(w.runtime, w.a.id, batch_id, -1, killed)
    assert await states(w, case_ids) == ["filed"] * 5  # nothing of the chunk is left

    # The chunk delivered again, twice at once: two cases accepted once; the next
    # chunks follow as their own jobs (the worker runs them).
    runs = await asyncio.gather(
        acceptance.run_chunk(w.runtime, w.a.id, batch_id, -1, job),
        acceptance.run_chunk(w.runtime, w.a.id, batch_id, -1, job),
    )
    # The first to get the batch accepted a whole chunk; the other found those two
    # accepted (and took the next two, or nothing if the job's chain had finished).
    assert max(runs) == 2
    assert sum(runs) <= 5
    await all_in(w, case_ids, "accepted")

    async def closed() -> bool:
        got = await w.client.get(batch_url(batch_id, "/invoice"), headers=await lender(w))
        return got.status_code == 200 and not got.json()["open_for_additions"]

    await wait_for(closed)
    # Run once more after the end: nothing.
    assert await acceptance.run_chunk(w.runtime, w.a.id, batch_id, -1, job) == 0
    for case_id in case_ids:
        assert len(await accepts(w, case_id)) == 1
    invoice = (await w.client.get(batch_url(batch_id, "/invoice"), headers=await lender(w))).json()
    assert invoice["cases"] == 5
    assert invoice["accepted_cases"] == 5
    assert invoice["total"] == str(Decimal(TOTAL) * 5)
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        lines = await uow.fetch(
            "SELECT COUNT(*) AS n FROM payment_invoice WHERE tenant_id = {} AND batch_id = {}",
            w.a.id,
            batch_id,
        )
    assert int(lines[0]["n"]) == 5


async def test_without_automatic_acceptance_a_secretary_accepts_the_batch(
    auth_world: World,
) -> None:
    w = auth_world
    await set_policy(w, False)
    case_ids = await file_cases(w.runtime, w.a, 2)
    batch_id = await insert_batch(w.runtime, w.a, case_ids)
    assert await start(w, batch_id) is False
    await asyncio.sleep(0.3)
    assert await states(w, case_ids) == ["filed", "filed"]
    missing = await w.client.get(batch_url(batch_id, "/invoice"), headers=await lender(w))
    assert missing.status_code == 404

    secretary = await w.login(w.a, Role.SECRETARY)
    url = batch_url(batch_id, "/accept")
    # Without the permission to manage cases: 404, as for anything one may not touch.
    claimant = await w.client.post(url, json={}, headers=await w.login(w.a, Role.CLAIMANT))
    assert claimant.status_code == 404
    by_lender = await w.client.post(url, json={}, headers=await lender(w))
    assert by_lender.status_code == 404
    other = await w.client.post(url, json={}, headers=await w.login(w.b, Role.SECRETARY))
    assert other.status_code == 404
    too_long = await w.client.post(url, json={"reason": "x" * 2001}, headers=secretary)
    assert too_long.status_code == 422
    processing = await insert_batch(
        w.runtime, w.a, await file_cases(w.runtime, w.a, 1), state="processing"
    )
    not_done = await w.client.post(batch_url(processing, "/accept"), json={}, headers=secretary)
    assert not_done.status_code == 409

    accepted = await w.client.post(url, json={"reason": "材料齐全"}, headers=secretary)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["mode"] == "staff"
    again = await w.client.post(url, json={}, headers=secretary)
    assert again.status_code == 409
    await all_in(w, case_ids, "accepted")
    for case_id in case_ids:
        [event] = await accepts(w, case_id)
        assert event["actor"] == "batches"
        assert str(w.a.users[Role.SECRETARY]) in str(event["data"])


async def test_the_lender_pays_the_batch_once_and_every_respondent_is_served(
    pay_world: PayWorld,
) -> None:
    pw = pay_world
    w = pw.w
    batch_id, case_ids = await accepted_batch(w, 3)
    url = batch_url(batch_id, "/invoice/checkout")

    # Only the lender client that submitted the batch pays it.
    operator = Principal.operator(w.a.id, "tests")
    another = await create_client(
        w.runtime,
        operator,
        ApiClientCreate(
            name="another lender", kind=ClientKind.LENDER, scopes=["tenant:read", "batches:submit"]
        ),
    )
    token = await w.client.post(
        f"/t/{w.a.slug}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(another.client.client_id, another.client_secret),
    )
    assert token.status_code == 200, token.text
    stranger = {"authorization": f"Bearer {token.json()['access_token']}"}
    assert (await w.client.post(url, headers=stranger)).status_code == 404
    assert (
        await w.client.get(batch_url(batch_id, "/invoice"), headers=stranger)
    ).status_code == 404
    b_lender = {"authorization": f"Bearer {await w.token(w.b, ClientKind.LENDER)}"}
    assert (await w.client.post(url, headers=b_lender)).status_code == 404
    secretary = await w.login(w.a, Role.SECRETARY)
    assert (await w.client.post(url, headers=secretary)).status_code == 404

    headers = await lender(w)
    first = await w.client.post(url, headers=headers)
    again = await w.client.post(url, headers=headers)
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["out_trade_no"] == again.json()["out_trade_no"]
    assert first.json()["amount"] == str(Decimal(TOTAL) * 3)
    assert "TRADE_SUCCESS" in await pay_on_the_cashier_page(pw, first.json()["url"])
    await all_in(w, case_ids, "fee_paid")

    invoice = (await w.client.get(batch_url(batch_id, "/invoice"), headers=secretary)).json()
    assert invoice["status"] == "paid"
    assert invoice["paid_amount"] == str(Decimal(TOTAL) * 3)
    assert invoice["lines"] == {"paid": 3}
    assert [e["effect"] for e in invoice["events"]] == ["paid"]
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        for case_id in case_ids:
            served = await uow.fetch(
                "SELECT r.id FROM service_request r JOIN case_party p ON p.tenant_id = "
                "r.tenant_id AND p.id = r.party_id WHERE r.tenant_id = {} AND r.case_id = {} "
                "AND r.notice = 'notice-of-arbitration' AND p.side = 'respondent'",
                w.a.id,
                case_id,
            )
            assert len(served) == 1
            assert not [
                d for d in await deadlines.pending(uow, w.a.id, case_id) if d.name == "fee_payment"
            ]
            events = await uow.fetch(
                "SELECT actor FROM case_event WHERE tenant_id = {} AND case_id = {} "
                "AND command = 'record_payment'",
                w.a.id,
                case_id,
            )
            assert [e["actor"] for e in events] == ["payments"]
    claimant = await w.login(w.a, Role.CLAIMANT)
    own = (await w.client.get(f"{URL}/{case_ids[0]}/invoice", headers=claimant)).json()
    assert (own["status"], own["paid_via"], own["trade_no"]) == (
        "paid",
        "batch",
        invoice["trade_no"],
    )

    # One case withdrawn: its share goes back by the rule set, from the batch's trade.
    response = await command(w, claimant, str(case_ids[0]), "withdraw", reason="和解了")
    assert response.status_code == 200, response.text

    async def refunded() -> bool:
        refunds = (await w.client.get(f"{URL}/{case_ids[0]}/invoice", headers=claimant)).json()[
            "refunds"
        ]
        return bool(refunds) and refunds[0]["status"] == "succeeded"

    await wait_for(refunded)
    own = (await w.client.get(f"{URL}/{case_ids[0]}/invoice", headers=claimant)).json()
    assert own["refunds"][0]["lines"] == {"acceptance": "70.00", "handling": "200.00"}
    trade = httpx.get(f"{pw.sandbox.url}/sandbox/trades/{invoice['out_trade_no']}").json()
    assert [r["amount"] for r in trade["refunds"]] == ["270.00"]
    assert await states(w, case_ids[1:]) == ["fee_paid", "fee_paid"]


async def test_a_wrong_amount_for_a_batch_is_an_anomaly(pay_world: PayWorld) -> None:
    pw = pay_world
    w = pw.w
    batch_id, case_ids = await accepted_batch(w, 2)
    secretary = await w.login(w.a, Role.SECRETARY)
    invoice = (await w.client.get(batch_url(batch_id, "/invoice"), headers=secretary)).json()
    wrong = signed_notify(pw.sandbox.keys, out_trade_no=invoice["out_trade_no"], total_amount=TOTAL)
    answer = await notify(w, wrong)
    assert (answer.status_code, answer.text) == (200, "success")
    invoice = (await w.client.get(batch_url(batch_id, "/invoice"), headers=secretary)).json()
    assert invoice["status"] == "open"
    assert [(e["effect"], e["reason"].split(":")[0]) for e in invoice["events"]] == [
        ("anomaly", "amount_mismatch")
    ]
    assert await states(w, case_ids) == ["accepted", "accepted"]


async def test_an_unpaid_batch_is_deemed_withdrawn_case_by_case(pay_world: PayWorld) -> None:
    pw = pay_world
    w = pw.w
    clock = FakeClock()
    w.runtime.clock = clock
    batch_id, case_ids = await accepted_batch(w, 2)
    secretary = await w.login(w.a, Role.SECRETARY)
    invoice = (await w.client.get(batch_url(batch_id, "/invoice"), headers=secretary)).json()
    clock.current = datetime_of(invoice["due_at"]) + timedelta(seconds=1)
    late = await w.client.post(batch_url(batch_id, "/invoice/checkout"), headers=await lender(w))
    assert late.status_code == 409
    await deadlines.sweep(w.runtime)
    await all_in(w, case_ids, "withdrawn")
    invoice = (await w.client.get(batch_url(batch_id, "/invoice"), headers=secretary)).json()
    assert invoice["status"] == "cancelled"
    assert invoice["lines"] == {"cancelled": 2}

    # The money comes after all: each case's share is given back.
    paid = signed_notify(
        pw.sandbox.keys,
        out_trade_no=invoice["out_trade_no"],
        total_amount=str(Decimal(TOTAL) * 2),
    )
    assert (await notify(w, paid)).status_code == 200

    async def given_back() -> bool:
        async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
            rows = await uow.fetch(
                "SELECT r.amount FROM payment_refund r JOIN payment_invoice i ON i.tenant_id = "
                "r.tenant_id AND i.id = r.invoice_id WHERE r.tenant_id = {} AND i.batch_id = {} "
                "AND r.kind = 'late_payment'",
                w.a.id,
                batch_id,
            )
        return [Decimal(str(r["amount"])) for r in rows] == [Decimal(TOTAL)] * 2

    await wait_for(given_back)
    invoice = (await w.client.get(batch_url(batch_id, "/invoice"), headers=secretary)).json()
    assert [e["effect"] for e in invoice["events"]] == ["refund"]
    assert await states(w, case_ids) == ["withdrawn", "withdrawn"]
