"""A batch's filings in the log: one leaf per chunk, receipts per case, altered filings found."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from dataclasses import replace
from typing import Any

import pytest

from arbitral.auth.domain import Role
from arbitral.db.engine import Database
from arbitral.db.tenant_sql import append_only_sqlite
from arbitral.keys.domain import import_public_jwk, verify_compact
from arbitral.ledger import merkle
from arbitral.ledger.domain import verify_receipt
from tests.auth.conftest import auth_world, cheap_password_hashing
from tests.batches.helpers import BATCHES, evidence, jsonl, lender, report, row, submit
from tests.support.world import World

__all__ = ["auth_world", "cheap_password_hashing"]


def _mth(hashes: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 as written: split at the largest power of two below n."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return merkle.node_hash(_mth(hashes[:k]), _mth(hashes[k:]))


def test_in_memory_trees_are_the_rfc_trees_and_their_paths_verify() -> None:
    rng = random.Random(7)
    assert merkle.tree_root([]) == hashlib.sha256(b"").digest()
    for size in [*range(1, 40), 255, 256, 257, 2000]:
        hashes = [merkle.leaf_hash(rng.randbytes(8)) for _ in range(size)]
        root = merkle.tree_root(hashes)
        assert root == _mth(hashes), size
        for index in {0, size // 2, size - 1, rng.randrange(size)}:
            path = merkle.tree_path(hashes, index)
            assert merkle.verify_inclusion(hashes[index], index, size, path, root)
            if size > 1:
                other = (index + 1) % size
                assert not merkle.verify_inclusion(hashes[other], index, size, path, root)


async def _batch(w: World) -> tuple[dict[str, str], dict[str, Any], list[Any]]:
    headers = await lender(w)
    proof = await evidence(w, headers, "filings")
    batch = await submit(w, headers, jsonl([row(w.a, n, proof) for n in range(1, 8)]), 7)
    assert batch["state"] == "done", batch
    lines = await report(w, headers, batch["id"])
    return headers, batch, [line for line in lines if line["state"] == "created"]


async def test_a_case_receipt_checks_offline_and_the_batch_verifies(
    auth_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = auth_world
    monkeypatch.setattr(w.runtime, "settings", replace(w.runtime.settings, batch_chunk_rows=3))
    headers, batch, cases = await _batch(w)
    assert len(cases) == 7
    # Three chunks of 3, 3 and 1 rows: three leaves, not seven.
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        kinds = [
            str(r["kind"])
            for r in await uow.fetch(
                "SELECT kind FROM ledger_leaf WHERE tenant_id = {} ORDER BY leaf_index", w.a.id
            )
        ]
    assert kinds.count("batch.cases_filed") == 3
    assert "case.filed" not in kinds
    checked = await w.client.get(f"{BATCHES}/{batch['id']}/filings/verification", headers=headers)
    assert checked.status_code == 200, checked.text
    assert checked.json() == {
        "batch_id": batch["id"],
        "cases": 7,
        "chunks": 3,
        "matching": 3,
        "altered_chunks": [],
        "ok": True,
    }
    keys = {
        k.kid: import_public_jwk(k.public_jwk) for k in await w.runtime.keys.keys(w.a.id, "ledger")
    }
    for case in (cases[0], cases[4], cases[6]):
        response = await w.client.get(
            f"{BATCHES}/{batch['id']}/filings/{case['case_id']}/receipt", headers=headers
        )
        assert response.status_code == 200, response.text
        receipt = response.json()
        entry = json.loads(receipt["entry"])
        assert entry["case_id"] == case["case_id"]
        assert entry["number"] == case["case_number"]
        assert entry["batch_id"] == batch["id"]
        # The chunk's leaf is in the signed tree...
        leaf = verify_receipt(
            receipt["ledger_receipt"],
            verify_signature=lambda jws, kid: verify_compact(jws, keys[kid]),
        ).entry
        assert leaf["kind"] == "batch.cases_filed"
        # ... and the case's entry climbs to the root that leaf holds.
        path = [base64.b64decode(h) for h in receipt["path"]]
        assert merkle.verify_inclusion(
            merkle.leaf_hash(receipt["entry"].encode()),
            receipt["index"],
            receipt["size"],
            path,
            bytes.fromhex(leaf["cases_root"]),
        )
        # The claim as filed is what the entry's hash names.
        async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
            [stored] = await uow.fetch(
                "SELECT claim FROM arb_case WHERE tenant_id = {} AND id = {}",
                w.a.id,
                case["case_id"],
            )
        claim = stored["claim"] if isinstance(stored["claim"], str) else json.dumps(stored["claim"])
        assert hashlib.sha256(claim.encode()).hexdigest() == entry["claim_sha256"]


async def test_an_altered_filing_shows_in_its_chunk(
    auth_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = auth_world
    monkeypatch.setattr(w.runtime, "settings", replace(w.runtime.settings, batch_chunk_rows=3))
    headers, batch, cases = await _batch(w)
    # Someone with the database owner's keys rewrites the history of the fifth case's
    # filing (row 5: the second chunk), lifting the append-only trigger to do it.
    owner = Database(w.runtime.settings.migration_database)
    await owner.open()
    try:
        async with owner.transaction(tenant_id=w.a.id) as uow:
            if uow.is_postgres:
                await uow.execute("ALTER TABLE case_event DISABLE TRIGGER case_event_append_only")
            else:
                await uow.execute("DROP TRIGGER case_event_no_update")
            [event] = await uow.fetch(
                "SELECT data FROM case_event WHERE tenant_id = {} AND case_id = {} AND seq = 1",
                w.a.id,
                cases[4]["case_id"],
            )
            data = json.loads(event["data"]) if isinstance(event["data"], str) else event["data"]
            data["claim_sha256"] = "0" * 64
            await uow.execute(
                "UPDATE case_event SET data = {} WHERE tenant_id = {} AND case_id = {} AND seq = 1",
                json.dumps(data),
                w.a.id,
                cases[4]["case_id"],
            )
            if uow.is_postgres:
                await uow.execute("ALTER TABLE case_event ENABLE TRIGGER case_event_append_only")
            else:
                await uow.execute(append_only_sqlite("case_event")[0])
    finally:
        await owner.close()
    checked = await w.client.get(f"{BATCHES}/{batch['id']}/filings/verification", headers=headers)
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert (body["chunks"], body["matching"], body["ok"]) == (3, 2, False)
    assert len(body["altered_chunks"]) == 1


async def test_only_who_sees_the_batch_gets_its_receipts(auth_world: World) -> None:
    w = auth_world
    headers, batch, cases = await _batch(w)
    receipt = f"{BATCHES}/{batch['id']}/filings/{cases[0]['case_id']}/receipt"
    secretary = await w.login(w.a, Role.SECRETARY)
    assert (await w.client.get(receipt, headers=secretary)).status_code == 200
    respondent = await w.login(w.a, Role.RESPONDENT)
    assert (await w.client.get(receipt, headers=respondent)).status_code == 404
    other = await lender(w, w.b)
    assert (await w.client.get(receipt, headers=other)).status_code == 404
    unknown = f"{BATCHES}/{batch['id']}/filings/{batch['id']}/receipt"
    assert (await w.client.get(unknown, headers=headers)).status_code == 404
