"""Fixtures of the keys tests: tenants inserted with plain SQL, a key ring per backend."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

import pytest

from arbitral.db.engine import Database
from arbitral.keys.services import KeyRing


async def insert_tenant(db: Database, slug: str | None = None) -> uuid.UUID:
    """A bare tenant row (the tenancy context's helpers are not needed for keys)."""
    tenant_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with db.transaction() as uow:
        await uow.execute(
            "INSERT INTO tenant (id, slug, name_zh, name_en, hosts, time_zone, locale, rule_set, "
            "rule_set_version, case_number_format, branding, retention_years, key_refs, "
            "revision, document_sha256, active, created_at, updated_at) VALUES ({}, {}, 'x', "
            "'x', {}, 'Asia/Shanghai', 'zh-CN', 'r', '1', 'f', {}, 30, {}, 1, 'x', true, {}, {})",
            tenant_id,
            slug or f"t{uuid.uuid4().hex[:10]}",
            "[]",  # JSON values as parameters: a literal {} would read as a placeholder
            "{}",
            "{}",
            now,
            now,
        )
    return tenant_id


@pytest.fixture
def kek() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def ring(database: Database, kek: bytes) -> KeyRing:
    return KeyRing(database, kek)
