"""Ledger routes: the witness registry (commission admin) and the public log protocol.

The public routes under ``/t/{tenant_slug}/ledger`` are what witnesses, courts
and anyone holding a receipt call, without an account: the latest signed head
and its cosignatures, earlier heads, consistency proofs, the published
witnesses, and the intake of cosignatures (a witness authenticates by its
signature). :mod:`arbitral.ledger.witness` describes the protocol.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from arbitral.auth.controllers import tenant_by_slug
from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, public, require
from arbitral.ledger import witness
from arbitral.ledger.witness import (
    MAX_REQUIRED,
    ConsistencyOut,
    CosignatureIn,
    CosignatureOut,
    HeadOut,
    PublishedWitnesses,
    WitnessCreate,
    WitnessOut,
)

AnyRequest = Request[Any, Any, Any]
Required = Annotated[
    int,
    QueryParameter(
        description=f"k (0 to {MAX_REQUIRED}): how many cosignatures of active witnesses the "
        "head needs; the commission states k where it publishes its witnesses",
    ),
]
NO_CACHE = {"Cache-Control": "no-cache"}


class WitnessController(Controller):
    path = "/api/v1/ledger/witnesses"
    tags = ("ledger",)

    @post(
        "/",
        opt=require(Permission.KEYS_MANAGE),
        summary="Register a witness of the commission's log (an Ed25519 public JWK)",
        status_code=201,
    )
    async def register(self, request: AnyRequest, data: JSONBody[WitnessCreate]) -> WitnessOut:
        return await witness.register_witness(
            request.app.state.runtime, current_principal(request), data
        )

    @get("/", opt=require(Permission.KEYS_MANAGE), summary="The commission's witnesses")
    async def list_witnesses(self, request: AnyRequest) -> list[WitnessOut]:
        return await witness.list_witnesses(request.app.state.runtime, current_principal(request))

    @post(
        "/{witness_id:uuid}/deactivate",
        opt=require(Permission.KEYS_MANAGE),
        summary="Stop counting a witness's cosignatures",
        status_code=200,
    )
    async def deactivate(self, request: AnyRequest, witness_id: FromPath[UUID]) -> WitnessOut:
        return await witness.deactivate_witness(
            request.app.state.runtime, current_principal(request), witness_id
        )


class PublicLedgerController(Controller):
    path = "/t/{tenant_slug:str}/ledger"
    tags = ("ledger",)

    @get(
        "/head",
        opt=public(),
        summary="The latest signed tree head, its cosignatures and whether k of them count",
    )
    async def head(
        self, request: AnyRequest, tenant_slug: FromPath[str], required: Required = 1
    ) -> Response[HeadOut]:
        tenant = await tenant_by_slug(request, tenant_slug)
        out = await witness.head_view(request.app.state.runtime, tenant.id, required=required)
        return Response(out, headers=NO_CACHE)

    @get(
        "/heads/{tree_size:int}",
        opt=public(),
        summary="The latest signed head of a given tree size, with its cosignatures",
    )
    async def head_of_size(
        self,
        request: AnyRequest,
        tenant_slug: FromPath[str],
        tree_size: FromPath[int],
        required: Required = 1,
    ) -> Response[HeadOut]:
        tenant = await tenant_by_slug(request, tenant_slug)
        out = await witness.head_view(
            request.app.state.runtime, tenant.id, tree_size=tree_size, required=required
        )
        return Response(out, headers=NO_CACHE)

    @get(
        "/consistency",
        opt=public(),
        summary="The consistency proof between two tree sizes (RFC 9162 §2.1.4)",
    )
    async def consistency(
        self,
        request: AnyRequest,
        tenant_slug: FromPath[str],
        first: FromQuery[int],
        second: FromQuery[int],
    ) -> Response[ConsistencyOut]:
        tenant = await tenant_by_slug(request, tenant_slug)
        out = await witness.consistency_view(request.app.state.runtime, tenant.id, first, second)
        # The proof between two sizes never changes.
        return Response(out, headers={"Cache-Control": "public, max-age=86400"})

    @get("/witnesses", opt=public(), summary="The commission's active witnesses and their keys")
    async def witnesses(
        self, request: AnyRequest, tenant_slug: FromPath[str]
    ) -> PublishedWitnesses:
        tenant = await tenant_by_slug(request, tenant_slug)
        return await witness.published_witnesses(request.app.state.runtime, tenant.id)

    @post(
        "/cosignatures",
        opt=public(),
        summary="A witness's cosignature of a signed tree head (201 new, 200 already kept)",
        description=(
            "The witness authenticates by its signature: `cosignature` is a compact JWS "
            "(alg Ed25519, typ `arbitral-cosignature+jws`) by the registered witness "
            "`witness_kid` over the exact payload of the head `head_signature`."
        ),
        request_max_body_size=16 * 1024,
    )
    async def cosign(
        self, request: AnyRequest, tenant_slug: FromPath[str], data: JSONBody[CosignatureIn]
    ) -> Response[CosignatureOut]:
        tenant = await tenant_by_slug(request, tenant_slug)
        out = await witness.submit_cosignature(request.app.state.runtime, tenant.id, data)
        return Response(out, status_code=201 if out.created else 200)
