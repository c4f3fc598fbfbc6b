"""The key ring on both backends: first use, rotation, JWKS, isolation, concurrency."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from typing import Any

import pytest
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError

from arbitral.audit.services import Actor
from arbitral.db.engine import Database
from arbitral.keys.domain import (
    JWS_ALGORITHM,
    KeyDecryptionError,
    UnknownPurposeError,
    jws_registry,
    open_private_key,
    verify_compact,
)
from arbitral.keys.services import KeyRing, list_keys
from tests.keys.conftest import insert_tenant

OPERATOR = Actor("operator", "tester")


async def key_rows(db: Database, tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    async with db.transaction(tenant_id=tenant_id) as uow:
        return await uow.fetch(
            "SELECT kid, purpose, private_key_enc, retired_at FROM signing_key "
            "WHERE tenant_id = {} ORDER BY created_at",
            tenant_id,
        )


async def audit_events(db: Database, tenant_id: uuid.UUID, action: str) -> list[dict[str, Any]]:
    async with db.transaction(tenant_id=tenant_id) as uow:
        rows = await uow.fetch(
            "SELECT actor_kind, actor_id, target_id, detail FROM audit_event "
            "WHERE tenant_id = {} AND action = {} ORDER BY at",
            tenant_id,
            action,
        )
    for row in rows:
        if isinstance(row["detail"], str):
            row["detail"] = json.loads(row["detail"])
    return rows


async def test_first_use_generates_and_later_uses_reuse(ring: KeyRing, database: Database) -> None:
    tenant = await insert_tenant(database)
    first = await ring.active_key(tenant, "jws")
    again = await ring.active_key(tenant, "jws")
    assert again.kid == first.kid
    assert again.public_jwk == first.public_jwk
    assert first.public_jwk["kid"] == first.kid
    assert first.purpose == "jws"
    assert first.algorithm == "Ed25519"
    assert first.created_at.tzinfo is not None
    ledger = await ring.active_key(tenant, "ledger")
    assert ledger.kid != first.kid
    rows = await key_rows(database, tenant)
    assert sorted(row["purpose"] for row in rows) == ["jws", "ledger"]
    generated = await audit_events(database, tenant, "key.generated")
    assert [(e["actor_kind"], e["target_id"]) for e in generated] == [
        ("system", first.kid),
        ("system", ledger.kid),
    ]


async def test_a_handle_signs_verifiable_jws_and_jwt(ring: KeyRing, database: Database) -> None:
    tenant = await insert_tenant(database)
    handle = await ring.active_key(tenant, "jws")
    token = handle.sign_jws(b"manifest", {"typ": "court-manifest+jws"})
    key = await ring.verification_key(tenant, handle.kid)
    assert key is not None
    assert verify_compact(token, key) == b"manifest"
    access = handle.sign_jwt({"sub": "lender-1", "scope": "claims:write"}, {"typ": "at+jwt"})
    decoded = jwt.decode(access, key, algorithms=[JWS_ALGORITHM], registry=jws_registry())
    assert decoded.header == {"typ": "at+jwt", "alg": "Ed25519", "kid": handle.kid}
    assert decoded.claims == {"sub": "lender-1", "scope": "claims:write"}
    ledger = await ring.active_key(tenant, "ledger")
    head = b"tree head: size 7"
    ledger.public_key().get_op_key("verify").verify(ledger.sign(head), head)  # type: ignore[union-attr]
    for secret_part in ("_sealed", "_kek", "private"):
        assert secret_part not in repr(handle)


async def test_rotation_keeps_the_old_key_verifying(ring: KeyRing, database: Database) -> None:
    tenant = await insert_tenant(database)
    old = await ring.active_key(tenant, "jws")
    before = old.sign_jws(b"signed before the rotation")
    rotation = await ring.rotate_detailed(tenant, "jws", actor=OPERATOR)
    new = rotation.new
    assert rotation.retired_kid == old.kid
    assert new.kid != old.kid
    assert (await ring.active_key(tenant, "jws")).kid == new.kid
    after = new.sign_jws(b"signed after")
    assert jws.extract_compact(after.encode()).headers()["kid"] == new.kid
    old_key = await ring.verification_key(tenant, old.kid)
    new_key = await ring.verification_key(tenant, new.kid)
    assert old_key is not None
    assert new_key is not None
    assert verify_compact(before, old_key) == b"signed before the rotation"
    assert verify_compact(after, new_key) == b"signed after"
    with pytest.raises(BadSignatureError):
        verify_compact(after, old_key)
    rows = {row["kid"]: row for row in await key_rows(database, tenant)}
    assert rows[old.kid]["retired_at"] is not None
    assert rows[new.kid]["retired_at"] is None
    rotated = await audit_events(database, tenant, "key.rotated")
    assert len(rotated) == 1
    assert rotated[0]["actor_kind"] == "operator"
    assert rotated[0]["actor_id"] == "tester"
    assert rotated[0]["target_id"] == new.kid
    assert rotated[0]["detail"] == {"purpose": "jws", "old_kid": old.kid, "new_kid": new.kid}
    # The ledger key was not touched.
    assert not [row for row in rows.values() if row["purpose"] == "ledger"]


async def test_rotating_before_first_use_makes_the_first_key(
    ring: KeyRing, database: Database
) -> None:
    tenant = await insert_tenant(database)
    rotation = await ring.rotate_detailed(tenant, "ledger", actor=OPERATOR)
    assert rotation.retired_kid is None
    assert (await ring.active_key(tenant, "ledger")).kid == rotation.new.kid
    [event] = await audit_events(database, tenant, "key.rotated")
    assert event["detail"]["old_kid"] is None


async def test_jwks_lists_active_and_retired_keys(ring: KeyRing, database: Database) -> None:
    tenant = await insert_tenant(database)
    first = await ring.active_key(tenant, "jws")
    second = await ring.rotate(tenant, "jws", actor=OPERATOR)
    ledger = await ring.active_key(tenant, "ledger")
    jwks = await ring.public_keys(tenant, "jws")
    assert [jwk["kid"] for jwk in jwks] == [second.kid, first.kid]
    for jwk in jwks:
        assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg"}
        assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == (
            "OKP",
            "Ed25519",
            "sig",
            "Ed25519",
        )
    assert [jwk["kid"] for jwk in await ring.public_keys(tenant, "jws", include_retired=False)] == [
        second.kid
    ]
    everything = await ring.public_keys(tenant)
    assert {jwk["kid"] for jwk in everything} == {first.kid, second.kid, ledger.kid}
    assert everything[-1]["kid"] == first.kid  # retired keys after the active ones
    infos = await list_keys(ring.db, tenant)
    assert [(i.kid, i.active) for i in infos if i.purpose == "jws"] == [
        (second.kid, True),
        (first.kid, False),
    ]
    with pytest.raises(UnknownPurposeError):
        await ring.public_keys(tenant, "pdf")


async def test_a_kid_of_one_tenant_is_not_found_for_another(
    ring: KeyRing, database: Database
) -> None:
    a = await insert_tenant(database)
    b = await insert_tenant(database)
    a_key = await ring.active_key(a, "jws")
    assert await ring.verification_key(a, a_key.kid) is not None  # now cached for A
    assert await ring.verification_key(b, a_key.kid) is None
    assert await ring.public_keys(b) == []
    assert await KeyRing(database, secrets.token_bytes(32)).verification_key(b, a_key.kid) is None
    b_key = await ring.active_key(b, "jws")
    assert b_key.kid != a_key.kid
    assert await ring.verification_key(a, b_key.kid) is None
    # A purpose-bound lookup refuses a key of the other purpose.
    ledger = await ring.active_key(a, "ledger")
    assert await ring.verification_key(a, ledger.kid, purpose="jws") is None
    assert await ring.verification_key(a, ledger.kid, purpose="ledger") is not None
    assert await ring.verification_key(a, "x" * 65) is None
    assert await ring.verification_key(a, "") is None


async def test_concurrent_first_use_makes_exactly_one_key(
    ring: KeyRing, database: Database
) -> None:
    tenant = await insert_tenant(database)
    handles = await asyncio.gather(*(ring.active_key(tenant, "jws") for _ in range(10)))
    assert len({handle.kid for handle in handles}) == 1
    rows = await key_rows(database, tenant)
    assert len(rows) == 1
    assert rows[0]["retired_at"] is None
    assert len(await audit_events(database, tenant, "key.generated")) == 1


async def test_concurrent_rotations_chain(ring: KeyRing, database: Database) -> None:
    tenant = await insert_tenant(database)
    first = await ring.active_key(tenant, "ledger")
    rotations = await asyncio.gather(
        *(ring.rotate_detailed(tenant, "ledger", actor=OPERATOR) for _ in range(5))
    )
    rows = await key_rows(database, tenant)
    assert len(rows) == 6
    active = [row["kid"] for row in rows if row["retired_at"] is None]
    assert len(active) == 1
    # Each rotation retired the key made just before it: one chain from the first key.
    successor = {r.retired_kid: r.new.kid for r in rotations}
    assert len(successor) == 5
    kid, chain = first.kid, [first.kid]
    while kid in successor:
        kid = successor[kid]
        chain.append(kid)
    assert len(chain) == 6
    assert chain[-1] == active[0]


async def test_the_stored_private_key_is_sealed(
    ring: KeyRing, database: Database, kek: bytes
) -> None:
    tenant = await insert_tenant(database)
    handle = await ring.active_key(tenant, "jws")
    [row] = await key_rows(database, tenant)
    stored = bytes(row["private_key_enc"])
    seed = open_private_key(kek, stored, tenant_id=tenant, kid=handle.kid, purpose="jws")
    assert len(seed) == 32
    assert seed not in stored
    assert seed.hex().encode() not in stored
    # Moved to another tenant's row, it does not open.
    with pytest.raises(KeyDecryptionError):
        open_private_key(kek, stored, tenant_id=uuid.uuid4(), kid=handle.kid, purpose="jws")


async def test_a_wrong_kek_fails_to_sign_with_a_precise_error(
    ring: KeyRing, database: Database
) -> None:
    tenant = await insert_tenant(database)
    kid = (await ring.active_key(tenant, "jws")).kid
    stranger = KeyRing(database, secrets.token_bytes(32))
    handle = await stranger.active_key(tenant, "jws")  # reading needs no decryption
    assert handle.kid == kid
    with pytest.raises(KeyDecryptionError, match=f"signing key {kid}: does not decrypt") as caught:
        handle.sign_jws(b"x")
    assert caught.value.kid == kid
    with pytest.raises(KeyDecryptionError):
        handle.sign(b"x")


async def test_inside_the_callers_transaction(ring: KeyRing, database: Database) -> None:
    tenant = await insert_tenant(database)
    other = await insert_tenant(database)

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with database.transaction(tenant_id=tenant):
            made = await ring.active_key(tenant, "jws")
            assert (await ring.active_key(tenant, "jws")).kid == made.kid
            raise Abort
    assert await key_rows(database, tenant) == []  # rolled back with the caller's transaction
    async with database.transaction(tenant_id=tenant):
        kept = await ring.active_key(tenant, "jws")
    assert [row["kid"] for row in await key_rows(database, tenant)] == [kept.kid]
    with pytest.raises(RuntimeError, match="tenant of the outer one"):
        async with database.transaction(tenant_id=other):
            await ring.active_key(tenant, "jws")


async def test_unknown_purposes_and_bad_keks_are_refused(ring: KeyRing, database: Database) -> None:
    tenant = await insert_tenant(database)
    with pytest.raises(UnknownPurposeError):
        await ring.active_key(tenant, "pdf")
    with pytest.raises(UnknownPurposeError):
        await ring.rotate(tenant, "pdf", actor=OPERATOR)
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing(database, b"too short")
    assert await key_rows(database, tenant) == []
