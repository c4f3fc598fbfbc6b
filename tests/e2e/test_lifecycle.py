"""Issue 6, end to end on PostgreSQL: a case from filing to ready-for-award through the API.

Every step a person takes goes through the HTTP API of the app served on a loopback
port; the fees are paid on the Alipay sandbox's cashier page (its signed
notification reaches the app over HTTP), the notice of arbitration is served by
the stand-in SMS gateway's delivery report (or the local SMTP server), and time
moves by the injectable clock, the deadlines fired by the sweep as the web and
worker processes fire them. The only things read below the API are the
transparency log's leaves (it publishes heads and proofs, not a listing).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from arbitral.auth.domain import Role
from arbitral.cases import deadlines
from tests.cases.helpers import URL, claim_against
from tests.custody.test_inspect import make_pdf
from tests.e2e.conftest import LifecycleWorld
from tests.rules.test_claims import purchase_claim
from tests.service.conftest import FAILING_NUMBER
from tests.support.clock import FakeClock
from tests.support.world import World

Headers = dict[str, str]
ITEMS = "/api/v1/custody/items"
PANEL = "/api/v1/arbitrators"
RESPONDENT_PHONE = "13800138001"  # the stand-in gateway reports it delivered


# -- driving the API -------------------------------------------------------------------


async def until(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 20.0) -> None:
    """Wait for the in-process jobs (and the processes beside the app) to do their part."""
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def get(w: World, url: str, headers: Headers) -> Any:
    response = await w.client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def post(w: World, url: str, headers: Headers, body: Any, status: int = 200) -> Any:
    response = await w.client.post(url, json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


async def case_of(w: World, case_id: str, headers: Headers) -> dict[str, Any]:
    found: dict[str, Any] = await get(w, f"{URL}/{case_id}", headers)
    return found


async def state_of(w: World, case_id: str, headers: Headers) -> str:
    return str((await case_of(w, case_id, headers))["state"])


async def due_of(w: World, case_id: str, headers: Headers) -> dict[str, datetime]:
    """The periods running on the case now, by name."""
    shown = await case_of(w, case_id, headers)
    return {d["name"]: datetime.fromisoformat(d["due_at"]) for d in shown["deadlines"]}


async def commands_of(w: World, case_id: str, headers: Headers) -> list[str]:
    return [e["command"] for e in await get(w, f"{URL}/{case_id}/history", headers)]


async def move_past(w: World, clock: FakeClock, due_at: datetime) -> int:
    """The clock moves just past ``due_at``; the sweep fires what is due (how many)."""
    clock.advance(seconds=(due_at - clock.now()).total_seconds() + 1)
    return await deadlines.sweep(w.runtime)


async def upload_pdf(w: World, headers: Headers, title: str) -> tuple[str, str]:
    """A small PDF taken into custody through the API: (item id, its SHA-256)."""
    body = make_pdf()
    digest = hashlib.sha256(body).hexdigest()
    response = await w.client.post(
        ITEMS,
        params={"filename": f"{title}.pdf", "title": title},
        content=body,
        headers={**headers, "content-type": "application/pdf", "x-content-sha256": digest},
    )
    assert response.status_code == 201, response.text
    assert response.json()["item"]["sha256"] == digest
    return str(response.json()["item"]["id"]), digest


async def pay_on_the_cashier_page(lw: LifecycleWorld, checkout_url: str) -> None:
    """What the payer's browser does: the gateway, the cashier page, the pay button."""
    async with httpx.AsyncClient() as browser:
        gateway = await browser.get(checkout_url)
        assert gateway.status_code == 302, gateway.text
        cashier = lw.sandbox.url + gateway.headers["location"]
        page = await browser.get(cashier)
        assert page.status_code == 200
        paid = await browser.post(f"{cashier}/pay")
        assert paid.status_code == 200, paid.text
        assert "TRADE_SUCCESS" in paid.text


