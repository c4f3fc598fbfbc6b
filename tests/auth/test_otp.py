"""Party login by one-time code: the whole journey, brute force, limits, single use, expiry.

Codes are read back from the console sender's log line, as the demo's operator
reads them: never from the database, which holds only their HMAC.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from arbitral.auth.domain import Role
from tests.support.world import Tenant, World


@pytest.fixture
def w(auth_world: World) -> World:
    return auth_world


def phone_of(tenant: Tenant, role: Role) -> str:
    """A distinct mainland mobile number per tenant and role."""
    return f"+86139{int(tenant.slug[1:], 16) % 10**5:05d}{list(Role).index(role):03d}"


async def give_phone(w: World, tenant: Tenant, role: Role) -> str:
    phone = phone_of(tenant, role)
    async with w.runtime.db.transaction(tenant_id=tenant.id) as uow:
        await uow.execute(
            "UPDATE tenant_user SET phone = {} WHERE tenant_id = {} AND id = {}",
            phone,
            tenant.id,
            tenant.users[role],
        )
    return phone


def mask(destination: str) -> str:
    if "@" in destination:
        local, _, domain = destination.partition("@")
        return f"{local[:1]}***@{domain}"
    return destination[:5] + "****" + destination[-2:]


def deliveries(caplog: pytest.LogCaptureFixture, destination: str) -> list[str]:
    """Bodies the console sender "delivered" to ``destination`` (as logged, masked)."""
    return [
        r.msg["body"]
        for r in caplog.records
        if isinstance(r.msg, dict)
        and r.msg.get("event") == "message.delivered_to_console"
        and r.msg.get("destination") == mask(destination)
    ]


async def next_code(caplog: pytest.LogCaptureFixture, destination: str, seen: int) -> str:
    """Wait for delivery number ``seen + 1`` to ``destination``; the code in it."""
    deadline = time.monotonic() + 10
    while len(bodies := deliveries(caplog, destination)) <= seen:
        assert time.monotonic() < deadline, "no code was delivered"
        await asyncio.sleep(0.02)
    match = re.search(r"(?:验证码为 ?|code is )(\d{6})", bodies[seen])
    assert match, bodies[seen]
    return match.group(1)


async def ask(
    w: World,
    tenant: Tenant,
    destination: str,
    channel: str = "sms",
    client: httpx.AsyncClient | None = None,
) -> httpx.Response:
    return await (client or w.client).post(
        f"/t/{tenant.slug}/auth/otp/request", json={"channel": channel, "destination": destination}
    )


async def challenge(w: World, tenant: Tenant, destination: str, channel: str = "sms") -> str:
    response = await ask(w, tenant, destination, channel)
    assert response.status_code == 202, response.text
    challenge_id: str = response.json()["challenge_id"]
    return challenge_id


async def verify(w: World, tenant: Tenant, challenge_id: str, code: str) -> httpx.Response:
    w.client.cookies.clear()
    return await w.client.post(
        f"/t/{tenant.slug}/auth/otp/verify", json={"challenge_id": challenge_id, "code": code}
    )


def wrong(code: str, n: int = 1) -> str:
    return f"{(int(code) + n) % 10**6:06d}"


async def rows(w: World, tenant: Tenant, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with w.runtime.db.transaction(tenant_id=tenant.id) as uow:
        return await uow.fetch(sql, *args)


async def audit(w: World, tenant: Tenant, prefix: str = "login.otp") -> list[dict[str, Any]]:
    events = await rows(
        w, tenant, "SELECT * FROM audit_event WHERE tenant_id = {} ORDER BY at", tenant.id
    )
    found = [e for e in events if str(e["action"]).startswith(prefix)]
    for event in found:
        if isinstance(event["detail"], str):
            event["detail"] = json.loads(event["detail"])
    return found


def contains_code(text: str, code: str) -> bool:
    return re.search(rf"(?<!\d){code}(?!\d)", text) is not None


@pytest.mark.parametrize(
    ("channel", "role"), [("sms", Role.CLAIMANT), ("email", Role.AGENT)], ids=["sms", "email"]
)
async def test_a_party_logs_in_with_the_code_it_was_sent(
    w: World, caplog: pytest.LogCaptureFixture, channel: str, role: Role
) -> None:
    if channel == "sms":
        destination = await give_phone(w, w.a, role)
        typed = destination[3:]  # a bare mainland number is understood as +86
    else:
        destination = w.a.emails[role]
        typed = f"  {destination.upper()} "  # addresses compare without case
    requested = await ask(w, w.a, typed, channel)
    assert requested.status_code == 202, requested.text
    assert requested.json()["expires_in"] == 600
    challenge_id = requested.json()["challenge_id"]
    code = await next_code(caplog, destination, 0)
    (body,) = deliveries(caplog, destination)
    assert body.startswith(f"【{w.a.slug}仲裁委员会】")  # the commission signs, in its locale

    logged_in = await verify(w, w.a, challenge_id, code)
    assert logged_in.status_code == 200, logged_in.text
    out = logged_in.json()
    assert out["user_id"] == str(w.a.users[role])
    assert out["display_name"] == f"{role.value} of {w.a.slug}"
    cookie = logged_in.cookies.get("arbitral_session")
    assert cookie
    assert "httponly" in logged_in.headers["set-cookie"].lower()
    me = await w.client.get("/api/v1/me", headers={"cookie": f"arbitral_session={cookie}"})
    assert me.status_code == 200, me.text
    assert me.json()["auth_method"] == f"otp:{channel}"
    assert me.json()["roles"] == [role.value]

    # Single use.
    again = await verify(w, w.a, challenge_id, code)
    assert again.status_code == 401
    assert again.headers["content-type"] == "application/problem+json"

    # The first verification proves the destination.
    (user,) = await rows(
        w,
        w.a,
        "SELECT * FROM tenant_user WHERE tenant_id = {} AND id = {}",
        w.a.id,
        w.a.users[role],
    )
    assert user[f"{'phone' if channel == 'sms' else 'email'}_verified_at"] is not None

    # Delivered, and the code is gone from the database: the message is redacted, the
    # challenge holds an HMAC, the audit trail never had it.
    deadline = time.monotonic() + 10
    while (
        messages := await rows(
            w, w.a, "SELECT * FROM outbound_message WHERE tenant_id = {}", w.a.id
        )
    )[0]["status"] != "sent":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    (message,) = messages
    assert message["purpose"] == "login_code"
    assert message["destination"].lower() == destination.lower()
    assert not contains_code(message["body"], code)
    assert "******" in message["body"]
    (stored,) = await rows(w, w.a, "SELECT * FROM otp_challenge WHERE tenant_id = {}", w.a.id)
    assert stored["consumed_at"] is not None
    assert len(stored["code_hash"]) == 64
    assert not contains_code(stored["code_hash"], code)
    events = await audit(w, w.a)
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("login.otp.request", "success"),
        ("login.otp", "success"),
        ("login.otp", "failure"),
    ]
    assert events[0]["detail"]["sent"] is True
    assert events[1]["detail"]["verified_destination"] is True
    for event in events:
        text = json.dumps(event["detail"])
        assert not contains_code(text, code)
        assert destination not in text
        assert event["detail"]["destination"] == mask(destination.lower())
    outbox = await rows(w, w.a, "SELECT payload FROM outbox_message WHERE tenant_id = {}", w.a.id)
    assert outbox
    assert not any(contains_code(str(o["payload"]), code) for o in outbox)


async def test_five_wrong_codes_kill_the_challenge(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    phone = await give_phone(w, w.a, Role.RESPONDENT)
    challenge_id = await challenge(w, w.a, phone)
    code = await next_code(caplog, phone, 0)
    answers = [await verify(w, w.a, challenge_id, wrong(code, n)) for n in range(1, 6)]
    assert [a.status_code for a in answers] == [401] * 5
    assert answers[0].json()["type"] == "/problems/login-failed"
    dead = await verify(w, w.a, challenge_id, code)
    assert dead.status_code == 401
    assert dead.json()["detail"] == answers[0].json()["detail"]  # nothing tells them apart

    events = await audit(w, w.a, "login.otp")
    failures = [e for e in events if e["action"] == "login.otp" and e["outcome"] == "failure"]
    assert [e["detail"]["reason"] for e in failures] == ["wrong code"] * 5 + [
        "too many wrong codes"
    ]
    assert all(e["target_id"] == challenge_id for e in failures)
    assert not any(contains_code(json.dumps(e["detail"]), code) for e in events)


async def test_ten_failures_lock_the_destination_even_for_the_right_code(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    phone = await give_phone(w, w.a, Role.CLAIMANT)
    first = await challenge(w, w.a, phone)
    first_code = await next_code(caplog, phone, 0)
    for n in range(1, 6):  # five: the first challenge dies
        assert (await verify(w, w.a, first, wrong(first_code, n))).status_code == 401
    second = await challenge(w, w.a, phone)
    code = await next_code(caplog, phone, 1)
    for n in range(1, 5):  # four more on a live challenge: nine failures
        assert (await verify(w, w.a, second, wrong(code, n))).status_code == 401
    # The tenth, on the dead challenge, still counts against the destination.
    assert (await verify(w, w.a, first, first_code)).status_code == 401

    locked = await verify(w, w.a, second, code)
    assert locked.status_code == 429
    assert locked.json()["type"] == "/problems/too-many-attempts"
    retry_after = int(locked.headers["retry-after"])
    assert 3500 < retry_after <= 3600
    assert locked.json()["retry_after"] == retry_after
    refused = await ask(w, w.a, phone)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert len(deliveries(caplog, phone)) == 2

    events = await audit(w, w.a)
    assert ("login.otp", "denied") in [(e["action"], e["outcome"]) for e in events]
    assert ("login.otp.request", "denied") in [(e["action"], e["outcome"]) for e in events]
    assert [e["detail"]["locked"] for e in events if e["outcome"] == "failure"][-1] is True

    # Another party's number of the same commission is not affected.
    other = await give_phone(w, w.a, Role.RESPONDENT)
    assert (await ask(w, w.a, other)).status_code == 202


async def test_requests_are_limited_per_destination(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    phone = await give_phone(w, w.a, Role.AGENT)
    for _ in range(5):
        assert (await ask(w, w.a, phone)).status_code == 202
    over = await ask(w, w.a, phone)
    assert over.status_code == 429
    assert 0 < int(over.headers["retry-after"]) <= 1800
    await next_code(caplog, phone, 4)
    await asyncio.sleep(0.1)
    assert len(deliveries(caplog, phone)) == 5
    # The same number at another commission is another destination.
    async with w.runtime.db.transaction(tenant_id=w.b.id) as uow:
        await uow.execute(
            "UPDATE tenant_user SET phone = {} WHERE tenant_id = {} AND id = {}",
            phone,
            w.b.id,
            w.b.users[Role.AGENT],
        )
    assert (await ask(w, w.b, phone)).status_code == 202


async def test_requests_are_limited_per_client_address(w: World) -> None:
    transport = httpx.ASGITransport(app=w.app, client=("198.51.100.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as other:
        for n in range(20):
            response = await ask(w, w.a, f"+8613700{n:06d}", client=other)
            assert response.status_code == 202, (n, response.text)
        over = await ask(w, w.a, "+8613799999999", client=other)
        assert over.status_code == 429
        assert int(over.headers["retry-after"]) > 0
    # Someone else's address is not held back.
    assert (await ask(w, w.a, "+8613799999999")).status_code == 202
    (denied,) = [e for e in await audit(w, w.a) if e["outcome"] == "denied"]
    assert denied["detail"]["reason"] == "address over its request limit"
    assert denied["ip"] == "198.51.100.7"


async def test_expired_and_superseded_codes_do_not_work(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    phone = await give_phone(w, w.a, Role.CLAIMANT)
    expiring = await challenge(w, w.a, phone)
    expiring_code = await next_code(caplog, phone, 0)
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await uow.execute(
            "UPDATE otp_challenge SET expires_at = {} WHERE tenant_id = {} AND id = {}",
            datetime.now(UTC) - timedelta(seconds=1),
            w.a.id,
            uuid.UUID(expiring),
        )
    assert (await verify(w, w.a, expiring, expiring_code)).status_code == 401

    old = await challenge(w, w.a, phone)
    old_code = await next_code(caplog, phone, 1)
    new = await challenge(w, w.a, phone)
    new_code = await next_code(caplog, phone, 2)
    assert (await verify(w, w.a, old, old_code)).status_code == 401
    # A challenge belongs to its commission.
    assert (await verify(w, w.b, new, new_code)).status_code == 401
    # Full-width digits (a Chinese input method's) and spaces are forgiven.
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in new_code)
    typed = f" {full_width[:3]} {full_width[3:]} "
    assert (await verify(w, w.a, new, typed)).status_code == 200

    failures = [e for e in await audit(w, w.a) if e["outcome"] == "failure"]
    assert [e["detail"]["reason"] for e in failures] == ["expired or superseded"] * 2
    assert [e["target_id"] for e in failures] == [expiring, old]


async def test_unknown_destinations_get_the_same_answer_and_no_message(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    party = await give_phone(w, w.a, Role.CLAIMANT)
    known = await ask(w, w.a, party)
    unknown = await ask(w, w.a, "+8613600000001")
    unknown_email = await ask(w, w.a, "nobody@a.example.cn", "email")
    for response in (unknown, unknown_email):
        assert response.status_code == known.status_code == 202
        assert response.json().keys() == known.json().keys()
        assert response.json()["expires_in"] == known.json()["expires_in"]
    code = await next_code(caplog, party, 0)
    await asyncio.sleep(0.2)  # time for a (wrong) delivery to show
    assert deliveries(caplog, "+8613600000001") == []
    assert deliveries(caplog, "nobody@a.example.cn") == []
    messages = await rows(
        w, w.a, "SELECT destination FROM outbound_message WHERE tenant_id = {}", w.a.id
    )
    assert [m["destination"] for m in messages] == [party]

    # Guessing at a nobody's challenge fails exactly like a wrong code at a party's.
    at_nobody = await verify(w, w.a, unknown.json()["challenge_id"], code)
    at_party = await verify(w, w.a, known.json()["challenge_id"], wrong(code))
    assert at_nobody.status_code == at_party.status_code == 401
    assert at_nobody.json()["detail"] == at_party.json()["detail"]
    requests = [e for e in await audit(w, w.a) if e["action"] == "login.otp.request"]
    assert [e["detail"]["sent"] for e in requests] == [True, False, False]


async def test_only_active_parties_get_codes(w: World, caplog: pytest.LogCaptureFixture) -> None:
    secretary = await give_phone(w, w.a, Role.SECRETARY)
    arbitrator_email = w.a.emails[Role.ARBITRATOR]
    disabled = await give_phone(w, w.a, Role.RESPONDENT)
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        await uow.execute(
            "UPDATE tenant_user SET status = 'disabled' WHERE tenant_id = {} AND id = {}",
            w.a.id,
            w.a.users[Role.RESPONDENT],
        )
    staff = await ask(w, w.a, secretary)
    judge = await ask(w, w.a, arbitrator_email, "email")
    gone = await ask(w, w.a, disabled)
    assert [r.status_code for r in (staff, judge, gone)] == [202, 202, 202]
    party = await give_phone(w, w.a, Role.CLAIMANT)
    await ask(w, w.a, party)
    await next_code(caplog, party, 0)
    await asyncio.sleep(0.1)
    for destination in (secretary, arbitrator_email, disabled):
        assert deliveries(caplog, destination) == []
    messages = await rows(
        w, w.a, "SELECT destination FROM outbound_message WHERE tenant_id = {}", w.a.id
    )
    assert [m["destination"] for m in messages] == [party]


async def test_two_simultaneous_verifications_log_in_once(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    phone = await give_phone(w, w.a, Role.AGENT)
    challenge_id = await challenge(w, w.a, phone)
    code = await next_code(caplog, phone, 0)
    url = f"/t/{w.a.slug}/auth/otp/verify"
    body = {"challenge_id": challenge_id, "code": code}
    answers = await asyncio.gather(*(w.client.post(url, json=body) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]
    sessions = await rows(
        w, w.a, "SELECT id FROM session WHERE tenant_id = {} AND auth_method = 'otp:sms'", w.a.id
    )
    assert len(sessions) == 1


async def test_malformed_input_is_a_422_naming_the_field(w: World) -> None:
    cases = [
        ("request", {"channel": "fax", "destination": "+8613800138000"}, "$.channel"),
        ("request", {"channel": "sms", "destination": "12345"}, "$.destination"),
        ("request", {"channel": "email", "destination": "not-an-address"}, "$.destination"),
        ("verify", {"challenge_id": "nope", "code": "123456"}, "$.challenge_id"),
        ("verify", {"challenge_id": str(uuid.uuid4()), "code": "12345"}, "$.code"),
        ("verify", {"challenge_id": str(uuid.uuid4()), "code": "12a456"}, "$.code"),
    ]
    for path, body, field in cases:
        response = await w.client.post(f"/t/{w.a.slug}/auth/otp/{path}", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [field]
    # Nothing was counted or audited for input that was not a request at all.
    assert await audit(w, w.a) == []
    assert await rows(w, w.a, "SELECT id FROM login_throttle WHERE tenant_id = {}", w.a.id) == []

    unknown = await w.client.post(
        "/t/no-such-commission/auth/otp/request",
        json={"channel": "sms", "destination": "+8613800138000"},
    )
    assert unknown.status_code == 404
