"""Registering a webhook endpoint: who may, which URLs, the secret shown once and sealed."""

from __future__ import annotations

import base64
from typing import Any

from arbitral.auth.domain import ClientKind, Role
from tests.support.world import World

URL = "/api/v1/webhooks/endpoint"
GOOD = "https://hooks.lender.example/arbitral"


async def lender(w: World, tenant: Any = None) -> dict[str, str]:
    token = await w.token(tenant or w.a, ClientKind.LENDER)
    return {"authorization": f"Bearer {token}"}


async def audit_actions(w: World) -> list[str]:
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        rows = await uow.fetch(
            "SELECT action FROM audit_event WHERE tenant_id = {} AND target_kind = "
            "'webhook_endpoint' ORDER BY at",
            w.a.id,
        )
    return [r["action"] for r in rows]


async def test_bad_urls_are_refused_precisely(auth_world: World) -> None:
    w = auth_world
    headers = await lender(w)
    for url, rule in [
        ("http://hooks.lender.example/x", "https"),
        ("http://127.0.0.1:9000/x", "https"),
        ("https://127.0.0.1/x", "address"),
        ("https://192.168.1.20/x", "address"),
        ("https://u:p@hooks.lender.example/x", "credentials"),
        ("no url at all", "format"),
    ]:
        response = await w.client.put(URL, json={"url": url}, headers=headers)
        assert response.status_code == 422, (url, response.text)
        (problem,) = response.json()["errors"]
        assert problem["field"] == "$.url"
        assert problem["rule"] == rule, url
    missing = await w.client.put(URL, json={}, headers=headers)
    assert missing.status_code in (400, 422)
    # Nothing was registered by any of them.
    assert (await w.client.get(URL, headers=headers)).status_code == 404
    assert await audit_actions(w) == []


async def test_only_api_clients_that_file_register(auth_world: World) -> None:
    w = auth_world
    claimant = await w.login(w.a, Role.CLAIMANT)  # holds cases:file, but is a person
    assert (await w.client.put(URL, json={"url": GOOD}, headers=claimant)).status_code == 403
    court = {"authorization": f"Bearer {await w.token(w.a, ClientKind.COURT)}"}
    assert (await w.client.put(URL, json={"url": GOOD}, headers=court)).status_code == 403
    narrow = {"authorization": f"Bearer {await w.token(w.a, ClientKind.LENDER, 'tenant:read')}"}
    assert (await w.client.put(URL, json={"url": GOOD}, headers=narrow)).status_code == 403
    assert (await w.client.get(URL, headers=claimant)).status_code == 403


async def test_register_change_rotate_disable(auth_world: World) -> None:
    w = auth_world
    headers = await lender(w)
    created = await w.client.put(URL, json={"url": GOOD}, headers=headers)
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["url"] == GOOD
    assert body["status"] == "active"
    secret = body["secret"]
    assert secret.startswith("whsec_")
    raw = base64.b64decode(secret.removeprefix("whsec_"))
    assert len(raw) == 32
    # Sealed at rest: neither the secret nor its bytes are in the row.
    async with w.runtime.db.transaction(tenant_id=w.a.id) as uow:
        (row,) = await uow.fetch(
            "SELECT secret_enc, client_id FROM webhook_endpoint WHERE tenant_id = {}", w.a.id
        )
    assert row["client_id"] == w.a.clients[ClientKind.LENDER][0]
    assert raw not in bytes(row["secret_enc"])
    assert secret.encode() not in bytes(row["secret_enc"])
    # Shown once: GET and a change of URL never show it.
    shown = (await w.client.get(URL, headers=headers)).json()
    assert "secret" not in shown
    assert shown["url"] == GOOD
    assert shown["deliveries"] == []
    moved = await w.client.put(URL, json={"url": GOOD + "/v2"}, headers=headers)
    assert moved.status_code == 200
    assert "secret" not in moved.json()
    assert moved.json()["url"] == GOOD + "/v2"
    same = await w.client.put(URL, json={"url": GOOD + "/v2"}, headers=headers)
    assert same.status_code == 200
    rotated = await w.client.post(URL + "/rotate", headers=headers)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != secret
    disabled = await w.client.delete(URL, headers=headers)
    assert disabled.status_code == 204
    assert (await w.client.get(URL, headers=headers)).json()["status"] == "disabled"
    assert (await w.client.delete(URL, headers=headers)).status_code == 404
    assert (await w.client.post(URL + "/rotate", headers=headers)).status_code == 404
    again = await w.client.put(URL, json={"url": GOOD}, headers=headers)
    assert again.json()["status"] == "active"
    assert again.json()["secret"] not in (secret, rotated.json()["secret"])
    assert await audit_actions(w) == [
        "webhook.endpoint_created",
        "webhook.endpoint_changed",
        "webhook.secret_rotated",
        "webhook.endpoint_disabled",
        "webhook.endpoint_enabled",
    ]


async def test_each_client_sees_its_own_endpoint(auth_world: World) -> None:
    w = auth_world
    a, b = await lender(w, w.a), await lender(w, w.b)
    await w.client.put(URL, json={"url": GOOD + "/a"}, headers=a)
    assert (await w.client.get(URL, headers=b)).status_code == 404
    await w.client.put(URL, json={"url": GOOD + "/b"}, headers=b)
    assert (await w.client.get(URL, headers=a)).json()["url"] == GOOD + "/a"
    assert (await w.client.get(URL, headers=b)).json()["url"] == GOOD + "/b"


async def test_loopback_over_http_only_with_the_development_switch(hook_world: World) -> None:
    w = hook_world
    headers = await lender(w)
    ok = await w.client.put(URL, json={"url": "http://127.0.0.1:9/hook"}, headers=headers)
    assert ok.status_code == 200, ok.text
    other = await w.client.put(URL, json={"url": "http://hooks.lender.example/"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["rule"] == "https"
