"""The transparency log in the database: appends, heads, proofs, receipts, verification."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

import pytest

from arbitral.db.engine import Database
from arbitral.keys.domain import import_public_jwk, verify_compact
from arbitral.ledger import merkle, services
from arbitral.ledger.domain import LedgerError, ReceiptInvalid, verify_receipt
from tests.ledger import rfc9162
from tests.ledger.conftest import Ledgers


async def _append(runtime: Any, tenant_id: UUID, count: int, *, start: int = 0) -> list[Any]:
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        return await services.append_many(
            uow,
            tenant_id,
            "test",
            [{"n": start + i, "sha256": f"{start + i:064x}"} for i in range(count)],
        )


async def _public_keys(runtime: Any, tenant_id: UUID) -> dict[str, Any]:
    return {
        k.kid: import_public_jwk(k.public_jwk) for k in await runtime.keys.keys(tenant_id, "ledger")
    }


async def _leaf_bytes(db: Database, tenant_id: UUID) -> list[bytes]:
    async with db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        size = await services.size_of(uow, tenant_id)
        return [r.leaf.encode() for r in await services.leaves(uow, tenant_id, 0, size)]


async def test_appends_proofs_and_roots_match_the_rfc_reference(ledgers: Ledgers) -> None:
    runtime, tenant = ledgers.runtime, ledgers.a
    # One by one, then in batches: the stored tree is the same as if built at once.
    for i in range(5):
        async with runtime.db.transaction(tenant_id=tenant) as uow:
            appended = await services.append(uow, tenant, "test", {"n": i})
            assert appended.leaf_index == i
    await _append(runtime, tenant, 20, start=5)
    await _append(runtime, tenant, 12, start=25)
    leaves = await _leaf_bytes(runtime.db, tenant)
    assert len(leaves) == 37
    assert [json.loads(leaf)["n"] for leaf in leaves] == list(range(37))
    async with runtime.db.transaction(tenant_id=tenant, readonly=True) as uow:
        for size in range(1, 38):
            assert await services.root_at(uow, tenant, size) == rfc9162.MTH(tuple(leaves[:size]))
            for index in (0, size // 2, size - 1):
                proof = await services.inclusion(uow, tenant, index, size)
                assert list(proof.path) == rfc9162.PATH(index, tuple(leaves[:size]))
                assert rfc9162.verify_inclusion(
                    merkle.leaf_hash(leaves[index]), index, size, list(proof.path), proof.root_hash
                )
        for first, second in ((1, 37), (5, 25), (20, 37), (36, 37), (37, 37)):
            proof = await services.consistency(uow, tenant, first, second)
            expected = rfc9162.PROOF(first, tuple(leaves[:second])) if first < second else []
            assert list(proof.path) == expected
            assert merkle.verify_consistency(
                first, second, proof.first_root, proof.second_root, list(proof.path)
            )
        with pytest.raises(LedgerError, match="no tree of size 38"):
            await services.root_at(uow, tenant, 38)
        with pytest.raises(LedgerError, match="leaf 9 is not in a tree of 9"):
            await services.inclusion(uow, tenant, 9, 9)


async def test_each_tenant_has_its_own_log(ledgers: Ledgers) -> None:
    runtime = ledgers.runtime
    await _append(runtime, ledgers.a, 3)
    await _append(runtime, ledgers.b, 2)
    async with runtime.db.transaction(tenant_id=ledgers.b, readonly=True) as uow:
        assert await services.size_of(uow, ledgers.b) == 2
        assert len(await services.leaves(uow, ledgers.b, 0, 10)) == 2
    if ledgers.pg is not None:
        # Row-level security: tenant b's transaction sees none of a's leaves or nodes.
        async with runtime.db.transaction(tenant_id=ledgers.b, readonly=True) as uow:
            rows = await uow.fetch(
                "SELECT count(*) AS n FROM ledger_leaf WHERE tenant_id = {}", ledgers.a
            )
            assert rows[0]["n"] == 0


async def test_parallel_appends_are_gapless(ledgers: Ledgers) -> None:
    runtime, tenant = ledgers.runtime, ledgers.a
    await asyncio.gather(*(_append(runtime, tenant, 3, start=10 * i) for i in range(8)))
    leaves = await _leaf_bytes(runtime.db, tenant)
    assert len(leaves) == 24
    async with runtime.db.transaction(tenant_id=tenant, readonly=True) as uow:
        assert await services.root_at(uow, tenant, 24) == rfc9162.MTH(tuple(leaves))
    report = await services.verify_log(runtime, tenant)
    assert report.ok, report.problems


async def test_signed_heads_and_receipts_verify_with_the_public_key_alone(ledgers: Ledgers) -> None:
    runtime, tenant = ledgers.runtime, ledgers.a
    await _append(runtime, tenant, 10)
    head = await services.issue_head(runtime, tenant)
    assert head.head.tree_size == 10
    keys = {
        k.kid: import_public_jwk(k.public_jwk) for k in await runtime.keys.keys(tenant, "ledger")
    }

    def check(jws: str, kid: str | None) -> bytes:
        assert kid is not None
        return verify_compact(jws, keys[kid])

    assert verify_compact(head.signature, keys[head.kid]) == head.head.payload()
    receipt = await services.receipt(runtime, tenant, 7)
    checked = verify_receipt(receipt, verify_signature=check, content_sha256=f"{7:064x}")
    assert checked.leaf_index == 7
    assert checked.tree_size == 10
    assert checked.entry["n"] == 7
    # A leaf appended after the latest head gets a new head that covers it.
    await _append(runtime, tenant, 1, start=10)
    later = await services.receipt(runtime, tenant, 10)
    assert verify_receipt(later, verify_signature=check).tree_size == 11

    with pytest.raises(ReceiptInvalid, match="SHA-256"):
        verify_receipt(receipt, verify_signature=check, content_sha256=f"{8:064x}")
    forged = {**receipt, "leaf": receipt["leaf"].replace('"n":7', '"n":8')}
    with pytest.raises(ReceiptInvalid, match="does not lead to the signed root"):
        verify_receipt(forged, verify_signature=check)
    moved = {**receipt, "leaf_index": 6}
    with pytest.raises(ReceiptInvalid, match="does not lead to the signed root"):
        verify_receipt(moved, verify_signature=check)
    other = {
        k.kid: import_public_jwk(k.public_jwk) for k in await runtime.keys.keys(ledgers.b, "ledger")
    }
    await runtime.keys.active_key(ledgers.b, "ledger")
    other = {
        k.kid: import_public_jwk(k.public_jwk) for k in await runtime.keys.keys(ledgers.b, "ledger")
    }
    [foreign] = other.values()
    with pytest.raises(ReceiptInvalid, match="signature does not verify"):
        verify_receipt(receipt, verify_signature=lambda jws, kid: verify_compact(jws, foreign))


async def _tamper(ledgers: Ledgers, sql: str, *args: Any) -> None:
    """Edit a row as an attacker with the owner's rights would (triggers off)."""
    runtime = ledgers.runtime
    if ledgers.pg is None:
        async with runtime.db.transaction() as uow:
            for table in ("ledger_leaf", "ledger_node"):
                await uow.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            await uow.execute(sql, *args)
        return
    owner = Database(runtime.settings.migration_database)
    await owner.open()
    try:
        async with owner.transaction() as uow:
            await uow.execute("ALTER TABLE ledger_leaf DISABLE TRIGGER ledger_leaf_append_only")
            await uow.execute("ALTER TABLE ledger_node DISABLE TRIGGER ledger_node_append_only")
            await uow.execute("SELECT set_config('app.tenant_id', {}, true)", str(args[-1]))
            await uow.execute(sql, *args)
            await uow.execute("ALTER TABLE ledger_leaf ENABLE TRIGGER ledger_leaf_append_only")
            await uow.execute("ALTER TABLE ledger_node ENABLE TRIGGER ledger_node_append_only")
    finally:
        await owner.close()


