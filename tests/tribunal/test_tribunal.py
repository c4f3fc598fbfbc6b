"""The tribunal through the API: panel, selection, appointment, constitution, challenge."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import pytest

from arbitral.auth.domain import ClientKind, Principal, Role
from arbitral.cases import deadlines
from arbitral.identity.schemas import PowerOfAttorneyCreate
from arbitral.identity.services import create_power
from arbitral.tribunal import services as tribunal_services
from tests.cases.helpers import URL, accepted_case
from tests.rules.test_claims import COMPANY_CODE, loan_claim
from tests.service.helpers import serve_by_staff
from tests.support.clock import FakeClock
from tests.support.world import World
from tests.tribunal.helpers import (
    PANEL,
    new_arbitrator,
    nominate,
    on_panel,
    panel,
    seat_by_agreement,
    serve,
    served_case,
    tribunal_url,
)


async def wait_for(predicate: Any, *, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def history(w: World, headers: dict[str, str], case_id: str) -> list[dict[str, Any]]:
    response = await w.client.get(f"{URL}/{case_id}/history", headers=headers)
    assert response.status_code == 200
    events: list[dict[str, Any]] = response.json()
    return events


async def disclose(w: World, arbitrator: uuid.UUID, case_id: str, **body: Any) -> dict[str, Any]:
    headers = await login_as(w, arbitrator)
    response = await w.client.post(
        tribunal_url(case_id, "/disclosure"),
        json={"statement": "本人与本案当事人及代理人无利害关系。", **body},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def login_as(w: World, user_id: uuid.UUID) -> dict[str, str]:
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        [row] = await uow.fetch(
            "SELECT email FROM tenant_user WHERE tenant_id = {} AND id = {}", w.a.id, user_id
        )
    w.a.emails[Role.ARBITRATOR], saved = str(row["email"]), w.a.emails[Role.ARBITRATOR]
    try:
        return await w.login(w.a, Role.ARBITRATOR)
    finally:
        w.a.emails[Role.ARBITRATOR] = saved


async def expire_selection(w: World, clock: FakeClock, case_id: str) -> dict[str, Any]:
    """The parties' time to choose runs out: the sweep fires it, the commission appoints."""
    clock.advance(days=8)
    assert await deadlines.sweep(w.runtime) >= 1
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)

    async def appointed() -> bool:
        got = await w.client.get(tribunal_url(case_id), headers=admin)
        return bool(got.json()["seats"])

    await wait_for(appointed)
    tribunal: dict[str, Any] = (await w.client.get(tribunal_url(case_id), headers=admin)).json()
    return tribunal


async def test_the_panel(auth_world: World) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    secretary = await w.login(w.a, Role.SECRETARY)
    claimant = await w.login(w.a, Role.CLAIMANT)
    arbitrator = w.a.users[Role.ARBITRATOR]
    created = await on_panel(
        w,
        secretary,
        arbitrator,
        specialities=["online-purchase"],
        languages=["zh", "en"],
        max_concurrent=5,
        id_number="440101198001010011",
    )
    assert created["load"] == 0
    assert created["languages"] == ["en", "zh"]
    again = await w.client.post(PANEL, json={"user_id": str(arbitrator)}, headers=admin)
    assert again.status_code == 409
    not_an_arbitrator = await w.client.post(
        PANEL, json={"user_id": str(w.a.users[Role.CLAIMANT])}, headers=admin
    )
    assert not_an_arbitrator.status_code == 422
    assert not_an_arbitrator.json()["errors"][0]["rule"] == "arbitrator"
    # Parties see the panel (to choose from it), without the identity numbers.
    seen = (await w.client.get(PANEL, headers=claimant)).json()
    assert [(p["user_id"], p["id_number"]) for p in seen] == [(str(arbitrator), None)]
    staff_view = (await w.client.get(f"{PANEL}/{arbitrator}", headers=admin)).json()
    assert staff_view["id_number"] == "440101198001010011"
    changed = await w.client.patch(
        f"{PANEL}/{arbitrator}", json={"accepting": False, "bio": "律师"}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["accepting"], changed.json()["bio"]) == (False, "律师")
    assert (
        await w.client.post(PANEL, json={"user_id": str(arbitrator)}, headers=claimant)
    ).status_code in (403, 404)
    # Tenant B sees none of A's panel.
    b_admin = await w.login(w.b, Role.COMMISSION_ADMIN)
    assert (await w.client.get(PANEL, headers=b_admin)).json() == []
    assert (await w.client.get(f"{PANEL}/{arbitrator}", headers=b_admin)).status_code == 404
    removed = await w.client.delete(f"{PANEL}/{arbitrator}", headers=admin)
    assert removed.status_code == 204
    assert (await w.client.get(PANEL, headers=admin)).json() == []


