"""The webhooks API: an API client's own endpoint (where its events go)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post, put
from litestar.params import JSONBody

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.webhooks import services
from arbitral.webhooks.schemas import EndpointOut, EndpointPut

AnyRequest = Request[Any, Any, Any]

_PROTOCOL = (
    "Events are POSTed as JSON with Standard Webhooks headers: `webhook-id` (the event id, "
    "the same on every retry), `webhook-timestamp` (Unix seconds) and `webhook-signature` "
    '(`v1,` + base64 HMAC-SHA256 of `"{id}.{timestamp}.{body}"` under the secret\'s bytes). '
    "Answer 2xx within 10 s; anything else is retried (30 s, 2 min, 10 min, 1 h, 6 h, "
    "12 h, 12 h), then given up."
)


class WebhookEndpointController(Controller):
    path = "/api/v1/webhooks/endpoint"
    tags = ("webhooks",)

    @put(
        "/",
        opt=require(Permission.CASES_FILE),
        summary="Register or change where this API client's webhooks go",
        description="A new endpoint answers its signing secret (`whsec_...`) once. " + _PROTOCOL,
    )
    async def put_endpoint(self, request: AnyRequest, data: JSONBody[EndpointPut]) -> EndpointOut:
        return await services.put_endpoint(
            request.app.state.runtime, current_principal(request), data
        )

    @get("/", opt=require(Permission.CASES_FILE), summary="This API client's webhook endpoint")
    async def get_endpoint(self, request: AnyRequest) -> EndpointOut:
        return await services.get_endpoint(request.app.state.runtime, current_principal(request))

    @post(
        "/rotate",
        opt=require(Permission.CASES_FILE),
        summary="A new signing secret (shown once); the old one still signs for 24 hours",
        status_code=200,
    )
    async def rotate(self, request: AnyRequest) -> EndpointOut:
        return await services.rotate_secret(request.app.state.runtime, current_principal(request))

    @delete("/", opt=require(Permission.CASES_FILE), summary="Stop sending webhooks")
    async def disable(self, request: AnyRequest) -> None:
        await services.disable_endpoint(request.app.state.runtime, current_principal(request))
