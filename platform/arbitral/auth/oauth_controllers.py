"""Each commission's authorization server: token endpoint, JWKS, metadata (RFC 8414).

The token endpoint answers errors in RFC 6749 §5.2's format (``{"error": …}``),
which OAuth client libraries expect, rather than problem details.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath

from arbitral.audit.services import Actor, record_alone
from arbitral.auth import throttle
from arbitral.auth.clients import authenticate_client
from arbitral.auth.controllers import tenant_by_slug
from arbitral.auth.domain import Permission
from arbitral.auth.guards import public
from arbitral.auth.tokens import audience, issue_access_token, issuer
from arbitral.errors import NotFound
from arbitral.web import client_ip

AnyRequest = Request[Any, Any, Any]


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    scope: str


class Jwks(msgspec.Struct):
    keys: list[dict[str, Any]]


class ServerMetadata(msgspec.Struct):
    issuer: str
    token_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    scopes_supported: list[str]
    access_token_audience: str


MAX_FORM_BYTES = 4096
CLIENT_FAILURES = throttle.Limit(
    max_count=10, window=timedelta(minutes=15), lockout=timedelta(minutes=15)
)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_error(
    error: str, description: str, status: int = 400, headers: dict[str, str] | None = None
) -> Response[dict[str, str]]:
    return Response(
        {"error": error, "error_description": description},
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )


def _client_credentials(request: AnyRequest, form: dict[str, str]) -> tuple[str, str] | str:
    """(client_id, secret) from HTTP Basic or the form (not both), or an error text."""
    authorization = request.headers.get("authorization")
    in_form = "client_id" in form or "client_secret" in form
    if authorization:
        if in_form:
            return "use one client authentication method, not two"
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return "client authentication must be HTTP Basic or in the form"
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "malformed Basic credentials"
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            return "malformed Basic credentials"
        return unquote(client_id), unquote(secret)
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if not form_id or not form_secret:
        return "client authentication required"
    return form_id, form_secret


class OAuthController(Controller):
    path = "/t/{tenant_slug:str}"
    tags = ("oauth",)

    @post(
        "/oauth/token",
        opt=public(),
        summary="OAuth 2 token endpoint (client_credentials)",
        status_code=200,
    )
    async def token(self, request: AnyRequest, tenant_slug: FromPath[str]) -> Response[Any]:
        tenant = await tenant_by_slug(request, tenant_slug)
        runtime = request.app.state.runtime
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return oauth_error("invalid_request", "send application/x-www-form-urlencoded")
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return oauth_error("invalid_request", "the request is too large")
        try:
            pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
        except (ValueError, UnicodeDecodeError):
            return oauth_error("invalid_request", "the form is malformed")
        form: dict[str, str] = {}
        for key, value in pairs:
            if key in form:
                return oauth_error("invalid_request", f"parameter {key} is repeated")
            form[key] = value
        if form.get("grant_type") != "client_credentials":
            return oauth_error(
                "unsupported_grant_type", "only grant_type=client_credentials is supported"
            )
        credentials = _client_credentials(request, form)
        if isinstance(credentials, str):
            return oauth_error(
                "invalid_client", credentials, 401, {"WWW-Authenticate": 'Basic realm="oauth"'}
            )
        client_id, secret = credentials
        requested: frozenset[Permission] | None = None
        if form.get("scope"):
            try:
                requested = frozenset(Permission(s) for s in form["scope"].split())
            except ValueError:
                return oauth_error("invalid_scope", "unknown scope")

        scope_key = f"client:{client_id[:100]}"
        ip_scope = f"client-ip:{client_ip(request.scope) or 'unknown'}"
        async with runtime.db.transaction(tenant_id=tenant.id) as uow:
            try:
                await throttle.ensure_not_locked(uow, tenant.id, scope_key)
                await throttle.ensure_not_locked(uow, tenant.id, ip_scope)
                locked = None
            except throttle.Throttled as exc:
                locked = exc
        if locked is not None:
            await record_alone(
                runtime.db,
                tenant_id=tenant.id,
                actor=Actor("api_client", client_id[:100]),
                action="token.client_credentials",
                outcome="denied",
                detail={"reason": "locked"},
            )
            return oauth_error(
                "invalid_client",
                "too many failed attempts; try later",
                429,
                {"Retry-After": str(locked.retry_after_s)},
            )
        client = await authenticate_client(runtime.db, tenant.id, client_id, secret)
        if client is None:
            await throttle.count_failure(runtime.db, tenant.id, scope_key, CLIENT_FAILURES)
            await throttle.count_failure(runtime.db, tenant.id, ip_scope, CLIENT_FAILURES)
            await record_alone(
                runtime.db,
                tenant_id=tenant.id,
                actor=Actor("api_client", client_id[:100]),
                action="token.client_credentials",
                outcome="failure",
                detail={"reason": "bad client credentials"},
            )
            return oauth_error(
                "invalid_client",
                "client authentication failed",
                401,
                {"WWW-Authenticate": 'Basic realm="oauth"'},
            )
        try:
            issued = await issue_access_token(runtime, tenant, client, requested)
        except ValueError as exc:
            await record_alone(
                runtime.db,
                tenant_id=tenant.id,
                actor=Actor("api_client", client.client_id),
                action="token.client_credentials",
                outcome="failure",
                detail={"reason": "invalid scope", "scope": form.get("scope", "")[:300]},
            )
            return oauth_error("invalid_scope", str(exc))
        await record_alone(
            runtime.db,
            tenant_id=tenant.id,
            actor=Actor("api_client", client.client_id),
            action="token.client_credentials",
            outcome="success",
            detail={"scope": issued.scope, "expires_in": issued.expires_in},
        )
        return Response(
            TokenResponse(
                access_token=issued.access_token,
                token_type="Bearer",  # noqa: S106 (the RFC 6749 token type)
                expires_in=issued.expires_in,
                scope=issued.scope,
            ),
            status_code=200,
            headers=NO_STORE,
        )

    @get("/.well-known/jwks.json", opt=public(), summary="The commission's public signing keys")
    async def jwks(self, request: AnyRequest, tenant_slug: FromPath[str]) -> Response[Jwks]:
        tenant = await tenant_by_slug(request, tenant_slug)
        keys = await request.app.state.runtime.keys.public_keys(tenant.id, "jws")
        return Response(Jwks(keys=keys), headers={"Cache-Control": "public, max-age=300"})

    @get(
        "/.well-known/ledger-keys.json",
        opt=public(),
        summary="The public keys that sign the commission's transparency log (JWKS)",
        description=(
            "Save this document to check receipts offline: "
            "`arbitral evidence verify FILE RECEIPT --keys ledger-keys.json`."
        ),
    )
    async def ledger_keys(self, request: AnyRequest, tenant_slug: FromPath[str]) -> Response[Jwks]:
        tenant = await tenant_by_slug(request, tenant_slug)
        keys = await request.app.state.runtime.keys.public_keys(tenant.id, "ledger")
        return Response(Jwks(keys=keys), headers={"Cache-Control": "public, max-age=300"})

    @get(
        "/documents/ca.pem",
        opt=public(),
        summary="The CA certificates under which the commission signs its documents (PEM)",
        description=(
            "Every root the commission's document signers chain to, current and retired. "
            "Save it to check a signed PDF offline: "
            "`arbitral document verify FILE.pdf --trust ca.pem`."
        ),
        media_type="application/x-pem-file",
    )
    async def document_ca(self, request: AnyRequest, tenant_slug: FromPath[str]) -> Response[str]:
        from arbitral.keys.documents import trust_anchors
        from arbitral.keys.x509 import to_pem

        tenant = await tenant_by_slug(request, tenant_slug)
        anchors = await trust_anchors(request.app.state.runtime.db, tenant.id)
        if not anchors:
            raise NotFound("this commission has no document signer yet")
        return Response(
            to_pem(anchors),
            media_type="application/x-pem-file",
            headers={"Cache-Control": "public, max-age=300"},
        )

    @get(
        "/.well-known/oauth-authorization-server",
        opt=public(),
        summary="Authorization server metadata (RFC 8414)",
    )
    async def metadata(self, request: AnyRequest, tenant_slug: FromPath[str]) -> ServerMetadata:
        return _metadata(request, await tenant_by_slug(request, tenant_slug))


def _metadata(request: AnyRequest, tenant: Any) -> ServerMetadata:
    public_url = request.app.state.settings.public_url
    base = issuer(public_url, tenant.slug)
    return ServerMetadata(
        issuer=base,
        token_endpoint=f"{base}/oauth/token",
        jwks_uri=f"{base}/.well-known/jwks.json",
        grant_types_supported=["client_credentials"],
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
        scopes_supported=sorted(p.value for p in Permission),
        access_token_audience=audience(public_url),
    )


async def tenant_by_host(request: AnyRequest) -> Any:
    host = (request.headers.get("host") or "").split(":")[0].lower()
    tenant = await request.app.state.tenants.by_host(host) if host else None
    if tenant is None:
        raise NotFound("this host serves no commission; use /t/{slug}/.well-known/…")
    return tenant


class WellKnownController(Controller):
    """The same documents at the root of a commission's own host name."""

    path = "/.well-known"
    tags = ("oauth",)

    @get("/jwks.json", opt=public(), summary="The host's commission's public signing keys")
    async def jwks(self, request: AnyRequest) -> Response[Jwks]:
        tenant = await tenant_by_host(request)
        keys = await request.app.state.runtime.keys.public_keys(tenant.id, "jws")
        return Response(Jwks(keys=keys), headers={"Cache-Control": "public, max-age=300"})

    @get(
        "/oauth-authorization-server",
        opt=public(),
        summary="The host's commission's authorization server metadata (RFC 8414)",
    )
    async def metadata(self, request: AnyRequest) -> ServerMetadata:
        tenant = await tenant_by_host(request)
        return _metadata(request, tenant)
