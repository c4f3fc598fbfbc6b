"""The respondent's counterclaim: filed in its period, its own fee, the claimant's answer period.

The fee is paid through the payment sandbox (its own process, notifying the app over
HTTP), or left unpaid until the clock (a FakeClock, swept by hand) deems the
counterclaim withdrawn. Both backends.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from arbitral.auth.domain import Role
from arbitral.cases import deadlines
from arbitral.cases import services as cases
from arbitral.cases.due_process import DueProcessRefused
from arbitral.pleadings import domain
from arbitral.rules.claims import ClaimForm, FieldSpec, FormCheck
from tests.cases.helpers import URL, accepted_case
from tests.hearings.helpers import history, served_case, state_of, wait_for
from tests.payments.conftest import PayWorld
from tests.payments.test_payments import notify, pay_on_the_cashier_page, signed_notify
from tests.support.clock import FakeClock
from tests.support.world import World

COUNTERCLAIM = {
    "claims": "请求申请人支付货款余额 1200 元。",
    "amount": "1200.00",
    "facts_and_reasons": "申请人收货后未支付尾款。",
}


def fee_of(w: World, case: dict[str, Any], amount: str) -> str:
    """The counterclaim fee as the case's pinned rule set assesses it (counterclaim=True)."""
    rules = w.runtime.rules.get(case["rule_set"], case["rule_set_version"])
    total = rules.assess_fee(case["case_type"], Decimal(amount), counterclaim=True).total
    return f"{total.quantize(Decimal('0.01'))}"


