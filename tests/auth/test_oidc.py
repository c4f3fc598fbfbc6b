"""OpenID Connect login of staff and arbitrators, against a real OpenID provider.

The provider is panva's ``oidc-provider`` 8 (OpenID Certified), run by Node
on loopback from ``tests/support/oidc`` for the whole session. Each test
commission registers its own confidential client there (RFC 7591), and a
"browser" (an httpx client) logs in at the provider by posting its
devInteractions login and consent forms, then brings the code back to
Arbitral. oidc-provider puts the email claims in the UserInfo answer only (not
in the ID token of a code flow), so linking by email goes through UserInfo.
The ID-token checks are also tested alone with tokens signed here.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from uuid import UUID

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from arbitral import safejson
from arbitral.auth import oidc
from arbitral.auth.domain import Principal, Role
from arbitral.auth.throttle import Limit
from arbitral.identity.schemas import UserCreate
from arbitral.identity.services import create_user
from tests.support.world import World

PROVIDER_DIR = Path(__file__).resolve().parent.parent / "support" / "oidc"
REGISTRATION_TOKEN = secrets.token_urlsafe(24)

# The provider's accounts: login name (= "sub") -> claims. Any other login name
# is an account known by its "sub" alone.
ACCOUNTS: dict[str, dict[str, Any]] = {
    "li-arbitrator": {"email": "li@oidc.example.cn", "email_verified": True},
    "wang-secretary": {"email": "Wang@oidc.example.cn", "email_verified": True},
    "zhao-unverified": {"email": "zhao@oidc.example.cn", "email_verified": False},
    "chen-claimant": {"email": "chen@oidc.example.cn", "email_verified": True},
    "stranger": {"email": "stranger@elsewhere.example", "email_verified": True},
    # A KELVIN SIGN (U+212A) for the "K": lower() folds it into someone else's "kevin".
    "kelvin-sign": {"email": "\u212aevin@oidc.example.cn", "email_verified": True},
    "accented": {"email": "k\u00e9vin@oidc.example.cn", "email_verified": True},
}
LOGIN_COOKIE = "arbitral_oidc"  # over http://; __Secure-arbitral_oidc over https://


# -- the provider -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    issuer: str
    process: subprocess.Popen[str]
    log: Path

    async def register(self, redirect_uri: str, **metadata: Any) -> tuple[str, str]:
        """A new confidential client for ``redirect_uri``: (client_id, client_secret)."""
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{self.issuer}/reg",
                json={
                    "redirect_uris": [redirect_uri],
                    "grant_types": ["authorization_code"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "client_secret_basic",
                    **metadata,
                },
                headers={"authorization": f"Bearer {REGISTRATION_TOKEN}"},
            )
        assert response.status_code == 201, response.text
        body = response.json()
        return body["client_id"], body["client_secret"]


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(
            f"the test OpenID provider is not installed: run npm ci in tests/support/oidc "
            f"({PROVIDER_DIR})",
            pytrace=False,
        )
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (Node.js 20) is needed to run the test OpenID provider", pytrace=False)
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    command = [node, "provider.mjs", "--port", "0", "--registration-token", REGISTRATION_TOKEN]
    for account, claims in ACCOUNTS.items():
        command += ["--account", f"{account}={json.dumps(claims)}"]
    with log.open("w") as stderr:
        process = subprocess.Popen(
            command, cwd=PROVIDER_DIR, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    ready: list[str] = []
    reader = threading.Thread(
        target=lambda: ready.append(process.stdout.readline() if process.stdout else ""),
        daemon=True,
    )
    reader.start()
    reader.join(timeout=15)
    line = ready[0] if ready else ""
    if not line.startswith("READY "):
        _stop(process)
        pytest.fail(f"the OpenID provider did not start:\n{log.read_text()}", pytrace=False)
    try:
        yield Provider(issuer=line.split()[1], process=process, log=log)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


# -- a commission that logs in at the provider ------------------------------------------------


@dataclass
class OidcWorld:
    w: World
    provider: Provider
    slug: str
    tenant_id: UUID
    client_id: str
    secret_file: Path
    users: dict[str, UUID]
    binding: str | None = None  # the login cookie of the last start

    @property
    def callback(self) -> str:
        return oidc.redirect_uri(self.w.settings.public_url, self.slug)

    async def start(self, redirect_to: str | None = "/console") -> httpx.Response:
        params = {} if redirect_to is None else {"redirect_to": redirect_to}
        response = await self.w.client.get(f"/t/{self.slug}/auth/oidc/start", params=params)
        self.binding = response.cookies.get(LOGIN_COOKIE) or self.binding
        return response

    async def at_provider(self, authorization_url: str, login: str) -> str:
        """Log in as ``login`` at the provider (a fresh browser); the callback URL it sends."""
        assert authorization_url.startswith(self.provider.issuer + "/")
        async with httpx.AsyncClient(follow_redirects=False) as browser:
            response = await browser.get(authorization_url)
            for _ in range(12):
                if response.is_redirect:
                    location = str(response.next_request.url) if response.next_request else ""
                    if location.startswith(self.callback):
                        return location
                    assert location.startswith(self.provider.issuer), location
                    response = await browser.get(location)
                    continue
                assert response.status_code == 200, response.text
                action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
                prompt = re.search(r'name="prompt" value="(\w+)"', response.text)
                assert action, response.text
                assert prompt, response.text
                form = {"prompt": prompt.group(1)}
                if prompt.group(1) == "login":
                    form |= {"login": login, "password": "whatever the dev form takes"}
                response = await browser.post(
                    httpx.URL(self.provider.issuer).join(action.group(1)), data=form
                )
        raise AssertionError("the provider never sent the browser back")

    async def back(self, callback_url: str) -> httpx.Response:
        """Bring the provider's answer to Arbitral (the in-process app), with the
        login cookie of the last start."""
        return await self.back_with(callback_url, self.binding)

    async def back_with(self, callback_url: str, binding: str | None) -> httpx.Response:
        """The same, from a browser whose login cookie is ``binding`` (None: no cookie)."""
        parts = urlsplit(callback_url)
        self.w.client.cookies.clear()
        headers = {} if binding is None else {"cookie": f"{LOGIN_COOKIE}={binding}"}
        return await self.w.client.get(f"{parts.path}?{parts.query}", headers=headers)

    async def login(self, login: str, redirect_to: str | None = "/console") -> httpx.Response:
        start = await self.start(redirect_to)
        assert start.status_code == 302, start.text
        return await self.back(await self.at_provider(start.headers["location"], login))

    async def me(self, response: httpx.Response) -> dict[str, Any]:
        cookie = response.cookies.get("arbitral_session")
        assert cookie, response.headers
        self.w.client.cookies.clear()
        me = await self.w.client.get("/api/v1/me", headers={"cookie": f"arbitral_session={cookie}"})
        assert me.status_code == 200, me.text
        body: dict[str, Any] = me.json()
        return body

    async def events(self, action: str = "login.oidc") -> list[dict[str, Any]]:
        async with self.w.runtime.db.transaction(tenant_id=self.tenant_id) as uow:
            rows = await uow.fetch(
                "SELECT outcome, actor_id, detail FROM audit_event "
                "WHERE tenant_id = {} AND action = {} ORDER BY at",
                self.tenant_id,
                action,
            )
        return [
            {
                **row,
                "detail": json.loads(row["detail"])
                if isinstance(row["detail"], str)
                else row["detail"],
            }
            for row in rows
        ]

    async def set_oidc(self, config: dict[str, Any] | None) -> None:
        async with self.w.runtime.db.transaction() as uow:
            await uow.execute(
                "UPDATE tenant SET oidc = {} WHERE id = {}",
                None if config is None else json.dumps(config),
                self.tenant_id,
            )
        self.w.runtime.tenants.invalidate()


@pytest.fixture
async def oidc_world(auth_world: World, oidc_provider: Provider, tmp_path: Path) -> OidcWorld:
    w = auth_world
    callback = oidc.redirect_uri(w.settings.public_url, w.a.slug)
    client_id, client_secret = await oidc_provider.register(callback)
    secret_file = tmp_path / "oidc-client-secret"
    secret_file.write_text(client_secret + "\n")
    world = OidcWorld(w, oidc_provider, w.a.slug, w.a.id, client_id, secret_file, {})
    await world.set_oidc(
        {
            "issuer": oidc_provider.issuer,
            "client_id": client_id,
            "client_secret_ref": f"file:{secret_file}",
            "scopes": ["openid", "email"],
        }
    )
    operator = Principal.operator(w.a.id, "tests")
    for name, role in (
        ("li", Role.ARBITRATOR),
        ("wang", Role.SECRETARY),
        ("zhao", Role.ARBITRATOR),
        ("chen", Role.CLAIMANT),
    ):
        user = await create_user(
            w.runtime,
            operator,
            UserCreate(
                display_name=f"{name} (OIDC)", email=f"{name}@oidc.example.cn", roles=[role]
            ),
        )
        world.users[name] = user.id
    return world


def _oidc_table(o: OidcWorld) -> dict[str, Any]:
    """The commission's [oidc] table as the fixture sets it."""
    return {
        "issuer": o.provider.issuer,
        "client_id": o.client_id,
        "client_secret_ref": f"file:{o.secret_file}",
        "scopes": ["openid", "email"],
    }


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode({**_query(url), **changes})))


