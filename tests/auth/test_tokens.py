"""API clients: the client-credentials grant, JWT access tokens and what they are refused for."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from arbitral.auth.domain import ClientKind, Role
from arbitral.auth.tokens import audience, issuer
from tests.support.world import World


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    return decode(header), decode(payload)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_client_credentials_token_and_its_use(auth_world: World) -> None:
    w = auth_world
    token = await w.token(w.a, ClientKind.LENDER)
    header, claims = _parts(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "Ed25519"
    base = w.settings.public_url
    assert claims["iss"] == f"{base}/t/{w.a.slug}"
    assert claims["aud"] == f"{base}/api"
    assert claims["exp"] - claims["iat"] == 600
    assert set(claims["scope"].split()) == {
        "tenant:read",
        "cases:file",
        "cases:read",
        "batches:submit",
        "evidence:submit",
    }

    bearer = {"authorization": f"Bearer {token}"}
    me = await w.client.get("/api/v1/me", headers=bearer)
    assert me.status_code == 200, me.text
    assert me.json()["kind"] == "api_client"
    assert me.json()["tenant"] == w.a.slug
    # A lender holds no user administration: a collection route is a plain 403.
    assert (await w.client.get("/api/v1/users", headers=bearer)).status_code == 403
    # Bearer requests need no CSRF token.
    assert (await w.client.post("/api/v1/me/totp", headers=bearer)).status_code == 403

    jwks = await w.client.get(f"/t/{w.a.slug}/.well-known/jwks.json")
    assert [key["kid"] for key in jwks.json()["keys"]] == [header["kid"]]
    on_host = await w.client.get("/.well-known/jwks.json", headers={"host": w.a.host})
    assert on_host.json() == jwks.json()
    assert (await w.client.get("/.well-known/jwks.json")).status_code == 404  # no tenant host
    metadata = (await w.client.get(f"/t/{w.a.slug}/.well-known/oauth-authorization-server")).json()
    assert metadata["issuer"] == claims["iss"]
    assert metadata["token_endpoint"].endswith(f"/t/{w.a.slug}/oauth/token")


async def test_narrower_scope_and_form_authentication(auth_world: World) -> None:
    w = auth_world
    client_id, secret = w.a.clients[ClientKind.LENDER]
    url = f"/t/{w.a.slug}/oauth/token"
    narrow = await w.client.post(
        url,
        data={
            "grant_type": "client_credentials",
            "scope": "tenant:read",
            "client_id": client_id,
            "client_secret": secret,
        },
    )
    assert narrow.status_code == 200, narrow.text
    assert narrow.json()["scope"] == "tenant:read"
    assert narrow.headers["cache-control"] == "no-store"
    too_wide = await w.client.post(
        url,
        data={"grant_type": "client_credentials", "scope": "users:manage"},
        auth=(client_id, secret),
    )
    assert too_wide.status_code == 400
    assert too_wide.json()["error"] == "invalid_scope"
    wrong_grant = await w.client.post(
        url, data={"grant_type": "password"}, auth=(client_id, secret)
    )
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    both = await w.client.post(
        url,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        auth=(client_id, secret),
    )
    assert both.status_code == 401
    assert both.json()["error"] == "invalid_client"
    other_tenant = await w.client.post(
        f"/t/{w.b.slug}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    assert other_tenant.status_code == 401


async def test_bad_secrets_are_counted_locked_out_and_audited(auth_world: World) -> None:
    w = auth_world
    client_id, secret = w.a.clients[ClientKind.COURT]
    url = f"/t/{w.a.slug}/oauth/token"
    for _ in range(10):
        bad = await w.client.post(
            url, data={"grant_type": "client_credentials"}, auth=(client_id, "guess")
        )
        assert bad.status_code == 401
        assert bad.json()["error"] == "invalid_client"
    locked = await w.client.post(
        url, data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    events = await w.client.get(
        "/api/v1/audit-events", params={"action": "token.client_credentials"}, headers=admin
    )
    failures = [e for e in events.json()["items"] if e["outcome"] == "failure"]
    assert len(failures) == 10
    assert all(e["actor_id"] == client_id for e in failures)


async def test_forged_expired_and_foreign_tokens_are_refused(auth_world: World) -> None:
    w = auth_world
    runtime = w.runtime
    base = w.settings.public_url
    good = await w.token(w.a, ClientKind.LENDER)
    _, claims = _parts(good)

    async def sign(tenant_id: Any, **changes: Any) -> str:
        key = await runtime.keys.active_key(tenant_id, "jws")
        return key.sign_jwt({**claims, **changes}, {"typ": "at+jwt"})

    now = int(time.time())
    a_key_header, _ = _parts(good)
    forged = {
        "signed by the other tenant's key": await sign(w.b.id),
        "expired": await sign(w.a.id, exp=now - 120, iat=now - 720, nbf=now - 720),
        "for another audience": await sign(w.a.id, aud="https://elsewhere.example/api"),
        "from another issuer": await sign(w.a.id, iss=issuer(base, w.b.slug)),
        "for another tenant id": await sign(w.a.id, tid=str(w.b.id)),
        "alg none": ".".join(
            [_b64({"alg": "none", "typ": "at+jwt", "kid": a_key_header["kid"]}), _b64(claims), ""]
        ),
        "HS256 with the public key as secret": ".".join(
            [_b64({"alg": "HS256", "typ": "at+jwt", "kid": a_key_header["kid"]}), _b64(claims), "x"]
        ),
        "tampered scope": ".".join(
            [good.split(".")[0], _b64({**claims, "scope": "users:manage"}), good.split(".")[2]]
        ),
        "an ID token, not an access token": (await runtime.keys.active_key(w.a.id, "jws")).sign_jwt(
            claims, {"typ": "JWT"}
        ),
        "not a JWT": "abc.def",
        "a header nested 5,000 deep": ".".join(
            [base64.urlsafe_b64encode(b"[" * 5000).decode().rstrip("="), _b64(claims), "x"]
        ),
    }
    assert audience(base) == claims["aud"]
    assert (
        await w.client.get("/api/v1/me", headers={"authorization": f"Bearer {good}"})
    ).status_code == 200
    for name, token in forged.items():
        response = await w.client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert 'error="invalid_token"' in response.headers["www-authenticate"], name


async def test_key_rotation_keeps_old_tokens_valid(auth_world: World) -> None:
    w = auth_world
    old_token = await w.token(w.a, ClientKind.TRADING_PLATFORM)
    old_kid = _parts(old_token)[0]["kid"]
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    rotated = await w.client.post("/api/v1/keys/jws/rotate", headers=admin)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["retired_kid"] == old_kid
    new_token = await w.token(w.a, ClientKind.TRADING_PLATFORM)
    assert _parts(new_token)[0]["kid"] == rotated.json()["kid"] != old_kid
    jwks = (await w.client.get(f"/t/{w.a.slug}/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [rotated.json()["kid"], old_kid]
    for token in (old_token, new_token):
        me = await w.client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
        assert me.status_code == 200


async def test_secret_rotation_and_disabling(auth_world: World) -> None:
    w = auth_world
    client_id, old_secret = w.a.clients[ClientKind.LENDER]
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    rotated = await w.client.post(f"/api/v1/api-clients/{client_id}/secrets", headers=admin)
    assert rotated.status_code == 201, rotated.text
    new_secret = rotated.json()["client_secret"]
    url = f"/t/{w.a.slug}/oauth/token"
    form = {"grant_type": "client_credentials"}
    for secret in (old_secret, new_secret):  # both valid during the grace period
        assert (await w.client.post(url, data=form, auth=(client_id, secret))).status_code == 200
    disabled = await w.client.delete(f"/api/v1/api-clients/{client_id}", headers=admin)
    assert disabled.status_code == 200
    assert disabled.json()["status"] == "disabled"
    refused = await w.client.post(url, data=form, auth=(client_id, new_secret))
    assert refused.status_code == 401
