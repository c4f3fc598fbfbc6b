"""Serving notices through real channels: SMTP, the stand-in SMS gateway, the portal inbox.

The ladder of rule set 1.2: SMS (24 h), email (48 h), portal (72 h), served when
delivered, referred to the staff when the ladder runs out.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from arbitral.auth.domain import Role
from arbitral.cases import deadlines, services
from arbitral.jobs.runner import JobContext
from arbitral.notify.actors import deliver_message
from arbitral.notify.services import DELIVER_JOB, build_sender
from tests.cases.helpers import URL, claim_against, command
from tests.rules.test_claims import purchase_claim
from tests.service.conftest import FAILING_NUMBER, ChannelsWorld
from tests.support.clock import FakeClock
from tests.support.world import World


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def filed_and_paid(
    w: World, *, respondent_phone: str | None
) -> tuple[str, dict[str, dict[str, str]]]:
    """A case of tenant A, accepted and paid (the payment moved by the tests as a system)."""
    who = {role.value: await w.login(w.a, role) for role in Role}
    respondent = dict(purchase_claim()["respondent"])
    if respondent_phone:
        respondent["phone"] = respondent_phone
    claim = claim_against(w.a, respondent=respondent)
    claim["respondent"]["email"] = w.a.emails[Role.RESPONDENT]
    filed = await w.client.post(
        URL, json={"case_type": "online-purchase", "claim": claim}, headers=who["claimant"]
    )
    assert filed.status_code == 201, filed.text
    case_id = filed.json()["id"]
    accepted = await command(w, who["secretary"], case_id, "accept")
    assert accepted.status_code == 200, accepted.text
    tenant = await w.runtime.tenants.by_id(w.a.id)
    assert tenant is not None
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await services.system_command(
            uow, w.runtime, tenant, uuid.UUID(case_id), "record_payment", by="tests"
        )
    return case_id, who


async def service_of(w: World, case_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await w.client.get(f"{URL}/{case_id}/service", headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def notice_of_arbitration(service: dict[str, Any]) -> dict[str, Any]:
    (request,) = [r for r in service["requests"] if r["notice"] == "notice-of-arbitration"]
    return request


async def state_of(w: World, case_id: str, headers: dict[str, str]) -> str:
    return str((await w.client.get(f"{URL}/{case_id}", headers=headers)).json()["state"])


async def test_sms_fails_then_email_serves_the_notice_and_the_answer_period_starts(
    channels_world: ChannelsWorld,
) -> None:
    cw = channels_world
    w = cw.w
    w.runtime.clock = FakeClock()
    case_id, who = await filed_and_paid(w, respondent_phone=FAILING_NUMBER)
    secretary = who["secretary"]

    async def in_answer_period() -> bool:
        return await state_of(w, case_id, secretary) == "answer_period"

    await until(in_answer_period)
    service = await service_of(w, case_id, who["respondent"])
    request = notice_of_arbitration(service)
    assert request["status"] == "served"
    assert request["basis"] == "delivered"
    attempts = [(a["channel"], a["status"]) for a in request["attempts"]]
    assert attempts == [("sms", "failed"), ("email", "delivered")]
    sms, email = request["attempts"]
    assert sms["destination"] == "+8613****01"
    assert FAILING_NUMBER not in str(service)
    assert "UNDELIV" in sms["detail"]
    assert email["destination"].startswith("r***@")

    # The certificate: its text hashed, logged in the tenant's transparency log.
    (certificate,) = [c for c in service["certificates"] if c["request_id"] == request["id"]]
    assert certificate["sha256"] == hashlib.sha256(certificate["text"].encode()).hexdigest()
    assert "送达回证" in certificate["text"]
    assert certificate["record"]["channel"] == "email"
    assert certificate["record"]["notice_sha256"] == request["text_sha256"]
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        leaves = await uow.fetch(
            "SELECT kind, leaf_index FROM ledger_leaf WHERE tenant_id = {} AND leaf_index = {}",
            w.a.id,
            certificate["leaf_index"],
        )
    assert [leaf["kind"] for leaf in leaves] == ["case.service_certificate"]

    # One SMS to the gateway, one email to the respondent: the ladder sent each once.
    sent = [m for m in await cw.gateway_messages() if m["phone"] == FAILING_NUMBER]
    assert len(sent) == 1
    assert sent[0]["template_param"]["content"].startswith("某某电子商务有限公司")
    (mail,) = cw.mailbox.to(w.a.emails[Role.RESPONDENT])
    assert b"Subject:" in mail

    # The case: history, the answer deadline running, the claimant's acceptance notice served.
    history = (await w.client.get(f"{URL}/{case_id}/history", headers=secretary)).json()
    commands = [e["command"] for e in history]
    assert "notice_served" in commands
    (completed,) = [e for e in history if e["command"] == "complete_service"]
    assert completed["actor"] == "service"
    assert commands.index("notice_served") < commands.index("complete_service")
    assert completed["data"]["answer_due"]
    shown = (await w.client.get(f"{URL}/{case_id}", headers=secretary)).json()
    names = [d["name"] for d in shown["deadlines"]]
    # Every period the rule set runs from service, each its own deadline (none cut short).
    assert {"answer", "counterclaim", "evidence"} <= set(names)
    assert not [n for n in names if n.startswith("svc:")]  # no ladder waits left

    async def acceptance_served() -> bool:
        found = await service_of(w, case_id, who["claimant"])
        (acceptance,) = [r for r in found["requests"] if r["notice"] == "notice-of-acceptance"]
        return bool(acceptance["status"] == "served")

    await until(acceptance_served)


async def test_a_report_twice_and_a_delivery_job_twice_have_one_effect(
    channels_world: ChannelsWorld,
) -> None:
    cw = channels_world
    w = cw.w
    w.runtime.clock = FakeClock()
    case_id, who = await filed_and_paid(w, respondent_phone=FAILING_NUMBER)

    async def in_answer_period() -> bool:
        return await state_of(w, case_id, who["secretary"]) == "answer_period"

    await until(in_answer_period)

    async def settled() -> bool:
        # The claimant's acceptance notice goes on every channel at once: wait for its
        # SMS report and its email too, so that nothing moves while this test looks.
        found = await service_of(w, case_id, who["secretary"])
        (acceptance,) = [r for r in found["requests"] if r["notice"] == "notice-of-acceptance"]
        statuses = {a["channel"]: a["status"] for a in acceptance["attempts"]}
        return statuses.get("sms") == statuses.get("email") == "delivered"

    await until(settled)
    before = await service_of(w, case_id, who["secretary"])
    history_before = await w.client.get(f"{URL}/{case_id}/history", headers=who["secretary"])
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        messages = await uow.fetch(
            "SELECT id, channel, provider_ref, destination FROM outbound_message "
            "WHERE tenant_id = {} AND purpose = 'service_notice' ORDER BY created_at",
            w.a.id,
        )
    sms = next(m for m in messages if m["destination"].endswith(FAILING_NUMBER))
    # The gateway pushes the same report again.
    report = [
        {
            "phone_number": FAILING_NUMBER,
            "send_time": "2026-11-23 10:00:00",
            "report_time": "2026-11-23 10:00:05",
            "success": False,
            "err_code": "UNDELIV",
            "err_msg": "again",
            "sms_size": "1",
            "biz_id": sms["provider_ref"],
            "out_id": f"{w.a.id.hex}.{uuid.UUID(str(sms['id'])).hex}",
        }
    ]
    token_url = cw.report_url + "/hooks/sms/aliyun/"
    async with httpx.AsyncClient() as client:
        token = (await client.get(cw.gateway_url + "/_stand-in/messages")).status_code
        assert token == 200
        wrong = await client.post(token_url + "not-the-token", json=report)
        assert wrong.status_code == 404
    # The right token: from the settings' reference.
    from arbitral.notify.services import resolve_secret

    sms_settings = w.runtime.settings.sms
    assert sms_settings is not None
    secret = resolve_secret(sms_settings.variable, sms_settings.report_token_ref)
    async with httpx.AsyncClient() as client:
        again = await client.post(token_url + secret, json=report)
    assert again.status_code == 200
    assert again.json() == {"code": 0, "msg": "接收成功"}

    # The email's delivery job delivered again: skipped, no second email.
    email = next(m for m in messages if m["channel"] == "email" and "@" in m["destination"])
    mails = len(cw.mailbox.messages)
    ctx = JobContext(runtime=w.runtime, job_id=uuid.uuid4(), job_name=DELIVER_JOB, tenant_id=w.a.id)
    sender = build_sender(w.runtime.settings, tenant_id=w.a.id)
    assert await deliver_message(ctx, uuid.UUID(str(email["id"])), sender) == "skipped"
    await asyncio.sleep(0.3)
    assert len(cw.mailbox.messages) == mails
    assert await service_of(w, case_id, who["secretary"]) == before
    history_after = await w.client.get(f"{URL}/{case_id}/history", headers=who["secretary"])
    assert history_after.json() == history_before.json()


async def test_the_ladder_runs_out_and_a_secretary_records_service_by_post(
    channels_world: ChannelsWorld,
) -> None:
    cw = channels_world
    w = cw.w
    clock = FakeClock()
    w.runtime.clock = clock
    cw.mailbox.refuse.add(w.a.emails[Role.RESPONDENT].lower())  # the mail server refuses
    case_id, who = await filed_and_paid(w, respondent_phone=None)  # no SMS number

    async def on_the_portal() -> bool:
        request = notice_of_arbitration(await service_of(w, case_id, who["secretary"]))
        return [a["status"] for a in request["attempts"]] == ["skipped", "failed", "sent"]

    await until(on_the_portal)
    request = notice_of_arbitration(await service_of(w, case_id, who["secretary"]))
    assert request["attempts"][1]["detail"].startswith("DeliveryError: the mail server refused")
    # Nobody looks at the portal: after 72 hours the ladder has run out.
    assert await deadlines.sweep(w.runtime) == 0
    clock.advance(hours=72, seconds=1)
    assert await deadlines.sweep(w.runtime) == 1

    async def referred() -> bool:
        found = notice_of_arbitration(await service_of(w, case_id, who["secretary"]))
        return bool(found["status"] == "referred")

    await until(referred)
    request = notice_of_arbitration(await service_of(w, case_id, who["secretary"]))
    assert request["attempts"][2]["status"] == "timed_out"
    assert await state_of(w, case_id, who["secretary"]) == "fee_paid"
    history = (await w.client.get(f"{URL}/{case_id}/history", headers=who["secretary"])).json()
    assert [e["command"] for e in history][-1] == "service_referred"

    # The secretary serves it by post and records it; a party cannot.
    body = {"request_id": request["id"], "method": "post", "reason": "EMS 1234567 签收"}
    refused = await w.client.post(
        f"{URL}/{case_id}/service/record", json=body, headers=who["claimant"]
    )
    assert refused.status_code in (403, 404)
    bad = await w.client.post(
        f"{URL}/{case_id}/service/record",
        json={**body, "method": "pigeon", "reason": ""},
        headers=who["secretary"],
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"$.method", "$.reason"}
    recorded = await w.client.post(
        f"{URL}/{case_id}/service/record", json=body, headers=who["secretary"]
    )
    assert recorded.status_code == 200, recorded.text
    request = notice_of_arbitration(recorded.json())
    assert (request["status"], request["basis"]) == ("served", "staff")
    assert await state_of(w, case_id, who["secretary"]) == "answer_period"
    twice = await w.client.post(
        f"{URL}/{case_id}/service/record", json=body, headers=who["secretary"]
    )
    assert twice.status_code == 409


async def test_the_portal_inbox_serves_the_notice_when_shown_and_records_its_opening(
    channels_world: ChannelsWorld,
) -> None:
    cw = channels_world
    w = cw.w
    w.runtime.clock = FakeClock()
    cw.mailbox.refuse.add(w.a.emails[Role.RESPONDENT].lower())
    case_id, who = await filed_and_paid(w, respondent_phone=None)

    async def on_the_portal() -> bool:
        request = notice_of_arbitration(await service_of(w, case_id, who["secretary"]))
        return request["attempts"][-1]["channel"] == "portal"

    await until(on_the_portal)
    # Another party's inbox does not hold it.
    assert (await w.client.get("/api/v1/inbox", headers=who["claimant"])).json() == [
        item
        for item in (await w.client.get("/api/v1/inbox", headers=who["claimant"])).json()
        if item["notice"] != "notice-of-arbitration"
    ]
    inbox = (await w.client.get("/api/v1/inbox", headers=who["respondent"])).json()
    (item,) = [i for i in inbox if i["notice"] == "notice-of-arbitration"]
    assert item["shown_at"] is not None
    assert item["opened_at"] is None
    assert "仲裁通知书" in item["title"]
    # Shown to the party: delivered, which serves it under rule set 1.2.
    request = notice_of_arbitration(await service_of(w, case_id, who["respondent"]))
    assert (request["status"], request["basis"]) == ("served", "delivered")
    assert await state_of(w, case_id, who["respondent"]) == "answer_period"

    other = await w.client.post(f"/api/v1/inbox/{item['id']}/open", headers=who["claimant"])
    assert other.status_code == 404
    opened = await w.client.post(f"/api/v1/inbox/{item['id']}/open", headers=who["respondent"])
    assert opened.status_code == 200, opened.text
    assert opened.json()["opened_at"] is not None
    again = await w.client.post(f"/api/v1/inbox/{item['id']}/open", headers=who["respondent"])
    assert again.json()["opened_at"] == opened.json()["opened_at"]
    request = notice_of_arbitration(await service_of(w, case_id, who["respondent"]))
    assert request["attempts"][-1]["status"] == "opened"
    # Served once: one certificate for it, whatever came after.
    service = await service_of(w, case_id, who["respondent"])
    assert len([c for c in service["certificates"] if c["request_id"] == request["id"]]) == 1