# -- end to end -------------------------------------------------------------------------------


async def test_login_links_by_verified_email_then_by_subject(oidc_world: OidcWorld) -> None:
    o = oidc_world
    start = await o.start("/cases?status=open")
    assert start.status_code == 302, start.text
    assert start.headers["cache-control"] == "no-store"
    asked = _query(start.headers["location"])
    assert asked["client_id"] == o.client_id
    assert asked["redirect_uri"] == o.callback
    assert asked["response_type"] == "code"
    assert asked["code_challenge_method"] == "S256"
    assert set(asked["scope"].split()) == {"openid", "email"}
    assert len(asked["state"]) >= 43
    assert len(asked["nonce"]) >= 43
    assert len(asked["code_challenge"]) == 43  # base64url of a SHA-256

    first = await o.back(await o.at_provider(start.headers["location"], "li-arbitrator"))
    assert first.status_code == 303, first.text
    assert first.headers["location"] == "/cases?status=open"
    assert "httponly" in first.headers["set-cookie"].lower()
    me = await o.me(first)
    assert me["subject_id"] == str(o.users["li"])
    assert me["auth_method"] == "oidc"
    assert me["roles"] == ["arbitrator"]
    assert me["tenant"] == o.slug

    async with o.w.runtime.db.transaction(tenant_id=o.tenant_id) as uow:
        rows = await uow.fetch(
            "SELECT oidc_issuer, oidc_subject FROM tenant_user WHERE tenant_id = {} AND id = {}",
            o.tenant_id,
            o.users["li"],
        )
    assert rows == [{"oidc_issuer": o.provider.issuer, "oidc_subject": "li-arbitrator"}]
    linked = await o.events("user.oidc_linked")
    assert [e["detail"]["subject"] for e in linked] == ["li-arbitrator"]

    # The next login finds the user by (issuer, subject), whatever the email says now.
    async with o.w.runtime.db.transaction(tenant_id=o.tenant_id) as uow:
        await uow.execute(
            "UPDATE tenant_user SET email = {} WHERE tenant_id = {} AND id = {}",
            "li.new@oidc.example.cn",
            o.tenant_id,
            o.users["li"],
        )
    second = await o.login("li-arbitrator", redirect_to=None)
    assert second.status_code == 303, second.text
    assert second.headers["location"] == "/"
    assert (await o.me(second))["subject_id"] == str(o.users["li"])

    events = await o.events()
    assert [(e["outcome"], e["detail"]["matched_by"]) for e in events] == [
        ("success", "email"),
        ("success", "subject"),
    ]
    assert all(e["actor_id"] == str(o.users["li"]) for e in events)


