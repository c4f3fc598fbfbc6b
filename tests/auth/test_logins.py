"""Built-in accounts: password + TOTP logins, sessions, CSRF, logout, lockout."""

from __future__ import annotations

import json
import time

import pyotp

from arbitral.auth.domain import Role
from tests.support.world import PASSWORD, World


async def test_login_me_and_logout(auth_world: World) -> None:
    w = auth_world
    headers = await w.login(w.a, Role.SECRETARY)
    me = await w.client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["roles"] == ["secretary"]
    assert body["tenant"] == w.a.slug
    assert "users:read" in body["permissions"]
    assert "users:manage" not in body["permissions"]

    logout = await w.client.post("/auth/logout", headers=headers)
    assert logout.status_code == 200
    assert logout.cookies.get("arbitral_session") in (None, "")
    after = await w.client.get("/api/v1/me", headers=headers)
    assert after.status_code == 401
    assert after.headers["content-type"] == "application/problem+json"


async def test_unsafe_requests_with_a_cookie_need_the_csrf_token(auth_world: World) -> None:
    w = auth_world
    headers = await w.login(w.a, Role.COMMISSION_ADMIN)
    without = {"cookie": headers["cookie"]}
    forged = await w.client.post(
        "/api/v1/users", json={"display_name": "x", "email": "x@a.example.cn"}, headers=without
    )
    assert forged.status_code == 403
    assert "CSRF" in forged.json()["detail"]
    wrong = await w.client.post(
        "/api/v1/users",
        json={"display_name": "x", "email": "x@a.example.cn"},
        headers={**without, "x-csrf-token": "guess"},
    )
    assert wrong.status_code == 403
    ok = await w.client.post(
        "/api/v1/users", json={"display_name": "x", "email": "x@a.example.cn"}, headers=headers
    )
    assert ok.status_code == 201, ok.text