async def log_leaves(w: World, case_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(kind, leaf) of the commission's transparency-log leaves about the case.

    Read from the table: the log's API publishes signed heads and proofs, not a listing.
    """
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT kind, leaf FROM ledger_leaf WHERE tenant_id = {} ORDER BY leaf_index", w.a.id
        )
    found = []
    for row in rows:
        leaf = row["leaf"]
        leaf = json.loads(leaf) if isinstance(leaf, str | bytes) else dict(leaf)
        if case_id in json.dumps(leaf):
            found.append((str(row["kind"]), leaf))
    return found


async def file_accept_and_pay(
    lw: LifecycleWorld, who: dict[str, Headers], respondent_phone: str
) -> str:
    """The claimant files (rule set 1.2's claim form), the secretary accepts, the claimant
    pays on the sandbox's cashier page: the signed notification makes the case fee_paid."""
    w = lw.w
    respondent = {**purchase_claim()["respondent"], "phone": respondent_phone}
    claim = claim_against(w.a, respondent=respondent)
    claim["respondent"]["email"] = w.a.emails[Role.RESPONDENT]
    # The claim form's checks come back at once, each with its path and rule.
    bad = await w.client.post(
        URL,
        json={"case_type": "online-purchase", "claim": {**claim, "order_total": "-1"}},
        headers=who["claimant"],
    )
    assert bad.status_code == 422, bad.text
    assert "$.claim.order_total" in [e["field"] for e in bad.json()["errors"]]
    filed = await post(
        w, URL, who["claimant"], {"case_type": "online-purchase", "claim": claim}, status=201
    )
    case_id = str(filed["id"])
    assert filed["state"] == "filed"
    assert (filed["rule_set_version"], filed["case_type"]) == ("1.2", "online-purchase")
    assert filed["number"]
    # Only the commission's staff accept.
    refused = await w.client.post(
        f"{URL}/{case_id}/commands", json={"command": "accept"}, headers=who["claimant"]
    )
    assert refused.status_code == 409, refused.text
    accepted = await post(
        w, f"{URL}/{case_id}/commands", who["secretary"], {"command": "accept", "reason": ""}
    )
    assert accepted["state"] == "accepted"
    # Nothing skips payment and service: no command declares the respondent served, and
    # no tribunal is constituted for a case not served.
    skipped = await w.client.post(
        f"{URL}/{case_id}/commands", json={"command": "complete_service"}, headers=who["secretary"]
    )
    assert skipped.status_code == 422, skipped.text
    assert [e["rule"] for e in skipped.json()["errors"]] == ["choice"]
    unserved = await w.client.post(
        f"{URL}/{case_id}/tribunal/constitute", json={}, headers=who["secretary"]
    )
    assert unserved.status_code == 409, unserved.text
    invoice = await get(w, f"{URL}/{case_id}/invoice", who["claimant"])
    assert (invoice["status"], invoice["total"]) == ("open", "287.50")
    checkout = await post(w, f"{URL}/{case_id}/invoice/checkout", who["claimant"], None)
    await pay_on_the_cashier_page(lw, checkout["url"])

    async def moved_on() -> bool:
        return await state_of(w, case_id, who["claimant"]) != "accepted"

    await until(moved_on, "the provider's notification")
    invoice = await get(w, f"{URL}/{case_id}/invoice", who["secretary"])
    assert (invoice["status"], invoice["paid_via"]) == ("paid", "provider")
    history = await get(w, f"{URL}/{case_id}/history", who["claimant"])
    (paid,) = [e for e in history if e["command"] == "record_payment"]
    assert (paid["from_state"], paid["to_state"], paid["actor"]) == (
        "accepted",
        "fee_paid",
        "payments",
    )
    return case_id


async def served(w: World, case_id: str, headers: Headers) -> dict[str, Any]:
    """Wait for the notice of arbitration to be served and the answer period to start."""

    async def in_answer_period() -> bool:
        return await state_of(w, case_id, headers) == "answer_period"

    await until(in_answer_period, "service of the notice of arbitration")
    service = await get(w, f"{URL}/{case_id}/service", headers)
    (notice,) = [r for r in service["requests"] if r["notice"] == "notice-of-arbitration"]
    assert (notice["status"], notice["basis"]) == ("served", "delivered")
    return notice


async def test_a_contested_online_purchase_case_from_filing_to_ready_for_award(
    lifecycle_world: LifecycleWorld,
) -> None:
    lw = lifecycle_world
    w = lw.w
    clock = FakeClock()
    w.runtime.clock = clock
    who = {role.value: await w.login(w.a, role) for role in Role}
    claimant, respondent, secretary = who["claimant"], who["respondent"], who["secretary"]
    admin, arbitrator = who["commission_admin"], who["arbitrator"]

    # -- filing, acceptance, payment ---------------------------------------------------
    case_id = await file_accept_and_pay(lw, who, RESPONDENT_PHONE)
    case_url = f"{URL}/{case_id}"

    # -- service: the notice of arbitration, by SMS, the gateway reporting delivery -----
    notice = await served(w, case_id, secretary)
    assert [(a["channel"], a["status"]) for a in notice["attempts"]] == [("sms", "delivered")]
    sent = [m for m in await _gateway_messages(lw) if m["phone"] == RESPONDENT_PHONE]
    assert len(sent) == 1  # served once, whatever the reports
    service = await get(w, f"{case_url}/service", respondent)
    (certificate,) = [c for c in service["certificates"] if c["request_id"] == notice["id"]]
    assert certificate["sha256"] == hashlib.sha256(certificate["text"].encode()).hexdigest()
    periods = await due_of(w, case_id, secretary)
    assert {"answer", "counterclaim", "evidence", "arbitrator_selection"} <= set(periods)
    assert not [n for n in periods if n.startswith("svc:") or n == "fee_payment"]
    # The rule set's periods, from service (answer 15 days, the others 10 and 5).
    assert periods["answer"] > periods["evidence"] > periods["arbitrator_selection"]
    assert periods["answer"] - clock.now() >= timedelta(days=15)

    # -- the answer period ------------------------------------------------------------
    # The respondent opens the file: recorded once, in the history.
    opened_at = clock.now()
    shown = await case_of(w, case_id, respondent)
    assert shown["my_side"] == "respondent"
    await case_of(w, case_id, respondent)
    history = await get(w, f"{case_url}/history", claimant)
    assert [e["command"] for e in history].count("respondent_opened_file") == 1

    # Each side takes a PDF into custody and cites it as a submitted exhibit.
    exhibits_url = f"{case_url}/exhibits"
    claimant_item, claimant_sha = await upload_pdf(w, claimant, "订单记录")
    claimant_exhibit = await post(
        w,
        exhibits_url,
        claimant,
        {"title": "订单记录", "item_id": claimant_item, "kind": "order_record", "submit": True},
        status=201,
    )
    assert (claimant_exhibit["number"], claimant_exhibit["sha256"]) == ("申1", claimant_sha)
    respondent_item, _ = await upload_pdf(w, respondent, "发货记录")
    respondent_exhibit = await post(
        w,
        exhibits_url,
        respondent,
        {"title": "发货记录", "item_id": respondent_item, "submit": True},
        status=201,
    )
    assert respondent_exhibit["number"] == "被1"

    # Only the respondent side answers; it answers within the period, citing its exhibit.
    answer_url = f"{case_url}/answer"
    answer_text = "商品与描述相符，申请人的请求没有依据。"
    not_theirs = await w.client.post(answer_url, json={"text": "x"}, headers=claimant)
    assert not_theirs.status_code == 403
    answer = await post(
        w,
        answer_url,
        respondent,
        {"text": answer_text, "exhibit_ids": [respondent_exhibit["id"]]},
        status=201,
    )
    assert answer["sha256"] == hashlib.sha256(answer_text.encode()).hexdigest()
    again = await w.client.post(answer_url, json={"text": "再答一次"}, headers=respondent)
    assert again.status_code == 409
    assert (await get(w, answer_url, claimant))["text"] == answer_text
    periods = await due_of(w, case_id, secretary)
    assert "answer" not in periods  # met
    assert await state_of(w, case_id, secretary) == "answer_period"  # the counterclaim runs

    # Each side records its view of the other side's exhibit.
    await post(
        w,
        f"{exhibits_url}/{respondent_exhibit['id']}/views",
        claimant,
        {
            "authenticity": "admits",
            "legality": "admits",
            "relevance": "disputes",
            "comment": "发货记录不能证明商品与描述相符",
        },
    )
    await post(
        w,
        f"{exhibits_url}/{claimant_exhibit['id']}/views",
        respondent,
        {"authenticity": "admits", "legality": "admits", "relevance": "admits"},
    )
    # Nobody cuts the respondent's periods short: not the claimant by a "waiver".
    waived = await w.client.post(
        f"{case_url}/waivers", json={"period": "counterclaim"}, headers=claimant
    )
    assert waived.status_code == 403

    # -- the tribunal: both sides name the same arbitrator of the panel -----------------
    # (Rule set 1.2, online-purchase: parties_agree_else_commission.)
    arbitrator_id = str(w.a.users[Role.ARBITRATOR])
    await post(w, PANEL, admin, {"user_id": arbitrator_id}, status=201)
    tribunal_url = f"{case_url}/tribunal"
    tribunal = await get(w, tribunal_url, claimant)
    assert tribunal["arbitrator_selection"] == "parties_agree_else_commission"
    assert tribunal["selection_until"] is not None
    for side in (claimant, respondent):
        tribunal = await post(
            w, f"{tribunal_url}/nominations", side, {"user_id": arbitrator_id, "role": "sole"}
        )
    [seat] = tribunal["seats"]
    assert (seat["user_id"], seat["chosen_by"]) == (arbitrator_id, "agreement")
    assert tribunal["selection_until"] is None  # met
    undisclosed = await w.client.post(f"{tribunal_url}/constitute", json={}, headers=secretary)
    assert undisclosed.status_code == 409
    assert [e["rule"] for e in undisclosed.json()["errors"]] == ["disclosure"]
    tribunal = await post(
        w,
        f"{tribunal_url}/disclosure",
        arbitrator,
        {"statement": "本人与本案当事人及代理人无利害关系。"},
    )
    assert tribunal["constitution_problems"] == []

    # A week on, the staff constitute the tribunal: the notice of constitution is served on
    # both parties through the ladder, and the challenge period runs from each party's
    # service (the case's, the later of them); it runs past the evidence period.
    clock.advance(days=7)
    assert await deadlines.sweep(w.runtime) == 0  # nothing of this case was due
    tribunal = await post(w, f"{tribunal_url}/constitute", secretary, {})
    assert tribunal["state"] == "tribunal_constituted"

    async def challenge_runs() -> bool:
        return "challenge" in await due_of(w, case_id, secretary)

    await until(challenge_runs, "the notice of constitution to be served on both parties")
    tribunal = await get(w, tribunal_url, secretary)
    assert len(tribunal["challenge_periods"]) == 2
    assert all(p["notice_status"] == "served" for p in tribunal["challenge_periods"])
    assert tribunal["challenge_until"] == max(p["until"] for p in tribunal["challenge_periods"])
    periods = await due_of(w, case_id, secretary)
    assert {"challenge", "evidence", "counterclaim"} <= set(periods)
    assert periods["challenge"] > periods["evidence"]

    # -- the hearing ------------------------------------------------------------------
    # The tribunal rules on the exhibits and opens a documents-only hearing.
    for exhibit in (claimant_exhibit, respondent_exhibit):
        ruled = await post(
            w, f"{exhibits_url}/{exhibit['id']}/ruling", arbitrator, {"ruling": "admitted"}
        )
        assert ruled["ruling"] == "admitted"
    hearing_url = f"{case_url}/hearing"
    not_yet = await w.client.post(f"{hearing_url}/deliberation", json={}, headers=arbitrator)
    assert not_yet.status_code == 409  # the machine: not in deliberation
    assert not_yet.json()["state"] == "tribunal_constituted"
    opened = await post(w, hearing_url, arbitrator, {"mode": "documents"}, status=201)
    assert (opened["mode"], opened["case_state"]) == ("documents", "hearing")

    # Closing it while the evidence period runs: 409, naming the period.
    early = await w.client.post(f"{hearing_url}/close", json={}, headers=arbitrator)
    assert early.status_code == 409, early.text
    assert "evidence period runs until" in early.json()["detail"]
    assert [(e["rule"], e["message"].split()[0]) for e in early.json()["errors"]] == [
        ("period_running", "evidence")
    ]
    assert await state_of(w, case_id, secretary) == "hearing"

    # The evidence and counterclaim periods run out; the sweep fires them.
    assert await move_past(w, clock, max(periods["evidence"], periods["counterclaim"])) >= 2

    async def evidence_over() -> bool:
        running = await due_of(w, case_id, secretary)
        return not {"evidence", "counterclaim"} & set(running)

    await until(evidence_over, "the evidence period to be fired")
    closed = await post(w, f"{hearing_url}/close", arbitrator, {"reason": "书面审理终结"})
    assert closed["case_state"] == "deliberation"

    # Concluding while the challenge period runs: 409, naming it.
    early = await w.client.post(f"{hearing_url}/deliberation", json={}, headers=arbitrator)
    assert early.status_code == 409, early.text
    assert "challenge period runs until" in early.json()["detail"]
    assert [e["rule"] for e in early.json()["errors"]] == ["period_running"]
    assert early.json()["running"][0]["name"] == "challenge"
    assert await state_of(w, case_id, secretary) == "deliberation"

    # The challenge period runs out unused.
    assert await move_past(w, clock, periods["challenge"]) >= 1

    async def challenge_over() -> bool:
        return "challenge_period_ended" in await commands_of(w, case_id, secretary)

    await until(challenge_over, "the challenge period to end")
    late = await w.client.post(
        f"{tribunal_url}/challenges",
        json={"user_id": arbitrator_id, "grounds": "迟到的理由"},
        headers=respondent,
    )
    assert late.status_code == 409
    done = await post(w, f"{hearing_url}/deliberation", arbitrator, {"reason": "合议完毕"})
    assert done["case_state"] == "ready_for_award"
    assert await state_of(w, case_id, respondent) == "ready_for_award"

    # -- the record -------------------------------------------------------------------
    record = await get(w, f"{case_url}/due-process", respondent)
    assert record["state"] == "ready_for_award"
    assert record["rule_set_version"] == "1.2"
    assert [t["command"] for t in record["transitions"]] == [
        "file",
        "accept",
        "record_payment",
        "complete_service",
        "constitute_tribunal",
        "open_hearing",
        "close_hearing",
        "conclude_deliberation",
    ]
    assert [t["actor_kind"] for t in record["transitions"]][2:4] == ["system", "system"]
    # Service: the notice served (its certificate) and the service completed; the notice of
    # constitution served on both parties, each with its certificate.
    service_events = {
        e["command"]: e
        for e in record["service"]
        if e["data"].get("notice") in (None, "notice-of-arbitration")
    }
    tribunal_notices = [
        e for e in record["service"] if e["data"].get("notice") == "notice-of-tribunal"
    ]
    assert len({e["data"]["party"] for e in tribunal_notices}) == 2
    assert all(e["data"]["certificate_sha256"] for e in tribunal_notices)
    assert service_events["notice_served"]["data"]["certificate_sha256"] == certificate["sha256"]
    assert service_events["notice_served"]["data"]["basis"] == "delivered"
    assert "complete_service" in service_events
    assert datetime.fromisoformat(record["respondent_first_opened_at"]) == opened_at
    assert record["answered_at"] is not None
    assert record["respondent_in_default"] is False
    ended = {p["name"]: p["status"] for p in record["periods"] if not p["name"].startswith("svc:")}
    # The ladder's wait for a report on the SMS: stopped when the delivery was reported.
    ladder = [p["status"] for p in record["periods"] if p["name"].startswith("svc:")]
    assert ladder
    assert set(ladder) == {"cancelled"}
    assert ended == {
        "fee_payment": "cancelled",  # met: paid
        "answer": "cancelled",  # met: answered
        "counterclaim": "fired",  # ran its course
        "evidence": "fired",
        "arbitrator_selection": "cancelled",  # met: the parties agreed
        "challenge": "fired",
    }
    assert record["waivers"] == []
    assert record["exhibits"] == {"claimant": 1, "respondent": 1}
    assert record["views"] == {"claimant": 1, "respondent": 1}
    assert record["hearing"]["mode"] == "documents"
    assert record["hearing"]["closed_at"] is not None

    # The history: everyone on the case reads it, the respondent included.
    history = await get(w, f"{case_url}/history", respondent)
    commands = [e["command"] for e in history]
    for expected in (
        "file",
        "accept",
        "record_payment",
        "notice_served",
        "complete_service",
        "respondent_opened_file",
        "submit_exhibit",
        "answer",
        "view_exhibit",
        "nominate_arbitrator",
        "appoint_arbitrator",
        "file_disclosure",
        "constitute_tribunal",
        "rule_on_exhibit",
        "open_hearing",
        "close_hearing",
        "challenge_period_ended",
        "conclude_deliberation",
    ):
        assert expected in commands, expected
    assert [e["seq"] for e in history] == sorted(e["seq"] for e in history)
    outsider = await w.client.get(f"{case_url}/history", headers=await w.login(w.b, Role.CLAIMANT))
    assert outsider.status_code in (403, 404)

    # The transparency log: the milestones, in order, each naming the case.
    leaves = await log_leaves(w, case_id)
    kinds = [kind for kind, _ in leaves]
    milestones = [
        "case.filed",
        "case.accept",
        "case.record_payment",
        "case.complete_service",
        "case.answer",
        "case.constitute_tribunal",
        "case.close_hearing",
    ]
    assert [k for k in kinds if k in milestones] == milestones
    assert kinds.count("case.exhibit") == 2
    # The certificate of service of the notice of arbitration (and the claimant's notice
    # of acceptance) logged with their SHA-256, before the service completed.
    certificates = [json.dumps(leaf) for kind, leaf in leaves if kind == "case.service_certificate"]
    assert sum(certificate["sha256"] in c for c in certificates) == 1
    assert kinds.index("case.service_certificate") < kinds.index("case.complete_service")


async def test_a_respondent_who_never_answers_the_ladder_default_and_the_clock(
    lifecycle_world: LifecycleWorld,
) -> None:
    """The SMS fails at the gateway, the email serves the notice; the respondent never
    opens the file nor answers; the clock runs each period out and the case goes on in
    default: the commission appoints, the tribunal decides on the documents."""
    lw = lifecycle_world
    w = lw.w
    clock = FakeClock()
    w.runtime.clock = clock
    # The respondent's headers are never used before the end: it never opens the file.
    who = {role.value: await w.login(w.a, role) for role in Role}
    secretary, admin, arbitrator = who["secretary"], who["commission_admin"], who["arbitrator"]
    arbitrator_id = str(w.a.users[Role.ARBITRATOR])
    await post(w, PANEL, admin, {"user_id": arbitrator_id}, status=201)

    case_id = await file_accept_and_pay(lw, who, FAILING_NUMBER)
    case_url = f"{URL}/{case_id}"

    # The ladder: the gateway reports the SMS undelivered, the email goes at once and the
    # local SMTP server accepts it, which serves the notice under rule set 1.2.
    notice = await served(w, case_id, secretary)
    assert [(a["channel"], a["status"]) for a in notice["attempts"]] == [
        ("sms", "failed"),
        ("email", "delivered"),
    ]
    assert "UNDELIV" in notice["attempts"][0]["detail"]
    assert len([m for m in await _gateway_messages(lw) if m["phone"] == FAILING_NUMBER]) == 1
    assert len(lw.mailbox.to(w.a.emails[Role.RESPONDENT])) == 1
    periods = await due_of(w, case_id, secretary)
    assert {"answer", "counterclaim", "evidence", "arbitrator_selection"} <= set(periods)

    # Nobody chose an arbitrator in time: the commission appoints (the least loaded).
    assert await move_past(w, clock, periods["arbitrator_selection"]) >= 1

    async def appointed() -> bool:
        return bool((await get(w, f"{case_url}/tribunal", secretary))["seats"])

    await until(appointed, "the commission's appointment")
    [seat] = (await get(w, f"{case_url}/tribunal", secretary))["seats"]
    assert (seat["user_id"], seat["chosen_by"]) == (arbitrator_id, "commission")
    await post(w, f"{case_url}/tribunal/disclosure", arbitrator, {"statement": "无利害关系。"})

    # The counterclaim and evidence periods run out; the answer period still runs.
    assert await move_past(w, clock, max(periods["counterclaim"], periods["evidence"])) >= 2

    async def periods_ended() -> bool:
        commands = await commands_of(w, case_id, secretary)
        return {"counterclaim_period_ended", "evidence_period_ended"} <= set(commands)

    await until(periods_ended, "the counterclaim and evidence periods to end")
    assert await state_of(w, case_id, secretary) == "answer_period"  # the answer still runs

    # The answer period runs out: the respondent is in default, the pleadings close.
    assert await move_past(w, clock, periods["answer"]) >= 1

    async def pleadings_closed() -> bool:
        return await state_of(w, case_id, secretary) == "evidence_exchange"

    await until(pleadings_closed, "the pleadings to close by the clock")
    history = await get(w, f"{case_url}/history", secretary)
    (default,) = [e for e in history if e["command"] == "respondent_in_default"]
    assert default["actor_kind"] == "system"
    (closed,) = [e for e in history if e["command"] == "close_pleadings"]
    assert (closed["actor_kind"], closed["data"]["respondent_in_default"]) == ("system", True)
    late = await w.client.post(
        f"{case_url}/answer", json={"text": "迟到的答辩"}, headers=who["respondent"]
    )
    assert late.status_code == 409, late.text

    # Staff constitute; the tribunal hears the case on the documents.
    tribunal = await post(w, f"{case_url}/tribunal/constitute", secretary, {})
    assert tribunal["state"] == "tribunal_constituted"

    async def challenge_runs() -> bool:
        return "challenge" in await due_of(w, case_id, secretary)

    await until(challenge_runs, "the notice of constitution to be served on both parties")
    challenge_due = (await due_of(w, case_id, secretary))["challenge"]
    hearing_url = f"{case_url}/hearing"
    await post(w, hearing_url, arbitrator, {}, status=201)
    await post(w, f"{hearing_url}/close", arbitrator, {"reason": "书面审理"})
    early = await w.client.post(f"{hearing_url}/deliberation", json={}, headers=arbitrator)
    assert early.status_code == 409, early.text
    assert "challenge period runs until" in early.json()["detail"]
    assert await move_past(w, clock, challenge_due) >= 1

    async def challenge_over() -> bool:
        return "challenge_period_ended" in await commands_of(w, case_id, secretary)

    await until(challenge_over, "the challenge period to end")
    done = await post(w, f"{hearing_url}/deliberation", arbitrator, {"reason": "缺席裁决"})
    assert done["case_state"] == "ready_for_award"

    # The record: served by email after the SMS failed, never opened, in default.
    record = await get(w, f"{case_url}/due-process", who["respondent"])
    assert record["state"] == "ready_for_award"
    assert record["respondent_in_default"] is True
    assert record["answered_at"] is None
    assert record["respondent_first_opened_at"] is None
    service_events = {e["command"]: e for e in record["service"]}
    assert service_events["notice_served"]["data"]["basis"] == "delivered"
    assert "complete_service" in service_events
    ended = {p["name"]: p["status"] for p in record["periods"] if not p["name"].startswith("svc:")}
    assert ended == {
        "fee_payment": "cancelled",
        "answer": "fired",  # ran its course unanswered
        "counterclaim": "fired",
        "evidence": "fired",
        "arbitrator_selection": "fired",
        "challenge": "fired",
    }
    assert [t["command"] for t in record["transitions"]] == [
        "file",
        "accept",
        "record_payment",
        "complete_service",
        "close_pleadings",
        "constitute_tribunal",
        "open_hearing",
        "close_hearing",
        "conclude_deliberation",
    ]
    assert record["exhibits"] == {}
    kinds = [kind for kind, _ in await log_leaves(w, case_id)]
    assert "case.respondent_in_default" in kinds
    assert kinds.index("case.complete_service") < kinds.index("case.respondent_in_default")


async def _gateway_messages(lw: LifecycleWorld) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        found: list[dict[str, Any]] = (
            await client.get(f"{lw.gateway_url}/_stand-in/messages")
        ).json()
    return found