async def test_secretary_email_matches_without_regard_to_case(oidc_world: OidcWorld) -> None:
    o = oidc_world
    response = await o.login("wang-secretary")
    assert response.status_code == 303, response.text
    me = await o.me(response)
    assert me["subject_id"] == str(o.users["wang"])
    assert "users:read" in me["permissions"]


async def test_unknown_and_unverified_identities_are_refused_and_audited(
    oidc_world: OidcWorld,
) -> None:
    o = oidc_world
    for login in ("stranger", "zhao-unverified", "nobody-at-all"):
        refused = await o.login(login)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/login-failed"
        assert "arbitral_session" not in refused.headers.get("set-cookie", "")
    reasons = [
        (e["outcome"], e["detail"]["subject"], e["detail"]["reason"]) for e in await o.events()
    ]
    assert reasons == [
        ("failure", "stranger", "unknown subject and email"),
        ("failure", "zhao-unverified", "unknown subject, email not verified by the provider"),
        ("failure", "nobody-at-all", "unknown subject, no email claim"),
    ]
    # Nobody got linked on the way.
    async with o.w.runtime.db.transaction(tenant_id=o.tenant_id) as uow:
        rows = await uow.fetch(
            "SELECT count(*) AS n FROM tenant_user "
            "WHERE tenant_id = {} AND oidc_subject IS NOT NULL",
            o.tenant_id,
        )
    assert rows[0]["n"] == 0


async def test_a_party_cannot_log_in_by_oidc(oidc_world: OidcWorld) -> None:
    o = oidc_world
    refused = await o.login("chen-claimant")
    assert refused.status_code == 401, refused.text
    assert "one-time code" in refused.json()["detail"]
    [event] = await o.events()
    assert event["outcome"] == "failure"
    assert event["detail"]["reason"] == "role may not log in by OpenID Connect"
    assert event["detail"]["roles"] == ["claimant"]


async def test_a_replayed_or_tampered_state_is_refused(oidc_world: OidcWorld) -> None:
    o = oidc_world
    start = await o.start()
    callback = await o.at_provider(start.headers["location"], "li-arbitrator")

    tampered = await o.back(_with_query(callback, state=_query(callback)["state"] + "x"))
    assert tampered.status_code == 400, tampered.text
    assert tampered.json()["type"] == "/problems/oidc-bad-state"
    missing = await o.back(_with_query(callback, state=""))
    assert missing.status_code == 400

    ok = await o.back(callback)  # the tampered tries did not spend the real state
    assert ok.status_code == 303, ok.text
    replay = await o.back(callback)
    assert replay.status_code == 400, replay.text
    assert "already used" in replay.json()["detail"]
    reasons = [e["detail"]["reason"] for e in await o.events() if e["outcome"] == "failure"]
    assert reasons == ["unknown state", "missing state", "state already used"]


def _cleared(response: httpx.Response) -> bool:
    """Whether ``response`` clears the login cookie."""
    return any(
        header.startswith(f'{LOGIN_COOKIE}=""') and "max-age=0" in header.lower()
        for header in response.headers.get_list("set-cookie")
    )


async def test_the_state_is_bound_to_the_browser_that_started_the_login(
    oidc_world: OidcWorld,
) -> None:
    o = oidc_world
    start = await o.start()
    [cookie] = [h for h in start.headers.get_list("set-cookie") if h.startswith(LOGIN_COOKIE)]
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "max-age=600", f"path=/t/{o.slug}/auth/oidc"} <= attributes
    assert "secure" not in attributes  # public_url is http://127.0.0.1 here, as for sessions
    mine = o.binding
    assert mine
    callback = await o.at_provider(start.headers["location"], "li-arbitrator")

    # Another browser started a login of its own: its cookie does not fit this state.
    await o.start()
    theirs = o.binding
    assert theirs
    assert theirs != mine
    unknown = await o.back_with(_with_query(callback, state=secrets.token_urlsafe(32)), mine)
    assert unknown.status_code == 400, unknown.text
    for binding in (None, theirs, "forged-" + mine):
        refused = await o.back_with(callback, binding)
        assert refused.status_code == 400, (binding, refused.text)
        # The same generic refusal as an unknown state, and the cookie goes.
        assert refused.json() == {**unknown.json(), "request_id": refused.json()["request_id"]}
        assert "arbitral_session" not in refused.headers.get("set-cookie", "")
        assert _cleared(refused)

    ok = await o.back_with(callback, mine)  # those tries did not spend the state
    assert ok.status_code == 303, ok.text
    assert (await o.me(ok))["subject_id"] == str(o.users["li"])
    assert _cleared(ok)
    reasons = [e["detail"]["reason"] for e in await o.events() if e["outcome"] == "failure"]
    assert reasons == [
        "unknown state",
        "no login cookie (another browser)",
        "unknown state",
        "unknown state",
    ]


