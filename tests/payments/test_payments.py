"""Fees and payment end to end: invoice on acceptance, the sandbox provider, notify, refunds.

The sandbox runs in its own process (tests/payments/conftest.py); a claimant pays on its
cashier page over HTTP, and its signed notification reaches the app over HTTP.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager as contextlib_asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from arbitral.auth.domain import Role
from arbitral.cases import deadlines
from arbitral.payments import alipay, services
from arbitral.payments.provider import provider_for
from tests.cases.helpers import URL, accepted_case, command, file_case
from tests.payments.conftest import APP_ID, PayWorld
from tests.support.clock import FakeClock
from tests.support.world import World

FORM = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
# The online-purchase claim of the helpers asks 2,500 yuan; rule set 1.2:
# acceptance 100 + 5% of 1,500 = 175, halved for consumers = 87.50; handling 1%, at least 200.
TOTAL = "287.50"


async def wait_for(predicate: Callable[[], Awaitable[bool]], *, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def state_of(w: World, headers: dict[str, str], case_id: str) -> str:
    got = await w.client.get(f"{URL}/{case_id}", headers=headers)
    return str(got.json()["state"])


async def invoice_of(w: World, headers: dict[str, str], case_id: str) -> dict[str, Any]:
    got = await w.client.get(f"{URL}/{case_id}/invoice", headers=headers)
    assert got.status_code == 200, got.text
    invoice: dict[str, Any] = got.json()
    return invoice


async def pay_on_the_cashier_page(pw: PayWorld, checkout_url: str) -> str:
    """What the payer's browser does: the gateway, the cashier page, the pay button."""
    async with httpx.AsyncClient() as browser:
        gateway = await browser.get(checkout_url)
        assert gateway.status_code == 302, gateway.text
        cashier = pw.sandbox.url + gateway.headers["location"]
        page = await browser.get(cashier)
        assert page.status_code == 200
        assert "id='pay'" in page.text
        paid = await browser.post(f"{cashier}/pay")
        assert paid.status_code == 200, paid.text
        return paid.text


async def paid_case(pw: PayWorld) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    w = pw.w
    case, who = await accepted_case(w)
    checkout = await w.client.post(f"{URL}/{case['id']}/invoice/checkout", headers=who["claimant"])
    assert checkout.status_code == 200, checkout.text
    assert "TRADE_SUCCESS" in await pay_on_the_cashier_page(pw, checkout.json()["url"])

    async def paid() -> bool:
        return await state_of(w, who["claimant"], case["id"]) == "fee_paid"

    await wait_for(paid)
    return case, who


def signed_notify(
    keys: Path, key_file: str = "alipay_private_key.pem", **fields: str
) -> dict[str, str]:
    """A notification as the sandbox (Alipay) signs one."""
    key = alipay.load_private_key((keys / key_file).read_text())
    params = {
        "notify_time": "2026-11-23 20:00:00",
        "notify_type": "trade_status_sync",
        "notify_id": uuid.uuid4().hex,
        "app_id": APP_ID,
        "charset": "utf-8",
        "version": "1.0",
        "trade_no": "2026112322001400000000000042",
        "trade_status": "TRADE_SUCCESS",
        "seller_id": "2088000000000001",
        "gmt_payment": "2026-11-23 20:00:00",
        **fields,
    }
    params["sign"] = alipay.rsa2_sign(key, alipay.notify_content(params))
    params["sign_type"] = "RSA2"
    return params


async def notify(w: World, params: dict[str, str]) -> httpx.Response:
    return await w.client.post(
        f"/t/{w.a.slug}/payments/alipay/notify", content=urlencode(params), headers=FORM
    )


