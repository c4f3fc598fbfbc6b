"""Alliance administrators: the platform's routes, and none of the tenants'."""

from __future__ import annotations

from arbitral.auth.domain import Role
from arbitral.auth.platform import create_admin
from tests.support.world import World

ADMIN_PASSWORD = "alliance admin password"


async def _login(w: World) -> dict[str, str]:
    await create_admin(
        w.runtime.db,
        email="admin@alliance.example.cn",
        display_name="联盟管理员",
        password=ADMIN_PASSWORD,
    )
    response = await w.client.post(
        "/platform/auth/password",
        json={"email": "admin@alliance.example.cn", "password": ADMIN_PASSWORD},
    )
    assert response.status_code == 200, response.text
    cookie = response.cookies.get("arbitral_platform_session")
    w.client.cookies.clear()
    return {
        "cookie": f"arbitral_platform_session={cookie}",
        "x-csrf-token": response.json()["csrf_token"],
    }


async def test_alliance_admin_sees_tenants_and_no_tenant_data(auth_world: World) -> None:
    w = auth_world
    headers = await _login(w)
    tenants = await w.client.get("/api/v1/platform/tenants", headers=headers)
    assert tenants.status_code == 200, tenants.text
    slugs = {t["slug"] for t in tenants.json()}
    assert {w.a.slug, w.b.slug} <= slugs
    for url in (
        f"/api/v1/users/{w.a.users[Role.SECRETARY]}",
        "/api/v1/users",
        "/api/v1/audit-events",
        "/api/v1/tenant",
    ):
        response = await w.client.get(url, headers=headers)
        assert response.status_code in (403, 404), (url, response.status_code)
        assert w.a.slug not in response.text


async def test_tenant_people_do_not_reach_the_platform(auth_world: World) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    assert (await w.client.get("/api/v1/platform/tenants", headers=admin)).status_code == 403


async def test_platform_login_locks_after_failures(auth_world: World) -> None:
    w = auth_world
    await create_admin(
        w.runtime.db, email="ops@alliance.example.cn", display_name="运维", password=ADMIN_PASSWORD
    )
    for _ in range(5):
        bad = await w.client.post(
            "/platform/auth/password",
            json={"email": "ops@alliance.example.cn", "password": "wrong password!"},
        )
        assert bad.status_code == 401
    locked = await w.client.post(
        "/platform/auth/password",
        json={"email": "ops@alliance.example.cn", "password": ADMIN_PASSWORD},
    )
    assert locked.status_code == 429
