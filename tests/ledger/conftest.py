"""Fixtures of the ledger tests: a migrated runtime per backend and two bare tenants.

The witness tests drive the HTTP API in the auth tests' world (two commissions, every role).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from arbitral.db.engine import Database
from arbitral.db.migrate import migrate
from arbitral.runtime import Runtime, build_runtime
from tests.auth.conftest import auth_world, cheap_password_hashing
from tests.conftest import PgDatabase, make_settings
from tests.keys.conftest import insert_tenant

__all__ = ["Ledgers", "auth_world", "cheap_password_hashing", "ledgers"]


@dataclass
class Ledgers:
    runtime: Runtime
    a: uuid.UUID
    b: uuid.UUID
    pg: PgDatabase | None


@pytest.fixture
async def ledgers(
    db_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Ledgers]:
    pg: PgDatabase | None = None
    if db_backend == "postgres":
        pg = request.getfixturevalue("pg")
        settings = make_settings(
            tmp_path, database_url=pg.app_url, migration_database_url=pg.owner_url
        )
    else:
        settings = make_settings(tmp_path)
    owner = Database(settings.migration_database)
    await owner.open()
    await migrate(owner)
    await owner.close()
    runtime = build_runtime(settings)
    await runtime.open()
    try:
        yield Ledgers(runtime, await insert_tenant(runtime.db), await insert_tenant(runtime.db), pg)
    finally:
        await runtime.close()
