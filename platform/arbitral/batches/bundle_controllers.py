"""Route of contract bundles: a ZIP of a batch's evidence, taken into custody file by file."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, post

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.batches import bundle

AnyRequest = Request[Any, Any, Any]


class BundleItemOut(msgspec.Struct):
    """A file in custody: its path in the archive, what it is, and its custody item."""

    name: str
    sha256: str
    size: int
    media_type: str
    item_id: UUID
    new: bool  # false: the submitter held these bytes already (that item is named)


class BundleRefusalOut(msgspec.Struct):
    """A file not taken in: its path in the archive and the rule it broke."""

    name: str
    rule: str
    message: str


class BundleOut(msgspec.Struct):
    sha256: str
    size: int
    items: list[BundleItemOut]
    refused: list[BundleRefusalOut]
    skipped: list[str]


def manifest_out(manifest: bundle.Manifest) -> BundleOut:
    return BundleOut(
        sha256=manifest.sha256,
        size=manifest.size,
        items=[
            BundleItemOut(i.name, i.sha256, i.size, i.media_type, i.item_id, i.new)
            for i in manifest.items
        ],
        refused=[BundleRefusalOut(r.name, r.rule, r.message) for r in manifest.refused],
        skipped=manifest.skipped,
    )


class BundleController(Controller):
    path = "/api/v1/bundles"
    tags = ("custody",)

    @post(
        "/",
        opt=require(Permission.EVIDENCE_SUBMIT),
        summary="Take a ZIP of evidence files into custody, file by file (the body, streamed)",
        description=(
            "For lenders' API clients. The body is a ZIP file; `X-Content-SHA256` (hex) may "
            "declare its hash. The archive is checked as an uploaded ZIP is (unsafe or "
            "duplicate names, encryption, sizes, ratios, entry count, nesting): a bundle "
            "that is unreadable or breaks those limits is refused whole (422 naming the "
            "entry and the rule) and nothing is stored. Each file is then inspected and "
            "taken into custody as a single upload is (its own item, ledger leaf and audit "
            "event); a file refused on its own is listed under `refused` and the others "
            "stand. A file whose SHA-256 the client already holds in custody is not "
            "recorded again: its item is listed with `new` false, so a bundle sent again "
            "gives the same items. An optional top-level `manifest.json` maps entry names "
            "to `{title, description, proves}`. Receipts: "
            "`GET /api/v1/custody/items/{item_id}/receipt`."
        ),
        request_max_body_size=None,  # the rule set's archive limit applies, while streaming
        status_code=201,
    )
    async def upload(self, request: AnyRequest) -> BundleOut:
        length = request.headers.get("content-length")
        manifest = await bundle.receive_bundle(
            request.app.state.runtime,
            current_principal(request),
            request.stream(),
            declared_length=int(length) if length and length.isdigit() else None,
            declared_sha256=request.headers.get("x-content-sha256"),
        )
        return manifest_out(manifest)