def test_the_login_cookie_is_secure_over_https() -> None:
    from types import SimpleNamespace

    from arbitral.auth.oidc_controllers import login_cookie, login_cookie_name

    request: Any = SimpleNamespace(
        app=SimpleNamespace(
            state=SimpleNamespace(
                settings=SimpleNamespace(public_url="https://arbitral.example.cn")
            )
        )
    )
    cookie = login_cookie(request, "gz", "value", max_age=600)
    assert (
        cookie.key == login_cookie_name("https://arbitral.example.cn") == "__Secure-arbitral_oidc"
    )
    assert cookie.secure is True
    assert cookie.httponly is True
    assert cookie.samesite == "lax"  # Strict would not come back with the provider's redirect
    assert cookie.path == "/t/gz/auth/oidc"


async def test_a_provider_email_is_normalised_before_matching(oidc_world: OidcWorld) -> None:
    o = oidc_world
    operator = Principal.operator(o.tenant_id, "tests")
    kevin = await create_user(
        o.w.runtime,
        operator,
        UserCreate(
            display_name="Kevin (OIDC)", email="kevin@oidc.example.cn", roles=[Role.ARBITRATOR]
        ),
    )
    for login in ("kelvin-sign", "accented"):
        refused = await o.login(login)
        assert refused.status_code == 401, refused.text
        assert refused.json()["type"] == "/problems/login-failed"
        assert "arbitral_session" not in refused.headers.get("set-cookie", "")
    reasons = [(e["detail"]["subject"], e["detail"]["reason"]) for e in await o.events()]
    assert reasons == [
        ("kelvin-sign", "unknown subject, email not usable"),
        ("accented", "unknown subject, email not usable"),
    ]
    async with o.w.runtime.db.transaction(tenant_id=o.tenant_id) as uow:
        rows = await uow.fetch(
            "SELECT oidc_subject FROM tenant_user WHERE tenant_id = {} AND id = {}",
            o.tenant_id,
            kevin.id,
        )
    assert rows == [{"oidc_subject": None}]
    assert await o.events("user.oidc_linked") == []


async def test_a_tampered_nonce_is_refused(oidc_world: OidcWorld) -> None:
    o = oidc_world
    start = await o.start()
    callback = await o.at_provider(start.headers["location"], "li-arbitrator")
    # The login in flight now expects another nonce than the ID token will carry.
    async with o.w.runtime.db.transaction(tenant_id=o.tenant_id) as uow:
        changed = await uow.fetch(
            "UPDATE oidc_login_state SET nonce = {} WHERE tenant_id = {} AND consumed_at IS NULL "
            "RETURNING id",
            secrets.token_urlsafe(32),
            o.tenant_id,
        )
    assert len(changed) == 1
    refused = await o.back(callback)
    assert refused.status_code == 401, refused.text
    [event] = await o.events()
    assert event["detail"]["reason"] == "the ID token's nonce is not this login's"


async def test_an_expired_state_is_refused(oidc_world: OidcWorld) -> None:
    o = oidc_world
    start = await o.start()
    callback = await o.at_provider(start.headers["location"], "li-arbitrator")
    async with o.w.runtime.db.transaction(tenant_id=o.tenant_id) as uow:
        await uow.execute(
            "UPDATE oidc_login_state SET expires_at = {} WHERE tenant_id = {}",
            datetime.now(UTC) - timedelta(seconds=1),
            o.tenant_id,
        )
    expired = await o.back(callback)
    assert expired.status_code == 400, expired.text
    assert "state expired" in expired.json()["detail"]


