"""arbitral.db.bulk: many rows in one statement, lookups by a list of values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from arbitral.db.bulk import columns, insert_rows, lateral_sql, select_in
from arbitral.db.engine import Database
from arbitral.db.uow import UnitOfWork
from arbitral.settings import parse_database_url
from tests.conftest import PgDatabase

TABLE = "bulk_probe"
SPEC = columns("k:text n:int4 payload:json")


async def _table(uow: UnitOfWork, index: str = "k") -> None:
    """A scratch table for this transaction (the application role may make temporary ones)."""
    temp = "TEMP " if uow.is_postgres else ""
    drop = " ON COMMIT DROP" if uow.is_postgres else ""
    await uow.execute(
        f"CREATE {temp}TABLE {TABLE} (k VARCHAR(40) NOT NULL, n INTEGER NOT NULL, payload TEXT)"
        + drop
    )
    await uow.execute(f"CREATE INDEX {TABLE}_k ON {TABLE} ({index})")


async def test_insert_rows_then_select_in_on_each_backend(database: Database) -> None:
    rows = [(f"k{i}", i, json.dumps({"i": i})) for i in range(1200)]
    # More values than one SQLite IN list holds, repeated and absent ones among them.
    wanted = [f"k{i}" for i in range(0, 1200, 2)] + ["k0", "k2", "absent"]
    try:
        async with database.transaction() as uow:
            await _table(uow)
            await insert_rows(uow, TABLE, SPEC, rows)
            found = await select_in(
                uow, f"SELECT k, n FROM {TABLE} WHERE n >= {{}} AND k {{in}}", wanted, 100
            )
            assert await select_in(uow, f"SELECT k FROM {TABLE} WHERE k {{in}}", []) == []
            [first] = await uow.fetch(f"SELECT payload FROM {TABLE} WHERE k = 'k7'")
    finally:
        if not database.is_postgres:
            async with database.transaction() as uow:
                await uow.execute(f"DROP TABLE IF EXISTS {TABLE}")
    by_key = {str(r["k"]): int(r["n"]) for r in found}
    assert len(found) == len(by_key), "a value named twice is answered once"
    assert by_key == {f"k{i}": i for i in range(100, 1200, 2)}
    assert json.loads(first["payload"]) == {"i": 7}


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


@pytest.mark.postgres
async def test_select_in_probes_once_per_value_on_a_table_never_analysed(pg: PgDatabase) -> None:
    """A batch grows its tables faster than autovacuum analyses them. With no statistics
    the planner believed one lender had one contract, and ``IN (SELECT unnest(…))`` ran
    as a loop over every contract of the lender per value: 2,000 values against 6,000
    rows compared 12 million pairs (7.5 s of a 20,000-row batch, quadratic over it)."""
    database = Database(parse_database_url("ARBITRAL_DATABASE_URL", pg.app_url))
    await database.open()
    values = [str(i) for i in range(0, 4000, 2)]
    inner = f"SELECT n FROM {TABLE} WHERE k = {{}} AND payload {{in}}"
    try:
        async with database.transaction() as uow:
            await _table(uow, index="k, payload")
            await insert_rows(uow, TABLE, SPEC, [("lender", i, str(i)) for i in range(6000)])
            found = await select_in(uow, inner, values, "lender")
            [row] = await uow.fetch(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + lateral_sql(inner, "text"), values, "lender"
            )
    finally:
        await database.close()
    assert sorted(int(r["n"]) for r in found) == list(range(0, 4000, 2))
    plan = row["QUERY PLAN"]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes = _nodes(plan[0]["Plan"])
    compared = sum(int(n.get("Rows Removed by Join Filter", 0)) for n in nodes)
    assert compared == 0, f"{compared} pairs compared: the lookup scans per value"
    scans = [n for n in nodes if n["Node Type"] in {"Index Scan", "Index Only Scan"}]
    assert scans
    assert all(n["Actual Loops"] == len(values) for n in scans)


@pytest.mark.postgres
async def test_the_application_role_may_refresh_the_batch_tables_statistics(
    pg: PgDatabase,
) -> None:
    """It owns no table (ANALYZE would skip them with a warning), but the owner's
    function analyses the three tables a batch grows, where they changed enough."""
    tables = ("tenant_user", "membership", "loan_contract")
    counts = (
        "SELECT relname, pg_stat_get_analyze_count(oid) AS n FROM pg_class "
        "WHERE relname IN ('tenant_user', 'membership', 'loan_contract') AND relkind = 'r'"
    )
    database = Database(parse_database_url("ARBITRAL_DATABASE_URL", pg.app_url))
    await database.open()
    try:

        async def analysed() -> dict[str, int]:
            async with database.transaction(readonly=True) as uow:
                return {str(r["relname"]): int(r["n"]) for r in await uow.fetch(counts)}

        async def analyse(min_changes: int, fraction: float) -> int:
            async with database.transaction() as uow:
                [row] = await uow.fetch(
                    "SELECT arbitral_analyze_batch_tables({}, {}) AS n", min_changes, fraction
                )
                await uow.execute("SELECT pg_stat_force_next_flush()")
            return int(row["n"])

        before = await analysed()
        assert await analyse(0, 0.0) == 3
        after = await analysed()
        # Analysed now, and changed less than the threshold since: nothing to do.
        assert await analyse(10**12, 0.0) == 0
        async with database.transaction(readonly=True) as uow:
            [function] = await uow.fetch(
                "SELECT prosecdef, proowner = (SELECT oid FROM pg_roles "
                "WHERE rolname = current_user) AS mine FROM pg_proc "
                "WHERE proname = 'arbitral_analyze_batch_tables'"
            )
    finally:
        await database.close()
    assert sorted(after) == sorted(tables)
    # (At least once: autovacuum may have come by too.)
    assert all(after[t] > before[t] for t in tables), (before, after)
    assert function["prosecdef"]
    assert not function["mine"]
