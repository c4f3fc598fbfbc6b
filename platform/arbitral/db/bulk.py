"""Many rows into one table in one statement, on PostgreSQL and SQLite.

The ORM inserts ~11,000 rows/s and asyncpg's ``executemany`` sends one message per row.
On PostgreSQL, :func:`insert_rows` sends each column as one array in asyncpg's binary
format and inserts ``SELECT … FROM unnest($1::uuid[], …)``: unlike ``COPY FROM`` it
keeps the tables' row-level security, which ``COPY`` refuses. On SQLite it is an
``executemany`` (one prepared statement; SQLite has no network round trips).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from uuid import uuid4

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork

SQLITE_IN: Final = 500  # values per IN list on SQLite

# A column whose value is a new id nothing else refers to: made where the row is written.
NEW_ID: Final = "newid"


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str  # the array element type on PostgreSQL, or NEW_ID


async def insert_rows(
    uow: UnitOfWork, table: str, columns: Sequence[Column], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) in one statement."""
    if not rows:
        return
    names = ", ".join(c.name for c in columns)
    if uow.is_postgres:
        # New ids are made by the database: some 900,000 uuid4() calls per 100,000 claims
        # were seconds of the writer's time, and their bytes need not travel.
        sent = [(i, c) for i, c in enumerate(columns) if c.pg_type != NEW_ID]
        arrays = [[row[i] for row in rows] for i, _ in sent]
        params = ", ".join(
            f"${n}::{'text' if c.pg_type == 'json' else c.pg_type}[]"
            for n, (_, c) in enumerate(sent, start=1)
        )
        fields = ", ".join(c.name for _, c in sent)
        select = ", ".join(
            "gen_random_uuid()"
            if c.pg_type == NEW_ID
            else f"t.{c.name}::json"
            if c.pg_type == "json"
            else f"t.{c.name}"
            for c in columns
        )
        sql = (
            f"INSERT INTO {table} ({names}) SELECT {select} "  # noqa: S608 (constant names)
            f"FROM unnest({params}) AS t({fields})"
        )
        await uow.connection.execute(sql, *arrays)
    else:
        marks = ", ".join("?" for _ in columns)
        fresh = [i for i, c in enumerate(columns) if c.pg_type == NEW_ID]
        await uow.connection.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608 (constant names)
            [tuple(uuid4() if i in fresh else v for i, v in enumerate(row)) for row in rows],
        )


def columns(spec: str) -> list[Column]:
    """``"id:uuid name:text …"``: the columns and their PostgreSQL element types."""
    return [Column(*item.split(":")) for item in spec.split()]


# -- lookups by a list of values ------------------------------------------------------------


def lateral_sql(sql: str, pg_type: str) -> str:
    """PostgreSQL: ``sql`` run once per element of the array ``$1`` (``{in}`` -> ``= value``)."""
    inner = sql.replace("{in}", "= v.value")
    return (
        f"SELECT q.* FROM unnest({{}}::{pg_type}[]) AS v(value) "  # noqa: S608 (ours)
        f"CROSS JOIN LATERAL ({inner} OFFSET 0) AS q"
    )


async def select_in(
    uow: UnitOfWork, sql: str, values: Sequence[Any], *args: Any, pg_type: str = "text"
) -> list[dict[str, Any]]:
    """``sql`` with ``{in}`` standing for the list ``values`` (``column {in}``).

    On PostgreSQL the query runs once per value, as the inner side of a lateral join on
    ``unnest($n)`` (``OFFSET 0`` keeps it from being flattened): one index probe per
    value, whatever the planner believes of a table that a batch is growing faster than
    autovacuum analyses it. Both ``= ANY`` and ``IN (SELECT unnest(…))`` were planned,
    on a fresh table, as a scan of every contract of the lender once per value of the
    chunk: 7.5 s of a 20,000-row batch, quadratic over a batch.
    """
    if not values:
        return []
    if uow.is_postgres:
        return await uow.fetch(lateral_sql(sql, pg_type), list(dict.fromkeys(values)), *args)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(values), SQLITE_IN):
        part = list(values[start : start + SQLITE_IN])
        marks = ", ".join("{}" for _ in part)
        rows += await uow.fetch(sql.replace("{in}", f"IN ({marks})"), *args, *part)
    return rows
