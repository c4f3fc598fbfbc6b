"""``arbitral bench custody``: the transparency log's append rate and proof time.

* Appends: N leaves logged in batches (one transaction per batch: the leaves,
  their new subtree hashes and the state row), as leaves per second, beside the
  same leaf rows inserted into a plain table with the same batches (the floor
  any log in this database pays).
* Inclusion proofs at N leaves, each planned, read (one query) and computed, as
  the median and p99 of 1,000 random leaves, beside recomputing the root from
  the N leaf hashes in memory (what a log that stores only its leaves pays).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass

import click


@dataclass
class CustodyFigures:
    backend: str
    leaves: int
    batch: int
    plain_insert_per_s: float
    append_per_s: float
    proofs: int
    proof_median_ms: float
    proof_p99_ms: float
    recompute_from_leaves_ms: float


async def _measure(
    leaves: int, batch: int, database_url: str | None, owner_url: str | None
) -> CustodyFigures:
    from arbitral.bench.auth import _tenant
    from arbitral.db.engine import Database
    from arbitral.db.migrate import migrate
    from arbitral.ledger import merkle, services
    from arbitral.runtime import build_runtime
    from arbitral.settings import Settings

    with tempfile.TemporaryDirectory(prefix="arbitral-bench-") as data:
        env = {
            "ARBITRAL_DATA_DIR": data,
            "ARBITRAL_LOG_LEVEL": "WARNING",
            "ARBITRAL_MESSAGE_SENDER": "console",
            "ARBITRAL_RULES_DIR": os.environ.get("ARBITRAL_RULES_DIR") or "rules",
        }
        if database_url:
            env["ARBITRAL_DATABASE_URL"] = database_url
            env["ARBITRAL_MIGRATION_DATABASE_URL"] = owner_url or database_url
            env["ARBITRAL_KEY_ENCRYPTION_KEY"] = "00" * 32
        settings = Settings.from_env(env)
        owner = Database(settings.migration_database)
        await owner.open()
        await migrate(owner)
        await owner.close()
        runtime = build_runtime(settings)
        await runtime.open()
        try:
            suffix = f"{random.getrandbits(32):08x}"
            tenant = await _tenant(runtime, f"bench{suffix}", f"bench{suffix}.invalid")
            entries = [
                {"object_key": f"t/{i:064x}", "sha256": f"{i:064x}", "size": i}
                for i in range(batch)
            ]

            # Baseline: the same leaf rows into a plain table, same batches.
            async with runtime.db.transaction() as uow:
                await uow.execute(
                    "CREATE TABLE IF NOT EXISTS bench_plain_leaf (tenant_id TEXT, leaf_index "
                    "BIGINT, kind TEXT, leaf TEXT, leaf_hash BYTEA, recorded_at TEXT)"
                    if not uow.is_postgres
                    else "CREATE TEMP TABLE IF NOT EXISTS bench_plain_leaf (tenant_id UUID, "
                    "leaf_index BIGINT, kind TEXT, leaf TEXT, leaf_hash BYTEA, recorded_at TEXT)"
                )
            plain_rows = 0
            started = time.perf_counter()
            while plain_rows < leaves:
                count = min(batch, leaves - plain_rows)
                async with runtime.db.transaction() as uow:
                    rows = [
                        (
                            str(tenant) if not uow.is_postgres else tenant,
                            plain_rows + i,
                            "bench",
                            json.dumps(entries[i], sort_keys=True),
                            merkle.leaf_hash(json.dumps(entries[i]).encode()),
                            "now",
                        )
                        for i in range(count)
                    ]
                    await services._insert_rows(
                        uow,
                        "bench_plain_leaf",
                        ("tenant_id", "leaf_index", "kind", "leaf", "leaf_hash", "recorded_at"),
                        rows,
                    )
                plain_rows += count
            plain_s = time.perf_counter() - started
            async with runtime.db.transaction() as uow:
                await uow.execute("DROP TABLE bench_plain_leaf")

            appended = 0
            started = time.perf_counter()
            while appended < leaves:
                count = min(batch, leaves - appended)
                async with runtime.db.transaction(tenant_id=tenant) as uow:
                    await services.append_many(uow, tenant, "bench", entries[:count])
                appended += count
            append_s = time.perf_counter() - started

            timings: list[float] = []
            rng = random.Random(7)  # noqa: S311 (which leaves to prove, not a secret)
            for _ in range(1000):
                index = rng.randrange(leaves)
                t0 = time.perf_counter()
                async with runtime.db.transaction(tenant_id=tenant, readonly=True) as uow:
                    await services.inclusion(uow, tenant, index, leaves)
                timings.append((time.perf_counter() - t0) * 1000)
            timings.sort()

            async with runtime.db.transaction(tenant_id=tenant, readonly=True) as uow:
                stored = await uow.fetch(
                    "SELECT leaf_hash FROM ledger_leaf WHERE tenant_id = {} ORDER BY leaf_index",
                    tenant,
                )
            hashes = [bytes(r["leaf_hash"]) for r in stored]
            t0 = time.perf_counter()
            tree = merkle.MemoryTree()
            for digest in hashes:
                tree.append_hash(digest)
            tree.root()
            recompute_ms = (time.perf_counter() - t0) * 1000
        finally:
            await runtime.close()
    return CustodyFigures(
        backend="postgresql" if database_url else "sqlite",
        leaves=leaves,
        batch=batch,
        plain_insert_per_s=leaves / plain_s,
        append_per_s=leaves / append_s,
        proofs=len(timings),
        proof_median_ms=timings[len(timings) // 2],
        proof_p99_ms=timings[int(len(timings) * 0.99) - 1],
        recompute_from_leaves_ms=recompute_ms,
    )


@click.command("custody")
@click.option("--leaves", default=1_000_000, show_default=True, help="Leaves to log.")
@click.option("--batch", default=10_000, show_default=True, help="Leaves per transaction.")
@click.option("--database-url", help="A PostgreSQL application-role URL (default: SQLite).")
@click.option("--migration-database-url", help="Its owner-role URL, for migrating.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(
    leaves: int,
    batch: int,
    database_url: str | None,
    migration_database_url: str | None,
    as_json: bool,
) -> None:
    """Transparency-log appends per second and inclusion-proof time, beside baselines."""
    from arbitral.cli import reports_config_errors
    from arbitral.logs import configure_logging

    configure_logging("WARNING", "console")
    f = reports_config_errors(asyncio.run)(
        _measure(leaves, batch, database_url, migration_database_url)
    )
    if as_json:
        click.echo(json.dumps(asdict(f)))
        return
    click.echo(
        f"arbitral bench custody: {f.leaves:,} leaves in batches of {f.batch:,}, {f.backend}"
    )
    click.echo("")
    click.echo(f"  plain insert of the leaf rows (baseline)  {f.plain_insert_per_s:>12,.0f} rows/s")
    click.echo(f"  log appends (leaves + subtree hashes)     {f.append_per_s:>12,.0f} leaves/s")
    click.echo(
        f"  inclusion proof at {f.leaves:,} leaves        median {f.proof_median_ms:.3f} ms, "
        f"p99 {f.proof_p99_ms:.3f} ms ({f.proofs} random leaves)"
    )
    click.echo(
        "  recomputing the root from the leaf hashes (baseline)  "
        f"{f.recompute_from_leaves_ms:,.0f} ms"
    )
