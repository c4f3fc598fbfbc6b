from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar import Litestar

import arbitral.notify.actors  # noqa: F401  (registers notify.deliver before any app is built)
from arbitral.app import create_app
from arbitral.db.engine import Database
from arbitral.db.migrate import migrate
from arbitral.runtime import Runtime
from arbitral.settings import Settings
from tests.conftest import PgDatabase, make_settings
from tests.support.asgi import serve
from tests.support.world import insert_tenant


@dataclass
class NotifyWorld:
    """The app started (its in-process worker runs the jobs) and two commissions."""

    settings: Settings
    app: Litestar
    a: uuid.UUID
    b: uuid.UUID

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@pytest.fixture
async def notify_world(
    db_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[NotifyWorld]:
    if db_backend == "postgres":
        pg: PgDatabase = request.getfixturevalue("pg")
        settings = make_settings(
            tmp_path, database_url=pg.app_url, migration_database_url=pg.owner_url
        )
    else:
        settings = make_settings(tmp_path)
    owner = Database(settings.migration_database)
    await owner.open()
    await migrate(owner)
    await owner.close()
    app = create_app(settings)
    async with serve(app):
        db = app.state.runtime.db
        suffix = uuid.uuid4().hex[:6]
        a = await insert_tenant(db, f"a{suffix}", f"a{suffix}.arbitral.test")
        b = await insert_tenant(db, f"b{suffix}", f"b{suffix}.arbitral.test")
        yield NotifyWorld(settings, app, a, b)