async def test_a_claimant_pays_the_fees_end_to_end(pay_world: PayWorld) -> None:
    pw = pay_world
    w = pw.w
    case, who = await accepted_case(w)
    invoice = await invoice_of(w, who["respondent"], case["id"])  # anyone on the case
    assert invoice["status"] == "open"
    assert invoice["total"] == TOTAL
    assert invoice["currency"] == "CNY"
    assert invoice["rule_set_version"] == "1.2"
    assert [(line["name"], line["due"]) for line in invoice["lines"]] == [
        ("acceptance", "87.50"),
        ("handling", "200.00"),
    ]
    assert invoice["events"] == []  # the parties do not see the provider's messages
    shown = (await w.client.get(f"{URL}/{case['id']}", headers=who["claimant"])).json()
    fee_deadlines = [d for d in shown["deadlines"] if d["name"] == "fee_payment"]
    assert [d["due_at"][:19] for d in fee_deadlines] == [invoice["due_at"][:19]]

    # Only the claimant side pays; checkout twice opens one order at the provider.
    refused = await w.client.post(f"{URL}/{case['id']}/invoice/checkout", headers=who["respondent"])
    assert refused.status_code == 403
    first = await w.client.post(f"{URL}/{case['id']}/invoice/checkout", headers=who["claimant"])
    again = await w.client.post(f"{URL}/{case['id']}/invoice/checkout", headers=who["claimant"])
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["out_trade_no"] == again.json()["out_trade_no"] == invoice["out_trade_no"]
    assert first.json()["amount"] == TOTAL
    assert first.json()["url"].startswith(pw.sandbox.gateway + "?")

    # The payer cancels once, then pays on the sandbox's cashier page.
    async with httpx.AsyncClient() as browser:
        gateway = await browser.get(first.json()["url"])
        cashier = pw.sandbox.url + gateway.headers["location"]
        cancelled = await browser.post(f"{cashier}/cancel")
        assert "Cancelled" in cancelled.text
    assert await state_of(w, who["claimant"], case["id"]) == "accepted"
    assert "TRADE_SUCCESS" in await pay_on_the_cashier_page(pw, again.json()["url"])

    async def paid() -> bool:
        return await state_of(w, who["claimant"], case["id"]) == "fee_paid"

    await wait_for(paid)
    invoice = await invoice_of(w, who["secretary"], case["id"])
    assert invoice["status"] == "paid"
    assert invoice["paid_amount"] == TOTAL
    assert invoice["paid_via"] == "provider"
    assert [e["effect"] for e in invoice["events"]] == ["paid"]
    shown = (await w.client.get(f"{URL}/{case['id']}", headers=who["claimant"])).json()
    assert "fee_payment" not in [d["name"] for d in shown["deadlines"]]
    history = (await w.client.get(f"{URL}/{case['id']}/history", headers=who["claimant"])).json()
    assert [e["actor"] for e in history if e["command"] == "record_payment"] == ["payments"]

    # The provider heard "success" on its first attempt: it stops sending.
    trade = httpx.get(f"{pw.sandbox.url}/sandbox/trades/{invoice['out_trade_no']}").json()
    assert trade["status"] == "TRADE_SUCCESS"
    assert trade["trade_no"] == invoice["trade_no"]
    [note] = trade["notifications"]
    assert note["attempts"] == 1
    assert note["last_answer"] == "success"

    late = await w.client.post(f"{URL}/{case['id']}/invoice/checkout", headers=who["claimant"])
    assert late.status_code == 409


async def test_a_notification_delivered_three_times_has_one_effect(pay_world: PayWorld) -> None:
    pw = pay_world
    w = pw.w
    case, who = await paid_case(pw)
    invoice = await invoice_of(w, who["secretary"], case["id"])
    # The provider sends the same notification (same notify_id) twice more.
    async with httpx.AsyncClient() as console:  # the app answers on this same event loop
        for _ in range(2):
            again = await console.post(
                f"{pw.sandbox.url}/sandbox/trades/{invoice['out_trade_no']}/notify"
            )
            assert again.json()["accepted"] is True
    trade = httpx.get(f"{pw.sandbox.url}/sandbox/trades/{invoice['out_trade_no']}").json()
    assert [a["answer"] for a in trade["notifications"][0]["history"]] == ["success"] * 3
    invoice = await invoice_of(w, who["secretary"], case["id"])
    assert len(invoice["events"]) == 1
    history = (await w.client.get(f"{URL}/{case['id']}/history", headers=who["claimant"])).json()
    assert [e["command"] for e in history].count("record_payment") == 1

    # Three deliveries of one notification at once, on another case: one payment.
    other, _ = await accepted_case(w)
    unpaid = await invoice_of(w, who["claimant"], other["id"])
    params = signed_notify(pw.sandbox.keys, out_trade_no=unpaid["out_trade_no"], total_amount=TOTAL)
    answers = await asyncio.gather(*(notify(w, params) for _ in range(3)))
    assert [(a.status_code, a.text) for a in answers] == [(200, "success")] * 3
    assert await state_of(w, who["claimant"], other["id"]) == "fee_paid"
    invoice = await invoice_of(w, who["secretary"], other["id"])
    assert [e["effect"] for e in invoice["events"]] == ["paid"]
    history = (await w.client.get(f"{URL}/{other['id']}/history", headers=who["claimant"])).json()
    assert [e["command"] for e in history].count("record_payment") == 1


