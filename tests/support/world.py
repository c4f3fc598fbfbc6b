"""A small world for the auth tests: two commissions, people in every role, API clients.

Built through the product's own services (as an operator at the console
would), then driven over HTTP with Litestar's test client.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from litestar import Litestar

from arbitral.app import create_app
from arbitral.auth.clients import ApiClientCreate, create_client
from arbitral.auth.domain import ClientKind, Principal, Role
from arbitral.db.engine import Database
from arbitral.db.migrate import migrate
from arbitral.identity.schemas import UserCreate
from arbitral.identity.services import create_user
from arbitral.runtime import Runtime
from arbitral.settings import Settings
from tests.support.asgi import serve

PASSWORD = "correct horse battery staple"


@dataclass
class Tenant:
    id: uuid.UUID
    slug: str
    host: str
    users: dict[Role, uuid.UUID] = field(default_factory=dict)
    emails: dict[Role, str] = field(default_factory=dict)
    clients: dict[ClientKind, tuple[str, str]] = field(default_factory=dict)


async def insert_tenant(db: Database, slug: str, host: str) -> uuid.UUID:
    tenant_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with db.transaction() as uow:
        await uow.execute(
            "INSERT INTO tenant (id, slug, name_zh, name_en, hosts, time_zone, locale, rule_set, "
            "rule_set_version, case_number_format, branding, retention_years, key_refs, revision, "
            "document_sha256, active, created_at, updated_at) VALUES ({}, {}, {}, {}, {}, "
            "'Asia/Shanghai', 'zh-CN', 'gba-alliance/online-arbitration', '1.2', {}, {}, 30, {}, "
            "1, 'test', {}, {}, {})",
            tenant_id,
            slug,
            f"{slug}仲裁委员会",
            f"{slug} Arbitration Commission",
            json.dumps([host]),
            "({year})测仲网字第{seq:06d}号",
            "{}",
            "{}",
            True,
            now,
            now,
        )
    return tenant_id


async def populate(runtime: Runtime, slug: str, host: str) -> Tenant:
    tenant = Tenant(await insert_tenant(runtime.db, slug, host), slug, host)
    operator = Principal.operator(tenant.id, "tests")
    for role in Role:
        email = f"{role.value}@{slug}.example.cn"
        user = await create_user(
            runtime,
            operator,
            UserCreate(
                display_name=f"{role.value} of {slug}", email=email, roles=[role], password=PASSWORD
            ),
        )
        tenant.users[role] = user.id
        tenant.emails[role] = email
    for kind, scopes in (
        (
            ClientKind.LENDER,
            ["tenant:read", "cases:file", "cases:read", "batches:submit", "evidence:submit"],
        ),
        (ClientKind.TRADING_PLATFORM, ["tenant:read", "evidence:submit"]),
        (ClientKind.COURT, ["tenant:read", "court:packages"]),
    ):
        created = await create_client(
            runtime,
            operator,
            ApiClientCreate(name=f"{kind.value} of {slug}", kind=kind, scopes=scopes),
        )
        tenant.clients[kind] = (created.client.client_id, created.client_secret)
    runtime.tenants.invalidate()
    return tenant


@dataclass
class World:
    settings: Settings
    app: Litestar
    client: httpx.AsyncClient
    a: Tenant
    b: Tenant

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def login(self, tenant: Tenant, role: Role) -> dict[str, str]:
        """Log in as ``role`` of ``tenant``; the headers for its later requests."""
        response = await self.client.post(
            f"/t/{tenant.slug}/auth/password",
            json={"email": tenant.emails[role], "password": PASSWORD},
        )
        assert response.status_code == 200, response.text
        cookie = response.cookies.get("arbitral_session")
        assert cookie
        self.client.cookies.clear()
        return {
            "cookie": f"arbitral_session={cookie}",
            "x-csrf-token": response.json()["csrf_token"],
        }

    async def token(self, tenant: Tenant, kind: ClientKind, scope: str | None = None) -> str:
        client_id, secret = tenant.clients[kind]
        form = {"grant_type": "client_credentials"}
        if scope:
            form["scope"] = scope
        response = await self.client.post(
            f"/t/{tenant.slug}/oauth/token", data=form, auth=(client_id, secret)
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


@asynccontextmanager
async def world(settings: Settings, *, migrate_first: bool = True) -> AsyncIterator[World]:
    if migrate_first:
        owner = Database(settings.migration_database)
        await owner.open()
        await migrate(owner)
        await owner.close()
    app = create_app(settings)
    async with serve(app) as client:
        runtime: Runtime = app.state.runtime
        suffix = uuid.uuid4().hex[:6]
        a = await populate(runtime, f"a{suffix}", f"a{suffix}.arbitral.test")
        b = await populate(runtime, f"b{suffix}", f"b{suffix}.arbitral.test")
        try:
            yield World(settings, app, client, a, b)
        finally:
            # The PostgreSQL database is shared by the session's tests: a finished test's
            # commissions go inactive, so no later deadline sweep fires their periods.
            async with runtime.db.transaction() as uow:
                await uow.execute(
                    "UPDATE tenant SET active = {} WHERE id IN ({}, {})", False, a.id, b.id
                )
