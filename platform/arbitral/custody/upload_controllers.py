"""Routes of resumable uploads: open a session, send parts, see what arrived, complete, abort."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import FromPath, JSONBody

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.custody import uploads
from arbitral.custody.controllers import item_out
from arbitral.custody.schemas import Received, UploadCreateIn, UploadOut

AnyRequest = Request[Any, Any, Any]


def _out(session: uploads.UploadSession) -> UploadOut:
    return UploadOut(
        upload_id=session.id,
        state=session.state,
        filename=session.meta.filename,
        title=session.meta.title,
        size=session.size,
        sha256=session.sha256,
        part_size=session.part_size,
        parts=session.parts,
        received=session.received,
        missing=session.missing if session.state == uploads.OPEN else [],
        created_at=session.created_at,
        expires_at=session.expires_at,
        item_id=session.item_id,
    )


class CustodyUploadController(Controller):
    path = "/api/v1/custody/uploads"
    tags = ("custody",)

    @post(
        "/",
        opt=require(Permission.EVIDENCE_SUBMIT),
        summary="Open a resumable upload (a file sent in parts)",
        description=(
            "Announce the file: `filename`, `title` (and `description`, `proves`), its "
            "`size` in bytes and `sha256` (hex), and optionally `part_size` (5 MiB to "
            "5 GiB, 8 MiB by default; every part but the last has that size). The "
            "answer names the upload, the number of parts and when it expires (24 hours "
            "after it opens: unfinished, its parts are removed)."
        ),
        status_code=201,
    )
    async def create(self, request: AnyRequest, data: JSONBody[UploadCreateIn]) -> UploadOut:
        session = await uploads.create(
            request.app.state.runtime,
            current_principal(request),
            uploads.UploadCreate(
                filename=data.filename,
                title=data.title,
                size=data.size,
                sha256=data.sha256,
                description=data.description,
                proves=data.proves,
                part_size=data.part_size,
            ),
        )
        return _out(session)

    @get(
        "/{upload_id:uuid}",
        opt=require(Permission.TENANT_READ),
        summary="A resumable upload: which parts have arrived (to resume), and its state",
    )
    async def show(self, request: AnyRequest, upload_id: FromPath[UUID]) -> UploadOut:
        runtime = request.app.state.runtime
        return _out(await uploads.access_upload(runtime, current_principal(request), upload_id))

    @put(
        "/{upload_id:uuid}/parts/{number:int}",
        opt=require(Permission.EVIDENCE_SUBMIT),
        summary="Send one part (the request body, streamed); sent again, it replaces the first",
        description=(
            "Parts are numbered from 1; each has exactly `part_size` bytes but the last. "
            "`X-Content-SHA256` (hex) may declare the part's hash. A part of the wrong "
            "size or hash is refused (413, 400 or 422, naming the field) and must be sent "
            "again. The answer is the upload, with the parts received so far."
        ),
        request_max_body_size=None,  # the part's own size applies, counted while streaming
        status_code=200,
    )
    async def part(
        self, request: AnyRequest, upload_id: FromPath[UUID], number: FromPath[int]
    ) -> UploadOut:
        length = request.headers.get("content-length")
        session = await uploads.put_part(
            request.app.state.runtime,
            current_principal(request),
            upload_id,
            number,
            request.stream(),
            declared_length=int(length) if length and length.isdigit() else None,
            declared_sha256=request.headers.get("x-content-sha256"),
        )
        return _out(session)

    @post(
        "/{upload_id:uuid}/complete",
        opt=require(Permission.EVIDENCE_SUBMIT),
        summary="Assemble the parts and take the file into custody",
        description=(
            "Every part must have arrived (409 names those missing). The whole is hashed "
            "and checked as a single upload is (size, SHA-256, type, archives), stored "
            "under its hash and logged: 201 with the item and its receipt. Completed "
            "already: 200 with the same item. A refusal stores nothing; the upload stays "
            "open."
        ),
        status_code=201,
    )
    async def complete(self, request: AnyRequest, upload_id: FromPath[UUID]) -> Response[Received]:
        item, receipt, new = await uploads.complete(
            request.app.state.runtime, current_principal(request), upload_id
        )
        return Response(
            Received(item=item_out(item), receipt=receipt), status_code=201 if new else 200
        )

    @delete(
        "/{upload_id:uuid}",
        opt=require(Permission.EVIDENCE_SUBMIT),
        summary="Abort a resumable upload and remove its parts",
    )
    async def abort(self, request: AnyRequest, upload_id: FromPath[UUID]) -> None:
        await uploads.abort(request.app.state.runtime, current_principal(request), upload_id)