async def test_a_forged_or_altered_notification_moves_nothing(pay_world: PayWorld) -> None:
    pw = pay_world
    w = pw.w
    case, who = await accepted_case(w)
    invoice = await invoice_of(w, who["claimant"], case["id"])
    genuine = signed_notify(
        pw.sandbox.keys, out_trade_no=invoice["out_trade_no"], total_amount=TOTAL
    )

    forged = signed_notify(  # signed with the merchant's own key, not Alipay's
        pw.sandbox.keys,
        key_file="app_private_key.pem",
        out_trade_no=invoice["out_trade_no"],
        total_amount=TOTAL,
    )
    altered = {**genuine, "total_amount": "0.01"}
    unsigned = {k: v for k, v in genuine.items() if k != "sign"}
    other_app = signed_notify(
        pw.sandbox.keys, out_trade_no=invoice["out_trade_no"], total_amount=TOTAL, app_id="2021999"
    )
    for params in (forged, altered, unsigned, other_app):
        answer = await notify(w, params)
        assert (answer.status_code, answer.text) == (400, "failure")
    assert await state_of(w, who["claimant"], case["id"]) == "accepted"
    invoice = await invoice_of(w, who["secretary"], case["id"])
    assert invoice["status"] == "open"
    assert invoice["events"] == []
    audit = (
        await w.client.get("/api/v1/audit-events?limit=50", headers=who["commission_admin"])
    ).json()["items"]
    rejected = [e for e in audit if e["action"] == "payment.notify_rejected"]
    assert len(rejected) == 4
    assert all(e["outcome"] == "failure" for e in rejected)

    # Genuinely signed, but for another amount: an anomaly for the staff; the case waits.
    wrong = signed_notify(
        pw.sandbox.keys, out_trade_no=invoice["out_trade_no"], total_amount="1.00"
    )
    answer = await notify(w, wrong)
    assert (answer.status_code, answer.text) == (200, "success")
    assert await state_of(w, who["claimant"], case["id"]) == "accepted"
    invoice = await invoice_of(w, who["secretary"], case["id"])
    assert invoice["status"] == "open"
    assert [(e["effect"], e["reason"].split(":")[0]) for e in invoice["events"]] == [
        ("anomaly", "amount_mismatch")
    ]
    # And the genuine one, at last, pays.
    answer = await notify(w, genuine)
    assert (answer.status_code, answer.text) == (200, "success")
    assert await state_of(w, who["claimant"], case["id"]) == "fee_paid"


async def test_unpaid_fees_past_the_deadline_deem_the_claim_withdrawn(pay_world: PayWorld) -> None:
    pw = pay_world
    w = pw.w
    clock = FakeClock()
    w.runtime.clock = clock
    unpaid, who = await accepted_case(w)
    paid, _ = await paid_case(pw)
    invoice = await invoice_of(w, who["claimant"], unpaid["id"])
    clock.current = datetime_of(invoice["due_at"]) - timedelta(seconds=1)
    await deadlines.sweep(w.runtime)
    await asyncio.sleep(0.5)
    assert await state_of(w, who["claimant"], unpaid["id"]) == "accepted"
    clock.advance(seconds=2)
    await deadlines.sweep(w.runtime)

    async def withdrawn() -> bool:
        return await state_of(w, who["claimant"], unpaid["id"]) == "withdrawn"

    await wait_for(withdrawn)
    history = (await w.client.get(f"{URL}/{unpaid['id']}/history", headers=who["claimant"])).json()
    assert [e["actor"] for e in history if e["command"] == "deem_withdrawn"] == ["payments"]
    assert (await invoice_of(w, who["claimant"], unpaid["id"]))["status"] == "cancelled"
    assert await state_of(w, who["claimant"], paid["id"]) == "fee_paid"
    late = await w.client.post(f"{URL}/{unpaid['id']}/invoice/checkout", headers=who["claimant"])
    assert late.status_code == 409


