"""OpenID Connect login routes: off to the commission's identity provider, and back."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect

from arbitral.auth import oidc
from arbitral.auth.controllers import session_cookie, tenant_by_slug
from arbitral.auth.guards import public
from arbitral.auth.sessions import SESSION_LIFETIME
from arbitral.web import client_ip

AnyRequest = Request[Any, Any, Any]

NO_STORE = {"cache-control": "no-store"}

# "state" is a name Litestar reserves for the application state.
OAuthState = Annotated[str | None, QueryParameter(name="state")]


class OidcLoginController(Controller):
    path = "/t/{tenant_slug:str}/auth/oidc"
    tags = ("authentication",)

    @get(
        "/start",
        opt=public(),
        summary="Log in at the commission's identity provider (OpenID Connect)",
        status_code=302,
    )
    async def start(
        self,
        request: AnyRequest,
        tenant_slug: FromPath[str],
        redirect_to: FromQuery[str | None] = None,
    ) -> Redirect:
        tenant = await tenant_by_slug(request, tenant_slug)
        url = await oidc.start_login(
            request.app.state.runtime, tenant, redirect_to, ip=client_ip(request.scope)
        )
        return Redirect(url, status_code=302, headers=NO_STORE)

    @get(
        "/callback",
        opt=public(),
        summary="Where the identity provider sends the browser back",
        status_code=303,
    )
    async def callback(
        self,
        request: AnyRequest,
        tenant_slug: FromPath[str],
        code: FromQuery[str | None] = None,
        oauth_state: OAuthState = None,
        iss: FromQuery[str | None] = None,
        error: FromQuery[str | None] = None,
        error_description: FromQuery[str | None] = None,
    ) -> Redirect:
        tenant = await tenant_by_slug(request, tenant_slug)
        runtime = request.app.state.runtime
        if error is not None:
            await oidc.refuse_login(runtime, tenant, oauth_state, error, error_description)
        result = await oidc.finish_login(
            runtime,
            tenant,
            code,
            oauth_state,
            client_ip(request.scope),
            request.headers.get("user-agent"),
            iss=iss,
        )
        return Redirect(
            result.redirect_to,
            status_code=303,
            headers=NO_STORE,
            cookies=[
                session_cookie(
                    request,
                    result.session.cookie_value,
                    max_age=int(SESSION_LIFETIME.total_seconds()),
                )
            ],
        )