async def test_starts_and_failures_from_one_address_are_limited(
    oidc_world: OidcWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    o = oidc_world
    monkeypatch.setattr(
        oidc, "ADDRESS_STARTS", Limit(2, timedelta(minutes=15), timedelta(minutes=5))
    )
    monkeypatch.setattr(
        oidc, "ADDRESS_FAILURES", Limit(2, timedelta(minutes=15), timedelta(minutes=5))
    )
    assert (await o.start()).status_code == 302
    assert (await o.start()).status_code == 302
    limited = await o.start()
    assert limited.status_code == 429, limited.text
    assert int(limited.headers["retry-after"]) > 0

    url = f"/t/{o.slug}/auth/oidc/callback"
    for _ in range(2):
        bad = await o.w.client.get(url, params={"code": "c", "state": secrets.token_urlsafe(8)})
        assert bad.status_code == 400
    locked = await o.w.client.get(url, params={"code": "c", "state": secrets.token_urlsafe(8)})
    assert locked.status_code == 429, locked.text
    outcomes = [(e["outcome"], e["detail"]["reason"]) for e in await o.events()]
    assert outcomes == [
        ("denied", "address over its start limit"),
        ("failure", "unknown state"),  # with the login cookie of the start, which it clears
        ("failure", "no login cookie (another browser)"),
        ("denied", "locked"),
    ]


async def test_the_state_and_the_secret_are_not_stored_in_clear(oidc_world: OidcWorld) -> None:
    o = oidc_world
    start = await o.start()
    state = _query(start.headers["location"])["state"]
    async with o.w.runtime.db.transaction(tenant_id=o.tenant_id) as uow:
        rows = await uow.fetch(
            "SELECT state_hash, code_verifier, redirect_to FROM oidc_login_state "
            "WHERE tenant_id = {}",
            o.tenant_id,
        )
    [row] = rows
    assert row["state_hash"] != state
    assert o.binding
    assert row["state_hash"] == oidc._state_hash(state, o.binding)
    assert row["redirect_to"] == "/console"
    challenge = _query(start.headers["location"])["code_challenge"]
    assert challenge != row["code_verifier"]


UNSAFE_TARGETS = (
    "//evil.example/path",
    "https://evil.example/",
    "/\\evil.example",
    "/\t/evil.example",
    "/ /evil.example",
    "javascript:alert(1)",
    "console",
    "/" + "a" * 600,
)


async def test_an_open_redirect_is_refused(oidc_world: OidcWorld) -> None:
    o = oidc_world
    for target in UNSAFE_TARGETS:
        refused = await o.start(target)
        assert refused.status_code == 400, (target, refused.text)
        assert refused.json()["type"] == "/problems/unsafe-redirect"
        assert refused.json()["errors"][0]["field"] == "redirect_to"
    async with o.w.runtime.db.transaction(tenant_id=o.tenant_id) as uow:
        rows = await uow.fetch(
            "SELECT count(*) AS n FROM oidc_login_state WHERE tenant_id = {}", o.tenant_id
        )
    assert rows[0]["n"] == 0
    events = await o.events()
    assert [e["outcome"] for e in events] == ["denied"] * len(UNSAFE_TARGETS)


async def test_a_wrong_code_or_verifier_is_refused_by_the_provider(oidc_world: OidcWorld) -> None:
    o = oidc_world
    start = await o.start()
    callback = await o.at_provider(start.headers["location"], "li-arbitrator")
    bogus = await o.back(_with_query(callback, code="not-the-code"))
    assert bogus.status_code == 401, bogus.text

    start = await o.start()
    callback = await o.at_provider(start.headers["location"], "li-arbitrator")
    # Another PKCE verifier than the one the challenge was made of: the provider says no.
    async with o.w.runtime.db.transaction(tenant_id=o.tenant_id) as uow:
        await uow.execute(
            "UPDATE oidc_login_state SET code_verifier = {} WHERE tenant_id = {} "
            "AND consumed_at IS NULL",
            secrets.token_urlsafe(64),
            o.tenant_id,
        )
    wrong_verifier = await o.back(callback)
    assert wrong_verifier.status_code == 401, wrong_verifier.text
    reasons = [e["detail"]["reason"] for e in await o.events()]
    assert reasons == ["token endpoint refused: invalid_grant"] * 2


async def test_a_commission_without_oidc_answers_404(oidc_world: OidcWorld) -> None:
    w = oidc_world.w
    for path in ("start", "callback?code=x&state=y"):
        for slug in (w.b.slug, "no-such-commission"):
            response = await w.client.get(f"/t/{slug}/auth/oidc/{path}")
            assert response.status_code == 404, response.text
            assert response.headers["content-type"] == "application/problem+json"


async def test_an_error_from_the_provider_is_a_401_and_spends_the_state(
    oidc_world: OidcWorld,
) -> None:
    o = oidc_world
    start = await o.start()
    state = _query(start.headers["location"])["state"]
    declined = await o.w.client.get(
        f"/t/{o.slug}/auth/oidc/callback",
        params={"error": "access_denied", "error_description": "End-User aborted", "state": state},
    )
    assert declined.status_code == 401, declined.text
    assert "access_denied" in declined.json()["detail"]
    [event] = await o.events()
    assert event["detail"]["reason"] == "provider error: access_denied"
    assert event["detail"]["state_spent"] is True
    again = await o.w.client.get(
        f"/t/{o.slug}/auth/oidc/callback", params={"code": "whatever", "state": state}
    )
    assert again.status_code == 400


async def test_an_answer_from_another_issuer_is_refused(oidc_world: OidcWorld) -> None:
    o = oidc_world
    start = await o.start()
    callback = await o.at_provider(start.headers["location"], "li-arbitrator")
    assert _query(callback)["iss"] == o.provider.issuer  # RFC 9207
    refused = await o.back(_with_query(callback, iss="https://idp.evil.example"))
    assert refused.status_code == 401, refused.text


async def test_a_stale_key_set_is_fetched_again(oidc_world: OidcWorld) -> None:
    o = oidc_world
    providers = oidc.default_providers()
    metadata = await providers.metadata(o.provider.issuer)
    providers.remember_keys(
        metadata, KeySet([RSAKey.generate_key(2048, parameters={"kid": "old"})])
    )
    before = providers.fetches
    response = await o.login("li-arbitrator")
    assert response.status_code == 303, response.text
    assert providers.fetches == before + 1  # the key set, once; discovery came from the cache
    assert [k.kid for k in await providers.keys(metadata)] != ["old"]


async def test_an_unreachable_provider_is_a_502(oidc_world: OidcWorld) -> None:
    o = oidc_world
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    await o.set_oidc(
        {
            "issuer": f"http://127.0.0.1:{closed_port}",
            "client_id": "arbitral",
            "client_secret_ref": f"file:{o.secret_file}",
            "scopes": ["openid"],
        }
    )
    response = await o.start()
    assert response.status_code == 502, response.text
    assert response.json()["detail"] == "the identity provider did not answer"
    assert response.json()["type"] == "/problems/oidc-provider-unavailable"


async def test_a_misconfigured_secret_is_a_generic_503_and_named_in_the_log_only(
    oidc_world: OidcWorld, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    o = oidc_world
    variable = f"ARBITRAL_TEST_OIDC_SECRET_{secrets.token_hex(4).upper()}"
    monkeypatch.delenv(variable, raising=False)
    await o.set_oidc(
        {
            "issuer": o.provider.issuer,
            "client_id": o.client_id,
            "client_secret_ref": f"env:{variable}",
            "scopes": ["openid", "email"],
        }
    )
    with caplog.at_level(logging.WARNING, logger="arbitral.auth.oidc"):
        missing = await o.start()
    assert missing.status_code == 503, missing.text
    assert missing.json()["detail"] == (
        "single sign-on is not available for this commission right now"
    )
    assert variable not in missing.text
    assert "env:" not in missing.text
    assert "client_secret_ref" not in missing.text
    # The precise reason is for operators: in the log, and the key in the audit trail.
    [logged] = [r.msg for r in caplog.records if isinstance(r.msg, dict)]
    assert logged["event"] == "oidc.misconfigured"
    assert logged["problem"] == f"env:{variable}: the environment variable is not set"
    [event] = await o.events()
    assert event["detail"]["reason"] == "misconfigured"
    assert event["detail"]["key"] == "oidc.client_secret_ref"
    assert variable not in json.dumps(event)
    # A path is not shown either.
    absent = o.secret_file.parent / "no-such-secret-file"
    await o.set_oidc({**_oidc_table(o), "client_secret_ref": f"file:{absent}"})
    unreadable = await o.start()
    assert unreadable.status_code == 503, unreadable.text
    assert str(absent) not in unreadable.text
    assert "no-such-secret-file" not in unreadable.text
    # From the environment, the same secret works as it did from the file.
    await o.set_oidc({**_oidc_table(o), "client_secret_ref": f"env:{variable}"})
    monkeypatch.setenv(variable, o.secret_file.read_text().strip())
    response = await o.login("li-arbitrator")
    assert response.status_code == 303, response.text


# -- unit: the ID token -----------------------------------------------------------------------

ISSUER = "https://idp.example.cn"
CLIENT = "arbitral-gz"
NONCE = "n-0S6_WzA2Mj"


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "use": "sig"})


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "248289761001",
        "aud": CLIENT,
        "exp": now + 300,
        "iat": now,
        "nonce": NONCE,
        "email": "li@oidc.example.cn",
        "email_verified": True,
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