async def test_the_parties_agree_on_the_arbitrator(auth_world: World) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    first, second = await panel(w, admin, 2)
    case, who = await accepted_case(w)
    # Before service there is no time to choose yet.
    early = await nominate(w, who["claimant"], case["id"], first)
    assert early.status_code == 409
    await serve(w, case["id"])
    tribunal = (await w.client.get(tribunal_url(case["id"]), headers=who["respondent"])).json()
    assert tribunal["selection_until"] is not None
    assert tribunal["arbitrator_selection"] == "parties_agree_else_commission"
    # While the parties may choose, the commission does not appoint.
    staff = await w.client.post(
        tribunal_url(case["id"]), json={"user_id": str(first)}, headers=who["secretary"]
    )
    assert staff.status_code == 409
    assert "selection_until" in staff.json()
    # Staff, the tribunal and strangers do not nominate.
    assert (await nominate(w, who["secretary"], case["id"], first)).status_code == 403
    claimant = await nominate(w, who["claimant"], case["id"], first)
    assert claimant.status_code == 200, claimant.text
    respondent = await nominate(w, who["respondent"], case["id"], second)
    assert respondent.json()["seats"] == []
    assert [n["side"] for n in respondent.json()["nominations"]] == ["claimant", "respondent"]
    agreed = await nominate(w, who["respondent"], case["id"], first)
    assert agreed.status_code == 200, agreed.text
    [seat] = agreed.json()["seats"]
    assert (seat["user_id"], seat["role"], seat["chosen_by"]) == (str(first), "sole", "agreement")
    assert agreed.json()["selection_until"] is None  # met: the period stops
    assert seat["conflicts"] is None  # the parties do not see the conflict check
    shown = (await w.client.get(f"{URL}/{case['id']}", headers=who["claimant"])).json()
    assert [m["user_id"] for m in shown["tribunal"]] == [str(first)]
    assert "arbitrator_selection" not in [d["name"] for d in shown["deadlines"]]
    commands = [e["command"] for e in await history(w, who["claimant"], case["id"])]
    assert commands[-5:] == [
        "open_arbitrator_selection",
        "nominate_arbitrator",
        "nominate_arbitrator",
        "nominate_arbitrator",
        "appoint_arbitrator",
    ]
    # The seat is taken: no more nominations.
    assert (await nominate(w, who["claimant"], case["id"], second)).status_code == 409
    loads = {p["user_id"]: p["load"] for p in (await w.client.get(PANEL, headers=admin)).json()}
    assert loads == {str(first): 1, str(second): 0}


async def test_when_the_time_runs_out_the_commission_appoints_the_least_loaded(
    auth_world: World,
) -> None:
    w = auth_world
    clock = FakeClock()
    w.runtime.clock = clock
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    busy, idle, closed = await panel(w, admin, 3)
    await w.client.patch(f"{PANEL}/{closed}", json={"accepting": False}, headers=admin)
    # The busy arbitrator already sits on a case (chosen by the parties).
    other, who = await served_case(w)
    await seat_by_agreement(w, who, other["id"], busy)
    case, who = await served_case(w)
    tribunal = await expire_selection(w, clock, case["id"])
    [seat] = tribunal["seats"]
    assert (seat["user_id"], seat["chosen_by"]) == (str(idle), "commission")
    events = await history(w, who["claimant"], case["id"])
    appointed = [e for e in events if e["command"] == "appoint_arbitrator"]
    assert appointed[-1]["actor"] == "tribunal"
    assert appointed[-1]["actor_kind"] == "system"
    assert appointed[-1]["data"]["load"] == 0
    # The candidates, as the staff see them: eligible first, the closed one with its reason.
    listed = (
        await w.client.get(tribunal_url(case["id"], "/candidates"), headers=who["secretary"])
    ).json()
    reasons = {c["user_id"]: c["refusals"] for c in listed}
    assert reasons[str(closed)] == ["not_accepting"]
    assert reasons[str(idle)] == ["already_sitting"]
    assert reasons[str(busy)] == []
    assert (
        await w.client.get(tribunal_url(case["id"], "/candidates"), headers=who["claimant"])
    ).status_code == 404