async def test_verify_names_an_edited_leaf_and_an_edited_node(ledgers: Ledgers) -> None:
    runtime, tenant = ledgers.runtime, ledgers.a
    await _append(runtime, tenant, 9)
    await services.issue_head(runtime, tenant)
    assert (await services.verify_log(runtime, tenant)).ok
    # The log's rows refuse updates...
    with pytest.raises(Exception, match="append-only"):
        async with runtime.db.transaction(tenant_id=tenant) as uow:
            await uow.execute("UPDATE ledger_leaf SET kind = 'x' WHERE tenant_id = {}", tenant)
    # ...and if someone gets past that, verify says which row.
    await _tamper(
        ledgers,
        "UPDATE ledger_leaf SET leaf = replace(leaf, '\"n\":4', '\"n\":40') "
        "WHERE tenant_id = {} AND leaf_index = 4",
        tenant,
    )
    report = await services.verify_log(runtime, tenant)
    assert report.problems == ["leaf 4: its text does not hash to its stored leaf hash"]
    await _tamper(
        ledgers,
        "UPDATE ledger_node SET hash = {} WHERE tenant_id = {} AND level = 1 AND node_index = 3",
        b"\x00" * 32,
        tenant,
    )
    report = await services.verify_log(runtime, tenant)
    assert "node (level 1, index 3) does not match its leaves" in report.problems
