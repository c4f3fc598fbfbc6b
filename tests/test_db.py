from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from piccolo.apps.migrations.commands.new import AutoMigrationManager
from piccolo.conf.apps import Finder

from arbitral.db.engine import Database
from arbitral.db.migrate import migrate, migration_state
from arbitral.db.provision import drop_database, provision_postgres
from arbitral.db.uow import UnitOfWork
from arbitral.settings import ConfigError, parse_database_url
from tests.conftest import PG_SUPERUSER_URL, TEST_APP_ROLE, PgDatabase, make_settings


async def test_migrations_apply_once_on_each_backend(database: Database) -> None:
    state = await migration_state(database)
    assert state.pending == []
    assert state.applied, "the schema has at least one migration"
    assert await migrate(database) == []


async def test_models_and_migrations_agree(tmp_path: Path) -> None:
    """`piccolo migrations new --auto` would find nothing to write."""
    db = Database(make_settings(tmp_path).database)
    await db.open()
    try:
        statements = await AutoMigrationManager().get_alter_statements(
            app_config=Finder().get_app_config("arbitral")
        )
        pending = [s for group in statements for s in group.statements]
        assert pending == [], "tables changed without a migration:\n" + "\n".join(pending)
    finally:
        await db.close()


@pytest.mark.postgres
async def test_concurrent_migrations_apply_each_migration_once() -> None:
    name = f"arbitral_test_{secrets.token_hex(4)}"
    result = await provision_postgres(
        PG_SUPERUSER_URL, database=name, owner="arbitral_test_owner", app_role=TEST_APP_ROLE
    )
    try:
        config = parse_database_url("ARBITRAL_MIGRATION_DATABASE_URL", result.owner_url)
        db = Database(config)
        await db.open()
        try:
            # Two transactions on two pooled connections race; the advisory lock
            # makes the second wait and then find nothing left to apply.
            outcomes = await asyncio.gather(migrate(db), migrate(db))
            applied = [i for outcome in outcomes for i in outcome]
            assert sorted(applied) == (await migration_state(db)).applied
            assert [] in outcomes
        finally:
            await db.close()
    finally:
        await drop_database(PG_SUPERUSER_URL, name)


