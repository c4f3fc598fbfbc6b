"""Routes for alliance administrators."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import JSONBody

from arbitral.auth.domain import Permission
from arbitral.auth.guards import principal_of, public, require
from arbitral.auth.platform import (
    confirm_platform_totp,
    platform_cookie_name,
    platform_login,
    platform_logout,
    start_platform_totp,
)
from arbitral.auth.schemas import LoginOut, PasswordLogin, TotpConfirm, TotpStartOut
from arbitral.auth.sessions import SESSION_LIFETIME
from arbitral.tenancy.services import list_tenants
from arbitral.web import client_ip

AnyRequest = Request[Any, Any, Any]


class PlatformTenantOut(msgspec.Struct):
    slug: str
    name_zh: str
    name_en: str
    hosts: list[str]
    rule_set: str
    rule_set_version: str
    revision: int
    active: bool


class PlatformController(Controller):
    tags = ("alliance",)

    @post("/platform/auth/password", opt=public(login=True), summary="Alliance administrator login")
    async def login(self, request: AnyRequest, data: JSONBody[PasswordLogin]) -> Response[LoginOut]:
        settings = request.app.state.settings
        result = await platform_login(
            request.app.state.runtime,
            email=data.email,
            password=data.password,
            totp_code=data.totp_code,
            ip=client_ip(request.scope),
        )
        return Response(
            LoginOut(
                user_id=result.admin_id,
                display_name=result.display_name,
                csrf_token=result.csrf_token,
                expires_at=result.expires_at,
            ),
            status_code=200,
            cookies=[
                Cookie(
                    key=platform_cookie_name(settings.public_url),
                    value=result.cookie_value,
                    max_age=int(SESSION_LIFETIME.total_seconds()),
                    path="/",
                    secure=settings.public_url.startswith("https://"),
                    httponly=True,
                    samesite="strict",
                )
            ],
        )

    @post(
        "/platform/auth/logout",
        opt=require(Permission.PLATFORM_SELF),
        summary="End this alliance administrator session",
        status_code=204,
    )
    async def logout(self, request: AnyRequest) -> Response[None]:
        principal = principal_of(request)
        assert principal is not None
        await platform_logout(request.app.state.runtime.db, principal)
        settings = request.app.state.settings
        return Response(
            None,
            status_code=204,
            cookies=[
                Cookie(
                    key=platform_cookie_name(settings.public_url),
                    value="",
                    max_age=0,
                    path="/",
                    secure=settings.public_url.startswith("https://"),
                    httponly=True,
                    samesite="strict",
                )
            ],
        )

    @post(
        "/api/v1/platform/me/totp",
        opt=require(Permission.PLATFORM_SELF),
        summary="Start setting up an authenticator app",
        status_code=201,
    )
    async def start_totp(self, request: AnyRequest) -> TotpStartOut:
        principal = principal_of(request)
        assert principal is not None
        secret, uri = await start_platform_totp(request.app.state.runtime, principal)
        return TotpStartOut(secret=secret, otpauth_uri=uri)

    @post(
        "/api/v1/platform/me/totp/confirm",
        opt=require(Permission.PLATFORM_SELF),
        summary="Confirm the authenticator with its current code",
        status_code=204,
    )
    async def confirm_totp(self, request: AnyRequest, data: JSONBody[TotpConfirm]) -> None:
        principal = principal_of(request)
        assert principal is not None
        await confirm_platform_totp(request.app.state.runtime, principal, data.code)

    @get(
        "/api/v1/platform/tenants",
        opt=require(Permission.PLATFORM_TENANTS_READ),
        summary="The commissions on the platform",
    )
    async def tenants(self, request: AnyRequest) -> list[PlatformTenantOut]:
        assert principal_of(request) is not None
        records = await list_tenants(request.app.state.runtime.db)
        return [
            PlatformTenantOut(
                slug=t.slug,
                name_zh=t.names.zh,
                name_en=t.names.en,
                hosts=list(t.hosts),
                rule_set=t.rule_set,
                rule_set_version=t.rule_set_version,
                revision=t.revision,
                active=t.active,
            )
            for t in records
        ]