def _sign(key: Any, claims: dict[str, Any], alg: str = "RS256", kid: str | None = "rsa-1") -> str:
    header = {"alg": alg} if kid is None else {"alg": alg, "kid": kid}
    return jwt.encode(header, claims, key, algorithms=[alg])


def _validate(token: str, keys: KeySet, algorithms: tuple[str, ...] = ("RS256", "ES256")) -> Any:
    return oidc.validate_id_token(
        token, keys, issuer=ISSUER, client_id=CLIENT, nonce=NONCE, algorithms=algorithms
    )


def _refused(token: str, keys: KeySet, **kwargs: Any) -> oidc.InvalidIdToken:
    with pytest.raises(oidc.InvalidIdToken) as caught:
        _validate(token, keys, **kwargs)
    return caught.value


def test_a_valid_id_token_gives_its_identity(rsa_key: RSAKey) -> None:
    keys = KeySet([rsa_key])
    identity = _validate(_sign(rsa_key, _claims()), keys)
    assert identity.subject == "248289761001"
    assert identity.email == "li@oidc.example.cn"
    assert identity.email_verified is True
    # Several audiences are fine when the authorized party is us.
    several = _sign(rsa_key, _claims(aud=[CLIENT, "other"], azp=CLIENT))
    assert _validate(several, keys).subject == "248289761001"
    # A key set of one key serves a token without kid.
    assert _validate(_sign(rsa_key, _claims(), kid=None), keys).subject == "248289761001"
    ec = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
    assert _validate(_sign(ec, _claims(), "ES256", "ec-1"), KeySet([rsa_key, ec])).email


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://idp.evil.example"}, "issued by 'https://idp.evil.example'"),
        ({"iss": None}, "lacks the claim(s) iss"),
        ({"aud": "another-client"}, "meant for another client"),
        ({"aud": ["another-client", "third"]}, "meant for another client"),
        ({"aud": [CLIENT, "other"]}, "another party (azp)"),
        ({"azp": "another-client"}, "another party (azp)"),
        ({"exp": int(time.time()) - 3600}, "has expired"),
        ({"iat": int(time.time()) + 3600}, "issued in the future"),
        ({"nonce": "another-login"}, "nonce is not this login's"),
        ({"nonce": None}, "lacks the claim(s) nonce"),
        ({"sub": None}, "lacks the claim(s) sub"),
    ],
)
def test_id_token_claims_are_checked(rsa_key: RSAKey, changes: dict[str, Any], reason: str) -> None:
    refused = _refused(_sign(rsa_key, _claims(**changes)), KeySet([rsa_key]))
    assert reason in refused.reason


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_an_unsigned_id_token_is_refused(rsa_key: RSAKey) -> None:
    for alg in ("none", "None", "NONE"):
        unsigned = f"{_b64({'alg': alg})}.{_b64(_claims())}."
        assert "alg none" in _refused(unsigned, KeySet([rsa_key])).reason
    # ... even when someone lists "none" among the algorithms.
    unsigned = f"{_b64({'alg': 'none'})}.{_b64(_claims())}."
    assert "alg none" in _refused(unsigned, KeySet([rsa_key]), algorithms=("none",)).reason


