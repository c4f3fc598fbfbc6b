"""Due process by construction: no period cut short, no step before service; the record."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from arbitral.auth.domain import Principal, Role
from arbitral.cases import deadlines, services
from arbitral.cases.due_process import DueProcessRefused
from arbitral.identity.schemas import PowerOfAttorneyCreate
from arbitral.identity.services import create_power
from tests.cases.helpers import URL, accepted_case
from tests.support.clock import FakeClock
from tests.support.world import World


async def served_case(w: World) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """A case in its answer period, with the answer and counterclaim periods running."""
    case, who = await accepted_case(w)
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    case_id = uuid.UUID(case["id"])
    now = w.runtime.clock.now()
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await services.system_command(uow, w.runtime, tenant, case_id, "record_payment", by="tests")
        await services.system_command(
            uow, w.runtime, tenant, case_id, "complete_service", by="tests"
        )
        for name, days in (("answer", 15), ("counterclaim", 10)):
            await deadlines.schedule(
                uow, w.a.id, case_id, name, now + timedelta(days=days), now=now
            )
    return case, who


async def move(w: World, case_id: str, command: str) -> None:
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await services.system_command(uow, w.runtime, tenant, uuid.UUID(case_id), command, by="t")


async def test_the_answer_period_cannot_be_cut_short(auth_world: World) -> None:
    w = auth_world
    w.runtime.clock = FakeClock()
    case, who = await served_case(w)
    with pytest.raises(DueProcessRefused) as refused:
        await move(w, case["id"], "close_pleadings")
    assert {e.rule for e in refused.value.errors or []} == {"period_running"}
    assert "the counterclaim period runs until" in str(refused.value)  # the soonest
    assert sorted(e.message.split()[0] for e in refused.value.errors or []) == [
        "answer",
        "counterclaim",
    ]
    # Neither the claimant nor an agent can waive the respondent's period.
    for role in ("claimant", "secretary"):
        response = await w.client.post(
            f"{URL}/{case['id']}/waivers", json={"period": "answer"}, headers=who[role]
        )
        assert response.status_code == 403, (role, response.text)
    waived = await w.client.post(
        f"{URL}/{case['id']}/waivers", json={"period": "answer"}, headers=who["respondent"]
    )
    assert waived.status_code == 200, waived.text
    # The arbitrator selection (the tribunal context) also runs from the notice served.
    assert waived.json()["still_running"] == ["arbitrator_selection", "counterclaim"]
    with pytest.raises(DueProcessRefused):
        await move(w, case["id"], "close_pleadings")
    # The counterclaim period runs its course: the sweep fires it, then the case may move.
    w.runtime.clock.advance(days=11)  # type: ignore[attr-defined]
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await uow.execute(
            "UPDATE case_deadline SET status = 'fired' WHERE tenant_id = {} AND case_id = {} "
            "AND name = 'counterclaim' AND status = 'pending'",
            w.a.id,
            uuid.UUID(case["id"]),
        )
    await move(w, case["id"], "close_pleadings")
    record = (await w.client.get(f"{URL}/{case['id']}/due-process", headers=who["claimant"])).json()
    periods = {p["name"]: p["status"] for p in record["periods"]}
    assert periods["answer"] == "waived"
    assert periods["counterclaim"] == "fired"
    # Others' periods are on the record too (payments, service ladder, tribunal).
    assert periods.get("fee_payment") in (None, "cancelled")
    assert [w_["data"]["period"] for w_ in record["waivers"]] == ["answer"]
    assert record["waivers"][0]["actor"] == str(w.a.users[Role.RESPONDENT])


async def test_an_agent_cannot_waive_for_the_respondent(auth_world: World) -> None:
    w = auth_world
    case, who = await served_case(w)

    async def document() -> Any:
        yield b"%PDF-1.7 power"

    stored = await w.runtime.store.put(str(w.a.id), document())
    await create_power(
        w.runtime,
        Principal.operator(w.a.id, "tests"),
        PowerOfAttorneyCreate(
            agent_user_id=w.a.users[Role.AGENT],
            principal_user_id=w.a.users[Role.RESPONDENT],
            document_key=stored.key,
        ),
    )
    response = await w.client.post(
        f"{URL}/{case['id']}/waivers", json={"period": "answer"}, headers=who["agent"]
    )
    assert response.status_code == 403
    unknown = await w.client.post(
        f"{URL}/{case['id']}/waivers", json={"period": "award"}, headers=who["respondent"]
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "$.period"


async def test_nothing_happens_before_service(auth_world: World) -> None:
    w = auth_world
    case, _ = await accepted_case(w)
    await move(w, case["id"], "record_payment")
    # The state machine has no path around service: 409 naming what is allowed.
    with pytest.raises(services.TransitionNotAllowed):
        await move(w, case["id"], "close_pleadings")
    with pytest.raises(services.TransitionNotAllowed):
        await move(w, case["id"], "conclude_deliberation")


async def test_the_record_shows_when_the_respondent_first_opened_the_file(
    auth_world: World,
) -> None:
    w = auth_world
    case, who = await accepted_case(w)
    before = await w.client.get(f"{URL}/{case['id']}/due-process", headers=who["claimant"])
    assert before.status_code == 200
    assert before.json()["respondent_first_opened_at"] is None
    await w.client.get(f"{URL}/{case['id']}", headers=who["claimant"])
    await w.client.get(f"{URL}/{case['id']}", headers=who["respondent"])
    await w.client.get(f"{URL}/{case['id']}", headers=who["respondent"])
    record = (
        await w.client.get(f"{URL}/{case['id']}/due-process", headers=who["secretary"])
    ).json()
    assert record["respondent_first_opened_at"] is not None
    assert record["number"] == case["number"]
    assert [t["command"] for t in record["transitions"]] == ["file", "accept"]
    history = (await w.client.get(f"{URL}/{case['id']}/history", headers=who["claimant"])).json()
    assert [e["command"] for e in history].count("respondent_opened_file") == 1
    other = await w.client.get(
        f"{URL}/{case['id']}/due-process", headers=await w.login(w.b, Role.SECRETARY)
    )
    assert other.status_code == 404


async def test_waiving_the_last_period_closes_the_pleadings(auth_world: World) -> None:
    w = auth_world
    case, who = await served_case(w)
    for period in ("answer", "counterclaim"):
        response = await w.client.post(
            f"{URL}/{case['id']}/waivers", json={"period": period}, headers=who["respondent"]
        )
        assert response.status_code == 200, response.text
    shown = (await w.client.get(f"{URL}/{case['id']}", headers=who["claimant"])).json()
    assert shown["state"] == "evidence_exchange"
    history = (await w.client.get(f"{URL}/{case['id']}/history", headers=who["claimant"])).json()
    assert history[-1]["command"] == "close_pleadings" or any(
        e["command"] == "close_pleadings" and e["actor"] == "respondent_waiver" for e in history
    )


async def test_the_record_shows_each_notice_served_and_its_certificate(auth_world: World) -> None:
    """The record's service carries the receipts (``notice_served``), not only completion."""
    w = auth_world
    w.runtime.clock = FakeClock()
    case, who = await accepted_case(w)
    await move(w, case["id"], "record_payment")  # the notice of arbitration goes out
    service = (await w.client.get(f"{URL}/{case['id']}/service", headers=who["secretary"])).json()
    (request,) = [r for r in service["requests"] if r["notice"] == "notice-of-arbitration"]
    recorded = await w.client.post(
        f"{URL}/{case['id']}/service/record",
        json={"request_id": request["id"], "method": "post", "reason": "EMS 1234567 签收"},
        headers=who["secretary"],
    )
    assert recorded.status_code == 200, recorded.text
    (certificate,) = [
        c for c in recorded.json()["certificates"] if c["request_id"] == request["id"]
    ]
    got = await w.client.get(f"{URL}/{case['id']}/due-process", headers=who["respondent"])
    assert got.status_code == 200, got.text
    service_events = got.json()["service"]
    assert [e["command"] for e in service_events] == ["notice_served", "complete_service"]
    served = service_events[0]["data"]
    assert (served["request"], served["basis"]) == (request["id"], "staff")
    assert served["certificate_sha256"] == certificate["sha256"]
