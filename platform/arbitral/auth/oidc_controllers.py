"""OpenID Connect login routes: off to the commission's identity provider, and back.

The start hands the browser a short-lived login cookie (HttpOnly, SameSite=Lax,
Secure over HTTPS) holding the browser binding of the login in flight; the
callback needs it, and clears it whatever the outcome. Lax, not Strict: the
provider sends the browser back by a top-level cross-site redirect, which a
Strict cookie would not accompany.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from litestar import Controller, Request, get
from litestar.datastructures import Cookie
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect

from arbitral.auth import oidc
from arbitral.auth.controllers import session_cookie, tenant_by_slug
from arbitral.auth.guards import public
from arbitral.auth.sessions import SESSION_LIFETIME
from arbitral.errors import ProblemError
from arbitral.web import client_ip

AnyRequest = Request[Any, Any, Any]

NO_STORE = {"cache-control": "no-store"}

# "state" is a name Litestar reserves for the application state.
OAuthState = Annotated[str | None, QueryParameter(name="state")]


def login_cookie_name(public_url: str) -> str:
    """``__Secure-`` when served over HTTPS (the cookie's path is the tenant's, not "/")."""
    return "__Secure-arbitral_oidc" if public_url.startswith("https://") else "arbitral_oidc"


def login_cookie(request: AnyRequest, tenant_slug: str, value: str, *, max_age: int) -> Cookie:
    """The cookie binding a login in flight to the browser that started it."""
    public_url: str = request.app.state.settings.public_url
    return Cookie(
        key=login_cookie_name(public_url),
        value=value,
        max_age=max_age,
        path=f"/t/{tenant_slug}/auth/oidc",
        secure=public_url.startswith("https://"),
        httponly=True,
        samesite="lax",
    )


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
        public_url: str = request.app.state.settings.public_url
        host = (request.url.hostname or "").lower()
        if host in tenant.hosts and host != urlsplit(public_url).hostname:
            # The callback and the session live on the public URL: start there, so the
            # login cookie is set on the host the provider sends the browser back to.
            # Only from the commission's own host names: a proxy that rewrites Host to
            # an internal name must not send the browser round in circles.
            query = f"?{request.url.query}" if request.url.query else ""
            return Redirect(
                f"{public_url}{request.url.path}{query}", status_code=302, headers=NO_STORE
            )
        started = await oidc.start_login(
            request.app.state.runtime, tenant, redirect_to, ip=client_ip(request.scope)
        )
        return Redirect(
            started.authorization_url,
            status_code=302,
            headers=NO_STORE,
            cookies=[
                login_cookie(
                    request,
                    tenant.slug,
                    started.browser_binding,
                    max_age=int(oidc.STATE_LIFETIME.total_seconds()),
                )
            ],
        )

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
        binding = request.cookies.get(login_cookie_name(request.app.state.settings.public_url))
        cleared = login_cookie(request, tenant.slug, "", max_age=0)
        try:
            if error is not None:
                await oidc.refuse_login(
                    runtime, tenant, oauth_state, error, error_description, binding=binding
                )
            result = await oidc.finish_login(
                runtime,
                tenant,
                code,
                oauth_state,
                client_ip(request.scope),
                request.headers.get("user-agent"),
                binding=binding,
                iss=iss,
            )
        except ProblemError as exc:
            # The login cookie goes whatever the outcome (one callback per login).
            exc.headers = {
                **(exc.headers or {}),
                "set-cookie": cleared.to_encoded_header()[1].decode("latin-1"),
            }
            raise
        return Redirect(
            result.redirect_to,
            status_code=303,
            headers=NO_STORE,
            cookies=[
                session_cookie(
                    request,
                    result.session.cookie_value,
                    max_age=int(SESSION_LIFETIME.total_seconds()),
                ),
                cleared,
            ],
        )
