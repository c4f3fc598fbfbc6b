"""Hearings through the API: asynchronous rounds by the clock, documents only, video."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from arbitral.auth.domain import Role
from arbitral.cases import deadlines
from tests.cases.helpers import URL
from tests.hearings.helpers import (
    constituted_case,
    history,
    run_out_periods,
    state_of,
    wait_for,
)
from tests.service.helpers import serve_by_staff
from tests.support.clock import FakeClock
from tests.support.world import World


async def _post(w: World, case_id: str, headers: dict[str, str], **body: Any) -> Any:
    return await w.client.post(f"{URL}/{case_id}/hearing/posts", json=body, headers=headers)


async def test_an_asynchronous_hearing_through_its_four_rounds(auth_world: World) -> None:
    w = auth_world
    clock = FakeClock()
    w.runtime.clock = clock
    case, who = await constituted_case(w)
    case_id = case["id"]
    hearing_url = f"{URL}/{case_id}/hearing"
    claimant, respondent, tribunal = who["claimant"], who["respondent"], who["arbitrator"]

    refused = await w.client.post(hearing_url, json={"mode": "asynchronous"}, headers=claimant)
    assert refused.status_code in (403, 404)
    bad = await w.client.post(hearing_url, json={"mode": "telepathy"}, headers=tribunal)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "$.mode"
    opened = await w.client.post(hearing_url, json={"mode": "asynchronous"}, headers=tribunal)
    assert opened.status_code == 201, opened.text
    hearing = opened.json()
    assert hearing["case_state"] == "hearing"
    assert hearing["rounds"] == ["questioning", "answering", "debating", "closing"]
    assert hearing["current_round"] == "questioning"
    first = hearing["round_history"][0]
    assert first["closes_at"].startswith(
        (clock.now() + timedelta(hours=24)).strftime("%Y-%m-%dT%H")
    )

    # Questioning: the parties ask the other side, the tribunal asks whom it likes.
    out_of_turn = await _post(w, case_id, respondent, kind="argument", text="我方认为……")
    assert out_of_turn.status_code == 409, out_of_turn.text
    assert out_of_turn.json()["errors"][0]["rule"] == "turn"
    asked = await _post(w, case_id, claimant, kind="question", text="货物何时发出？")
    assert asked.status_code == 201, asked.text
    claimant_q = asked.json()["posts"][-1]
    assert claimant_q["addressed_to"] == "respondent"
    tribunal_q = (
        await _post(w, case_id, tribunal, kind="question", text="双方是否保留聊天记录？")
    ).json()["posts"][-1]
    assert tribunal_q["addressed_to"] == "both"
    early = await _post(
        w, case_id, respondent, kind="answer", text="已发出", reply_to=claimant_q["id"]
    )
    assert early.status_code == 409  # answers come in the answering round

    # The questioning round closes by its deadline; the answering round opens.
    clock.advance(hours=24, seconds=1)
    assert await deadlines.sweep(w.runtime) >= 1

    async def in_round(name: str) -> bool:
        got = await w.client.get(hearing_url, headers=claimant)
        return bool(got.json()["current_round"] == name)

    await wait_for(lambda: in_round("answering"))
    # Only the asked side answers a question.
    wrong_side = await _post(
        w, case_id, claimant, kind="answer", text="我来回答", reply_to=claimant_q["id"]
    )
    assert wrong_side.status_code == 409
    assert wrong_side.json()["errors"][0]["rule"] == "asked_side"
    for headers, question in ((respondent, claimant_q), (respondent, tribunal_q)):
        answer = await _post(
            w, case_id, headers, kind="answer", text="回答如下", reply_to=question["id"]
        )
        assert answer.status_code == 201, answer.text
    # The claimant was asked too (by the tribunal): the round cannot be cut before it answers.
    cut = await w.client.post(
        f"{hearing_url}/rounds/close", json={"round": "answering"}, headers=tribunal
    )
    assert cut.status_code == 409
    assert "claimant" in cut.json()["detail"]
    answer = await _post(
        w, case_id, claimant, kind="answer", text="保留", reply_to=tribunal_q["id"]
    )
    assert answer.status_code == 201
    stale = await w.client.post(
        f"{hearing_url}/rounds/close", json={"round": "questioning"}, headers=tribunal
    )
    assert stale.status_code == 409
    cut = await w.client.post(
        f"{hearing_url}/rounds/close", json={"round": "answering"}, headers=tribunal
    )
    assert cut.status_code == 200, cut.text
    assert cut.json()["current_round"] == "debating"

    # Debating: both sides argue; a question of the tribunal now is answered now.
    for headers in (claimant, respondent):
        argued = await _post(w, case_id, headers, kind="argument", text="辩论意见")
        assert argued.status_code == 201, argued.text
    late_q = (
        await _post(
            w, case_id, tribunal, kind="question", text="签收时间？", addressed_to="respondent"
        )
    ).json()["posts"][-1]
    reply = await _post(
        w, case_id, respondent, kind="answer", text="三月一日", reply_to=late_q["id"]
    )
    assert reply.status_code == 201, reply.text
    closing_early = await _post(
        w, case_id, claimant, kind="closing", text="…", accepts_mediation=True
    )
    assert closing_early.status_code == 409

    clock.advance(hours=48, seconds=1)
    await deadlines.sweep(w.runtime)
    await wait_for(lambda: in_round("closing"))

    # Closing: each side once, saying whether it accepts mediation.
    cut = await w.client.post(
        f"{hearing_url}/rounds/close", json={"round": "closing"}, headers=tribunal
    )
    assert cut.status_code == 409  # nobody has made a closing statement yet
    said = await _post(
        w, case_id, claimant, kind="closing", text="坚持请求", accepts_mediation=True
    )
    assert said.status_code == 201
    twice = await _post(w, case_id, claimant, kind="closing", text="再说", accepts_mediation=True)
    assert twice.status_code == 409
    assert twice.json()["errors"][0]["rule"] == "once"
    silent = await _post(w, case_id, respondent, kind="closing", text="不同意")
    assert silent.status_code == 422
    assert silent.json()["errors"][0]["field"] == "$.accepts_mediation"
    said = await _post(
        w, case_id, respondent, kind="closing", text="不同意", accepts_mediation=False
    )
    assert said.status_code == 201
    not_yet = await w.client.post(f"{hearing_url}/close", json={}, headers=tribunal)
    assert not_yet.status_code == 409  # the closing round is still open
    cut = await w.client.post(
        f"{hearing_url}/rounds/close", json={"round": "closing"}, headers=tribunal
    )
    assert cut.status_code == 200
    assert cut.json()["current_round"] is None
    after = await _post(w, case_id, claimant, kind="argument", text="补充")
    assert after.status_code == 409

    closed = await w.client.post(f"{hearing_url}/close", json={}, headers=tribunal)
    assert closed.status_code == 200, closed.text
    assert closed.json()["case_state"] == "deliberation"
    done = await w.client.post(f"{hearing_url}/deliberation", json={}, headers=tribunal)
    assert done.status_code == 200, done.text
    assert await state_of(w, case_id, claimant) == "ready_for_award"

    # Everyone on the case sees every post; the record shows the hearing given and used.
    seen = (await w.client.get(hearing_url, headers=respondent)).json()
    assert len(seen["posts"]) == 11
    assert [r["closed_by"] for r in seen["round_history"]] == [
        "deadline",
        str(w.a.users[Role.ARBITRATOR]),
        "deadline",
        str(w.a.users[Role.ARBITRATOR]),
    ]
    # Each round, as it opened, was notified to both parties (one notice per round and party,
    # however often the round's deadline job ran).
    service = (await w.client.get(f"{URL}/{case_id}/service", headers=claimant)).json()
    notices = [r for r in service["requests"] if r["notice"] == "notice-of-hearing"]
    assert len(notices) == 8
    assert len({r["subject"] for r in notices}) == 4
    assert all(r["subject"].startswith("round:") for r in notices)
    first = min(notices, key=lambda r: r["attempts"][0]["started_at"])
    assert first["title"] == "开庭通知书"
    record = (await w.client.get(f"{URL}/{case_id}/due-process", headers=claimant)).json()
    hearing_record = record["hearing"]
    assert hearing_record["mode"] == "asynchronous"
    assert [(r["round"], r["closed_by"]) for r in hearing_record["rounds"]] == [
        ("questioning", "deadline"),
        ("answering", "tribunal"),
        ("debating", "deadline"),
        ("closing", "tribunal"),
    ]
    assert hearing_record["posts"] == {"claimant": 4, "respondent": 5, "tribunal": 2}
    assert hearing_record["accepts_mediation"] == {"claimant": True, "respondent": False}
    other = await w.client.get(hearing_url, headers=await w.login(w.b, Role.ARBITRATOR))
    assert other.status_code == 404


async def test_a_documents_only_hearing_to_ready_for_award(auth_world: World) -> None:
    w = auth_world
    clock = FakeClock()
    w.runtime.clock = clock
    case, who = await constituted_case(w)
    case_id = case["id"]
    hearing_url = f"{URL}/{case_id}/hearing"
    tribunal = who["arbitrator"]
    assert (await w.client.get(hearing_url, headers=tribunal)).status_code == 404
    # The evidence period still runs: the hearing may open, not close.
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await deadlines.schedule(
            uow,
            w.a.id,
            uuid.UUID(case_id),
            "evidence",
            clock.now() + timedelta(days=3),
            now=clock.now(),
        )
    opened = await w.client.post(hearing_url, json={}, headers=tribunal)  # the rules' default
    assert opened.status_code == 201, opened.text
    assert opened.json()["mode"] == "documents"
    assert opened.json()["current_round"] is None
    again = await w.client.post(hearing_url, json={}, headers=tribunal)
    assert again.status_code == 409
    posted = await _post(w, case_id, who["claimant"], kind="argument", text="书面意见")
    assert posted.status_code == 409  # a documents-only hearing takes no posts
    early = await w.client.post(f"{hearing_url}/close", json={}, headers=tribunal)
    assert early.status_code == 409, early.text
    assert early.json()["errors"][0]["rule"] == "period_running"
    await run_out_periods(w, case_id)
    closed = await w.client.post(
        f"{hearing_url}/close", json={"reason": "书面审理"}, headers=tribunal
    )
    assert closed.status_code == 200, closed.text
    not_tribunal = await w.client.post(
        f"{hearing_url}/deliberation", json={}, headers=who["secretary"]
    )
    assert not_tribunal.status_code in (403, 404)
    done = await w.client.post(f"{hearing_url}/deliberation", json={}, headers=tribunal)
    assert done.status_code == 200, done.text
    assert done.json()["case_state"] == "ready_for_award"
    commands = [e["command"] for e in await history(w, case_id, who["respondent"])]
    assert commands[-3:] == ["open_hearing", "close_hearing", "conclude_deliberation"]
    record = (await w.client.get(f"{URL}/{case_id}/due-process", headers=tribunal)).json()
    assert record["hearing"]["mode"] == "documents"
    assert record["hearing"]["closed_at"] is not None


async def test_a_video_hearing_is_scheduled_held_and_recorded(auth_world: World) -> None:
    w = auth_world
    clock = FakeClock()
    w.runtime.clock = clock
    case, who = await constituted_case(w)
    case_id = case["id"]
    hearing_url = f"{URL}/{case_id}/hearing"
    tribunal = who["arbitrator"]
    opened = await w.client.post(hearing_url, json={"mode": "video"}, headers=tribunal)
    assert opened.status_code == 201, opened.text
    start = clock.now() + timedelta(days=2)
    slot = {
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        "link": "https://meet.example.cn/r/abc123",
    }
    bad = await w.client.post(
        f"{hearing_url}/sessions", json={**slot, "link": "http://x"}, headers=tribunal
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "$.link"
    by_party = await w.client.post(f"{hearing_url}/sessions", json=slot, headers=who["claimant"])
    assert by_party.status_code == 403
    scheduled = await w.client.post(f"{hearing_url}/sessions", json=slot, headers=who["secretary"])
    assert scheduled.status_code == 201, scheduled.text
    session = scheduled.json()["sessions"][0]
    outcome_url = f"{hearing_url}/sessions/{session['id']}/outcome"
    too_early = await w.client.post(outcome_url, json={"outcome": "held"}, headers=tribunal)
    assert too_early.status_code == 409
    not_held = await w.client.post(f"{hearing_url}/close", json={}, headers=tribunal)
    assert not_held.status_code == 409
    # The notice of hearing of the slot went to both parties through the ladder.
    service = (await w.client.get(f"{URL}/{case_id}/service", headers=who["secretary"])).json()
    notices = [r for r in service["requests"] if r["notice"] == "notice-of-hearing"]
    assert len(notices) == 2
    assert {r["subject"] for r in notices} == {session["notice_subject"]}
    # Served a day later, it is less than the rules' 3 days before the slot: not held.
    clock.advance(days=1)
    await serve_by_staff(w, case_id, who["secretary"], "notice-of-hearing")
    clock.advance(days=1, minutes=70)
    short = await w.client.post(outcome_url, json={"outcome": "held"}, headers=tribunal)
    assert short.status_code == 409, short.text
    assert short.json()["errors"][0]["rule"] == "hearing_notice"
    assert "less than 3 days" in short.json()["detail"]
    # Adjourned and moved: the new slot is notified anew, in good time.
    later = clock.now() + timedelta(days=5)
    moved = await w.client.post(
        f"{hearing_url}/sessions/{session['id']}/reschedule",
        json={
            "starts_at": later.isoformat(),
            "ends_at": (later + timedelta(hours=1)).isoformat(),
            "link": "https://meet.example.cn/r/abc124",
            "reason": "通知期间不足，改期",
        },
        headers=who["secretary"],
    )
    assert moved.status_code == 200, moved.text
    moved_session = moved.json()["sessions"][0]
    assert moved_session["notice_subject"] != session["notice_subject"]
    assert moved_session["notice_served_at"] is None
    unserved = await w.client.post(outcome_url, json={"outcome": "held"}, headers=tribunal)
    assert unserved.status_code == 409
    clock.advance(days=5, minutes=70)
    unserved = await w.client.post(outcome_url, json={"outcome": "held"}, headers=tribunal)
    assert unserved.status_code == 409
    assert "not yet served on every party" in unserved.json()["detail"]
    # Served on both at once (a week before would do; here the record says five days).
    served = await serve_by_staff(
        w,
        case_id,
        who["secretary"],
        "notice-of-hearing",
        subject_prefix=moved_session["notice_subject"],
        served_at=clock.now() - timedelta(days=5, minutes=60),
    )
    assert len(served) == 2
    held = await w.client.post(
        outcome_url,
        json={"outcome": "held_in_absence", "notes": "被申请人经合法通知未到庭"},
        headers=tribunal,
    )
    assert held.status_code == 200, held.text
    assert held.json()["sessions"][0]["outcome"] == "held_in_absence"
    assert held.json()["sessions"][0]["notice_served_at"] is not None
    closed = await w.client.post(f"{hearing_url}/close", json={}, headers=tribunal)
    assert closed.status_code == 200, closed.text
    record = (await w.client.get(f"{URL}/{case_id}/due-process", headers=tribunal)).json()
    assert [e["command"] for e in record["hearing"]["video_sessions"]] == [
        "video_hearing_scheduled",
        "video_hearing_rescheduled",
        "video_hearing_outcome",
    ]
    # Each notice served is in the due-process record and in the party's inbox.
    served_notices = [
        e for e in record["service"] if e["data"].get("notice") == "notice-of-hearing"
    ]
    assert len(served_notices) == 4
    inbox = (await w.client.get("/api/v1/inbox", headers=who["respondent"])).json()
    assert [i["notice"] for i in inbox].count("notice-of-hearing") == 2
