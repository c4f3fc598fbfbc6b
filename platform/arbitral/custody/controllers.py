"""Custody routes: upload an item (streamed), read it, download it, get its receipt."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery

from arbitral.auth.domain import Permission
from arbitral.auth.guards import principal_of, require
from arbitral.custody import services
from arbitral.custody.schemas import CustodyItemOut, DownloadLink, Received

AnyRequest = Request[Any, Any, Any]
DOWNLOAD_SECONDS = 300


def item_out(item: services.CustodyItem) -> CustodyItemOut:
    return CustodyItemOut(
        id=item.id,
        sha256=item.sha256,
        size=item.size,
        media_type=item.media_type,
        filename=item.filename,
        title=item.title,
        description=item.description,
        proves=item.proves,
        provenance=item.provenance,
        submitted_by=item.submitted_by,
        leaf_index=item.leaf_index,
        created_at=item.created_at,
    )


class CustodyController(Controller):
    path = "/api/v1/custody/items"
    tags = ("custody",)

    @post(
        "/",
        opt=require(Permission.EVIDENCE_SUBMIT),
        summary="Take a file into custody (the request body is the file, streamed)",
        description=(
            "Send the file's bytes as the body (any Content-Type). Name it with `filename` "
            "and `title`; `X-Content-SHA256` (hex) declares its hash, and a file that hashes "
            "differently is refused. The type is read from the bytes, not from the name, and "
            "must be one the commission's rule set allows. The answer holds the item and its "
            "receipt: its leaf in the commission's transparency log, a signed tree head and "
            "the inclusion proof."
        ),
        request_max_body_size=None,  # the rule set's limit applies, counted while streaming
        status_code=201,
    )
    async def upload(
        self,
        request: AnyRequest,
        filename: FromQuery[str],
        title: FromQuery[str],
        description: FromQuery[str] = "",
        proves: FromQuery[str] = "",
    ) -> Received:
        principal = principal_of(request)
        assert principal is not None
        length = request.headers.get("content-length")
        item, receipt = await services.receive(
            request.app.state.runtime,
            principal,
            request.stream(),
            services.UploadMeta(filename, title, description, proves),
            declared_length=int(length) if length and length.isdigit() else None,
            declared_sha256=request.headers.get("x-content-sha256"),
        )
        return Received(item=item_out(item), receipt=receipt)

    @get("/{item_id:uuid}", opt=require(Permission.TENANT_READ), summary="One item's record")
    async def show(self, request: AnyRequest, item_id: FromPath[UUID]) -> CustodyItemOut:
        principal = principal_of(request)
        assert principal is not None
        return item_out(await services.access_item(request.app.state.runtime, principal, item_id))

    @get(
        "/{item_id:uuid}/download",
        opt=require(Permission.TENANT_READ),
        summary="A short-lived link to the item's bytes (the access is recorded)",
    )
    async def download(
        self, request: AnyRequest, item_id: FromPath[UUID], expires_in: FromQuery[int] = 300
    ) -> DownloadLink:
        principal = principal_of(request)
        assert principal is not None
        seconds = max(10, min(expires_in, DOWNLOAD_SECONDS))
        item, url = await services.download_url(
            request.app.state.runtime, principal, item_id, expires_in=seconds
        )
        return DownloadLink(url=url, expires_in=seconds, sha256=item.sha256)

    @get(
        "/{item_id:uuid}/receipt",
        opt=require(Permission.TENANT_READ),
        summary="The item's receipt under the latest signed tree head",
    )
    async def receipt(self, request: AnyRequest, item_id: FromPath[UUID]) -> dict[str, Any]:
        principal = principal_of(request)
        assert principal is not None
        return await services.item_receipt(request.app.state.runtime, principal, item_id)