async def test_wrong_passwords_lock_the_account_and_are_audited(auth_world: World) -> None:
    w = auth_world
    email = w.a.emails[Role.CLAIMANT]
    for _ in range(5):
        failed = await w.client.post(
            f"/t/{w.a.slug}/auth/password", json={"email": email, "password": "wrong password!"}
        )
        assert failed.status_code == 401
        assert failed.json()["type"] == "/problems/login-failed"
    locked = await w.client.post(
        f"/t/{w.a.slug}/auth/password", json={"email": email, "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    # Unknown accounts get the same answer as wrong passwords.
    unknown = await w.client.post(
        f"/t/{w.a.slug}/auth/password",
        json={"email": "nobody@a.example.cn", "password": "wrong password!"},
    )
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == failed.json()["detail"]

    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    events = await w.client.get(
        "/api/v1/audit-events", params={"action": "login.password"}, headers=admin
    )
    assert events.status_code == 200
    outcomes = [e["outcome"] for e in events.json()["items"] if e["detail"].get("email") == email]
    assert outcomes.count("failure") == 5
    assert "denied" in outcomes


async def test_totp_second_factor_is_required_and_single_use(auth_world: World) -> None:
    w = auth_world
    headers = await w.login(w.a, Role.ARBITRATOR)
    started = await w.client.post("/api/v1/me/totp", headers=headers)
    assert started.status_code == 201, started.text
    totp = pyotp.TOTP(started.json()["secret"])
    assert started.json()["otpauth_uri"].startswith("otpauth://totp/")
    bad = await w.client.post("/api/v1/me/totp/confirm", json={"code": "000000"}, headers=headers)
    assert bad.status_code == 422
    confirmed = await w.client.post(
        "/api/v1/me/totp/confirm", json={"code": totp.now()}, headers=headers
    )
    assert confirmed.status_code == 204, confirmed.text

    email = w.a.emails[Role.ARBITRATOR]
    url = f"/t/{w.a.slug}/auth/password"
    no_code = await w.client.post(url, json={"email": email, "password": PASSWORD})
    assert no_code.status_code == 401
    assert no_code.json()["second_factor_required"] is True
    # The code used to confirm is spent; the next step's code is good once.
    next_code = totp.at(time.time() + 30)
    first = await w.client.post(
        url, json={"email": email, "password": PASSWORD, "totp_code": next_code}
    )
    assert first.status_code == 200, first.text
    replay = await w.client.post(
        url, json={"email": email, "password": PASSWORD, "totp_code": next_code}
    )
    assert replay.status_code == 401


async def test_logout_everywhere_ends_every_session(auth_world: World) -> None:
    w = auth_world
    first = await w.login(w.a, Role.AGENT)
    second = await w.login(w.a, Role.AGENT)
    ended = await w.client.post("/api/v1/me/logout-everywhere", headers=first)
    assert ended.status_code == 200
    assert ended.json()["sessions_ended"] == 2
    for headers in (first, second):
        assert (await w.client.get("/api/v1/me", headers=headers)).status_code == 401


async def test_a_session_is_not_accepted_on_another_tenants_host(auth_world: World) -> None:
    w = auth_world
    headers = await w.login(w.a, Role.SECRETARY)
    on_own = await w.client.get("/api/v1/me", headers={**headers, "host": w.a.host})
    assert on_own.status_code == 200
    on_other = await w.client.get("/api/v1/me", headers={**headers, "host": w.b.host})
    assert on_other.status_code == 401


async def test_disabling_a_user_ends_their_sessions(auth_world: World) -> None:
    w = auth_world
    victim = await w.login(w.a, Role.CLAIMANT)
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    user_id = w.a.users[Role.CLAIMANT]
    changed = await w.client.patch(
        f"/api/v1/users/{user_id}", json={"status": "disabled"}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert (await w.client.get("/api/v1/me", headers=victim)).status_code == 401
    again = await w.client.post(
        f"/t/{w.a.slug}/auth/password",
        json={"email": w.a.emails[Role.CLAIMANT], "password": PASSWORD},
    )
    assert again.status_code == 401


async def test_a_deactivated_commission_accepts_no_session_or_token(auth_world: World) -> None:
    from arbitral.auth.domain import ClientKind

    w = auth_world
    headers = await w.login(w.a, Role.SECRETARY)
    bearer = {"authorization": f"Bearer {await w.token(w.a, ClientKind.LENDER)}"}
    for h in (headers, bearer):
        assert (await w.client.get("/api/v1/me", headers=h)).status_code == 200
    async with w.runtime.db.transaction() as uow:
        await uow.execute("UPDATE tenant SET active = {} WHERE id = {}", False, w.a.id)
    w.runtime.tenants.invalidate()
    for h in (headers, bearer):  # the token is in the verified-token cache by now
        assert (await w.client.get("/api/v1/me", headers=h)).status_code == 401


async def test_login_endpoints_take_json_only(auth_world: World) -> None:
    """A cross-site form (text/plain or urlencoded) cannot log anyone in (login CSRF)."""
    w = auth_world
    body = json.dumps({"email": w.a.emails[Role.SECRETARY], "password": PASSWORD})
    for url in (f"/t/{w.a.slug}/auth/password", "/platform/auth/password"):
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            response = await w.client.post(
                url, content=body, headers={"content-type": content_type}
            )
            assert response.status_code == 415, (url, content_type, response.text)


async def test_parallel_guesses_are_counted_one_by_one(auth_world: World) -> None:
    """A burst of concurrent wrong passwords cannot slip past the limit of five."""
    import asyncio

    w = auth_world
    email = w.a.emails[Role.RESPONDENT]
    url = f"/t/{w.a.slug}/auth/password"
    answers = await asyncio.gather(
        *(
            w.client.post(url, json={"email": email, "password": f"guess number {i}"})
            for i in range(20)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes.count(401) <= 5, codes
    assert codes.count(429) >= 15, codes


async def test_a_totp_code_logs_in_once_even_in_parallel(auth_world: World) -> None:
    import asyncio

    w = auth_world
    headers = await w.login(w.a, Role.SECRETARY)
    started = await w.client.post("/api/v1/me/totp", headers=headers)
    totp = pyotp.TOTP(started.json()["secret"])
    confirm_step = int(time.time() // 30)
    await w.client.post("/api/v1/me/totp/confirm", json={"code": totp.now()}, headers=headers)
    code = totp.at((confirm_step + 1) * 30)
    answers = await asyncio.gather(
        *(
            w.client.post(
                f"/t/{w.a.slug}/auth/password",
                json={"email": w.a.emails[Role.SECRETARY], "password": PASSWORD, "totp_code": code},
            )
            for _ in range(8)
        )
    )
    assert sorted(a.status_code for a in answers).count(200) == 1


async def test_audit_pages_miss_no_event(auth_world: World) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await w.client.get("/api/v1/audit-events", params=params, headers=admin)).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    everything = await w.client.get("/api/v1/audit-events", params={"limit": 200}, headers=admin)
    assert seen == [e["id"] for e in everything.json()["items"]]
    assert len(seen) > 6
    bad = await w.client.get("/api/v1/audit-events", params={"cursor": "yesterday"}, headers=admin)
    assert bad.status_code == 422


async def test_a_bad_query_parameter_names_its_source_and_field(auth_world: World) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    response = await w.client.get("/api/v1/audit-events", params={"limit": "many"}, headers=admin)
    assert response.status_code == 400
    [problem] = response.json()["errors"]
    assert problem["field"] == "query:limit"
