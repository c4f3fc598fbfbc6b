"""Authentication: who is calling, from the bearer token or the session cookie.

Runs before every route handler and puts a :class:`Principal` (or None) in
``scope["user"]``; :func:`arbitral.auth.guards.authorize` then decides.

* ``Authorization: Bearer <JWT>``: an API client's access token, verified
  against the keys of the tenant that issued it (no database round trip).
* The session cookie: a person's browser session, looked up inside its
  tenant's transaction. Unsafe methods must echo the session's CSRF token in
  ``X-CSRF-Token`` (a bearer token is not sent by browsers on their own, so
  it needs none).
* The host: when the request's host belongs to a tenant, credentials of any
  other tenant are not accepted there.

Bad credentials are a 401, never a silent fall back to anonymous.
"""

from __future__ import annotations

from typing import Any

import structlog
from litestar.exceptions import (
    ClientException,
    NotAuthorizedException,
    PermissionDeniedException,
)
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE
from litestar.types import ASGIApp, Receive, Scope, Send

from arbitral.auth.domain import Principal
from arbitral.auth.guards import CHALLENGE, JSON_ONLY, PUBLIC

log = structlog.get_logger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


def session_cookie_name(public_url: str) -> str:
    """``__Host-`` cookies (Secure, Path=/, no Domain) when served over HTTPS."""
    return "__Host-arbitral_session" if public_url.startswith("https://") else "arbitral_session"


def _headers(scope: Scope) -> dict[str, str]:
    return {
        key.decode("latin-1").lower(): value.decode("latin-1")
        for key, value in scope.get("headers", [])
    }


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = scope.get("route_handler")
        if (
            handler is not None
            and handler.opt.get(JSON_ONLY)
            and scope.get("method") not in SAFE_METHODS
            and not (_headers(scope).get("content-type") or "")
            .lower()
            .startswith("application/json")
        ):
            raise ClientException(
                "send this as application/json", status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE
            )
        if handler is not None and handler.opt.get(PUBLIC):
            # Public routes (logins, token endpoint, JWKS) act on no one's authority:
            # stale or foreign credentials sent along are neither needed nor judged.
            scope["user"] = None
        elif scope["type"] == "http":  # type: ignore[comparison-overlap]
            principal = await self.authenticate(scope)
            scope["user"] = principal
            if principal is not None:
                structlog.contextvars.bind_contextvars(
                    principal=principal.actor_id,
                    tenant=str(principal.tenant_id) if principal.tenant_id else None,
                )
        await self.app(scope, receive, send)

    async def authenticate(self, scope: Scope) -> Principal | None:
        app = scope["app"]
        runtime = app.state.runtime
        headers = _headers(scope)
        principal: Principal | None
        authorization = headers.get("authorization")
        if authorization:
            scheme, _, credentials = authorization.partition(" ")
            if scheme.lower() != "bearer" or not credentials.strip():
                raise NotAuthorizedException("unsupported authorization scheme", headers=CHALLENGE)
            from arbitral.auth.tokens import InvalidToken, verify_access_token

            try:
                principal = await verify_access_token(runtime, credentials.strip())
            except InvalidToken as exc:
                log.info("auth.token_refused", reason=str(exc))
                raise NotAuthorizedException(
                    "the access token is not valid",
                    headers={"WWW-Authenticate": 'Bearer realm="arbitral", error="invalid_token"'},
                ) from None
        else:
            from arbitral.auth.platform import platform_cookie_name, resolve_platform_session
            from arbitral.auth.sessions import csrf_matches, resolve_session

            public_url = runtime.settings.public_url
            tenant_cookie = _cookie(headers.get("cookie"), session_cookie_name(public_url))
            platform_cookie = _cookie(headers.get("cookie"), platform_cookie_name(public_url))
            found: tuple[Principal, str] | None
            if tenant_cookie:
                resolved = await resolve_session(runtime.db, tenant_cookie)
                found = (resolved.principal, resolved.csrf_token) if resolved else None
            elif platform_cookie:
                found = await resolve_platform_session(runtime.db, platform_cookie)
            else:
                return None
            if found is None:
                raise NotAuthorizedException(
                    "the session has ended; log in again", headers=CHALLENGE
                )
            principal, csrf_token = found
            method = scope["method"]  # type: ignore[typeddict-item]
            if method not in SAFE_METHODS and not csrf_matches(
                csrf_token, headers.get(CSRF_HEADER)
            ):
                raise PermissionDeniedException("missing or wrong X-CSRF-Token")
        await _check_host(app, headers.get("host"), principal)
        return principal


async def _check_host(app: Any, host: str | None, principal: Principal) -> None:
    """The principal's commission must be active, and the host (if a commission's) its own."""
    directory = app.state.tenants
    if principal.tenant_id is not None and await directory.by_id(principal.tenant_id) is None:
        # Deactivated since the session began or the token was issued.
        raise NotAuthorizedException("the commission is not active", headers=CHALLENGE)
    if not host:
        return
    tenant = await directory.by_host(host.split(":")[0].lower())
    if tenant is not None and tenant.id != principal.tenant_id:
        raise NotAuthorizedException("these credentials are not valid here", headers=CHALLENGE)