def datetime_of(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_withdrawal_after_payment_is_refunded_as_the_rules_say(pay_world: PayWorld) -> None:
    pw = pay_world
    w = pw.w
    case, who = await paid_case(pw)
    response = await command(w, who["claimant"], case["id"], "withdraw", reason="和解了")
    assert response.status_code == 200, response.text

    async def refunded() -> bool:
        refunds = (await invoice_of(w, who["claimant"], case["id"]))["refunds"]
        return bool(refunds) and refunds[0]["status"] == "succeeded"

    await wait_for(refunded)
    invoice = await invoice_of(w, who["claimant"], case["id"])
    [refund] = invoice["refunds"]
    # Withdrawn once paid, before the answer period: 80% of the acceptance fee, all of
    # the handling fee (rule set 1.2, [refunds]).
    assert refund["kind"] == "withdrawal"
    assert refund["lines"] == {"acceptance": "70.00", "handling": "200.00"}
    assert refund["amount"] == "270.00"
    assert invoice["refunded_amount"] == "270.00"
    trade = httpx.get(f"{pw.sandbox.url}/sandbox/trades/{invoice['out_trade_no']}").json()
    assert [r["amount"] for r in trade["refunds"]] == ["270.00"]

    # The job delivered again (a worker killed after the provider answered): no second
    # refund, here or at the provider.
    refund_id = uuid.UUID(refund["id"])
    await services.execute_refund(w.runtime, w.a.id, refund_id, _unused_transaction)
    trade = httpx.get(f"{pw.sandbox.url}/sandbox/trades/{invoice['out_trade_no']}").json()
    assert len(trade["refunds"]) == 1


def _unused_transaction() -> Any:
    raise AssertionError("a refund already done opens no transaction")


async def test_a_refund_job_run_twice_refunds_once_at_the_provider(pay_world: PayWorld) -> None:
    pw = pay_world
    w = pw.w
    case, who = await paid_case(pw)
    invoice = await invoice_of(w, who["secretary"], case["id"])
    refund_id = uuid.uuid4()
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        # A pending refund whose job has not run yet (as the outbox would hand it over).
        await uow.execute(
            "INSERT INTO payment_refund (id, tenant_id, invoice_id, case_id, kind, amount, lines, "
            "reason, requested_by, out_request_no, status, attempts, result, created_at) "
            "VALUES ({}, {}, {}, {}, 'staff', {}, {}, 'test', 'tests', {}, 'pending', 0, "
            "{}, {})",
            refund_id,
            w.a.id,
            uuid.UUID(invoice["id"]),
            uuid.UUID(case["id"]),
            Decimal("100.00"),
            "{}",
            f"RF{refund_id.hex}",
            "{}",
            w.runtime.clock.now(),
        )

    class Crash(Exception):
        pass

    def crashing_transaction() -> Any:
        raise Crash  # the worker dies after the provider refunded, before recording it

    try:
        await services.execute_refund(w.runtime, w.a.id, refund_id, crashing_transaction)
    except Crash:
        pass
    else:
        raise AssertionError("the first run should have crashed")

    @contextlib_asynccontextmanager
    async def job_transaction() -> Any:
        async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
            yield uow

    await services.execute_refund(w.runtime, w.a.id, refund_id, job_transaction)
    trade = httpx.get(f"{pw.sandbox.url}/sandbox/trades/{invoice['out_trade_no']}").json()
    assert [(r["out_request_no"], r["amount"]) for r in trade["refunds"]] == [
        (f"RF{refund_id.hex}", "100.00")
    ]
    invoice = await invoice_of(w, who["secretary"], case["id"])
    assert invoice["refunded_amount"] == "100.00"
    [refund] = invoice["refunds"]
    assert refund["status"] == "succeeded"

    # The provider itself: the same out_request_no again moves no money.
    provider = provider_for(w.runtime.settings.payment)
    assert provider is not None
    outcome = await provider.refund(
        out_trade_no=invoice["out_trade_no"],
        amount=Decimal("100.00"),
        out_request_no=f"RF{refund_id.hex}",
        reason="again",
        now=w.runtime.clock.now(),
    )
    assert outcome.succeeded
    assert not outcome.fund_change
    assert outcome.refunded_total == Decimal("100.00")
    too_much = await provider.refund(
        out_trade_no=invoice["out_trade_no"],
        amount=Decimal("200.00"),
        out_request_no="RF-too-much",
        reason="more than was paid",
        now=w.runtime.clock.now(),
    )
    assert not too_much.succeeded
    assert too_much.sub_code == "ACQ.REASON_TRADE_REFUND_FEE_ERR"
    state = await provider.query(invoice["out_trade_no"], now=w.runtime.clock.now())
    assert (state.status, state.amount) == ("TRADE_SUCCESS", Decimal(TOTAL))


async def test_the_staff_refund_an_amount_with_a_reason(pay_world: PayWorld) -> None:
    pw = pay_world
    w = pw.w
    case, who = await paid_case(pw)
    url = f"{URL}/{case['id']}/invoice/refunds"
    bad = await w.client.post(
        url, json={"amount": "12,50", "reason": " "}, headers=who["secretary"]
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"$.amount", "$.reason"}
    too_much = await w.client.post(
        url, json={"amount": "287.51", "reason": "多收"}, headers=who["secretary"]
    )
    assert too_much.status_code == 422
    claimant = await w.client.post(
        url, json={"amount": "10.00", "reason": "多收"}, headers=who["claimant"]
    )
    assert claimant.status_code in (403, 404)
    done = await w.client.post(
        url, json={"amount": "87.50", "reason": "受理费减半后多收"}, headers=who["secretary"]
    )
    assert done.status_code == 201, done.text

    async def refunded() -> bool:
        refunds = (await invoice_of(w, who["claimant"], case["id"]))["refunds"]
        return bool(refunds) and refunds[0]["status"] == "succeeded"

    await wait_for(refunded)
    invoice = await invoice_of(w, who["claimant"], case["id"])
    assert invoice["refunded_amount"] == "87.50"
    assert invoice["refunds"][0]["reason"] == "受理费减半后多收"


async def test_without_a_provider_fees_are_still_invoiced(auth_world: World) -> None:
    w = auth_world
    case, who = await accepted_case(w)
    invoice = await invoice_of(w, who["claimant"], case["id"])
    assert invoice["total"] == TOTAL
    checkout = await w.client.post(f"{URL}/{case['id']}/invoice/checkout", headers=who["claimant"])
    assert checkout.status_code == 503
    gone = await w.client.post(
        f"/t/{w.a.slug}/payments/alipay/notify", content=b"a=b", headers=FORM
    )
    assert gone.status_code == 404
    # Withdrawn before paying: the invoice is void and the deadline stops.
    response = await command(w, who["claimant"], case["id"], "withdraw")
    assert response.status_code == 200, response.text
    assert (await invoice_of(w, who["claimant"], case["id"]))["status"] == "cancelled"
    shown = (await w.client.get(f"{URL}/{case['id']}", headers=who["claimant"])).json()
    assert "fee_payment" not in [d["name"] for d in shown["deadlines"]]


async def test_no_fee_is_guessed_when_the_calendar_lacks_the_year(auth_world: World) -> None:
    w = auth_world
    who = {role: await w.login(w.a, Role(role)) for role in ("claimant", "secretary")}
    case = await file_case(w, who["claimant"])
    # Accepted on 2099-12-28: the period reaches into 2100, a year without a calendar file.
    w.runtime.clock = FakeClock(datetime(2099, 12, 28, 2, 0, tzinfo=UTC))
    response = await command(w, who["secretary"], case["id"], "accept")
    assert response.status_code == 503, response.text
    assert "calendar" in response.json()["detail"]
    assert await state_of(w, who["claimant"], case["id"]) == "filed"
    missing = await w.client.get(f"{URL}/{case['id']}/invoice", headers=who["claimant"])
    assert missing.status_code == 404
