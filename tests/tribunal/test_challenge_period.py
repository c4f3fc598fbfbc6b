"""The challenge period runs from each party's own service of the notice of constitution.

The parties are served at different times (a secretary records service by post for one,
two days after the other): each side's period ends the rules' 5 days after its own
service; the case's challenge deadline is the later. A late challenge on grounds learned
later stands within the days the rules give from learning them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from arbitral.auth.domain import Role
from arbitral.rules.calendar import compute_deadline
from tests.cases.helpers import URL
from tests.service.helpers import serve_by_staff
from tests.support.clock import FakeClock
from tests.support.world import World
from tests.tribunal.helpers import panel, seat_by_agreement, served_case, tribunal_url
from tests.tribunal.test_tribunal import disclose

CLAIMANT = "张三"
RESPONDENT = "某某电子商务有限公司"


async def constituted(w: World) -> tuple[str, uuid.UUID, dict[str, dict[str, str]]]:
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    [arbitrator] = await panel(w, admin, 1)
    case, who = await served_case(w)
    await seat_by_agreement(w, who, case["id"], arbitrator)
    await disclose(w, arbitrator, case["id"])
    done = await w.client.post(
        tribunal_url(case["id"], "/constitute"), json={}, headers=who["secretary"]
    )
    assert done.status_code == 200, done.text
    return case["id"], arbitrator, who


async def end_of_period(w: World, served_at: datetime) -> datetime:
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    rules = w.runtime.rules.get("gba-alliance/online-arbitration", "1.2")
    period = rules.case_type("online-purchase").time_limit("challenge").period
    return compute_deadline(
        period, served_at, zone=tenant.zone, calendar=w.runtime.rules.calendar("cn")
    ).ends_at


async def distinct_ends(w: World) -> datetime:
    """A time from now on when periods served two days apart end on different days.

    From some days (a Sunday evening here) a weekend moves the earlier end onto the
    later one, and the test would prove nothing (it failed on 2026-12-06).
    """
    at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    for _ in range(60):
        if await end_of_period(w, at) < await end_of_period(w, at + timedelta(days=2)):
            return at
        at += timedelta(hours=6)
    raise AssertionError("no start in 15 days gives two different ends")


async def test_each_side_challenges_within_its_own_period_from_its_service(
    auth_world: World,
) -> None:
    w = auth_world
    clock = FakeClock(await distinct_ends(w))
    w.runtime.clock = clock
    case_id, arbitrator, who = await constituted(w)
    secretary = who["secretary"]
    challenges = tribunal_url(case_id, "/challenges")

    # Nothing served yet: no period, no deadline; the notice goes to both sides.
    tribunal = (await w.client.get(tribunal_url(case_id), headers=secretary)).json()
    assert tribunal["challenge_until"] is None
    assert {p["name"] for p in tribunal["challenge_periods"]} == {CLAIMANT, RESPONDENT}
    shown = (await w.client.get(f"{URL}/{case_id}", headers=secretary)).json()
    assert "challenge" not in [d["name"] for d in shown["deadlines"]]

    # The claimant is served now; the respondent two days later.
    claimant_served = clock.now()
    [request] = await serve_by_staff(
        w, case_id, secretary, "notice-of-tribunal", recipients={CLAIMANT}
    )
    assert request["status"] == "served"
    tribunal = (await w.client.get(tribunal_url(case_id), headers=secretary)).json()
    assert tribunal["challenge_until"] is None  # the respondent's period has not started
    clock.advance(days=2)
    respondent_served = clock.now()
    await serve_by_staff(w, case_id, secretary, "notice-of-tribunal", recipients={RESPONDENT})
    tribunal = (await w.client.get(tribunal_url(case_id), headers=secretary)).json()
    claimant_until = await end_of_period(w, claimant_served)
    respondent_until = await end_of_period(w, respondent_served)
    assert claimant_until < respondent_until
    until = {p["side"]: datetime.fromisoformat(p["until"]) for p in tribunal["challenge_periods"]}
    assert until == {"claimant": claimant_until, "respondent": respondent_until}
    # The case's deadline: the later of the two.
    assert datetime.fromisoformat(tribunal["challenge_until"]) == respondent_until
    shown = (await w.client.get(f"{URL}/{case_id}", headers=secretary)).json()
    (deadline,) = [d for d in shown["deadlines"] if d["name"] == "challenge"]
    assert datetime.fromisoformat(deadline["due_at"]) == respondent_until

    # Between the two ends: the claimant is late, the respondent in time.
    clock.advance(seconds=(claimant_until - clock.now()).total_seconds() + 60)
    late = await w.client.post(
        challenges,
        json={"user_id": str(arbitrator), "grounds": "怀疑不公正"},
        headers=who["claimant"],
    )
    assert late.status_code == 409, late.text
    assert late.json()["errors"][0]["rule"] == "challenge_period"
    assert late.json()["challenge_until"] == claimant_until.isoformat()
    in_time = await w.client.post(
        challenges,
        json={"user_id": str(arbitrator), "grounds": "仲裁员曾代理申请人的其他案件"},
        headers=who["respondent"],
    )
    assert in_time.status_code == 201, in_time.text
    events = (await w.client.get(f"{URL}/{case_id}/history", headers=secretary)).json()
    started = [e for e in events if e["command"] == "challenge_period_started"]
    assert [e["data"]["side"] for e in started] == ["claimant", "respondent"]
    filed = next(e for e in events if e["command"] == "challenge_arbitrator")
    assert filed["data"]["timing"] == "in_time"
    # The due-process record shows each notice served, with its certificate.
    record = (await w.client.get(f"{URL}/{case_id}/due-process", headers=secretary)).json()
    served = [e for e in record["service"] if e["data"].get("notice") == "notice-of-tribunal"]
    assert len(served) == 2
    assert all(e["data"]["basis"] == "staff" and e["data"]["certificate_sha256"] for e in served)
    # And the party's inbox holds the notice served by post.
    inbox = (await w.client.get("/api/v1/inbox", headers=who["respondent"])).json()
    assert "notice-of-tribunal" in [i["notice"] for i in inbox]


async def test_a_late_challenge_on_grounds_learned_later(auth_world: World) -> None:
    w = auth_world
    clock = FakeClock()
    w.runtime.clock = clock
    case_id, arbitrator, who = await constituted(w)
    secretary = who["secretary"]
    await serve_by_staff(w, case_id, secretary, "notice-of-tribunal")
    served_on = clock.now()
    challenges = tribunal_url(case_id, "/challenges")
    clock.advance(days=20)
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    today = clock.now().astimezone(tenant.zone).date()

    # Late, with no new facts: refused.
    plain = await w.client.post(
        challenges, json={"user_id": str(arbitrator), "grounds": "不公正"}, headers=who["claimant"]
    )
    assert plain.status_code == 409
    assert plain.json()["errors"][0]["rule"] == "challenge_period"
    # Grounds known on a day still to come: not a date anyone can give.
    future = await w.client.post(
        challenges,
        json={
            "user_id": str(arbitrator),
            "grounds": "新发现的事实",
            "grounds_known_on": (today + timedelta(days=1)).isoformat(),
        },
        headers=who["claimant"],
    )
    assert future.status_code == 422
    assert future.json()["errors"][0]["field"] == "$.grounds_known_on"
    # Known before the notice was served: not new.
    old = await w.client.post(
        challenges,
        json={
            "user_id": str(arbitrator),
            "grounds": "早已知道的事实",
            "grounds_known_on": served_on.astimezone(tenant.zone).date().isoformat(),
        },
        headers=who["claimant"],
    )
    assert old.status_code == 409
    assert old.json()["errors"][0]["rule"] == "new_facts_period"
    assert "not new" in old.json()["detail"]
    # Learned 10 days ago: the 5 days from learning them have run out.
    stale = await w.client.post(
        challenges,
        json={
            "user_id": str(arbitrator),
            "grounds": "十天前得知的事实",
            "grounds_known_on": (today - timedelta(days=10)).isoformat(),
        },
        headers=who["claimant"],
    )
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["rule"] == "new_facts_period"
    assert "new_facts_until" in stale.json()
    # Learned yesterday: in time on the new facts.
    fresh = await w.client.post(
        challenges,
        json={
            "user_id": str(arbitrator),
            "grounds": "昨日得知仲裁员与被申请人有投资关系",
            "grounds_known_on": (today - timedelta(days=1)).isoformat(),
        },
        headers=who["claimant"],
    )
    assert fresh.status_code == 201, fresh.text
    events = (await w.client.get(f"{URL}/{case_id}/history", headers=secretary)).json()
    filed = next(e for e in events if e["command"] == "challenge_arbitrator")
    assert filed["data"]["timing"] == "new_facts"
    assert filed["data"]["grounds_known_on"] == (today - timedelta(days=1)).isoformat()