async def test_a_conflict_is_flagged_and_blocks_the_appointment(auth_world: World) -> None:
    w = auth_world
    clock = FakeClock()
    w.runtime.clock = clock
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    # One arbitrator shares the claimant's identity number; another acts as the
    # claimant's agent on another case; a third disclosed a relation with the
    # respondent on a case of their own.
    first, who = await served_case(w)
    claimant_id = next(p["id_number"] for p in first["parties"] if p["side"] == "claimant")
    respondent_id = next(p["id_number"] for p in first["parties"] if p["side"] == "respondent")
    namesake = await new_arbitrator(w, w.a, "Namesake")
    await on_panel(w, admin, namesake, id_number=claimant_id)
    lawyer = await new_arbitrator(w, w.a, "Lawyer", Role.AGENT)
    await on_panel(w, admin, lawyer)
    related = await new_arbitrator(w, w.a, "Related")
    await on_panel(w, admin, related)
    clean = await new_arbitrator(w, w.a, "Clean")
    await on_panel(w, admin, clean, max_concurrent=5)

    async def document() -> Any:
        yield b"%PDF-1.7 power of attorney"

    stored = await w.runtime.store.put(str(w.a.id), document())
    await create_power(
        w.runtime,
        Principal.operator(w.a.id, "tests"),
        PowerOfAttorneyCreate(
            agent_user_id=lawyer,
            principal_user_id=w.a.users[Role.CLAIMANT],
            document_key=stored.key,
            scope=f"case:{first['id']}",
        ),
    )
    await seat_by_agreement(w, who, first["id"], related)
    await disclose(
        w,
        related,
        first["id"],
        relations=[
            {"kind": "party", "description": "曾任被申请人法律顾问", "id_number": respondent_id}
        ],
    )

    case, who = await served_case(w)
    for conflicted, kind in (
        (namesake, "on_this_case"),
        (lawyer, "agent_elsewhere"),
        (related, "disclosed"),
    ):
        refused = await nominate(w, who["claimant"], case["id"], conflicted)
        assert refused.status_code == 409, refused.text
        assert [e["rule"] for e in refused.json()["errors"]] == ["conflict"]
        assert refused.json()["conflicts"][0]["kind"] == kind
    listed = (
        await w.client.get(tribunal_url(case["id"], "/candidates"), headers=who["secretary"])
    ).json()
    flagged = {c["user_id"]: [k["kind"] for k in c["conflicts"]] for c in listed}
    assert flagged == {
        # The claimant's identity number: a party here, and on the first case too.
        str(namesake): ["on_this_case", "party_elsewhere"],
        str(lawyer): ["agent_elsewhere"],
        str(related): ["disclosed"],
        str(clean): [],
    }
    # The commission's automatic appointment passes over every conflicted arbitrator.
    tribunal = await expire_selection(w, clock, case["id"])
    assert [s["user_id"] for s in tribunal["seats"]] == [str(clean)]
    # A secretary's pick is checked by the same rules.
    await w.client.patch(f"{PANEL}/{clean}", json={"max_concurrent": 0}, headers=admin)
    third, _ = await served_case(w)
    clock.advance(days=8)
    await deadlines.sweep(w.runtime)

    async def needed() -> bool:
        events = await history(w, who["secretary"], third["id"])
        return any(e["command"] == "appointment_needed" for e in events)

    await wait_for(needed)
    picked = await w.client.post(
        tribunal_url(third["id"]), json={"user_id": str(namesake)}, headers=who["secretary"]
    )
    assert picked.status_code == 409
    assert "conflict" in picked.json()["detail"]
    automatic = await w.client.post(tribunal_url(third["id"]), json={}, headers=who["secretary"])
    assert automatic.status_code == 409  # nobody is eligible
    await w.client.patch(f"{PANEL}/{clean}", json={"max_concurrent": 5}, headers=admin)
    automatic = await w.client.post(tribunal_url(third["id"]), json={}, headers=who["secretary"])
    assert automatic.status_code == 200, automatic.text
    assert [s["user_id"] for s in automatic.json()["seats"]] == [str(clean)]


