from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import PgDatabase, make_settings
from tests.support.world import World, world


@pytest.fixture
async def auth_world(
    db_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[World]:
    if db_backend == "postgres":
        pg: PgDatabase = request.getfixturevalue("pg")
        settings = make_settings(
            tmp_path, database_url=pg.app_url, migration_database_url=pg.owner_url
        )
    else:
        settings = make_settings(tmp_path)
    async with world(settings) as w:
        yield w


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its lowest cost: the tests hash hundreds of passwords, not attackers'."""
    from argon2 import PasswordHasher

    from arbitral.auth import credentials

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(credentials, "_hasher", cheap)
    monkeypatch.setattr(credentials, "_DUMMY_HASH", cheap.hash("dummy password for timing"))
