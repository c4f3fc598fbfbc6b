"""The respondent's answer and default: the answer period met, or run out by the clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from arbitral.auth.domain import Role
from arbitral.cases import deadlines
from arbitral.pleadings import domain
from tests.cases.helpers import URL
from tests.hearings.helpers import history, served_case, state_of, wait_for
from tests.support.clock import FakeClock
from tests.support.world import World


async def test_a_respondent_who_never_answers_is_in_default_and_the_case_moves_on(
    auth_world: World,
) -> None:
    w = auth_world
    clock = FakeClock()
    w.runtime.clock = clock
    case, who = await served_case(w)
    case_id = case["id"]
    clock.advance(days=10, seconds=1)  # the counterclaim period runs out first
    assert await deadlines.sweep(w.runtime) >= 1

    async def counterclaim_ended() -> bool:
        events = await history(w, case_id, who["claimant"])
        return any(e["command"] == "counterclaim_period_ended" for e in events)

    await wait_for(counterclaim_ended)
    assert await state_of(w, case_id, who["claimant"]) == "answer_period"  # answer still runs

    clock.advance(days=5)
    assert await deadlines.sweep(w.runtime) >= 1

    async def moved() -> bool:
        return await state_of(w, case_id, who["claimant"]) == "evidence_exchange"

    await wait_for(moved)
    events = await history(w, case_id, who["respondent"])
    commands = [e["command"] for e in events]
    assert commands.count("respondent_in_default") == 1
    assert commands.index("respondent_in_default") < commands.index("close_pleadings")
    closing = next(e for e in events if e["command"] == "close_pleadings")
    assert closing["actor"] == "deadlines"
    assert closing["data"]["respondent_in_default"] is True
    record = (await w.client.get(f"{URL}/{case_id}/due-process", headers=who["secretary"])).json()
    assert record["respondent_in_default"] is True
    assert record["answered_at"] is None
    periods = {p["name"]: p["status"] for p in record["periods"]}
    assert periods["answer"] == periods["counterclaim"] == "fired"
    # Too late now: the answer period has ended.
    late = await w.client.post(
        f"{URL}/{case_id}/answer", json={"text": "迟到的答辩"}, headers=who["respondent"]
    )
    assert late.status_code == 409, late.text
    assert late.json()["errors"][0]["rule"] == "answer_period"


async def test_an_answer_within_the_period_meets_it(auth_world: World) -> None:
    w = auth_world
    clock = FakeClock()
    w.runtime.clock = clock
    case, who = await served_case(w)
    case_id = case["id"]
    url = f"{URL}/{case_id}/answer"
    assert (await w.client.get(url, headers=who["claimant"])).status_code == 404
    # Only the respondent side answers; the text is required.
    for role in ("claimant", "secretary", "arbitrator"):
        response = await w.client.post(url, json={"text": "答辩"}, headers=who[role])
        assert response.status_code in (403, 404), (role, response.text)
    empty = await w.client.post(url, json={"text": "  "}, headers=who["respondent"])
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "$.text"
    stranger = await w.client.post(
        url, json={"text": "答辩", "exhibit_ids": [str(uuid.uuid4())]}, headers=who["respondent"]
    )
    assert stranger.status_code == 422
    assert stranger.json()["errors"][0]["field"] == "$.exhibit_ids[0]"

    clock.advance(days=3)
    answered = await w.client.post(
        url, json={"text": "被申请人已按约发货，不同意退款。"}, headers=who["respondent"]
    )
    assert answered.status_code == 201, answered.text
    body = answered.json()
    assert len(body["sha256"]) == 64
    shown = await w.client.get(url, headers=who["claimant"])
    assert shown.status_code == 200
    assert shown.json()["id"] == body["id"]
    again = await w.client.post(url, json={"text": "再答辩"}, headers=who["respondent"])
    assert again.status_code == 409

    case_now = (await w.client.get(f"{URL}/{case_id}", headers=who["claimant"])).json()
    assert "answer" not in [d["name"] for d in case_now["deadlines"]]
    # The counterclaim period still runs: the pleadings close when it runs out, no default.
    clock.advance(days=8)
    await deadlines.sweep(w.runtime)

    async def moved() -> bool:
        return await state_of(w, case_id, who["claimant"]) == "evidence_exchange"

    await wait_for(moved)
    record = (await w.client.get(f"{URL}/{case_id}/due-process", headers=who["claimant"])).json()
    assert record["respondent_in_default"] is False
    assert record["answered_at"] is not None
    periods = {p["name"]: p["status"] for p in record["periods"]}
    assert periods["answer"] == "cancelled"  # met
    assert periods["counterclaim"] == "fired"
    other = await w.client.get(url, headers=await w.login(w.b, Role.RESPONDENT))
    assert other.status_code == 404


async def test_an_answer_after_the_period_is_refused_before_the_sweep(auth_world: World) -> None:
    w = auth_world
    clock = FakeClock()
    w.runtime.clock = clock
    case, who = await served_case(w)
    clock.advance(days=16)  # not yet swept: the clock alone decides
    late = await w.client.post(
        f"{URL}/{case['id']}/answer", json={"text": "答辩"}, headers=who["respondent"]
    )
    assert late.status_code == 409
    assert "ended" in late.json()["detail"]


def test_answer_rules() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert domain.answer_refusal(now, None) is not None
    assert domain.answer_refusal(now, now) is not None
    assert domain.answer_refusal(now, now + timedelta(seconds=1)) is None
    assert domain.pleadings_over(["evidence", "challenge"])
    assert not domain.pleadings_over(["counterclaim"])
    assert domain.limits_starting_at(
        {"answer": "notice_served", "evidence": "pleadings_closed"}, domain.PLEADINGS_CLOSED
    ) == ["evidence"]
    x = uuid.uuid4()
    assert [p[1] for p in domain.answer_problems("", [x, x])] == ["required", "unique"]


async def test_the_default_is_recorded_before_the_close_when_both_periods_end_together(
    auth_world: World,
) -> None:
    """One sweep fires the answer and the counterclaim; the counterclaim's job runs first."""
    from arbitral.pleadings import services as pleadings

    w = auth_world
    w.runtime.clock = FakeClock()
    case, who = await served_case(w)
    case_id = uuid.UUID(case["id"])
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:  # what the sweep does
        await uow.execute(
            "UPDATE case_deadline SET status = 'fired', settled_at = {} WHERE tenant_id = {} "
            "AND case_id = {} AND status = 'pending' AND name IN ('answer', 'counterclaim')",
            w.runtime.clock.now(),
            w.a.id,
            case_id,
        )
    for expired in (pleadings.counterclaim_expired, pleadings.answer_expired):
        async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
            await expired(uow, w.runtime, tenant, case_id)
    events = await history(w, case["id"], who["secretary"])
    commands = [e["command"] for e in events]
    assert commands.count("respondent_in_default") == 1
    assert commands.index("respondent_in_default") < commands.index("close_pleadings")
    closing = next(e for e in events if e["command"] == "close_pleadings")
    assert closing["data"]["respondent_in_default"] is True
