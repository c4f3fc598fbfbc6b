"""Routes of the identity context: the caller, the commission, users, roles, agents."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.auth.schemas import LogoutOut
from arbitral.auth.services import logout_everywhere
from arbitral.errors import FieldProblem, NotFound, ValidationFailed
from arbitral.identity import services
from arbitral.identity.schemas import (
    Me,
    MembershipCreate,
    PowerOfAttorneyCreate,
    PowerOfAttorneyOut,
    TenantOut,
    UserCreate,
    UserOut,
    UserPage,
    UserUpdate,
)

AnyRequest = Request[Any, Any, Any]


class MeController(Controller):
    path = "/api/v1"
    tags = ("identity",)

    @get("/me", opt=require(Permission.TENANT_READ), summary="Who is calling")
    async def me(self, request: AnyRequest) -> Me:
        principal = current_principal(request)
        tenant = None
        if principal.tenant_id is not None:
            info = await request.app.state.tenants.by_id(principal.tenant_id)
            tenant = info.slug if info is not None else None
        return Me(
            kind=principal.kind.value,
            subject_id=principal.subject_id,
            tenant=tenant,
            display_name=principal.display_name,
            roles=sorted(role.value for role in principal.roles),
            permissions=sorted(p.value for p in principal.permissions),
            auth_method=principal.auth_method,
        )

    @get("/tenant", opt=require(Permission.TENANT_READ), summary="The caller's commission")
    async def tenant(self, request: AnyRequest) -> TenantOut:
        principal = current_principal(request)
        info = await request.app.state.tenants.by_id(services.tenant_of(principal))
        if info is None:
            raise NotFound("no such commission")
        return TenantOut(
            id=info.id,
            slug=info.slug,
            name_zh=info.names.zh,
            name_en=info.names.en,
            time_zone=info.time_zone,
            locale=info.locale,
            case_number_format=info.case_number_format,
        )


class UserController(Controller):
    path = "/api/v1/users"
    tags = ("identity",)

    @get("/", opt=require(Permission.USERS_READ), summary="The commission's users")
    async def list_users(
        self, request: AnyRequest, limit: FromQuery[int] = 50, after: FromQuery[UUID | None] = None
    ) -> UserPage:
        return await services.list_users(
            request.app.state.runtime, current_principal(request), limit=limit, after=after
        )

    @post("/", opt=require(Permission.USERS_MANAGE), summary="Create a user, with roles")
    async def create_user(self, request: AnyRequest, data: JSONBody[UserCreate]) -> UserOut:
        principal = current_principal(request)
        if data.roles and not principal.can(Permission.MEMBERSHIPS_MANAGE):
            raise ValidationFailed(
                "you may not grant roles",
                errors=[FieldProblem("$.roles", "permission", "needs memberships:manage")],
            )
        return await services.create_user(request.app.state.runtime, principal, data)

    @get("/{user_id:uuid}", opt=require(Permission.USERS_READ), summary="One user")
    async def get_user(self, request: AnyRequest, user_id: FromPath[UUID]) -> UserOut:
        return await services.get_user(
            request.app.state.runtime, current_principal(request), user_id
        )

    @patch("/{user_id:uuid}", opt=require(Permission.USERS_MANAGE), summary="Change a user")
    async def update_user(
        self, request: AnyRequest, user_id: FromPath[UUID], data: JSONBody[UserUpdate]
    ) -> UserOut:
        return await services.update_user(
            request.app.state.runtime, current_principal(request), user_id, data
        )

    @post(
        "/{user_id:uuid}/memberships",
        opt=require(Permission.MEMBERSHIPS_MANAGE),
        summary="Grant a role",
    )
    async def grant_role(
        self, request: AnyRequest, user_id: FromPath[UUID], data: JSONBody[MembershipCreate]
    ) -> UserOut:
        return await services.grant_role(
            request.app.state.runtime, current_principal(request), user_id, data.role
        )

    @delete(
        "/{user_id:uuid}/memberships/{membership_id:uuid}",
        opt=require(Permission.MEMBERSHIPS_MANAGE),
        summary="Revoke a role",
        status_code=200,
    )
    async def revoke_membership(
        self, request: AnyRequest, user_id: FromPath[UUID], membership_id: FromPath[UUID]
    ) -> UserOut:
        return await services.revoke_membership(
            request.app.state.runtime, current_principal(request), user_id, membership_id
        )

    @post(
        "/{user_id:uuid}/logout-everywhere",
        opt=require(Permission.USERS_MANAGE),
        summary="End every session of a user",
        status_code=200,
    )
    async def logout_everywhere(self, request: AnyRequest, user_id: FromPath[UUID]) -> LogoutOut:
        ended = await logout_everywhere(
            request.app.state.runtime, current_principal(request), user_id
        )
        return LogoutOut(sessions_ended=ended)


class PowerOfAttorneyController(Controller):
    path = "/api/v1/powers-of-attorney"
    tags = ("identity",)

    @post("/", opt=require(Permission.POWERS_MANAGE), summary="File an agent's power of attorney")
    async def create(
        self, request: AnyRequest, data: JSONBody[PowerOfAttorneyCreate]
    ) -> PowerOfAttorneyOut:
        return await services.create_power(
            request.app.state.runtime, current_principal(request), data
        )

    @get("/{power_id:uuid}", opt=require(Permission.POWERS_READ), summary="One power of attorney")
    async def get(self, request: AnyRequest, power_id: FromPath[UUID]) -> PowerOfAttorneyOut:
        return await services.get_power(
            request.app.state.runtime, current_principal(request), power_id
        )

    @delete(
        "/{power_id:uuid}",
        opt=require(Permission.POWERS_MANAGE),
        summary="Revoke a power of attorney",
        status_code=200,
    )
    async def revoke(self, request: AnyRequest, power_id: FromPath[UUID]) -> PowerOfAttorneyOut:
        return await services.revoke_power(
            request.app.state.runtime, current_principal(request), power_id
        )
