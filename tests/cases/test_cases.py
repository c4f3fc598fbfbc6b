"""Filing a claim, the acceptance review, commands, case numbers, history and lists."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from arbitral.auth.domain import ClientKind, Role
from tests.cases.helpers import URL, accepted_case, claim_against, command, file_case
from tests.support.clock import FakeClock
from tests.support.world import World


async def events(w: World, case_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await w.client.get(f"{URL}/{case_id}/history", headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def test_a_claimant_files_and_the_secretary_accepts(auth_world: World) -> None:
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    secretary = await w.login(w.a, Role.SECRETARY)
    case = await file_case(w, claimant)
    assert case["state"] == "filed"
    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    assert case["number"] == f"({year})测仲网字第000001号"
    assert case["rule_set_version"] == "1.2"
    assert case["amount_claimed"] == "2500.00"
    assert case["my_side"] == "claimant"
    assert case["allowed_commands"] == ["withdraw"]
    # Values come back normalised by the claim form.
    parties = {p["side"]: p for p in case["parties"]}
    assert parties["claimant"]["name"] == "张三"
    assert parties["claimant"]["phone"] == "+8613800138000"
    assert parties["respondent"]["id_number"] == "91350100M000100Y43"
    assert parties["respondent"]["has_account"] is True

    response = await command(w, secretary, case["id"], "accept")
    assert response.status_code == 200, response.text
    accepted = response.json()
    assert accepted["state"] == "accepted"
    assert accepted["number"] == case["number"]
    history = await events(w, case["id"], claimant)
    assert [(e["command"], e["from_state"], e["to_state"]) for e in history] == [
        ("file", None, "filed"),
        ("accept", "filed", "accepted"),
    ]
    assert history[0]["data"]["number"] == case["number"]
    # The respondent (its account found by the claim's email) sees the case and its history.
    respondent = await w.login(w.a, Role.RESPONDENT)
    seen = await w.client.get(f"{URL}/{case['id']}", headers=respondent)
    assert seen.status_code == 200
    assert seen.json()["my_side"] == "respondent"
    assert [e["command"] for e in await events(w, case["id"], respondent)] == [
        "file",
        "accept",
        "respondent_opened_file",
    ]


async def test_bad_claims_name_every_field_and_write_nothing(auth_world: World) -> None:
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    claim = claim_against(w.a, order_total="abc", order_date="2099-01-01")
    claim["respondent"] = {**claim["respondent"], "id_number": "123"}
    claim["colour"] = "blue"
    response = await w.client.post(
        URL, json={"case_type": "online-purchase", "claim": claim}, headers=claimant
    )
    assert response.status_code == 422, response.text
    fields = {(e["field"], e["rule"]) for e in response.json()["errors"]}
    assert ("$.claim.colour", "unknown") in fields
    assert any(f == "$.claim.order_total" for f, _ in fields)
    assert any(f == "$.claim.respondent.id_number" for f, _ in fields)
    assert any(f == "$.claim.order_date" for f, _ in fields)
    unknown_type = await w.client.post(
        URL, json={"case_type": "divorce", "claim": {}}, headers=claimant
    )
    assert unknown_type.status_code == 422
    assert unknown_type.json()["errors"][0]["field"] == "$.case_type"
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        rows = await uow.fetch("SELECT count(*) AS n FROM arb_case WHERE tenant_id = {}", w.a.id)
    assert int(rows[0]["n"]) == 0


async def test_staff_and_respondents_do_not_file(auth_world: World) -> None:
    w = auth_world
    for role in (Role.SECRETARY, Role.ARBITRATOR):
        response = await w.client.post(
            URL,
            json={"case_type": "online-purchase", "claim": claim_against(w.a)},
            headers=await w.login(w.a, role),
        )
        assert response.status_code in (403, 404), (role, response.text)
    respondent_files = await w.client.post(
        URL,
        json={"case_type": "online-purchase", "claim": claim_against(w.a)},
        headers=await w.login(w.a, Role.RESPONDENT),
    )
    assert respondent_files.status_code == 403


async def test_a_lender_files_through_the_api(auth_world: World) -> None:
    w = auth_world
    token = await w.token(w.a, ClientKind.LENDER, "cases:file")
    response = await w.client.post(
        URL,
        json={"case_type": "online-purchase", "claim": claim_against(w.a)},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["my_side"] == "claimant"
    assert response.json()["filed_by"] == w.a.clients[ClientKind.LENDER][0]


async def test_a_refused_command_answers_409_with_what_is_allowed(auth_world: World) -> None:
    w = auth_world
    case, who = await accepted_case(w)
    again = await command(w, who["secretary"], case["id"], "accept")
    assert again.status_code == 409
    body = again.json()
    assert body["state"] == "accepted"
    assert body["allowed_commands"] == ["suspend"]
    # The respondent may not withdraw the claimant's claim.
    withdraw = await command(w, who["respondent"], case["id"], "withdraw")
    assert withdraw.status_code == 409
    assert withdraw.json()["allowed_commands"] == []
    # An unknown command names the field.
    unknown = await command(w, who["secretary"], case["id"], "award")
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "$.command"
    # A stale version is refused.
    stale = await command(w, who["secretary"], case["id"], "suspend", "parties ask", if_version=1)
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["rule"] == "stale"


async def test_return_for_correction_then_amend(auth_world: World) -> None:
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    secretary = await w.login(w.a, Role.SECRETARY)
    case = await file_case(w, claimant)
    no_reason = await command(w, secretary, case["id"], "return_for_correction")
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "$.reason"
    returned = await command(
        w, secretary, case["id"], "return_for_correction", "the order total is missing a receipt"
    )
    assert returned.status_code == 200
    assert returned.json()["state"] == "returned"
    bad = await w.client.post(
        f"{URL}/{case['id']}/amendment",
        json={"claim": claim_against(w.a, amount_claimed="-1")},
        headers=claimant,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "$.claim.amount_claimed"
    amended = await w.client.post(
        f"{URL}/{case['id']}/amendment",
        json={"claim": claim_against(w.a, amount_claimed="2100"), "reason": "receipt added"},
        headers=claimant,
    )
    assert amended.status_code == 200, amended.text
    assert amended.json()["state"] == "filed"
    assert amended.json()["amount_claimed"] == "2100.00"
    history = await events(w, case["id"], secretary)
    assert [e["command"] for e in history] == ["file", "return_for_correction", "amend"]
    assert history[1]["reason"] == "the order total is missing a receipt"


async def test_withdrawal_closes_the_case_and_is_logged(auth_world: World) -> None:
    w = auth_world
    case, who = await accepted_case(w)
    response = await command(w, who["claimant"], case["id"], "withdraw", "settled privately")
    assert response.status_code == 200
    assert response.json()["state"] == "withdrawn"
    assert response.json()["allowed_commands"] == []
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        leaves = await uow.fetch(
            "SELECT kind, leaf FROM ledger_leaf WHERE tenant_id = {} ORDER BY leaf_index",
            w.a.id,
        )
    kinds = [row["kind"] for row in leaves]
    assert kinds[-3:] == ["case.filed", "case.accept", "case.withdraw"]
    assert case["id"] in json.dumps(json.loads(leaves[-1]["leaf"]))


async def test_suspend_and_resume(auth_world: World) -> None:
    w = auth_world
    case, who = await accepted_case(w)
    suspended = await command(w, who["secretary"], case["id"], "suspend", "a party died")
    assert suspended.json()["state"] == "suspended"
    assert suspended.json()["allowed_commands"] == ["resume"]
    resumed = await command(w, who["secretary"], case["id"], "resume")
    assert resumed.json()["state"] == "accepted"


async def test_50_concurrent_filings_get_50_consecutive_numbers(auth_world: World) -> None:
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    responses = await asyncio.gather(
        *(
            w.client.post(
                URL,
                json={"case_type": "online-purchase", "claim": claim_against(w.a)},
                headers=claimant,
            )
            for _ in range(50)
        )
    )
    assert [r.status_code for r in responses] == [201] * 50
    seqs = sorted(int(r.json()["number"].split("第")[1][:6]) for r in responses)
    assert seqs == list(range(1, 51))


async def test_lists_show_only_the_callers_cases(auth_world: World) -> None:
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    for _ in range(3):
        await file_case(w, claimant)
    mine = await w.client.get(URL, params={"limit": 2}, headers=claimant)
    assert mine.status_code == 200
    page = mine.json()
    assert len(page["items"]) == 2
    assert page["next_cursor"]
    rest = await w.client.get(URL, params={"cursor": page["next_cursor"]}, headers=claimant)
    assert len(rest.json()["items"]) == 1
    assert rest.json()["next_cursor"] is None
    # An arbitrator not on any tribunal sees none; staff see all; tenant B sees none of A's.
    arbitrator = await w.client.get(URL, headers=await w.login(w.a, Role.ARBITRATOR))
    assert arbitrator.json()["items"] == []
    staff = await w.client.get(URL, headers=await w.login(w.a, Role.SECRETARY))
    assert len(staff.json()["items"]) == 3
    other = await w.client.get(URL, headers=await w.login(w.b, Role.SECRETARY))
    assert other.json()["items"] == []
    bad = await w.client.get(URL, params={"cursor": "!!"}, headers=claimant)
    assert bad.status_code == 422
    filtered = await w.client.get(URL, params={"state": "accepted"}, headers=claimant)
    assert filtered.json()["items"] == []


async def test_the_history_is_stamped_by_the_runtimes_clock(auth_world: World) -> None:
    """History times agree with deadlines and service times when the clock is driven."""
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)
    secretary = await w.login(w.a, Role.SECRETARY)
    case = await file_case(w, claimant)
    later = datetime.now(UTC) + timedelta(hours=30)
    w.runtime.clock = FakeClock(later)
    response = await command(w, secretary, case["id"], "accept")
    assert response.status_code == 200, response.text
    accepted = (await events(w, case["id"], claimant))[-1]
    assert accepted["command"] == "accept"
    assert datetime.fromisoformat(accepted["at"]) == later