@pytest.mark.postgres
async def test_app_role_owns_nothing_and_cannot_bypass_rls(pg: PgDatabase) -> None:
    conn = await asyncpg.connect(pg.app_url)
    try:
        role = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
            "WHERE rolname = current_user"
        )
        assert dict(role) == {
            "rolsuper": False,
            "rolbypassrls": False,
            "rolcreaterole": False,
            "rolcreatedb": False,
        }
        owned = await conn.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE pg_get_userbyid(c.relowner) = current_user AND n.nspname = 'public'"
        )
        assert owned == 0
        tables = await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables >= 3
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE sneaky (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DROP TABLE outbox_message")
        # DML works: the application can do its job.
        await conn.execute("SELECT count(*) FROM outbox_message")
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_provisioning_is_idempotent_and_refuses_the_superuser(pg: PgDatabase) -> None:
    again = await provision_postgres(
        PG_SUPERUSER_URL, database=pg.name, owner="arbitral_test_owner", app_role=TEST_APP_ROLE
    )
    assert not again.created_database
    assert again.created_roles == []
    with pytest.raises(ValueError, match="connecting superuser"):
        await provision_postgres(
            PG_SUPERUSER_URL, database=pg.name, owner="arbitral_test_owner", app_role="postgres"
        )


async def test_unit_of_work_is_whole_or_absent(database: Database) -> None:
    key = uuid4()
    with pytest.raises(RuntimeError, match="boom"):
        async with database.transaction() as uow:
            await uow.execute(
                "INSERT INTO job_run (job_id, actor_name, status, finished_at) "
                "VALUES ({}, 'x.y', 'done', CURRENT_TIMESTAMP)",
                key,
            )
            raise RuntimeError("boom")
    async with database.transaction() as uow:
        assert await uow.fetch("SELECT job_id FROM job_run WHERE job_id = {}", key) == []
        await uow.execute(
            "INSERT INTO job_run (job_id, actor_name, status, finished_at) "
            "VALUES ({}, 'x.y', 'done', CURRENT_TIMESTAMP)",
            key,
        )
    rows = await database.fetch("SELECT job_id FROM job_run WHERE job_id = {}", key)
    assert len(rows) == 1


async def test_nested_unit_of_work_is_a_savepoint(database: Database) -> None:
    kept, undone = uuid4(), uuid4()
    committed: list[str] = []
    insert = (
        "INSERT INTO job_run (job_id, actor_name, status, finished_at) "
        "VALUES ({}, 'x.y', 'done', CURRENT_TIMESTAMP)"
    )
    async with database.transaction() as outer:
        await outer.execute(insert, kept)
        outer.after_commit(lambda: committed.append("outer"))
        with pytest.raises(RuntimeError, match="inner fails"):
            async with database.transaction() as inner:
                assert inner is not outer
                assert UnitOfWork.current() is inner
                await inner.execute(insert, undone)
                inner.after_commit(lambda: committed.append("undone"))
                raise RuntimeError("inner fails")
        assert UnitOfWork.current() is outer
        async with database.transaction() as good:
            good.after_commit(lambda: committed.append("good inner"))
    assert committed == ["outer", "good inner"]
    rows = await database.fetch("SELECT job_id FROM job_run WHERE job_id IN ({}, {})", kept, undone)
    assert [str(r["job_id"]) for r in rows] == [str(kept)]


async def test_a_failing_after_commit_hook_does_not_undo_the_action(database: Database) -> None:
    ran: list[int] = []

    def broken() -> None:
        raise RuntimeError("hook fails")

    key = uuid4()
    async with database.transaction() as uow:
        await uow.execute(
            "INSERT INTO job_run (job_id, actor_name, status, finished_at) "
            "VALUES ({}, 'x.y', 'done', CURRENT_TIMESTAMP)",
            key,
        )
        uow.after_commit(broken)
        uow.after_commit(lambda: ran.append(1))
    assert ran == [1]
    assert await database.fetch("SELECT 1 AS one FROM job_run WHERE job_id = {}", key)


async def test_after_commit_hooks_run_only_after_commit(database: Database) -> None:
    seen: list[int] = []
    async with database.transaction() as uow:
        uow.after_commit(lambda: seen.append(1))
        assert seen == []
    assert seen == [1]


@pytest.mark.postgres
async def test_failed_commit_rolls_back_and_releases_the_connection(pg: PgDatabase) -> None:
    db = Database(parse_database_url("ARBITRAL_DATABASE_URL", pg.app_url + "?pool_max=1"))
    await db.open()
    try:
        key = uuid4()
        with pytest.raises(asyncpg.UniqueViolationError):
            async with db.transaction() as uow:
                # Deferred unique check: the error comes from COMMIT itself.
                await uow.execute("SET CONSTRAINTS ALL DEFERRED")
                await uow.execute(
                    "CREATE TEMP TABLE t (k uuid UNIQUE DEFERRABLE INITIALLY DEFERRED) "
                    "ON COMMIT DROP"
                )
                await uow.execute("INSERT INTO t VALUES ({}), ({})", key, key)
        # With a pool of one, a leaked connection would hang here.
        async with asyncio.timeout(5):
            async with db.transaction() as uow:
                assert await uow.fetch("SELECT 1 AS one") == [{"one": 1}]
    finally:
        await db.close()


@pytest.mark.postgres
async def test_tenant_is_set_per_transaction_and_never_leaks(pg: PgDatabase) -> None:
    db = Database(parse_database_url("ARBITRAL_DATABASE_URL", pg.app_url + "?pool_max=1"))
    await db.open()
    try:
        tenant = uuid4()
        query = "SELECT NULLIF(current_setting('app.tenant_id', true), '') AS t"
        async with db.transaction(tenant_id=tenant) as uow:
            assert (await uow.fetch(query))[0]["t"] == str(tenant)
        # Same pooled connection (pool of one): the setting did not survive the transaction.
        async with db.transaction() as uow:
            assert (await uow.fetch(query))[0]["t"] is None
    finally:
        await db.close()


async def test_unreachable_database_is_a_config_error() -> None:
    db = Database(parse_database_url("ARBITRAL_DATABASE_URL", "postgresql://x@127.0.0.1:1/nope"))
    with pytest.raises(ConfigError) as info:
        await db.open()
    assert info.value.variable == "ARBITRAL_DATABASE_URL"
    assert "cannot connect to postgresql://x@127.0.0.1:1/nope" in str(info.value)


async def test_a_locked_sqlite_database_leaks_no_connection(tmp_path: Path) -> None:
    import sqlite3
    import threading

    import aiosqlite

    settings = make_settings(tmp_path)
    db = Database(settings.database)
    await db.open()
    await migrate(db)
    db.engine.connection_kwargs["timeout"] = 0.2  # type: ignore[attr-defined]
    assert settings.database.sqlite_path is not None
    holder = sqlite3.connect(settings.database.sqlite_path)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        for _ in range(3):
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                async with db.transaction():
                    pass
    finally:
        holder.rollback()
        holder.close()
    await asyncio.sleep(0.1)
    # Each aiosqlite connection runs a thread; one left open keeps the process alive.
    alive = [
        t
        for t in threading.enumerate()
        if getattr(t, "_target", None) is aiosqlite.core._connection_worker_thread
    ]
    assert alive == []
    async with db.transaction() as uow:  # and the database works again
        assert await uow.fetch("SELECT 1 AS one") == [{"one": 1}]
    await db.close()


@pytest.mark.postgres
async def test_a_failed_begin_gives_the_connection_back(
    pg: PgDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    from piccolo.engine.postgres import PostgresTransaction

    db = Database(parse_database_url("ARBITRAL_DATABASE_URL", pg.app_url + "?pool_max=1"))
    await db.open()
    try:
        original = PostgresTransaction.begin

        async def failing_begin(self: PostgresTransaction) -> None:
            raise ConnectionResetError("the server went away during BEGIN")

        monkeypatch.setattr(PostgresTransaction, "begin", failing_begin)
        # A leaked connection (in a pool of one) would make the next acquire wait for ever.
        async with asyncio.timeout(5):
            for _ in range(3):
                with pytest.raises(ConnectionResetError):
                    async with db.transaction():
                        pass
            monkeypatch.setattr(PostgresTransaction, "begin", original)
            async with db.transaction() as uow:
                assert await uow.fetch("SELECT 1 AS one") == [{"one": 1}]
    finally:
        try:
            async with asyncio.timeout(5):
                await db.close()
        except TimeoutError:
            db.engine.pool.terminate()  # type: ignore[attr-defined]
            raise AssertionError("a connection was never given back to the pool") from None


async def test_a_newer_releases_migration_keeps_this_release_ready(database: Database) -> None:
    """Rolling deploys: once the new release has migrated, the old one still serves."""
    from arbitral.health.services import check_database

    name = "2099-01-01T00:00:00:000000"
    async with database.transaction() as uow:
        await uow.execute(
            "INSERT INTO migration (name, app_name, ran_on) "
            "VALUES ({}, 'arbitral', CURRENT_TIMESTAMP)",
            name,
        )
    try:
        result = await check_database(database)
        assert result.ok, result.detail
        assert "(+1 from a newer release)" in result.detail
    finally:
        async with database.transaction() as uow:
            await uow.execute("DELETE FROM migration WHERE name = {}", name)


async def test_read_only_units_of_work(database: Database) -> None:
    async with database.transaction(readonly=True) as uow:
        assert await uow.fetch("SELECT 1 AS one") == [{"one": 1}]
        with pytest.raises(RuntimeError, match="cannot nest in a read-only one"):
            async with database.transaction():
                pass
    if database.is_postgres:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            async with database.transaction(readonly=True) as uow:
                await uow.execute(
                    "INSERT INTO job_run (job_id, actor_name, status, finished_at) "
                    "VALUES ({}, 'x.y', 'done', CURRENT_TIMESTAMP)",
                    uuid4(),
                )
    # The setting is per transaction: the next one on a pooled connection may write.
    async with database.transaction() as uow:
        await uow.execute(
            "INSERT INTO job_run (job_id, actor_name, status, finished_at) "
            "VALUES ({}, 'x.y', 'done', CURRENT_TIMESTAMP)",
            uuid4(),
        )