async def test_the_tribunal_is_constituted_only_when_complete_and_disclosed(
    auth_world: World,
) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    [arbitrator] = await panel(w, admin, 1)
    case, who = await served_case(w)
    constitute = tribunal_url(case["id"], "/constitute")
    empty = await w.client.post(constitute, json={}, headers=who["secretary"])
    assert empty.status_code == 409
    assert [e["rule"] for e in empty.json()["errors"]] == ["tribunal_size"]
    await seat_by_agreement(w, who, case["id"], arbitrator)
    undisclosed = await w.client.post(constitute, json={}, headers=who["secretary"])
    assert undisclosed.status_code == 409
    assert [e["rule"] for e in undisclosed.json()["errors"]] == ["disclosure"]
    # Only a sitting arbitrator discloses.
    outsider = await w.client.post(
        tribunal_url(case["id"], "/disclosure"),
        json={"statement": "无"},
        headers=await w.login(w.a, Role.ARBITRATOR),
    )
    assert outsider.status_code == 404
    disclosed = await disclose(w, arbitrator, case["id"])
    assert disclosed["seats"][0]["disclosure"]["statement"].startswith("本人")
    assert disclosed["constitution_problems"] == []
    assert (await w.client.post(constitute, json={}, headers=who["claimant"])).status_code in (
        403,
        404,
    )
    done = await w.client.post(constitute, json={}, headers=who["secretary"])
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "tribunal_constituted"
    # The challenge period runs from each party's service of the notice of constitution:
    # not before it is served.
    assert done.json()["challenge_until"] is None
    periods = done.json()["challenge_periods"]
    assert sorted(p["side"] for p in periods) == ["claimant", "respondent"]
    assert all(p["notice_status"] == "serving" and p["until"] is None for p in periods)
    await serve_by_staff(w, case["id"], who["secretary"], "notice-of-tribunal")
    after = (await w.client.get(tribunal_url(case["id"]), headers=who["secretary"])).json()
    assert after["challenge_until"] is not None
    assert after["challenge_until"] == max(p["until"] for p in after["challenge_periods"])
    shown = (await w.client.get(f"{URL}/{case['id']}", headers=who["respondent"])).json()
    assert shown["state"] == "tribunal_constituted"
    assert "challenge" in [d["name"] for d in shown["deadlines"]]
    twice = await w.client.post(constitute, json={}, headers=who["secretary"])
    assert twice.status_code == 409


async def test_a_challenge_upheld_and_the_arbitrator_replaced(auth_world: World) -> None:
    """Issue 6: a challenge upheld and the arbitrator replaced, end to end through the API."""
    w = auth_world
    clock = FakeClock()
    w.runtime.clock = clock
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    first, second = await panel(w, admin, 2)
    case, who = await served_case(w)
    tribunal = await expire_selection(w, clock, case["id"])
    [seat] = tribunal["seats"]
    sitting = uuid.UUID(seat["user_id"])
    other = second if sitting == first else first
    await disclose(w, sitting, case["id"])
    constituted = await w.client.post(
        tribunal_url(case["id"], "/constitute"), json={}, headers=who["secretary"]
    )
    assert constituted.status_code == 200, constituted.text

    # The respondent challenges the arbitrator within the period.
    challenges = tribunal_url(case["id"], "/challenges")
    unexplained = await w.client.post(
        challenges, json={"user_id": str(sitting), "grounds": " "}, headers=who["respondent"]
    )
    assert unexplained.status_code == 422
    filed = await w.client.post(
        challenges,
        json={"user_id": str(sitting), "grounds": "仲裁员曾为申请人提供法律咨询"},
        headers=who["respondent"],
    )
    assert filed.status_code == 201, filed.text
    challenge = filed.json()
    assert challenge["status"] == "pending"
    again = await w.client.post(
        challenges, json={"user_id": str(sitting), "grounds": "再次申请"}, headers=who["claimant"]
    )
    assert again.status_code == 409
    decision = tribunal_url(case["id"], f"/challenges/{challenge['id']}/decision")
    # The chair decides: not a secretary, and never without reasons.
    by_secretary = await w.client.post(
        decision, json={"outcome": "upheld", "reason": "成立"}, headers=who["secretary"]
    )
    assert by_secretary.status_code == 403
    no_reason = await w.client.post(
        decision, json={"outcome": "upheld", "reason": ""}, headers=admin
    )
    assert no_reason.status_code == 422
    upheld = await w.client.post(
        decision,
        json={"outcome": "upheld", "reason": "经查，回避理由成立，决定该仲裁员回避。"},
        headers=admin,
    )
    assert upheld.status_code == 200, upheld.text
    after = upheld.json()
    # Released, replaced by the commission (it appointed the first), to be constituted again.
    assert [s["user_id"] for s in after["released"]] == [str(sitting)]
    assert [(s["user_id"], s["chosen_by"]) for s in after["seats"]] == [(str(other), "commission")]
    assert after["state"] == "evidence_exchange"
    assert after["challenges"][0]["status"] == "upheld"
    twice = await w.client.post(
        decision, json={"outcome": "rejected", "reason": "x"}, headers=admin
    )
    assert twice.status_code == 409
    # The released arbitrator no longer sees the case; the replacement does.
    assert (
        await w.client.get(f"{URL}/{case['id']}", headers=await login_as(w, sitting))
    ).status_code == 404
    await disclose(w, other, case["id"])
    again = await w.client.post(
        tribunal_url(case["id"], "/constitute"), json={}, headers=who["secretary"]
    )
    assert again.status_code == 200, again.text
    assert again.json()["state"] == "tribunal_constituted"
    events = await history(w, who["respondent"], case["id"])
    commands = [e["command"] for e in events]
    tail = commands[commands.index("constitute_tribunal") :]
    assert tail == [
        "constitute_tribunal",
        "challenge_arbitrator",
        "decide_challenge",
        "release_arbitrator",
        "vacate_tribunal",
        "appoint_arbitrator",
        "file_disclosure",
        "constitute_tribunal",
    ]
    decided = next(e for e in events if e["command"] == "decide_challenge")
    assert decided["data"]["outcome"] == "upheld"
    assert decided["reason"].startswith("经查")
    # The challenge and its decision are in the transparency log (the due-process record).
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        kinds = [
            r["kind"]
            for r in await uow.fetch(
                "SELECT kind FROM ledger_leaf WHERE tenant_id = {} ORDER BY leaf_index", w.a.id
            )
        ]
    assert kinds.count("case.challenge_filed") == 1
    assert kinds.count("case.challenge_decided") == 1


