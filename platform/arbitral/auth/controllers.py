"""Login, logout and second-factor routes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.datastructures import Cookie
from litestar.params import FromPath, JSONBody

from arbitral.auth import services
from arbitral.auth.domain import Permission
from arbitral.auth.guards import principal_of, public, require
from arbitral.auth.middleware import session_cookie_name
from arbitral.auth.schemas import (
    LoginOut,
    LogoutOut,
    PasswordLogin,
    TotpConfirm,
    TotpStartOut,
)
from arbitral.auth.sessions import SESSION_LIFETIME
from arbitral.errors import NotFound
from arbitral.web import client_ip

AnyRequest = Request[Any, Any, Any]


async def tenant_by_slug(request: AnyRequest, slug: str) -> Any:
    tenant = await request.app.state.tenants.by_slug(slug)
    if tenant is None:
        raise NotFound("no such commission")
    return tenant


def session_cookie(request: AnyRequest, value: str, *, max_age: int) -> Cookie:
    settings = request.app.state.settings
    return Cookie(
        key=session_cookie_name(settings.public_url),
        value=value,
        max_age=max_age,
        path="/",
        secure=settings.public_url.startswith("https://"),
        httponly=True,
        samesite="lax",
    )


class LoginController(Controller):
    path = "/t/{tenant_slug:str}/auth"
    tags = ("authentication",)

    @post(
        "/password",
        opt=public(login=True),
        summary="Log in with email, password and authenticator code",
    )
    async def password(
        self, request: AnyRequest, tenant_slug: FromPath[str], data: JSONBody[PasswordLogin]
    ) -> Response[LoginOut]:
        tenant = await tenant_by_slug(request, tenant_slug)
        result = await services.password_login(
            request.app.state.runtime,
            tenant_id=tenant.id,
            email=data.email,
            password=data.password,
            totp_code=data.totp_code,
            ip=client_ip(request.scope),
            user_agent=request.headers.get("user-agent"),
        )
        return Response(
            LoginOut(
                user_id=result.user_id,
                display_name=result.display_name,
                csrf_token=result.session.csrf_token,
                expires_at=result.session.expires_at,
            ),
            status_code=200,
            cookies=[
                session_cookie(
                    request,
                    result.session.cookie_value,
                    max_age=int(SESSION_LIFETIME.total_seconds()),
                )
            ],
        )


class SessionController(Controller):
    tags = ("authentication",)

    @post("/auth/logout", opt=require(Permission.SELF_MANAGE), summary="End this session")
    async def logout(self, request: AnyRequest) -> Response[LogoutOut]:
        principal = principal_of(request)
        assert principal is not None
        await services.logout(request.app.state.runtime, principal)
        return Response(
            LogoutOut(sessions_ended=1 if principal.session_id else 0),
            status_code=200,
            cookies=[session_cookie(request, "", max_age=0)],
        )

    @post(
        "/api/v1/me/logout-everywhere",
        opt=require(Permission.SELF_MANAGE),
        summary="End every session of the calling user",
        status_code=200,
    )
    async def logout_everywhere(self, request: AnyRequest) -> LogoutOut:
        principal = principal_of(request)
        assert principal is not None
        ended = await services.logout_everywhere(
            request.app.state.runtime, principal, principal.subject_id
        )
        return LogoutOut(sessions_ended=ended)

    @post(
        "/api/v1/me/totp",
        opt=require(Permission.SELF_MANAGE),
        summary="Start setting up an authenticator app",
        status_code=201,
    )
    async def start_totp(self, request: AnyRequest) -> TotpStartOut:
        principal = principal_of(request)
        assert principal is not None
        enrolment = await services.start_totp(request.app.state.runtime, principal)
        return TotpStartOut(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)

    @post(
        "/api/v1/me/totp/confirm",
        opt=require(Permission.SELF_MANAGE),
        summary="Confirm the authenticator with its current code",
        status_code=204,
    )
    async def confirm_totp(self, request: AnyRequest, data: JSONBody[TotpConfirm]) -> None:
        principal = principal_of(request)
        assert principal is not None
        await services.confirm_totp(request.app.state.runtime, principal, data.code)
