"""What two requests at the same moment must not break."""

from __future__ import annotations

import asyncio

from arbitral.auth.domain import Role
from tests.support.world import World


async def test_two_admins_revoking_each_other_leave_one(auth_world: World) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    second = await w.client.post(
        "/api/v1/users",
        json={
            "display_name": "second admin",
            "email": "admin2@a.example.cn",
            "roles": ["commission_admin"],
        },
        headers=admin,
    )
    assert second.status_code == 201, second.text
    memberships = {
        w.a.users[Role.COMMISSION_ADMIN]: None,
        second.json()["id"]: second.json()["memberships"][0]["id"],
    }
    first_user = (
        await w.client.get(f"/api/v1/users/{w.a.users[Role.COMMISSION_ADMIN]}", headers=admin)
    ).json()
    memberships[w.a.users[Role.COMMISSION_ADMIN]] = first_user["memberships"][0]["id"]
    answers = await asyncio.gather(
        *(
            w.client.delete(f"/api/v1/users/{user}/memberships/{membership}", headers=admin)
            for user, membership in memberships.items()
        )
    )
    # One revocation wins. The other is refused: 409 (the last admin stays) when both were
    # authorised at once, or 404 when the winner revoked the requester's own role before
    # the second request was authorised (on a loaded machine, that order happens).
    codes = sorted(a.status_code for a in answers)
    assert codes in ([200, 409], [200, 404]), [a.text for a in answers]
    async with w.runtime.db.transaction(tenant_id=w.a.id, readonly=True) as uow:
        admins = await uow.fetch(
            "SELECT COUNT(*) AS n FROM membership WHERE tenant_id = {} AND role = {} "
            "AND revoked_at IS NULL",
            w.a.id,
            Role.COMMISSION_ADMIN.value,
        )
    assert int(admins[0]["n"]) == 1


async def test_the_same_user_created_twice_at_once_is_one_201_and_409s(auth_world: World) -> None:
    w = auth_world
    admin = await w.login(w.a, Role.COMMISSION_ADMIN)
    answers = await asyncio.gather(
        *(
            w.client.post(
                "/api/v1/users",
                json={"display_name": "twin", "email": "twin@a.example.cn"},
                headers=admin,
            )
            for _ in range(5)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409, 409, 409, 409], [a.text for a in answers]