def test_a_token_signed_by_another_key_is_refused(rsa_key: RSAKey) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "rsa-2"})
    unknown = _refused(_sign(stranger, _claims(), kid="rsa-2"), KeySet([rsa_key]))
    assert unknown.unknown_key is True
    assert "does not publish" in unknown.reason
    # The same kid with another key: the signature does not verify.
    forged = _refused(_sign(stranger, _claims(), kid="rsa-1"), KeySet([rsa_key]))
    assert forged.unknown_key is False
    assert "signature does not verify" in forged.reason
    # Tampered claims under a real signature.
    header, _, signature = _sign(rsa_key, _claims()).split(".")
    tampered = f"{header}.{_b64(_claims(sub='someone-else'))}.{signature}"
    assert "signature does not verify" in _refused(tampered, KeySet([rsa_key])).reason


def test_algorithms_outside_the_providers_list_are_refused(rsa_key: RSAKey) -> None:
    keys = KeySet([rsa_key])
    # RS256 is fine, but this provider said it signs with ES256 only.
    assert (
        "RS256, which is not accepted"
        in _refused(_sign(rsa_key, _claims()), keys, algorithms=("ES256",)).reason
    )
    # HS256 keyed with a shared secret is never accepted, whatever the provider says.
    secret = OctKey.import_key(secrets.token_bytes(32), parameters={"kid": "rsa-1"})
    hs = _sign(secret, _claims(), "HS256")
    assert (
        "HS256, which is not accepted" in _refused(hs, keys, algorithms=("HS256", "RS256")).reason
    )
    assert "not a signed JWT" in _refused("not.a-jwt", keys).reason


DEEP = 100_000


def _b64_raw(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_deeply_nested_id_tokens_are_refused_not_a_recursion_error(rsa_key: RSAKey) -> None:
    keys = KeySet([rsa_key])
    header = _b64({"alg": "RS256", "kid": "rsa-1"})
    claims = _b64(_claims())
    # ID tokens are at most 16 KiB: 10,000 "[" fit, ten times Python's recursion limit.
    deep_header = f"{_b64_raw(b'[' * 10_000)}.{claims}.c2ln"
    assert "not a signed JWT" in _refused(deep_header, keys).reason
    deep_claims = f"{header}.{_b64_raw(b'[' * 10_000)}.c2ln"
    assert "claims are not a JSON object" in _refused(deep_claims, keys).reason
    # An object whose member nests deep, under a real signature: refused before joserfc reads it.
    nested = b'{"sub": "x", "deep": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    signed = _sign(rsa_key, _claims())
    tampered = f"{signed.split('.')[0]}.{_b64_raw(nested)}.{signed.split('.')[2]}"
    assert "claims are not a JSON object" in _refused(tampered, keys).reason


def test_json_from_the_provider_is_depth_limited() -> None:
    limit = safejson.MAX_JSON_DEPTH
    assert safejson.decode_json(b"[" * limit + b"]" * limit) is not None
    for deep in (b"[" * (limit + 1) + b"]" * (limit + 1), b"[" * DEEP, b'{"a":' * DEEP):
        with pytest.raises(ValueError, match="nested deeper"):
            safejson.decode_json(deep)
    # Brackets in strings (escaped quotes and backslashes included) do not count.
    text = b'{"a": "' + b"[{" * DEEP + rb'\\", "b": "\"[[[", "c": [1]}'
    assert safejson.decode_json(text) == {"a": "[{" * DEEP + "\\", "b": '"[[[', "c": [1]}
    for nonsense in (b"", b"{", b"\xff", b'{"a": NaN}'):
        with pytest.raises(ValueError, match="not JSON"):
            safejson.decode_json(nonsense)


class _MockProvider:
    """An identity provider in process (httpx.MockTransport) whose answer at
    ``broken`` (a path) is 100,000 nested arrays."""

    def __init__(self, key: RSAKey, broken: str) -> None:
        self.key = key
        self.broken = broken
        self.nonce = ""

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == self.broken:
            return httpx.Response(
                200, content=b"[" * DEEP, headers={"content-type": "application/json"}
            )
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=_document())
        if path == "/jwks":
            return httpx.Response(200, json=KeySet([self.key]).as_dict(private=False))
        if path == "/token":
            claims = _claims(sub="mock-subject", nonce=self.nonce, email=None, email_verified=None)
            return httpx.Response(
                200,
                json={
                    "id_token": _sign(self.key, claims),
                    "access_token": "at",
                    "token_type": "Bearer",
                },
            )
        if path == "/me":
            return httpx.Response(200, json={"sub": "mock-subject"})
        return httpx.Response(404)