async def test_a_late_challenge_is_refused_and_a_rejected_one_recorded(
    auth_world: World,
) -> None:
    w = auth_world
    clock = FakeClock()
    w.runtime.clock = clock
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    [arbitrator] = await panel(w, admin, 1)
    case, who = await served_case(w)
    await seat_by_agreement(w, who, case["id"], arbitrator)
    await disclose(w, arbitrator, case["id"])
    done = await w.client.post(
        tribunal_url(case["id"], "/constitute"), json={}, headers=who["secretary"]
    )
    assert done.status_code == 200, done.text
    await serve_by_staff(w, case["id"], who["secretary"], "notice-of-tribunal")
    challenges = tribunal_url(case["id"], "/challenges")
    filed = await w.client.post(
        challenges,
        json={"user_id": str(arbitrator), "grounds": "怀疑不公正"},
        headers=who["claimant"],
    )
    assert filed.status_code == 201
    rejected = await w.client.post(
        tribunal_url(case["id"], f"/challenges/{filed.json()['id']}/decision"),
        json={"outcome": "rejected", "reason": "申请人未提供任何证据"},
        headers=admin,
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["seats"][0]["user_id"] == str(arbitrator)
    assert rejected.json()["state"] == "tribunal_constituted"
    assert rejected.json()["challenges"][0]["decision_reason"] == "申请人未提供任何证据"

    clock.advance(days=10)
    late = await w.client.post(
        challenges,
        json={"user_id": str(arbitrator), "grounds": "新的理由"},
        headers=who["respondent"],
    )
    assert late.status_code == 409
    assert "challenge period ended" in late.json()["detail"]
    assert late.json()["errors"][0]["rule"] == "challenge_period"
    # The period's expiry is recorded in the history by the sweep.
    await deadlines.sweep(w.runtime)

    async def ended() -> bool:
        events = await history(w, who["claimant"], case["id"])
        return any(e["command"] == "challenge_period_ended" for e in events)

    await wait_for(ended)


async def test_the_repeat_claimant_cap_and_a_release(
    auth_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a cap of one recent case per claimant, an arbitrator who sat on this
    claimant's case is refused the next one; a released member is replaced."""
    w = auth_world
    real = tribunal_services._procedure
    monkeypatch.setattr(
        tribunal_services,
        "_procedure",
        lambda runtime, case: dataclasses.replace(real(runtime, case), repeat_claimant_cap=1),
    )
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    first, second = await panel(w, admin, 2)
    earlier, who = await served_case(w)
    await seat_by_agreement(w, who, earlier["id"], first)
    case, who = await served_case(w)
    refused = await nominate(w, who["claimant"], case["id"], first)
    assert refused.status_code == 409
    assert [e["rule"] for e in refused.json()["errors"]] == ["repeat_claimant_cap"]
    listed = (
        await w.client.get(tribunal_url(case["id"], "/candidates"), headers=who["secretary"])
    ).json()
    assert {c["user_id"]: c["repeat_count"] for c in listed} == {str(first): 1, str(second): 0}
    await seat_by_agreement(w, who, case["id"], second)
    # The staff release the member (say, a conflict came to light); the parties chose
    # that seat, so they choose again, and the released arbitrator is out of the choice.
    released = await w.client.post(
        tribunal_url(case["id"], f"/members/{second}/release"),
        json={"reason": "仲裁员自行回避"},
        headers=who["secretary"],
    )
    assert released.status_code == 200, released.text
    assert released.json()["seats"] == []
    assert released.json()["selection_until"] is not None
    again = await nominate(w, who["claimant"], case["id"], second)
    assert again.status_code == 409
    assert "removed_from_case" in [e["rule"] for e in again.json()["errors"]]


async def test_a_lenders_cases_are_appointed_by_the_commission_within_the_cap(
    auth_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """online-loan: the commission appoints as soon as the respondent is served (no
    time to choose); one lender is one repeat claimant, whatever its borrowers."""
    w = auth_world
    real = tribunal_services._procedure
    monkeypatch.setattr(
        tribunal_services,
        "_procedure",
        lambda runtime, case: dataclasses.replace(real(runtime, case), repeat_claimant_cap=1),
    )
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    secretary = await w.login(w.a, Role.SECRETARY)
    [only] = await panel(w, admin, 1, specialities=["online-loan"])
    lender = {"authorization": f"Bearer {await w.token(w.a, ClientKind.LENDER)}"}
    cases = []
    for n in range(2):
        claim = loan_claim(
            claimant={
                "kind": "company",
                "name": "某某小额贷款有限公司",
                "id_number": COMPANY_CODE,
                "email": f"loans{n}@lender.example.cn",
            }
        )
        # Two loans: a contract is claimed once (arbitral.batches.hooks).
        claim["loan"]["contract_number"] = f"JK-2021-{n:04d}"
        filed = await w.client.post(
            URL, json={"case_type": "online-loan", "claim": claim}, headers=lender
        )
        assert filed.status_code == 201, filed.text
        accepted = await w.client.post(
            f"{URL}/{filed.json()['id']}/commands", json={"command": "accept"}, headers=secretary
        )
        assert accepted.status_code == 200, accepted.text
        cases.append(filed.json()["id"])
    await serve(w, cases[0])
    tribunal = (await w.client.get(tribunal_url(cases[0]), headers=secretary)).json()
    assert tribunal["arbitrator_selection"] == "commission_appoints"
    assert tribunal["selection_until"] is None
    assert [(s["user_id"], s["chosen_by"]) for s in tribunal["seats"]] == [
        (str(only), "commission")
    ]
    # The lender's second case: the only arbitrator has reached the cap for this lender.
    await serve(w, cases[1])
    second = (await w.client.get(tribunal_url(cases[1]), headers=secretary)).json()
    assert second["seats"] == []
    events = await history(w, secretary, cases[1])
    assert [e["data"] for e in events if e["command"] == "appointment_needed"] == [
        {"roles": ["sole"]}
    ]
    listed = (await w.client.get(tribunal_url(cases[1], "/candidates"), headers=secretary)).json()
    assert [(c["repeat_count"], c["refusals"]) for c in listed] == [(1, ["repeat_claimant_cap"])]


async def test_the_respondent_waives_its_choice_and_the_commission_appoints(
    auth_world: World,
) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    [arbitrator] = await panel(w, admin, 1)
    case, who = await served_case(w)
    waived = await w.client.post(
        f"{URL}/{case['id']}/waivers",
        json={"period": "arbitrator_selection"},
        headers=who["respondent"],
    )
    assert waived.status_code == 200, waived.text
    tribunal = (await w.client.get(tribunal_url(case["id"]), headers=who["respondent"])).json()
    assert tribunal["selection_until"] is None
    assert [(s["user_id"], s["chosen_by"]) for s in tribunal["seats"]] == [
        (str(arbitrator), "commission")
    ]
