"""Evidence at source: platforms' keys, signed records pushed, verified, kept and shown."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey

from arbitral.auth.client_keys import ClientKeyCreate, register_key
from arbitral.auth.domain import ClientKind, Permission, Principal, PrincipalKind, Role
from arbitral.custody import records
from arbitral.errors import Forbidden
from arbitral.keys.domain import b64url, import_public_jwk, public_jwk, verify_compact
from arbitral.ledger.domain import verify_receipt
from arbitral.runtime import Runtime
from tests.support.world import Tenant, World

URL = "/api/v1/custody/records"
JOSE = {"content-type": "application/jose"}

# -- keys and signatures, as a platform makes them ----------------------------------------


def ed25519_key() -> tuple[Ed25519PrivateKey, dict[str, str]]:
    private_key = Ed25519PrivateKey.generate()
    return private_key, public_jwk(private_key)


def p256_key() -> tuple[ec.EllipticCurvePrivateKey, dict[str, str]]:
    private_key = ec.generate_private_key(ec.SECP256R1())
    numbers = private_key.public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }
    return private_key, jwk


def kid_of(jwk: dict[str, str]) -> str:
    return ECKey.import_key(jwk).thumbprint() if jwk["kty"] == "EC" else jwk["kid"]


def payload_of(record_id: str = "ORD-20260301-0001", **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "order",
        "record_id": record_id,
        "occurred_at": "2026-03-01T10:15:00+08:00",
        "data": {"order_no": "202603010001", "amount": "1299.00", "currency": "CNY", "items": 2},
        "subject": {"buyer": "张三", "seller": "某某旗舰店"},
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


def encode(payload: dict[str, Any] | bytes) -> bytes:
    if isinstance(payload, bytes):
        return payload
    return json.dumps(payload, ensure_ascii=False).encode()


def sign(
    private_key: Any,
    kid: str,
    payload: dict[str, Any] | bytes,
    *,
    alg: str | None = None,
    headers: dict[str, Any] | None = None,
) -> str:
    """A compact JWS the way a platform's JOSE library writes it (joserfc here)."""
    if isinstance(private_key, Ed25519PrivateKey):
        key: Any = OKPKey.import_key(private_key)
        alg = alg or "Ed25519"
    else:
        key = ECKey.import_key(private_key)
        alg = alg or "ES256"
    header = {"alg": alg, "kid": kid, "typ": "JOSE", **(headers or {})}
    return jws.serialize_compact(header, encode(payload), key, algorithms=[alg])