@pytest.mark.parametrize(
    ("broken", "status"),
    [
        ("/.well-known/openid-configuration", 502),
        ("/jwks", 502),
        ("/token", 502),
        ("/me", 401),  # no usable UserInfo: no email to link by
    ],
)
async def test_deeply_nested_json_from_the_provider_is_refused_not_a_500(
    oidc_world: OidcWorld,
    rsa_key: RSAKey,
    monkeypatch: pytest.MonkeyPatch,
    broken: str,
    status: int,
) -> None:
    o = oidc_world
    mock = _MockProvider(rsa_key, broken)
    providers = oidc.OidcProviders(transport=httpx.MockTransport(mock.handle))
    monkeypatch.setattr(oidc, "default_providers", lambda: providers)
    await o.set_oidc({**_oidc_table(o), "issuer": ISSUER, "client_id": CLIENT})
    start = await o.start()
    if broken.startswith("/.well-known"):
        response = start
    else:
        assert start.status_code == 302, start.text
        assert start.headers["location"].startswith(f"{ISSUER}/auth?")
        mock.nonce = _query(start.headers["location"])["nonce"]
        state = _query(start.headers["location"])["state"]
        response = await o.back(f"{o.callback}?{urlencode({'code': 'c', 'state': state})}")
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [event] = await o.events()
    assert event["outcome"] == "failure"
    if status == 401:
        assert event["detail"]["reason"] == "unknown subject, no email claim"


# -- unit: configuration, redirects, discovery ------------------------------------------------


@pytest.mark.parametrize(
    "value", ["/", "/cases", "/cases?status=open&page=2", "/a/b#frag", "/%2F%2Fx"]
)
def test_safe_redirects(value: str) -> None:
    assert oidc.safe_redirect(value) == value


def test_safe_redirect_defaults_to_the_root() -> None:
    assert oidc.safe_redirect(None) == "/"
    assert oidc.safe_redirect("") == "/"


def test_client_secret_references(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cr3t-value\n")
    assert oidc.resolve_client_secret(f"file:{secret_file}") == "s3cr3t-value"
    assert oidc.resolve_client_secret("env:IDP_SECRET", environ={"IDP_SECRET": "abc"}) == "abc"
    problems = {
        "env:IDP_SECRET": "env:IDP_SECRET: the environment variable is not set",
        f"file:{tmp_path / 'absent'}": f"file:{tmp_path / 'absent'}: no such file",
        "kms:alias/idp": "kms: is not supported here (env:NAME or file:/path)",
        "s3cr3t-value": "must be env:NAME or file:/path",
    }
    for ref, problem in problems.items():
        with pytest.raises(oidc.OidcMisconfigured) as caught:
            oidc.resolve_client_secret(ref, environ={})
        assert caught.value.problem == problem
        assert caught.value.reason == f"oidc.client_secret_ref: {problem}"
        assert caught.value.status == 503
        assert caught.value.detail == (
            "single sign-on is not available for this commission right now"
        )
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(oidc.OidcMisconfigured) as empty_file:
        oidc.resolve_client_secret(f"file:{empty}")
    assert empty_file.value.problem == f"file:{empty}: the file is empty"
    with pytest.raises(oidc.OidcMisconfigured) as blank:
        oidc.resolve_client_secret("env:IDP_SECRET", environ={"IDP_SECRET": "  "})
    assert blank.value.problem == "env:IDP_SECRET: the environment variable is empty"


def _document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/auth",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/jwks",
        "userinfo_endpoint": f"{ISSUER}/me",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["none", "HS256", "RS256", "EdDSA"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_post"],
    }
    document.update(changes)
    return {key: value for key, value in document.items() if value is not None}


def test_discovery_documents_are_checked() -> None:
    metadata = oidc.ProviderMetadata.from_document(ISSUER, _document())
    assert metadata.id_token_algorithms == ("RS256",)
    assert metadata.token_auth_method == "client_secret_post"
    problems = {
        "names the issuer": _document(issuer="https://idp.evil.example"),
        "no usable token_endpoint": _document(token_endpoint="http://idp.example.cn/token"),
        "no usable jwks_uri": _document(jwks_uri=None),
        "PKCE with S256": _document(code_challenge_methods_supported=["plain"]),
        "signs ID tokens with none, HS256": _document(
            id_token_signing_alg_values_supported=["none", "HS256"]
        ),
        "neither client_secret_basic": _document(
            token_endpoint_auth_methods_supported=["private_key_jwt"]
        ),
    }
    for problem, document in problems.items():
        with pytest.raises(oidc.ProviderUnavailable) as caught:
            oidc.ProviderMetadata.from_document(ISSUER, document)
        assert problem in caught.value.detail
        assert caught.value.status == 502


async def test_a_login_started_on_another_host_moves_to_the_public_url_first(
    oidc_world: OidcWorld,
) -> None:
    o = oidc_world
    start = f"/t/{o.slug}/auth/oidc/start"
    # On the commission's own host name: off to the public URL first, no cookie here.
    response = await o.w.client.get(
        start, params={"redirect_to": "/portal"}, headers={"host": o.w.a.host}
    )
    assert response.status_code == 302
    assert response.headers["location"] == (
        f"{o.w.settings.public_url}{start}?redirect_to=%2Fportal"
    )
    assert "set-cookie" not in response.headers
    # A host that is not the commission's (a proxy's internal name): no redirect loop.
    internal = await o.w.client.get(start, headers={"host": "arbitral-web.internal:8000"})
    assert internal.status_code == 302
    assert internal.headers["location"].startswith(o.provider.issuer)
    assert any(c.startswith(LOGIN_COOKIE) for c in internal.headers.get_list("set-cookie"))
