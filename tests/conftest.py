"""Fixtures shared by the whole suite: settings per backend, PostgreSQL, Redis.

The services are the machine's own (the README's test command starts them
when they are not running). A test that needs one fails, never skips, when
it is missing: a green run means every backend was exercised.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import pytest

from arbitral.db.engine import Database
from arbitral.db.migrate import migrate
from arbitral.db.provision import drop_database, provision_postgres
from arbitral.settings import Settings, parse_database_url

PG_SUPERUSER_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")

# A fixed key-encryption key for the suite (production sets its own secret one).
TEST_KEK = "YXJiaXRyYWwgdGVzdCBzdWl0ZSBrZWsgMzIgYnl0ZXM="
TEST_OWNER_ROLE = "arbitral_test_owner"
TEST_APP_ROLE = "arbitral_test_app"

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PgDatabase:
    name: str
    app_url: str
    owner_url: str


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh loop in a thread (usable from any fixture)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _create_test_database(name: str) -> PgDatabase:
    result = await provision_postgres(
        PG_SUPERUSER_URL, database=name, owner=TEST_OWNER_ROLE, app_role=TEST_APP_ROLE
    )
    owner_db = Database(parse_database_url("ARBITRAL_MIGRATION_DATABASE_URL", result.owner_url))
    await owner_db.open()
    try:
        await migrate(owner_db)
    finally:
        await owner_db.close()
    return PgDatabase(name=name, app_url=result.app_url, owner_url=result.owner_url)


@pytest.fixture(scope="session")
def pg() -> Iterator[PgDatabase]:
    """A fresh, provisioned and migrated PostgreSQL database for this run."""
    database = run_async(_create_test_database(f"arbitral_test_{secrets.token_hex(4)}"))
    yield database
    run_async(drop_database(PG_SUPERUSER_URL, database.name))


# Test data, not a State Council notice: the statutory fixed-date holidays only (元旦,
# 劳动节, 国庆节; the lunar ones and the 调休 days come with each year's notice).
_PLACEHOLDER_CALENDAR = """\
# TESTS ONLY, written by tests/conftest.py: {year}'s notice is not in rules/ yet.
calendar = "cn"
year = {year}
source = "tests only: the statutory fixed-date holidays, not the State Council's notice"

[[holidays]]
name = "元旦"
name_en = "New Year's Day"
from = {year}-01-01
to = {year}-01-01

[[holidays]]
name = "劳动节"
name_en = "Labour Day"
from = {year}-05-01
to = {year}-05-02

[[holidays]]
name = "国庆节"
name_en = "National Day"
from = {year}-10-01
to = {year}-10-03
"""


@functools.cache
def rules_for_tests() -> Path:
    """The repository's rules, with placeholder calendars up to two years from today.

    The product has no guess for a year whose State Council notice is not in
    ``rules/calendars`` (a period reaching it fails, by design); the tests must not
    start failing each December because their clocks reach into next year. The tests
    of that refusal load ``rules/`` itself, or go past these years.
    """
    root = Path(tempfile.mkdtemp(prefix="arbitral-test-rules-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    shutil.copytree(REPO_ROOT / "rules", root, dirs_exist_ok=True)
    cn = root / "calendars" / "cn"
    last = max(int(p.stem) for p in cn.glob("*.toml"))
    for year in range(last + 1, date.today().year + 3):
        (cn / f"{year}.toml").write_text(_PLACEHOLDER_CALENDAR.format(year=year))
    return root


def make_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """An environment for :meth:`Settings.from_env`: embedded defaults under ``tmp_path``."""
    env = {
        "ARBITRAL_DATA_DIR": str(tmp_path / "var"),
        "ARBITRAL_LOG_LEVEL": "WARNING",
        "ARBITRAL_KEY_ENCRYPTION_KEY": TEST_KEK,
        "ARBITRAL_MESSAGE_SENDER": "console",
        "ARBITRAL_RULES_DIR": str(rules_for_tests()),
        # Tests move time themselves (FakeClock) and sweep the deadlines when they mean to.
        "ARBITRAL_DEADLINE_SWEEP_INTERVAL": "0",
    }
    env.update({f"ARBITRAL_{key.upper()}": value for key, value in overrides.items()})
    return env


def make_settings(tmp_path: Path, **overrides: str) -> Settings:
    return Settings.from_env(make_env(tmp_path, **overrides))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database(
    db_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Database]:
    """An open, migrated database of each backend (the app role on PostgreSQL), emptied."""
    if db_backend == "sqlite":
        db = Database(make_settings(tmp_path).database)
        await db.open()
        await migrate(db)
    else:
        pg_db: PgDatabase = request.getfixturevalue("pg")
        db = Database(parse_database_url("ARBITRAL_DATABASE_URL", pg_db.app_url))
        await db.open()
        async with db.transaction() as uow:
            await uow.execute("DELETE FROM outbox_message")
            await uow.execute("DELETE FROM job_run")
    yield db
    await db.close()


@pytest.fixture
def redis_broker_url() -> Iterator[str]:
    """A Redis broker URL with a namespace of its own, cleaned afterwards."""
    import redis

    namespace = f"t{secrets.token_hex(6)}"
    yield f"{REDIS_URL}?namespace={namespace}"
    client: Any = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{namespace}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A moto S3 server (HTTP, SigV4-checked credentials) for the whole run."""
    from tests.support.s3 import moto_s3_server

    with moto_s3_server(log_dir=tmp_path_factory.mktemp("moto")) as server:
        yield server
