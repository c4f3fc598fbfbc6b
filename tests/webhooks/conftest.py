"""Fixtures of the webhooks tests.

``auth_world`` is the auth tests' world as production runs it (HTTPS endpoints only,
private addresses refused); ``hook_world`` the same with ``ARBITRAL_INSECURE_WEBHOOKS``
on, so that events reach the stand-in receiver on loopback over plain HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from arbitral.webhooks.domain import format_secret, new_secret
from arbitral.webhooks.receiver import Receiver
from tests.auth.conftest import auth_world, cheap_password_hashing
from tests.conftest import PgDatabase, make_settings
from tests.support.world import World, world

__all__ = ["auth_world", "cheap_password_hashing"]


@pytest.fixture
async def hook_world(
    db_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[World]:
    extra = {"insecure_webhooks": "1", "relay_interval": "0.1"}
    if db_backend == "postgres":
        pg: PgDatabase = request.getfixturevalue("pg")
        settings = make_settings(
            tmp_path, database_url=pg.app_url, migration_database_url=pg.owner_url, **extra
        )
    else:
        settings = make_settings(tmp_path, **extra)
    assert settings.insecure_webhooks
    async with world(settings) as w:
        yield w


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The stand-in receiver on loopback, in a thread (its secret is set once registered)."""
    found = Receiver(format_secret(new_secret()))
    found.start()
    yield found
    found.stop()
