"""Row-level security: the database keeps tenants apart even when the code forgets."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from tests.conftest import PgDatabase

pytestmark = pytest.mark.postgres

PLATFORM_TABLES = {
    "tenant",
    "platform_audit_event",
    "platform_admin",
    "platform_session",
    "platform_login_throttle",
    "outbox_message",
    "job_run",
    "migration",
}


async def _tenant(conn: asyncpg.Connection, slug: str) -> uuid.UUID:
    tenant_id = uuid.uuid4()
    now = datetime.now(UTC)
    await conn.execute(
        "INSERT INTO tenant (id, slug, name_zh, name_en, hosts, time_zone, locale, rule_set, "
        "rule_set_version, case_number_format, branding, retention_years, key_refs, revision, "
        "document_sha256, active, created_at, updated_at) VALUES ($1, $2, 'x', 'x', '[]', "
        "'Asia/Shanghai', 'zh-CN', 'r', '1', 'f', '{}', 30, '{}', 1, 'x', true, $3, $3)",
        tenant_id,
        slug,
        now,
    )
    return tenant_id


@pytest.fixture
async def app_conn(pg: PgDatabase) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg.app_url)
    yield conn
    await conn.close()


async def _insert_user(conn: asyncpg.Connection, tenant_id: uuid.UUID, name: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    now = datetime.now(UTC)
    await conn.execute(
        "INSERT INTO tenant_user (id, tenant_id, display_name, status, created_at, updated_at) "
        "VALUES ($1, $2, $3, 'active', $4, $4)",
        user_id,
        tenant_id,
        name,
        now,
    )
    return user_id


async def _as_tenant(conn: asyncpg.Connection, tenant_id: uuid.UUID | None) -> None:
    await conn.execute(
        "SELECT set_config('app.tenant_id', $1, true)", "" if tenant_id is None else str(tenant_id)
    )


async def test_every_tenant_table_has_forced_rls_and_a_tenant_leading_key(pg: PgDatabase) -> None:
    conn = await asyncpg.connect(pg.owner_url)
    try:
        tables = await conn.fetch(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r'"
        )
        with_tenant = {
            row["table_name"]
            for row in await conn.fetch(
                "SELECT table_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND column_name = 'tenant_id'"
            )
        }
        assert len(with_tenant) >= 13
        for row in tables:
            name = row["relname"]
            if name in with_tenant:
                assert row["relrowsecurity"], f"{name}: row-level security not enabled"
                assert row["relforcerowsecurity"], f"{name}: row-level security not forced"
                if name == "outbox_message":
                    continue  # a queue across tenants: checked by the outbox test below
                key = await conn.fetchval(
                    "SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_index i "
                    "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
                    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                    "WHERE i.indrelid = $1::regclass AND i.indisprimary",
                    name,
                )
                assert key == ["tenant_id", "id"], f"{name}: primary key {key}"
                policies = await conn.fetch(
                    "SELECT qual, with_check FROM pg_policies WHERE tablename = $1", name
                )
                assert len(policies) == 1, name
                for text in (policies[0]["qual"], policies[0]["with_check"]):
                    assert "NULLIF(current_setting('app.tenant_id'::text, true), ''::text)" in text
            else:
                assert name in PLATFORM_TABLES, f"{name} has no tenant_id: is it a platform table?"
    finally:
        await conn.close()


async def test_without_a_tenant_nothing_is_visible_or_writable(
    app_conn: asyncpg.Connection,
) -> None:
    tenant = await _tenant(app_conn, f"t{uuid.uuid4().hex[:8]}")
    async with app_conn.transaction():
        await _as_tenant(app_conn, tenant)
        await _insert_user(app_conn, tenant, "visible only to its tenant")
    # No tenant set at all, and a pooled connection's emptied setting: both see nothing.
    assert await app_conn.fetchval("SELECT count(*) FROM tenant_user") == 0
    async with app_conn.transaction():
        await _as_tenant(app_conn, None)
        assert await app_conn.fetchval("SELECT count(*) FROM tenant_user") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await _insert_user(app_conn, tenant, "sneaked in")


async def test_one_tenant_cannot_read_or_write_anothers_rows(
    app_conn: asyncpg.Connection,
) -> None:
    a = await _tenant(app_conn, f"a{uuid.uuid4().hex[:8]}")
    b = await _tenant(app_conn, f"b{uuid.uuid4().hex[:8]}")
    async with app_conn.transaction():
        await _as_tenant(app_conn, b)
        b_user = await _insert_user(app_conn, b, "of tenant B")
    async with app_conn.transaction():
        await _as_tenant(app_conn, a)
        seen = await app_conn.fetchval("SELECT count(*) FROM tenant_user WHERE id = $1", b_user)
        assert seen == 0
        updated = await app_conn.execute(
            "UPDATE tenant_user SET display_name = 'hijacked' WHERE id = $1", b_user
        )
        assert updated == "UPDATE 0"
        deleted = await app_conn.execute("DELETE FROM tenant_user WHERE id = $1", b_user)
        assert deleted == "DELETE 0"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await _insert_user(app_conn, b, "planted in B by A")
    async with app_conn.transaction():
        await _as_tenant(app_conn, a)
        a_user = await _insert_user(app_conn, a, "of tenant A")
        # Moving one's own row into another tenant is refused too.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app_conn.execute("UPDATE tenant_user SET tenant_id = $1 WHERE id = $2", b, a_user)
    async with app_conn.transaction():
        await _as_tenant(app_conn, b)
        name = await app_conn.fetchval("SELECT display_name FROM tenant_user WHERE id = $1", b_user)
        assert name == "of tenant B"


async def test_a_row_cannot_point_into_another_tenant(app_conn: asyncpg.Connection) -> None:
    """Composite foreign keys: a membership of tenant A for a user of tenant B cannot exist."""
    a = await _tenant(app_conn, f"a{uuid.uuid4().hex[:8]}")
    b = await _tenant(app_conn, f"b{uuid.uuid4().hex[:8]}")
    async with app_conn.transaction():
        await _as_tenant(app_conn, b)
        b_user = await _insert_user(app_conn, b, "of tenant B")
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        async with app_conn.transaction():
            await _as_tenant(app_conn, a)
            await app_conn.execute(
                "INSERT INTO membership (id, tenant_id, user_id, role, granted_at) "
                "VALUES ($1, $2, $3, 'secretary', now())",
                uuid.uuid4(),
                a,
                b_user,
            )


async def test_audit_events_are_append_only(pg: PgDatabase) -> None:
    for url in (pg.app_url, pg.owner_url):
        conn = await asyncpg.connect(url)
        try:
            tenant = await _tenant(conn, f"t{uuid.uuid4().hex[:8]}")
            async with conn.transaction():
                await _as_tenant(conn, tenant)
                event = uuid.uuid4()
                await conn.execute(
                    "INSERT INTO audit_event (id, tenant_id, at, actor_kind, action, outcome, "
                    "detail) VALUES ($1, $2, now(), 'system', 'test', 'success', '{}')",
                    event,
                    tenant,
                )
            for statement in (
                "UPDATE audit_event SET outcome = 'failure' WHERE id = $1",
                "DELETE FROM audit_event WHERE id = $1",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                    async with conn.transaction():
                        await _as_tenant(conn, tenant)
                        await conn.execute(statement, event)
        finally:
            await conn.close()


async def test_outbox_rows_are_the_relays_and_their_tenants_only(
    app_conn: asyncpg.Connection,
) -> None:
    a = await _tenant(app_conn, f"a{uuid.uuid4().hex[:8]}")
    b = await _tenant(app_conn, f"b{uuid.uuid4().hex[:8]}")

    async def enqueue(tenant: uuid.UUID | None) -> None:
        await app_conn.execute(
            "INSERT INTO outbox_message (message_id, actor_name, queue_name, payload, tenant_id, "
            "created_at, publish_attempts) VALUES ($1, 'x.y', 'default', '{}', $2, now(), 0)",
            uuid.uuid4(),
            tenant,
        )

    async def visible(tenant: uuid.UUID | None, *, relay: bool = False) -> set[object]:
        async with app_conn.transaction():
            await _as_tenant(app_conn, tenant)
            await app_conn.execute(
                "SELECT set_config('app.outbox_relay', $1, true)", "on" if relay else ""
            )
            rows = await app_conn.fetch(
                "SELECT tenant_id FROM outbox_message WHERE tenant_id IS NULL "
                "OR tenant_id = ANY($1::uuid[])",
                [a, b],
            )
            return {row["tenant_id"] for row in rows}

    async with app_conn.transaction():
        await _as_tenant(app_conn, a)
        await enqueue(a)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with app_conn.transaction():
            await _as_tenant(app_conn, a)
            await enqueue(b)  # a job for another tenant, from tenant A's transaction
    async with app_conn.transaction():
        await _as_tenant(app_conn, b)
        await enqueue(b)
    async with app_conn.transaction():
        await enqueue(None)  # a platform job
    assert a in await visible(a)
    assert b not in await visible(a)
    assert {a, b} <= await visible(None, relay=True)
    assert not {a, b} & await visible(None)
    await app_conn.execute("DELETE FROM outbox_message WHERE tenant_id IS NULL")