async def counterclaims(w: World, case_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    got = await w.client.get(f"{URL}/{case_id}/counterclaims", headers=headers)
    assert got.status_code == 200, got.text
    found: list[dict[str, Any]] = got.json()
    return found


async def file(w: World, case_id: str, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await w.client.post(
        f"{URL}/{case_id}/counterclaims", json={**COUNTERCLAIM, **body}, headers=headers
    )


async def test_a_counterclaim_filed_in_time_is_paid_through_the_sandbox_and_stands(
    pay_world: PayWorld,
) -> None:
    pw = pay_world
    w = pw.w
    w.runtime.clock = FakeClock()
    case, who = await served_case(w)
    case_id = case["id"]
    assert await counterclaims(w, case_id, who["claimant"]) == []

    # Only the respondent side files one.
    for role in ("claimant", "secretary", "arbitrator"):
        refused = await file(w, case_id, who[role])
        assert refused.status_code in (403, 404), (role, refused.text)
    assert (await file(w, case_id, who["claimant"])).status_code == 403

    w.runtime.clock.advance(days=2)  # type: ignore[attr-defined]
    filed = await file(w, case_id, who["respondent"])
    assert filed.status_code == 201, filed.text
    body = filed.json()
    assert body["status"] == "pending_fee"
    assert body["amount"] == "1200.00"
    assert len(body["sha256"]) == 64
    fee = fee_of(w, case, "1200.00")
    # Assessed as a counterclaim on its own amount, not on the claim's.
    assert fee != fee_of(w, case, case["amount_claimed"])
    assert body["fee"]["total"] == fee
    assert body["fee"]["status"] == "open"
    assert body["answer_due_at"] is None
    again = await file(w, case_id, who["respondent"])
    assert again.status_code == 409, again.text
    assert "already" in again.json()["detail"]

    # The fee is invoiced to the respondent; everyone on the case sees it.
    invoice = (
        await w.client.get(
            f"{URL}/{case_id}/invoice", params={"subject": "counterclaim"}, headers=who["claimant"]
        )
    ).json()
    assert (invoice["kind"], invoice["payer"], invoice["status"]) == (
        "counterclaim",
        "respondent",
        "open",
    )
    assert invoice["total"] == fee
    claim_invoice = (await w.client.get(f"{URL}/{case_id}/invoice", headers=who["claimant"])).json()
    assert (claim_invoice["kind"], claim_invoice["payer"]) == ("claim", "claimant")
    bad = await w.client.get(
        f"{URL}/{case_id}/invoice", params={"subject": "other"}, headers=who["claimant"]
    )
    assert bad.status_code == 422
    shown = (await w.client.get(f"{URL}/{case_id}", headers=who["claimant"])).json()
    names = {d["name"] for d in shown["deadlines"]}
    assert "counterclaim_fee" in names
    assert "counterclaim" not in names  # met by the filing

    # The respondent side pays it on the sandbox's cashier page; the claimant cannot.
    checkout = f"{URL}/{case_id}/invoice/checkout"
    wrong = await w.client.post(
        checkout, params={"subject": "counterclaim"}, headers=who["claimant"]
    )
    assert wrong.status_code == 403
    started = await w.client.post(
        checkout, params={"subject": "counterclaim"}, headers=who["respondent"]
    )
    assert started.status_code == 200, started.text
    assert started.json()["amount"] == fee
    assert started.json()["out_trade_no"] == invoice["out_trade_no"]
    assert "TRADE_SUCCESS" in await pay_on_the_cashier_page(pw, started.json()["url"])

    async def standing() -> bool:
        found = await counterclaims(w, case_id, who["claimant"])
        return found[0]["status"] == "standing"

    await wait_for(standing)
    [shown_cc] = await counterclaims(w, case_id, who["secretary"])
    assert shown_cc["fee"]["status"] == "paid"
    assert shown_cc["answer_due_at"] is not None
    assert shown_cc["paid_at"] is not None
    shown = (await w.client.get(f"{URL}/{case_id}", headers=who["claimant"])).json()
    names = {d["name"] for d in shown["deadlines"]}
    assert "counterclaim_answer" in names
    assert "counterclaim_fee" not in names
    assert shown["state"] == "answer_period"  # the case itself does not move

    # The provider delivers the same notification twice more: one effect.
    async with httpx.AsyncClient() as console:
        for _ in range(2):
            resent = await console.post(
                f"{pw.sandbox.url}/sandbox/trades/{invoice['out_trade_no']}/notify"
            )
            assert resent.json()["accepted"] is True
    trade = httpx.get(f"{pw.sandbox.url}/sandbox/trades/{invoice['out_trade_no']}").json()
    assert [a["answer"] for a in trade["notifications"][0]["history"]] == ["success"] * 3
    staff_view = (
        await w.client.get(
            f"{URL}/{case_id}/invoice", params={"subject": "counterclaim"}, headers=who["secretary"]
        )
    ).json()
    assert [e["effect"] for e in staff_view["events"]] == ["paid"]
    events = await history(w, case_id, who["claimant"])
    commands = [e["command"] for e in events]
    for step in (
        "counterclaim_filed",
        "counterclaim_fee_invoiced",
        "counterclaim_fee_paid",
        "counterclaim_answer_period_given",
    ):
        assert commands.count(step) == 1, (step, commands)
    assert commands.count("record_payment") == 1  # the claim's, not the counterclaim's
    paid_event = next(e for e in events if e["command"] == "counterclaim_fee_paid")
    assert paid_event["actor"] == "payments"

    # Ledger: each step is a leaf of the tenant's transparency log.
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        rows = await uow.fetch("SELECT kind FROM ledger_leaf WHERE tenant_id = {}", w.a.id)
    kinds = [str(r["kind"]) for r in rows]
    for step in ("filed", "fee_invoiced", "fee_paid", "answer_period_given"):
        assert kinds.count(f"case.counterclaim_{step}") == 1, step

    record = (await w.client.get(f"{URL}/{case_id}/due-process", headers=who["claimant"])).json()
    assert [e["command"] for e in record["counterclaim"]] == [
        "counterclaim_filed",
        "counterclaim_fee_invoiced",
        "counterclaim_fee_paid",
        "counterclaim_answer_period_given",
    ]
    periods = {p["name"]: p["status"] for p in record["periods"]}
    assert periods["counterclaim"] == "cancelled"  # met by the filing
    assert periods["counterclaim_fee"] == "cancelled"  # met by the payment
    assert periods["counterclaim_answer"] == "pending"


async def test_a_signed_notification_delivered_three_times_at_once_pays_once(
    pay_world: PayWorld,
) -> None:
    pw = pay_world
    w = pw.w
    case, who = await served_case(w)
    filed = await file(w, case["id"], who["respondent"])
    assert filed.status_code == 201, filed.text
    invoice = (
        await w.client.get(
            f"{URL}/{case['id']}/invoice",
            params={"subject": "counterclaim"},
            headers=who["secretary"],
        )
    ).json()
    params = signed_notify(
        pw.sandbox.keys, out_trade_no=invoice["out_trade_no"], total_amount=invoice["total"]
    )
    answers = await asyncio.gather(*(notify(w, params) for _ in range(3)))
    assert [(a.status_code, a.text) for a in answers] == [(200, "success")] * 3
    [cc] = await counterclaims(w, case["id"], who["respondent"])
    assert cc["status"] == "standing"
    commands = [e["command"] for e in await history(w, case["id"], who["secretary"])]
    assert commands.count("counterclaim_fee_paid") == 1
    assert commands.count("counterclaim_answer_period_given") == 1


async def test_the_pleadings_stay_open_while_the_claimant_may_answer_the_counterclaim(
    pay_world: PayWorld,
) -> None:
    pw = pay_world
    w = pw.w
    clock = FakeClock()
    w.runtime.clock = clock
    case, who = await served_case(w)
    case_id = case["id"]
    assert (await file(w, case_id, who["respondent"])).status_code == 201
    invoice = (
        await w.client.get(
            f"{URL}/{case_id}/invoice", params={"subject": "counterclaim"}, headers=who["secretary"]
        )
    ).json()
    paid = await notify(
        w,
        signed_notify(
            pw.sandbox.keys, out_trade_no=invoice["out_trade_no"], total_amount=invoice["total"]
        ),
    )
    assert paid.status_code == 200
    # The respondent answers the claim: its periods are all met, but the claimant's runs.
    answered = await w.client.post(
        f"{URL}/{case_id}/answer", json={"text": "不同意仲裁请求。"}, headers=who["respondent"]
    )
    assert answered.status_code == 201, answered.text
    assert await state_of(w, case_id, who["claimant"]) == "answer_period"

    # Nobody closes the pleadings meanwhile, the platform included.
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    with pytest.raises(DueProcessRefused) as refused:
        async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
            await cases.system_command(
                uow, w.runtime, tenant, uuid.UUID(case_id), "close_pleadings", by="tests"
            )
    assert "counterclaim_answer" in str(refused.value)

    # Only the claimant personally waives its period (not the respondent, not the staff).
    waivers = f"{URL}/{case_id}/waivers"
    for role in ("respondent", "secretary"):
        response = await w.client.post(
            waivers, json={"period": "counterclaim_answer"}, headers=who[role]
        )
        assert response.status_code == 403, (role, response.text)
    nobody = await w.client.post(
        waivers, json={"period": "counterclaim_fee"}, headers=who["claimant"]
    )
    assert nobody.status_code == 422
    waived = await w.client.post(
        waivers, json={"period": "counterclaim_answer"}, headers=who["claimant"]
    )
    assert waived.status_code == 200, waived.text
    assert await state_of(w, case_id, who["claimant"]) == "evidence_exchange"
    events = await history(w, case_id, who["claimant"])
    closing = next(e for e in events if e["command"] == "close_pleadings")
    assert closing["actor"] == "claimant_waiver"
    record = (await w.client.get(f"{URL}/{case_id}/due-process", headers=who["secretary"])).json()
    periods = {p["name"]: p["status"] for p in record["periods"]}
    assert periods["counterclaim_answer"] == "waived"
    assert [e["data"]["period"] for e in record["waivers"]] == ["counterclaim_answer"]


async def test_the_claimants_answer_period_running_out_closes_the_pleadings(
    pay_world: PayWorld,
) -> None:
    pw = pay_world
    w = pw.w
    clock = FakeClock()
    w.runtime.clock = clock
    case, who = await served_case(w)
    case_id = case["id"]
    clock.advance(days=9)  # the counterclaim comes on the last days of its period
    assert (await file(w, case_id, who["respondent"])).status_code == 201
    invoice = (
        await w.client.get(
            f"{URL}/{case_id}/invoice", params={"subject": "counterclaim"}, headers=who["secretary"]
        )
    ).json()
    clock.advance(days=1)
    params = signed_notify(
        pw.sandbox.keys, out_trade_no=invoice["out_trade_no"], total_amount=invoice["total"]
    )
    assert (await notify(w, params)).status_code == 200
    [cc] = await counterclaims(w, case_id, who["claimant"])
    answer_due = datetime.fromisoformat(cc["answer_due_at"])
    # The respondent's answer period (15 days from service) runs out first: default, but
    # the pleadings stay open for the claimant's answer to the counterclaim.
    clock.advance(days=6)
    assert clock.now() < answer_due
    await deadlines.sweep(w.runtime)

    async def in_default() -> bool:
        events = await history(w, case_id, who["claimant"])
        return any(e["command"] == "respondent_in_default" for e in events)

    await wait_for(in_default)
    assert await state_of(w, case_id, who["claimant"]) == "answer_period"
    clock.current = answer_due + timedelta(seconds=1)
    await deadlines.sweep(w.runtime)

    async def closed() -> bool:
        return await state_of(w, case_id, who["claimant"]) == "evidence_exchange"

    await wait_for(closed)
    events = await history(w, case_id, who["claimant"])
    commands = [e["command"] for e in events]
    assert commands.index("counterclaim_answer_period_ended") < commands.index("close_pleadings")
    record = (await w.client.get(f"{URL}/{case_id}/due-process", headers=who["claimant"])).json()
    assert record["counterclaim"][-1]["command"] == "counterclaim_answer_period_ended"
    assert {p["name"]: p["status"] for p in record["periods"]}["counterclaim_answer"] == "fired"


async def test_an_unpaid_counterclaim_is_deemed_withdrawn_and_the_case_goes_on(
    auth_world: World,
) -> None:
    w = auth_world
    clock = FakeClock()
    w.runtime.clock = clock
    case, who = await served_case(w)
    case_id = case["id"]
    clock.advance(days=9)
    filed = await file(w, case_id, who["respondent"])
    assert filed.status_code == 201, filed.text
    fee_due = datetime.fromisoformat(filed.json()["fee"]["due_at"])
    # The respondent's answer period ends (day 15) while the fee is still awaited (day 16+):
    # the default is recorded, the pleadings stay open.
    clock.advance(days=6, seconds=1)
    assert clock.now() < fee_due
    await deadlines.sweep(w.runtime)

    async def in_default() -> bool:
        events = await history(w, case_id, who["claimant"])
        return any(e["command"] == "respondent_in_default" for e in events)

    await wait_for(in_default)
    assert await state_of(w, case_id, who["claimant"]) == "answer_period"

    clock.current = fee_due + timedelta(seconds=1)
    assert await deadlines.sweep(w.runtime) >= 1

    async def closed() -> bool:
        return await state_of(w, case_id, who["claimant"]) == "evidence_exchange"

    await wait_for(closed)
    [cc] = await counterclaims(w, case_id, who["claimant"])
    assert cc["status"] == "deemed_withdrawn"
    assert cc["withdrawn_at"] is not None
    assert cc["fee"]["status"] == "cancelled"
    assert cc["answer_due_at"] is None  # never given
    events = await history(w, case_id, who["respondent"])
    withdrawn = next(e for e in events if e["command"] == "counterclaim_deemed_withdrawn")
    assert withdrawn["actor"] == "deadlines"
    assert "撤回" in withdrawn["reason"]
    commands = [e["command"] for e in events]
    assert commands.index("counterclaim_deemed_withdrawn") < commands.index("close_pleadings")
    assert "deem_withdrawn" not in commands  # the case goes on
    record = (await w.client.get(f"{URL}/{case_id}/due-process", headers=who["secretary"])).json()
    assert [e["command"] for e in record["counterclaim"]] == [
        "counterclaim_filed",
        "counterclaim_fee_invoiced",
        "counterclaim_deemed_withdrawn",
    ]
    assert {p["name"]: p["status"] for p in record["periods"]}["counterclaim_fee"] == "fired"
    # Checkout of a void invoice is refused.
    late = await w.client.post(
        f"{URL}/{case_id}/invoice/checkout",
        params={"subject": "counterclaim"},
        headers=who["respondent"],
    )
    assert late.status_code == 409


async def test_a_late_counterclaim_and_one_before_service_are_refused(auth_world: World) -> None:
    w = auth_world
    clock = FakeClock()
    w.runtime.clock = clock
    accepted, who = await accepted_case(w)
    early = await file(w, accepted["id"], who["respondent"])
    assert early.status_code == 409, early.text
    assert early.json()["errors"][0]["rule"] == "counterclaim_period"

    case, who = await served_case(w)
    clock.advance(days=10, seconds=1)  # not yet swept: the clock alone decides
    late = await file(w, case["id"], who["respondent"])
    assert late.status_code == 409, late.text
    assert "ended" in late.json()["detail"]
    assert await counterclaims(w, case["id"], who["respondent"]) == []


async def test_bad_counterclaims_are_refused_naming_the_field(auth_world: World) -> None:
    w = auth_world
    case, who = await served_case(w)
    case_id = case["id"]
    cases_of_bad: list[tuple[dict[str, Any], str, str]] = [
        ({"amount": None}, "$.amount", "required"),
        ({"amount": "-5"}, "$.amount", "min"),
        ({"amount": "12.345"}, "$.amount", "format"),
        ({"amount": 12.5}, "$.amount", "type"),
        ({"amount": "0"}, "$.amount", "min"),
        ({"claims": "  "}, "$.claims", "required"),
        ({"claims": "请" * 5001}, "$.claims", "max_length"),
        ({"claims": ["a list"]}, "$.claims", "type"),
        ({"facts_and_reasons": "理" * 20001}, "$.facts_and_reasons", "max_length"),
    ]
    for change, field, rule in cases_of_bad:
        body = {**COUNTERCLAIM, **change}
        response = await w.client.post(
            f"{URL}/{case_id}/counterclaims", json=body, headers=who["respondent"]
        )
        assert response.status_code == 422, (change, response.text)
        errors = {(e["field"], e["rule"]) for e in response.json()["errors"]}
        assert (field, rule) in errors, (change, errors)
    unknown = await w.client.post(
        f"{URL}/{case_id}/counterclaims",
        json={**COUNTERCLAIM, "order_total": "1"},
        headers=who["respondent"],
    )
    assert unknown.status_code in (400, 422)
    # Nothing was written by the refusals.
    assert await counterclaims(w, case_id, who["respondent"]) == []
    other = await w.client.get(
        f"{URL}/{case_id}/counterclaims", headers=await w.login(w.b, Role.RESPONDENT)
    )
    assert other.status_code == 404


def test_counterclaim_rules() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    later = now + timedelta(seconds=1)
    assert domain.counterclaim_refusal(now, later, in_pleadings=True, filed=False) is None
    assert domain.counterclaim_refusal(now, now, in_pleadings=True, filed=False) is not None
    assert domain.counterclaim_refusal(now, None, in_pleadings=True, filed=False) is not None
    assert domain.counterclaim_refusal(now, later, in_pleadings=False, filed=False) is not None
    assert "already" in str(domain.counterclaim_refusal(now, later, in_pleadings=True, filed=True))
    assert domain.counterclaim_answer_refusal(now, "standing", later, answered=False) is None
    assert domain.counterclaim_answer_refusal(now, None, later, answered=False) is not None
    assert domain.counterclaim_answer_refusal(now, "standing", later, answered=True) is not None
    assert domain.counterclaim_answer_refusal(now, "pending_fee", later, answered=False)
    assert domain.counterclaim_answer_refusal(now, "standing", now, answered=False)
    assert domain.counterclaim_answer_refusal(now, "standing", None, answered=False)
    assert domain.counterclaim_field("$.amount_claimed") == "$.amount"
    assert domain.counterclaim_field("$.claims") == "$.claims"
    assert not domain.pleadings_over(["counterclaim_fee"])
    assert not domain.pleadings_over(["counterclaim_answer"])
    # The form's own fields and checks among them; defaults for fields it does not state.
    form = ClaimForm(
        fields=(
            FieldSpec("amount_claimed", "money", False, "金额", "amount", maximum=Decimal(100)),
            FieldSpec("order_date", "date", True, "日期", "date"),
        ),
        checks=(FormCheck("at_most", ("amount_claimed", "amount_claimed")),),
    )
    sub = domain.counterclaim_form(form)
    assert [f.name for f in sub.fields] == ["claims", "amount_claimed", "facts_and_reasons"]
    amount = sub.field("amount_claimed")
    assert amount is not None
    assert amount.required
    assert amount.maximum == Decimal(100)
    assert len(sub.checks) == 1


async def test_the_claimant_answers_the_counterclaim_within_its_period(
    pay_world: PayWorld,
) -> None:
    pw = pay_world
    w = pw.w
    w.runtime.clock = FakeClock()
    case, who = await served_case(w)
    case_id = case["id"]
    url = f"{URL}/{case_id}/counterclaims/answer"
    nothing = await w.client.post(url, json={"text": "答辩"}, headers=who["claimant"])
    assert nothing.status_code == 409, nothing.text
    assert (await file(w, case_id, who["respondent"])).status_code == 201
    unpaid = await w.client.post(url, json={"text": "答辩"}, headers=who["claimant"])
    assert unpaid.status_code == 409
    assert "pending_fee" in unpaid.json()["detail"]
    invoice = (
        await w.client.get(
            f"{URL}/{case_id}/invoice", params={"subject": "counterclaim"}, headers=who["secretary"]
        )
    ).json()
    params = signed_notify(
        pw.sandbox.keys, out_trade_no=invoice["out_trade_no"], total_amount=invoice["total"]
    )
    assert (await notify(w, params)).status_code == 200
    answered = await w.client.post(
        f"{URL}/{case_id}/answer", json={"text": "不同意仲裁请求。"}, headers=who["respondent"]
    )
    assert answered.status_code == 201, answered.text

    for role in ("respondent", "secretary"):
        refused = await w.client.post(url, json={"text": "答辩"}, headers=who[role])
        assert refused.status_code == 403, (role, refused.text)
    empty = await w.client.post(url, json={"text": " "}, headers=who["claimant"])
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "$.text"
    assert await state_of(w, case_id, who["claimant"]) == "answer_period"

    given = await w.client.post(
        url, json={"text": "尾款已付清，反请求不成立。"}, headers=who["claimant"]
    )
    assert given.status_code == 201, given.text
    body = given.json()
    assert body["answer"]["text"] == "尾款已付清，反请求不成立。"
    assert len(body["answer"]["sha256"]) == 64
    again = await w.client.post(url, json={"text": "再答辩"}, headers=who["claimant"])
    assert again.status_code == 409
    # Every period of the pleadings has been met: they close at once.
    assert await state_of(w, case_id, who["claimant"]) == "evidence_exchange"
    record = (await w.client.get(f"{URL}/{case_id}/due-process", headers=who["respondent"])).json()
    assert [e["command"] for e in record["counterclaim"]][-2:] == [
        "counterclaim_answer_period_given",
        "counterclaim_answered",
    ]
    assert {p["name"]: p["status"] for p in record["periods"]}["counterclaim_answer"] == (
        "cancelled"
    )
    [shown] = await counterclaims(w, case_id, who["respondent"])
    assert shown["answer"]["answered_by"] == body["answer"]["answered_by"]


async def test_a_paid_counterclaim_fee_is_given_back_when_the_claimant_withdraws(
    pay_world: PayWorld,
) -> None:
    pw = pay_world
    w = pw.w
    w.runtime.clock = FakeClock()
    case, who = await served_case(w)
    case_id = case["id"]
    assert (await file(w, case_id, who["respondent"])).status_code == 201
    invoice = (
        await w.client.get(
            f"{URL}/{case_id}/invoice", params={"subject": "counterclaim"}, headers=who["secretary"]
        )
    ).json()
    paid = await notify(
        w,
        signed_notify(
            pw.sandbox.keys, out_trade_no=invoice["out_trade_no"], total_amount=invoice["total"]
        ),
    )
    assert paid.status_code == 200
    withdrawn = await w.client.post(
        f"{URL}/{case_id}/commands",
        json={"command": "withdraw", "reason": "已与被申请人和解"},
        headers=who["claimant"],
    )
    assert withdrawn.status_code == 200, withdrawn.text
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        refunds = await uow.fetch(
            "SELECT r.amount, r.kind, i.kind AS subject FROM payment_refund r "
            "JOIN payment_invoice i ON i.tenant_id = r.tenant_id AND i.id = r.invoice_id "
            "WHERE r.tenant_id = {} AND r.case_id = {}",
            w.a.id,
            uuid.UUID(case_id),
        )
    mine = [r for r in refunds if r["subject"] == "counterclaim"]
    assert len(mine) == 1, refunds
    assert f"{Decimal(str(mine[0]['amount'])):.2f}" == invoice["total"]
