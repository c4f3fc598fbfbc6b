"""Managing a commission's API clients and rotating its signing keys."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody

from arbitral.auth import client_keys, clients
from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.errors import NotFound
from arbitral.identity.services import actor_of, tenant_of

AnyRequest = Request[Any, Any, Any]


class ApiClientController(Controller):
    path = "/api/v1/api-clients"
    tags = ("api clients",)

    @get("/", opt=require(Permission.API_CLIENTS_MANAGE), summary="The commission's API clients")
    async def list_clients(self, request: AnyRequest) -> list[clients.ApiClientOut]:
        return await clients.list_clients(request.app.state.runtime, current_principal(request))

    @post(
        "/",
        opt=require(Permission.API_CLIENTS_MANAGE),
        summary="Register an API client (its secret is shown once)",
    )
    async def create_client(
        self, request: AnyRequest, data: JSONBody[clients.ApiClientCreate]
    ) -> clients.ApiClientCreated:
        return await clients.create_client(
            request.app.state.runtime, current_principal(request), data
        )

    @get("/{client_id:str}", opt=require(Permission.API_CLIENTS_MANAGE), summary="One API client")
    async def get_client(
        self, request: AnyRequest, client_id: FromPath[str]
    ) -> clients.ApiClientOut:
        return await clients.get_client(
            request.app.state.runtime, current_principal(request), client_id
        )

    @post(
        "/{client_id:str}/secrets",
        opt=require(Permission.API_CLIENTS_MANAGE),
        summary="Issue a new secret; the old ones stay valid for a day",
    )
    async def rotate_secret(
        self, request: AnyRequest, client_id: FromPath[str]
    ) -> clients.SecretRotated:
        return await clients.rotate_secret(
            request.app.state.runtime, current_principal(request), client_id
        )

    @delete(
        "/{client_id:str}",
        opt=require(Permission.API_CLIENTS_MANAGE),
        summary="Disable an API client and revoke its secrets",
        status_code=200,
    )
    async def disable_client(
        self, request: AnyRequest, client_id: FromPath[str]
    ) -> clients.ApiClientOut:
        return await clients.disable_client(
            request.app.state.runtime, current_principal(request), client_id
        )

    @post(
        "/{client_id:str}/keys",
        opt=require(Permission.API_CLIENTS_MANAGE),
        summary="Register a public key the client signs its records with",
        description=(
            'Send `{"jwk": {...}}`, the public key as a JWK: Ed25519 (`kty` OKP, signed '
            "Ed25519 or EdDSA) or P-256 (`kty` EC, signed ES256). The key id is the key's "
            "RFC 7638 thumbprint. A private key (a `d` member) is refused."
        ),
        status_code=201,
    )
    async def register_key(
        self,
        request: AnyRequest,
        client_id: FromPath[str],
        data: JSONBody[client_keys.ClientKeyCreate],
    ) -> client_keys.ClientKeyOut:
        return await client_keys.register_key(
            request.app.state.runtime, current_principal(request), client_id, data
        )

    @get(
        "/{client_id:str}/keys",
        opt=require(Permission.API_CLIENTS_MANAGE),
        summary="The client's public keys, active and revoked",
    )
    async def list_keys(
        self, request: AnyRequest, client_id: FromPath[str]
    ) -> list[client_keys.ClientKeyOut]:
        return await client_keys.list_keys(
            request.app.state.runtime, current_principal(request), client_id
        )

    @post(
        "/{client_id:str}/keys/{kid:str}/revoke",
        opt=require(Permission.API_CLIENTS_MANAGE),
        summary="Revoke a key at once: records signed with it from now on are refused",
        status_code=200,
    )
    async def revoke_key(
        self, request: AnyRequest, client_id: FromPath[str], kid: FromPath[str]
    ) -> client_keys.ClientKeyOut:
        return await client_keys.revoke_key(
            request.app.state.runtime, current_principal(request), client_id, kid
        )


class KeyRotated(msgspec.Struct):
    purpose: str
    retired_kid: str | None
    kid: str


class KeyController(Controller):
    path = "/api/v1/keys"
    tags = ("keys",)

    @post(
        "/{purpose:str}/rotate",
        opt=require(Permission.KEYS_MANAGE),
        summary="Rotate a signing key (the old one still verifies)",
        status_code=200,
    )
    async def rotate(self, request: AnyRequest, purpose: FromPath[str]) -> KeyRotated:
        principal = current_principal(request)
        if purpose not in {"jws", "ledger"}:
            raise NotFound("no such key purpose")
        rotation = await request.app.state.runtime.keys.rotate_detailed(
            tenant_of(principal), purpose, actor=actor_of(principal)
        )
        return KeyRotated(purpose=purpose, retired_kid=rotation.retired_kid, kid=rotation.new.kid)
