"""Routes of the login by one-time code (parties)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, post
from litestar.params import FromPath, JSONBody

from arbitral.auth import otp
from arbitral.auth.controllers import session_cookie, tenant_by_slug
from arbitral.auth.guards import public
from arbitral.auth.schemas import LoginOut
from arbitral.auth.sessions import SESSION_LIFETIME
from arbitral.web import client_ip

AnyRequest = Request[Any, Any, Any]


class OtpRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Send a login code. The fields are checked by the service (422 naming the field)."""

    channel: str  # "sms" or "email"
    destination: str  # a phone number (+86…, or a mainland mobile number) or an email address


class OtpRequested(msgspec.Struct):
    challenge_id: UUID
    expires_in: int  # seconds


class OtpVerify(msgspec.Struct, forbid_unknown_fields=True):
    challenge_id: str
    code: str


class OtpController(Controller):
    path = "/t/{tenant_slug:str}/auth/otp"
    tags = ("authentication",)

    @post(
        "/request",
        opt=public(login=True),
        status_code=202,
        summary="Send a one-time login code to a party's phone or email",
        description="The answer is the same whether or not the destination belongs to a "
        "party of the commission; only a party's phone or address receives a code.",
    )
    async def request_code(
        self, request: AnyRequest, tenant_slug: FromPath[str], data: JSONBody[OtpRequest]
    ) -> OtpRequested:
        tenant = await tenant_by_slug(request, tenant_slug)
        challenge_id = await otp.request_code(
            request.app.state.runtime,
            tenant,
            data.channel,
            data.destination,
            client_ip(request.scope),
        )
        return OtpRequested(
            challenge_id=challenge_id, expires_in=int(otp.CODE_LIFETIME.total_seconds())
        )

    @post("/verify", opt=public(login=True), summary="Log in with a one-time code")
    async def verify_code(
        self, request: AnyRequest, tenant_slug: FromPath[str], data: JSONBody[OtpVerify]
    ) -> Response[LoginOut]:
        tenant = await tenant_by_slug(request, tenant_slug)
        result = await otp.verify_code(
            request.app.state.runtime,
            tenant,
            data.challenge_id,
            data.code,
            client_ip(request.scope),
            request.headers.get("user-agent"),
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