def by_hand(header: dict[str, Any], payload: bytes, signer: Any) -> str:
    """A compact JWS put together by hand (for algorithms joserfc rightly will not write)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(payload)}"
    return f"{signing_input}.{b64url(signer(signing_input.encode()))}"


# -- the world ------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def platform(w: World, tenant: Tenant | None = None) -> dict[str, str]:
    return bearer(await w.token(tenant or w.a, ClientKind.TRADING_PLATFORM))


async def register(
    w: World,
    admin: dict[str, str],
    jwk: dict[str, Any],
    kind: ClientKind = ClientKind.TRADING_PLATFORM,
) -> Any:
    client_id = w.a.clients[kind][0]
    return await w.client.post(
        f"/api/v1/api-clients/{client_id}/keys", json={"jwk": jwk}, headers=admin
    )


async def registered_key(w: World) -> tuple[Ed25519PrivateKey, str]:
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    private_key, jwk = ed25519_key()
    response = await register(w, admin, jwk)
    assert response.status_code == 201, response.text
    return private_key, response.json()["kid"]


async def push(w: World, headers: dict[str, str], compact: str) -> Any:
    return await w.client.post(URL, content=compact, headers={**headers, **JOSE})


async def holdings(w: World) -> tuple[int, int, int]:
    """(record rows, ledger leaves, stored objects) of tenant A."""
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT count(*) AS n FROM custody_record WHERE tenant_id = {}", w.a.id
        )
        leaves = await uow.fetch(
            "SELECT count(*) AS n FROM ledger_leaf WHERE tenant_id = {}", w.a.id
        )
    objects = w.runtime.settings.data_dir / "objects" / str(w.a.id)
    stored = len([p for p in objects.rglob("*") if p.is_file()]) if objects.exists() else 0
    return int(rows[0]["n"]), int(leaves[0]["n"]), stored


async def read_object(runtime: Runtime, key: str) -> bytes:
    return b"".join([chunk async for chunk in runtime.store.open(key)])


# -- client keys ------------------------------------------------------------------------------


async def test_keys_are_registered_listed_and_revoked(auth_world: World) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    client_id = w.a.clients[ClientKind.TRADING_PLATFORM][0]
    keys_url = f"/api/v1/api-clients/{client_id}/keys"
    _, jwk = ed25519_key()
    created = await register(w, admin, jwk)
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["kid"] == jwk["kid"]
    assert key["status"] == "active"
    assert key["algorithms"] == ["Ed25519", "EdDSA"]
    assert key["jwk"] == jwk  # kty, crv, x, kid, use, alg: public members only
    # A P-256 key, without a kid: the thumbprint becomes its kid.
    _, ec_jwk = p256_key()
    created_ec = await register(w, admin, ec_jwk)
    assert created_ec.status_code == 201, created_ec.text
    assert created_ec.json()["kid"] == kid_of(ec_jwk)
    assert created_ec.json()["algorithms"] == ["ES256"]

    again = await register(w, admin, jwk)
    assert again.status_code == 409
    assert "already registered for this client" in again.json()["detail"]
    lender = await register(w, admin, jwk, ClientKind.LENDER)
    assert lender.status_code == 409
    assert client_id in lender.json()["detail"]

    listed = await w.client.get(keys_url, headers=admin)
    assert listed.status_code == 200
    assert [k["kid"] for k in listed.json()] == [jwk["kid"], kid_of(ec_jwk)]

    revoked = await w.client.post(f"{keys_url}/{jwk['kid']}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["revoked_at"]
    twice = await w.client.post(f"{keys_url}/{jwk['kid']}/revoke", headers=admin)
    assert twice.status_code == 200
    assert twice.json()["revoked_at"] == revoked.json()["revoked_at"]
    back = await register(w, admin, jwk)
    assert back.status_code == 409
    assert "cannot be registered again" in back.json()["detail"]
    # A key of this client is nothing under another client's path.
    lender_id = w.a.clients[ClientKind.LENDER][0]
    other = await w.client.post(
        f"/api/v1/api-clients/{lender_id}/keys/{kid_of(ec_jwk)}/revoke", headers=admin
    )
    assert other.status_code == 404

    events = (
        await w.client.get("/api/v1/audit-events", params={"limit": 50}, headers=admin)
    ).json()["items"]
    actions = [(e["action"], e["detail"].get("kid")) for e in events if e["target_id"] == client_id]
    assert ("api_client.key_registered", jwk["kid"]) in actions
    assert ("api_client.key_registered", kid_of(ec_jwk)) in actions
    assert [a for a in actions if a[0] == "api_client.key_revoked"] == [
        ("api_client.key_revoked", jwk["kid"])
    ]

    # Another commission's client, and people without the permission: 404.
    b_client = w.b.clients[ClientKind.TRADING_PLATFORM][0]
    _, fresh = ed25519_key()
    for path in (f"/api/v1/api-clients/{b_client}/keys", f"{keys_url}"):
        headers = admin if b_client in path else await w.login(w.a, Role.SECRETARY)
        assert (await w.client.get(path, headers=headers)).status_code == 404
        assert (await w.client.post(path, json={"jwk": fresh}, headers=headers)).status_code == 404


def _jwk_case(case: str) -> dict[str, Any]:
    private_key, jwk = ed25519_key()
    seed = b64url(private_key.private_bytes_raw())
    _, ec_jwk = p256_key()
    cases: dict[str, dict[str, Any]] = {
        "private": {**jwk, "d": seed},
        "oct": {"kty": "oct", "k": seed},
        "rsa": {"kty": "RSA", "n": "sXch", "e": "AQAB"},
        "no kty": {k: v for k, v in jwk.items() if k != "kty"},
        "x25519": {**jwk, "crv": "X25519", "kid": None},
        "p384": {**ec_jwk, "crv": "P-384"},
        "short x": {**jwk, "x": jwk["x"][:-4], "kid": None},
        "padded x": {**jwk, "x": jwk["x"] + "=", "kid": None},
        "no x": {"kty": "OKP", "crv": "Ed25519"},
        "no y": {k: v for k, v in ec_jwk.items() if k != "y"},
        "alg": {**jwk, "alg": "RS256"},
        "use": {**jwk, "use": "enc"},
        "key_ops": {**jwk, "key_ops": ["sign"]},
        "kid": {**jwk, "kid": "my-key-1"},
        "off the curve": {**ec_jwk, "y": b64url(b"\x01" * 32)},
    }
    return {k: v for k, v in cases[case].items() if v is not None}


@pytest.mark.parametrize(
    ("case", "field", "rule"),
    [
        ("private", "$.jwk.d", "private_key"),
        ("oct", "$.jwk.k", "private_key"),
        ("rsa", "$.jwk.kty", "allowed"),
        ("no kty", "$.jwk.kty", "required"),
        ("x25519", "$.jwk.crv", "allowed"),
        ("p384", "$.jwk.crv", "allowed"),
        ("short x", "$.jwk.x", "format"),
        ("padded x", "$.jwk.x", "format"),
        ("no x", "$.jwk.x", "required"),
        ("no y", "$.jwk.y", "required"),
        ("alg", "$.jwk.alg", "allowed"),
        ("use", "$.jwk.use", "allowed"),
        ("key_ops", "$.jwk.key_ops", "allowed"),
        ("kid", "$.jwk.kid", "thumbprint"),
        ("off the curve", "$.jwk", "invalid_key"),
    ],
)
async def test_unacceptable_keys_are_refused_precisely(
    auth_world: World, case: str, field: str, rule: str
) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    response = await register(w, admin, _jwk_case(case))
    assert response.status_code == 422, response.text
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [(field, rule)]
    client_id = w.a.clients[ClientKind.TRADING_PLATFORM][0]
    listed = await w.client.get(f"/api/v1/api-clients/{client_id}/keys", headers=admin)
    assert listed.json() == []


# -- pushing records ----------------------------------------------------------------------------


async def test_a_platform_pushes_a_signed_record_and_gets_a_receipt(auth_world: World) -> None:
    w = auth_world
    private_key, kid = await registered_key(w)
    headers = await platform(w)
    before = await holdings(w)
    compact = sign(private_key, kid, payload_of())
    response = await push(w, headers, compact)
    assert response.status_code == 201, response.text
    record = response.json()["record"]
    digest = hashlib.sha256(compact.encode()).hexdigest()
    client_id = w.a.clients[ClientKind.TRADING_PLATFORM][0]
    assert record["type"] == "order"
    assert record["record_id"] == "ORD-20260301-0001"
    assert record["occurred_at"] == "2026-03-01T02:15:00Z"
    assert record["data"] == payload_of()["data"]
    assert record["subject"] == {"buyer": "张三", "seller": "某某旗舰店"}
    assert record["jws_sha256"] == digest
    assert record["provenance"] == {
        "type": "attested",
        "attested_by": client_id,
        "name": f"trading_platform of {w.a.slug}",
        "kind": "trading_platform",
        "kid": kid,
        "alg": "Ed25519",
    }
    assert await holdings(w) == (before[0] + 1, before[1] + 1, before[2] + 1)

    # The row, the object (the JWS byte for byte), the leaf.
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        [row] = await uow.fetch(
            "SELECT * FROM custody_record WHERE tenant_id = {} AND id = {}",
            w.a.id,
            UUID(record["id"]),
        )
        [leaf] = await uow.fetch(
            "SELECT kind, leaf FROM ledger_leaf WHERE tenant_id = {} AND leaf_index = {}",
            w.a.id,
            row["leaf_index"],
        )
    assert row["client_id"] == client_id
    assert row["kid"] == kid
    assert row["record_type"] == "order"
    assert row["payload_sha256"] == hashlib.sha256(encode(payload_of())).hexdigest()
    stored = row["payload"]
    assert (json.loads(stored) if isinstance(stored, str) else stored) == payload_of()
    assert row["object_key"] == f"{w.a.id}/sha256/{digest[:2]}/{digest}"
    assert await read_object(w.runtime, row["object_key"]) == compact.encode()
    assert leaf["kind"] == "custody.record"
    entry = json.loads(leaf["leaf"])
    assert {k: entry[k] for k in ("record_id", "type", "client_id", "kid", "sha256")} == {
        "record_id": "ORD-20260301-0001",
        "type": "order",
        "client_id": client_id,
        "kid": kid,
        "sha256": digest,
    }
    assert entry["jws_sha256"] == digest
    assert entry["occurred_at"] == "2026-03-01T02:15:00+00:00"
    assert entry["object_key"] == row["object_key"]
    assert entry["custody_record_id"] == record["id"]

    # The receipt verifies offline against the JWS's own hash.
    keys = {
        k.kid: import_public_jwk(k.public_jwk) for k in await w.runtime.keys.keys(w.a.id, "ledger")
    }
    checked = verify_receipt(
        response.json()["receipt"],
        verify_signature=lambda token, key_id: verify_compact(token, keys[key_id]),
        content_sha256=digest,
    )
    assert checked.leaf_index == record["leaf_index"]

    # The submitter and the staff read it with its JWS; nobody else.
    for reader in (
        headers,
        await w.login(w.a, Role.COMMISSION_ADMIN),
        await w.login(w.a, Role.SECRETARY),
    ):
        shown = await w.client.get(f"{URL}/{record['id']}", headers=reader)
        assert shown.status_code == 200, shown.text
        assert shown.json()["jws"] == compact
        assert shown.json()["provenance"]["attested_by"] == client_id
        assert shown.json()["data"] == record["data"]
    lender = bearer(await w.token(w.a, ClientKind.LENDER))
    for reader in (
        await w.login(w.a, Role.CLAIMANT),
        await w.login(w.a, Role.ARBITRATOR),
        lender,
        await w.login(w.b, Role.COMMISSION_ADMIN),
        await platform(w, w.b),
    ):
        assert (await w.client.get(f"{URL}/{record['id']}", headers=reader)).status_code == 404
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    events = (
        await w.client.get(
            "/api/v1/audit-events", params={"action": "custody.record.received"}, headers=admin
        )
    ).json()["items"]
    assert [(e["target_id"], e["actor_id"]) for e in events] == [(record["id"], client_id)]


async def test_json_bodies_p256_keys_and_eddsa(auth_world: World) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    headers = await platform(w)
    ed_key, kid = await registered_key(w)
    ec_key, ec_jwk = p256_key()
    assert (await register(w, admin, ec_jwk)).status_code == 201

    as_json = sign(ed_key, kid, payload_of("A-1"))
    response = await w.client.post(URL, json={"jws": as_json}, headers=headers)
    assert response.status_code == 201, response.text

    es256 = sign(ec_key, kid_of(ec_jwk), payload_of("A-2", type="payment"))
    response = await push(w, headers, es256)
    assert response.status_code == 201, response.text
    assert response.json()["record"]["provenance"]["alg"] == "ES256"

    # "EdDSA", the older name of the same signature (RFC 8037, deprecated by RFC 9864).
    eddsa = by_hand(
        {"alg": "EdDSA", "kid": kid}, encode(payload_of("A-3", type="chat")), ed_key.sign
    )
    response = await push(w, headers, eddsa + "\r\n")  # a trailing newline is no matter
    assert response.status_code == 201, response.text
    assert response.json()["record"]["provenance"]["alg"] == "EdDSA"
    shown = await w.client.get(f"{URL}/{response.json()['record']['id']}", headers=headers)
    assert shown.json()["jws"] == eddsa


async def test_a_lender_pushes_loan_records(auth_world: World) -> None:
    from arbitral.auth.clients import ApiClientCreate, create_client

    w = auth_world
    created = await create_client(
        w.runtime,
        Principal.operator(w.a.id, "tests"),
        ApiClientCreate(name="某小贷公司", kind=ClientKind.LENDER, scopes=["evidence:submit"]),
    )
    client_id = created.client.client_id
    token = await w.client.post(
        f"/t/{w.a.slug}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, created.client_secret),
    )
    headers = bearer(token.json()["access_token"])
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    private_key, jwk = ed25519_key()
    registered = await w.client.post(
        f"/api/v1/api-clients/{client_id}/keys", json={"jwk": jwk}, headers=admin
    )
    assert registered.status_code == 201
    for record_id, kind in (
        ("L-1", "loan_contract"),
        ("L-2", "loan_disbursement"),
        ("L-3", "loan_repayment"),
    ):
        payload = payload_of(record_id, type=kind, data={"loan_no": "L", "amount": "10000.00"})
        response = await push(w, headers, sign(private_key, jwk["kid"], payload))
        assert response.status_code == 201, response.text
        assert response.json()["record"]["provenance"]["kind"] == "lender"


async def test_resubmission_finds_the_first_record_and_other_content_conflicts(
    auth_world: World,
) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    headers = await platform(w)
    private_key, kid = await registered_key(w)
    compact = sign(private_key, kid, payload_of())
    first = await push(w, headers, compact)
    assert first.status_code == 201
    after_first = await holdings(w)

    again = await push(w, headers, compact)
    assert again.status_code == 200, again.text
    assert again.json()["record"] == first.json()["record"]
    assert again.json()["receipt"]["leaf"] == first.json()["receipt"]["leaf"]
    # Re-signed (ECDSA signs differently each time): the same payload is the same record.
    ec_key, ec_jwk = p256_key()
    assert (await register(w, admin, ec_jwk)).status_code == 201
    es_first = await push(w, headers, sign(ec_key, kid_of(ec_jwk), payload_of("E-1")))
    assert es_first.status_code == 201
    es_again = await push(w, headers, sign(ec_key, kid_of(ec_jwk), payload_of("E-1")))
    assert es_again.status_code == 200
    assert es_again.json()["record"]["id"] == es_first.json()["record"]["id"]
    after_ec = await holdings(w)
    assert after_ec == (after_first[0] + 1, after_first[1] + 1, after_first[2] + 1)

    changed = sign(private_key, kid, payload_of(data={"order_no": "X", "amount": "1.00"}))
    conflict = await push(w, headers, changed)
    assert conflict.status_code == 409, conflict.text
    problem = conflict.json()
    assert first.json()["record"]["id"] in problem["detail"]
    assert problem["existing_id"] == first.json()["record"]["id"]
    assert await holdings(w) == after_ec
    # Another client's record ids are its own: the same id from B's platform is B's record.
    b_admin = await w.login(w.b, Role.COMMISSION_ADMIN)
    b_key, b_jwk = ed25519_key()
    b_client = w.b.clients[ClientKind.TRADING_PLATFORM][0]
    assert (
        await w.client.post(
            f"/api/v1/api-clients/{b_client}/keys", json={"jwk": b_jwk}, headers=b_admin
        )
    ).status_code == 201
    b_record = await push(w, await platform(w, w.b), sign(b_key, b_jwk["kid"], payload_of()))
    assert b_record.status_code == 201


def _refused_case(
    case: str, private_key: Ed25519PrivateKey, kid: str, others: dict[str, Any]
) -> tuple[str | bytes, dict[str, str]]:
    """The body and headers of a refused submission."""
    now = datetime.now(UTC)
    good = encode(payload_of())
    payloads: dict[str, Any] = {
        "payload not JSON": b"{not json",
        "payload an array": b"[1, 2]",
        "payload too deep": b"[" * 100 + b"]" * 100,
        "no type": payload_of(type=...),
        "unknown type": payload_of(type="invoice"),
        "no record_id": payload_of(record_id=...),
        "record_id a number": payload_of(record_id=12),
        "record_id too long": payload_of(record_id="R" * 129),
        "record_id with a newline": payload_of(record_id="R-1\n"),
        "occurred_at without offset": payload_of(occurred_at="2026-03-01T10:15:00"),
        "occurred_at not a date": payload_of(occurred_at="2026-02-30T10:15:00+08:00"),
        "occurred_at a date only": payload_of(occurred_at="2026-03-01"),
        "occurred_at in the future": payload_of(occurred_at=(now + timedelta(hours=1)).isoformat()),
        "no data": payload_of(data=...),
        "data a list": payload_of(data=[1]),
        "data empty": payload_of(data={}),
        "subject a string": payload_of(subject="张三"),
        "an unknown member": {**payload_of(), "iat": 1},
    }
    if case in payloads:
        return sign(private_key, kid, payloads[case]), JOSE
    if case == "unknown kid":
        return sign(private_key, "not-a-registered-kid", good), JOSE
    if case == "another client's key":
        return sign(others["lender_key"], others["lender_kid"], good), JOSE
    if case == "a revoked key":
        return sign(others["revoked_key"], others["revoked_kid"], good), JOSE
    if case == "another commission's key":
        return sign(others["b_key"], others["b_kid"], good), JOSE
    if case == "tampered payload":
        header, _, signature = sign(private_key, kid, good).split(".")
        forged = encode(payload_of(data={"order_no": "ORD", "amount": "1.00"}))
        return f"{header}.{b64url(forged)}.{signature}", JOSE
    if case == "tampered signature":
        header, payload, signature = sign(private_key, kid, good).split(".")
        flipped = bytearray(base64.urlsafe_b64decode(signature + "=="))
        flipped[0] ^= 1
        return f"{header}.{payload}.{b64url(bytes(flipped))}", JOSE
    if case == "alg none":
        return f"{b64url(json.dumps({'alg': 'none', 'kid': kid}).encode())}.{b64url(good)}.", JOSE
    if case == "alg none with a signature":
        return by_hand({"alg": "none", "kid": kid}, good, lambda _: b"x"), JOSE
    if case == "HS256 with the public key as secret":
        secret = base64.urlsafe_b64decode(others["jwk"]["x"] + "=")
        return by_hand(
            {"alg": "HS256", "kid": kid},
            good,
            lambda data: hmac.new(secret, data, hashlib.sha256).digest(),
        ), JOSE
    if case == "ES256 with an Ed25519 key":
        return by_hand({"alg": "ES256", "kid": kid}, good, private_key.sign), JOSE
    if case == "no kid":
        return by_hand({"alg": "Ed25519"}, good, private_key.sign), JOSE
    if case == "crit":
        return by_hand(
            {"alg": "Ed25519", "kid": kid, "crit": ["exp"], "exp": 1}, good, private_key.sign
        ), JOSE
    if case == "not a JWS":
        return "hello", JOSE
    if case == "JWS JSON serialization":
        return json.dumps({"payload": b64url(good), "signatures": []}), JOSE
    if case == "header not JSON":
        return f"{b64url(b'nope')}.{b64url(good)}.{b64url(b'sig')}", JOSE
    if case == "not ASCII":
        return "签名.签名.签名".encode(), JOSE
    if case == "JSON without jws":
        return json.dumps({"record": "x"}), {"content-type": "application/json"}
    if case == "JSON with a number":
        return json.dumps({"jws": 1}), {"content-type": "application/json"}
    if case == "JSON not an object":
        return json.dumps(["x"]), {"content-type": "application/json"}
    if case == "a form":
        return "jws=x", {"content-type": "application/x-www-form-urlencoded"}
    if case == "too large":
        return sign(private_key, kid, payload_of(data={"blob": "x" * (800 << 10)})), JOSE
    raise AssertionError(case)


REFUSALS = [
    ("unknown kid", 422, "jws", "signature"),
    ("another client's key", 422, "jws", "signature"),
    ("a revoked key", 422, "jws", "signature"),
    ("another commission's key", 422, "jws", "signature"),
    ("tampered payload", 422, "jws", "signature"),
    ("tampered signature", 422, "jws", "signature"),
    ("alg none", 422, "jws", "alg"),
    ("alg none with a signature", 422, "jws", "alg"),
    ("HS256 with the public key as secret", 422, "jws", "alg"),
    ("ES256 with an Ed25519 key", 422, "jws", "alg"),
    ("no kid", 422, "jws", "kid"),
    ("crit", 422, "jws", "crit"),
    ("not a JWS", 422, "jws", "format"),
    ("JWS JSON serialization", 422, "jws", "format"),
    ("header not JSON", 422, "jws", "header"),
    ("not ASCII", 422, "jws", "format"),
    ("JSON without jws", 422, "$.record", "unknown"),
    ("JSON with a number", 422, "jws", "type"),
    ("JSON not an object", 422, "$", "type"),
    ("a form", 415, "content-type", "allowed"),
    ("too large", 413, "jws", "max_size"),
    ("payload not JSON", 422, "payload", "syntax"),
    ("payload an array", 422, "payload", "type"),
    ("payload too deep", 422, "payload", "syntax"),
    ("no type", 422, "payload.type", "required"),
    ("unknown type", 422, "payload.type", "allowed"),
    ("no record_id", 422, "payload.record_id", "required"),
    ("record_id a number", 422, "payload.record_id", "type"),
    ("record_id too long", 422, "payload.record_id", "max_length"),
    ("record_id with a newline", 422, "payload.record_id", "format"),
    ("occurred_at without offset", 422, "payload.occurred_at", "format"),
    ("occurred_at not a date", 422, "payload.occurred_at", "format"),
    ("occurred_at a date only", 422, "payload.occurred_at", "format"),
    ("occurred_at in the future", 422, "payload.occurred_at", "future"),
    ("no data", 422, "payload.data", "required"),
    ("data a list", 422, "payload.data", "type"),
    ("data empty", 422, "payload.data", "required"),
    ("subject a string", 422, "payload.subject", "type"),
    ("an unknown member", 422, "payload.iat", "unknown"),
]


async def test_refused_records_leave_nothing(auth_world: World) -> None:
    """Every refusal names the field and the rule; none leaves a row, a leaf or an object."""
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    private_key, kid = await registered_key(w)
    lender_key, lender_jwk = ed25519_key()
    assert (await register(w, admin, lender_jwk, ClientKind.LENDER)).status_code == 201
    revoked_key, revoked_jwk = ed25519_key()
    assert (await register(w, admin, revoked_jwk)).status_code == 201
    client_id = w.a.clients[ClientKind.TRADING_PLATFORM][0]
    revoke = f"/api/v1/api-clients/{client_id}/keys/{revoked_jwk['kid']}/revoke"
    assert (await w.client.post(revoke, headers=admin)).status_code == 200
    b_key, b_jwk = ed25519_key()
    await register_key(
        w.runtime,
        Principal.operator(w.b.id, "tests"),
        w.b.clients[ClientKind.TRADING_PLATFORM][0],
        ClientKeyCreate(jwk=b_jwk),
    )
    others = {
        "lender_key": lender_key,
        "lender_kid": lender_jwk["kid"],
        "revoked_key": revoked_key,
        "revoked_kid": revoked_jwk["kid"],
        "b_key": b_key,
        "b_kid": b_jwk["kid"],
        "jwk": public_jwk(private_key),
    }
    headers = await platform(w)
    before = await holdings(w)
    wrong: list[str] = []
    for case, status, field, rule in REFUSALS:
        body, content_type = _refused_case(case, private_key, kid, others)
        response = await w.client.post(URL, content=body, headers={**headers, **content_type})
        found = (
            (
                response.status_code,
                response.json()["errors"][0]["field"],
                response.json()["errors"][0]["rule"],
            )
            if response.status_code < 500 and response.json().get("errors")
            else (response.status_code, None, None)
        )
        if found != (status, field, rule):
            wrong.append(f"{case}: {found} {response.text[:200]}")
        elif not response.headers["content-type"].startswith("application/problem+json"):
            wrong.append(f"{case}: {response.headers['content-type']}")
    assert wrong == []
    assert await holdings(w) == before


async def test_refusal_messages_say_what_to_do(auth_world: World) -> None:
    w = auth_world
    private_key, kid = await registered_key(w)
    headers = await platform(w)
    several = sign(
        private_key, kid, payload_of(type="invoice", record_id=..., occurred_at="yesterday")
    )
    response = await push(w, headers, several)
    assert response.status_code == 422
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [
        ("payload.type", "allowed"),
        ("payload.record_id", "required"),
        ("payload.occurred_at", "format"),
    ]
    unknown = await push(w, headers, sign(private_key, "k-unknown", payload_of()))
    assert (
        "no key k-unknown is registered for this client" in unknown.json()["errors"][0]["message"]
    )
    none = by_hand({"alg": "none", "kid": kid}, encode(payload_of()), lambda _: b"x")
    assert 'alg "none"' in (await push(w, headers, none)).json()["errors"][0]["message"]
    # Past 1 MiB without a declared length: refused while reading.
    before = await holdings(w)

    async def stream() -> Any:
        for _ in range(20):
            yield b"A" * (64 << 10)

    chunked = await w.client.post(URL, content=stream(), headers={**headers, **JOSE})
    assert chunked.status_code == 413
    assert chunked.json()["errors"][0] == {
        "field": "jws",
        "rule": "max_size",
        "message": f"at most {1 << 20} bytes",
    }
    assert await holdings(w) == before


async def test_only_platforms_and_lenders_push_records(auth_world: World) -> None:
    w = auth_world
    private_key, kid = await registered_key(w)
    compact = sign(private_key, kid, payload_of())
    # A party holds evidence:submit but is no platform: 403, with the way to upload files.
    claimant = await w.login(w.a, Role.CLAIMANT)
    response = await push(w, claimant, compact)
    assert response.status_code == 403
    assert "/api/v1/custody/items" in response.json()["detail"]
    # Clients without evidence:submit: the guard's 403; no credentials: 401.
    for kind, scope in ((ClientKind.COURT, None), (ClientKind.LENDER, "tenant:read cases:file")):
        response = await push(w, bearer(await w.token(w.a, kind, scope)), compact)
        assert response.status_code == 403
        assert "evidence:submit" in response.json()["detail"]
    assert (await w.client.post(URL, content=compact, headers=JOSE)).status_code == 401
    # A court holding evidence:submit cannot happen (its scopes exclude it); the service says no.
    court = Principal(
        kind=PrincipalKind.API_CLIENT,
        subject_id=w.a.users[Role.CLAIMANT],
        tenant_id=w.a.id,
        permissions=frozenset({Permission.EVIDENCE_SUBMIT}),
        client_id=w.a.clients[ClientKind.COURT][0],
        client_kind=ClientKind.COURT,
    )

    async def body() -> Any:
        yield compact.encode()

    with pytest.raises(Forbidden, match="not court clients"):
        await records.submit(
            w.runtime, court, body(), media_type="application/jose", declared_length=None
        )
    # A disabled platform: its token still works for a few minutes, its records do not.
    headers = await platform(w)
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    client_id = w.a.clients[ClientKind.TRADING_PLATFORM][0]
    assert (
        await w.client.delete(f"/api/v1/api-clients/{client_id}", headers=admin)
    ).status_code == 200
    before = await holdings(w)
    response = await push(w, headers, compact)
    assert response.status_code == 403
    assert "disabled" in response.json()["detail"]
    assert await holdings(w) == before


async def test_a_record_in_storage_that_changed_is_not_shown(auth_world: World) -> None:
    w = auth_world
    private_key, kid = await registered_key(w)
    headers = await platform(w)
    record = (await push(w, headers, sign(private_key, kid, payload_of()))).json()["record"]
    digest = record["jws_sha256"]
    path = w.runtime.settings.data_dir / "objects" / str(w.a.id) / "sha256" / digest[:2] / digest
    path.chmod(0o600)
    path.write_bytes(b"altered")
    response = await w.client.get(f"{URL}/{record['id']}", headers=headers)
    assert response.status_code == 500
    assert response.json()["type"] == "/problems/stored-record-altered"


@pytest.mark.parametrize("text", ["x\u0000y", "\u202e", "😀" * 10])
async def test_odd_characters_in_data_are_kept(auth_world: World, text: str) -> None:
    w = auth_world
    private_key, kid = await registered_key(w)
    headers = await platform(w)
    payload = payload_of(data={"message": text, "big": 10**30})
    response = await push(w, headers, sign(private_key, kid, payload))
    assert response.status_code == 201, response.text
    shown = await w.client.get(f"{URL}/{response.json()['record']['id']}", headers=headers)
    assert shown.json()["data"] == {"message": text, "big": 10**30}


# -- for the route matrix --------------------------------------------------------------------


async def record_of(runtime: Runtime, tenant: Tenant) -> tuple[str, str]:
    """(a key id of the tenant's lender, a record id of its trading platform), made by service."""
    operator = Principal.operator(tenant.id, "tests")
    _, lender_jwk = ed25519_key()
    await register_key(
        runtime, operator, tenant.clients[ClientKind.LENDER][0], ClientKeyCreate(jwk=lender_jwk)
    )
    private_key, jwk = ed25519_key()
    client_id = tenant.clients[ClientKind.TRADING_PLATFORM][0]
    await register_key(runtime, operator, client_id, ClientKeyCreate(jwk=jwk))
    async with runtime.db.transaction(tenant_id=tenant.id, readonly=True) as uow:
        [row] = await uow.fetch(
            "SELECT id FROM api_client WHERE tenant_id = {} AND client_id = {}",
            tenant.id,
            client_id,
        )
    principal = Principal(
        kind=PrincipalKind.API_CLIENT,
        subject_id=UUID(str(row["id"])),
        tenant_id=tenant.id,
        permissions=frozenset({Permission.EVIDENCE_SUBMIT}),
        client_id=client_id,
        client_kind=ClientKind.TRADING_PLATFORM,
    )

    async def body() -> Any:
        yield sign(private_key, jwk["kid"], payload_of(f"matrix-{tenant.slug}")).encode()

    received, _ = await records.submit(
        runtime, principal, body(), media_type="application/jose", declared_length=None
    )
    return lender_jwk["kid"], str(received.record.id)


async def test_the_same_record_sent_twice_at_once_is_kept_once(auth_world: World) -> None:
    w = auth_world
    private_key, kid = await registered_key(w)
    headers = await platform(w)
    before = await holdings(w)
    compact = sign(private_key, kid, payload_of("RACE-1"))
    same = await asyncio.gather(*(push(w, headers, compact) for _ in range(4)))
    assert sorted(r.status_code for r in same) == [200, 200, 200, 201], [r.text for r in same]
    assert len({r.json()["record"]["id"] for r in same}) == 1
    assert await holdings(w) == (before[0] + 1, before[1] + 1, before[2] + 1)
    other = sign(private_key, kid, payload_of("RACE-2"))
    changed = sign(private_key, kid, payload_of("RACE-2", type="payment"))
    both = await asyncio.gather(push(w, headers, other), push(w, headers, changed))
    assert sorted(r.status_code for r in both) == [201, 409], [r.text for r in both]
    rows, leaves, _ = await holdings(w)
    # The loser's JWS may have reached the store before it lost (see records.submit):
    # unreferenced bytes, no row or leaf.
    assert (rows, leaves) == (before[0] + 2, before[1] + 2)
