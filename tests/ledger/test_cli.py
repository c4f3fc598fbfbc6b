"""``arbitral ledger``: heads, leaves, proofs and verification from the shell, as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from arbitral.cli import main
from arbitral.db.migrate import migrate
from arbitral.ledger import merkle, services
from arbitral.runtime import build_runtime
from tests.conftest import make_env, make_settings, run_async
from tests.keys.conftest import insert_tenant
from tests.ledger import rfc9162


async def _prepared(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    runtime = build_runtime(settings)
    await runtime.open()
    try:
        await migrate(runtime.db)
        tenant = await insert_tenant(runtime.db, "ledgertest")
        async with runtime.db.transaction(tenant_id=tenant) as uow:
            await services.append_many(uow, tenant, "test", [{"n": i} for i in range(13)])
    finally:
        await runtime.close()


def run(tmp_path: Path, *args: str) -> Result:
    env = {k: v for k, v in make_env(tmp_path).items()}
    return CliRunner().invoke(main, ["ledger", *args], env=env)


def ok(tmp_path: Path, *args: str) -> Any:
    result = run(tmp_path, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_ledger_commands(tmp_path: Path) -> None:
    run_async(_prepared(tmp_path))
    t = ("--tenant", "ledgertest")
    listed = ok(tmp_path, "leaves", *t)
    assert listed["tree_size"] == 13
    leaves = [entry["leaf"].encode() for entry in listed["leaves"]]
    # Recomputed independently from the leaves the command printed.
    root = rfc9162.MTH(tuple(leaves))
    head = ok(tmp_path, "head", *t)
    assert head["tree_size"] == 13
    assert head["root_hash"] == root.hex()
    assert head["signature"].count(".") == 2
    proof = ok(tmp_path, "proof", *t, "--leaf-index", "5", "--tree-size", "11")
    assert proof["audit_path"] == [h.hex() for h in rfc9162.PATH(5, tuple(leaves[:11]))]
    assert rfc9162.verify_inclusion(
        merkle.leaf_hash(leaves[5]),
        5,
        11,
        [bytes.fromhex(h) for h in proof["audit_path"]],
        bytes.fromhex(proof["root_hash"]),
    )
    consistency = ok(tmp_path, "consistency", *t, "--first", "6", "--second", "13")
    assert consistency["consistency_path"] == [h.hex() for h in rfc9162.PROOF(6, tuple(leaves))]
    part = ok(tmp_path, "leaves", *t, "--start", "10", "--end", "20")
    assert [e["leaf_index"] for e in part["leaves"]] == [10, 11, 12]
    verified = ok(tmp_path, "verify", *t)
    assert verified["ok"] is True
    assert verified["leaves_checked"] == 13
    assert verified["heads_checked"] == 1

    beyond = run(tmp_path, "proof", *t, "--leaf-index", "13")
    assert beyond.exit_code == 2
    assert "leaf 13 is not in a tree of 13 leaves" in beyond.stderr
    unknown = run(tmp_path, "head", "--tenant", "nobody")
    assert unknown.exit_code == 2
    assert "no tenant with slug 'nobody'" in unknown.stderr
