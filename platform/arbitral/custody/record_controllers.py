"""Routes of records at source: a platform pushes a signed record; it and the staff read it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, require
from arbitral.custody import records

AnyRequest = Request[Any, Any, Any]


class CustodyRecordController(Controller):
    path = "/api/v1/custody/records"
    tags = ("custody",)

    @post(
        "/",
        opt=require(Permission.EVIDENCE_SUBMIT),
        summary="Push a transaction record signed by the platform (JWS)",
        description=(
            "For the API clients of trading platforms and lenders. The body is a compact "
            'JWS (`Content-Type: application/jose`), or `{"jws": "..."}` as JSON, at '
            "most 1 MiB, signed (Ed25519, EdDSA or ES256) with one of the client's "
            "registered keys, named by `kid`. Its payload: `type` (order, payment, "
            "logistics, chat, loan_disbursement, loan_repayment, loan_contract), "
            "`record_id` (the platform's own id), `occurred_at` (RFC 3339 with offset), "
            "`data` (an object) and optionally `subject`. 201 with the record and its "
            "receipt; the same record id sent again with the same payload answers 200 "
            "with the first record, with another payload 409."
        ),
        request_max_body_size=None,  # 1 MiB, counted while reading: a precise 413
        status_code=201,
    )
    async def submit(self, request: AnyRequest) -> Response[records.RecordReceived]:
        length = request.headers.get("content-length")
        received, new = await records.submit(
            request.app.state.runtime,
            current_principal(request),
            request.stream(),
            media_type=request.content_type[0],
            declared_length=int(length) if length and length.isdigit() else None,
        )
        return Response(received, status_code=201 if new else 200)

    @get(
        "/{record_uuid:uuid}",
        opt=require(Permission.TENANT_READ),
        summary="One record: its parsed form, its provenance and the JWS it came as",
    )
    async def show(
        self, request: AnyRequest, record_uuid: FromPath[UUID]
    ) -> records.CustodyRecordShown:
        return await records.show(
            request.app.state.runtime, current_principal(request), record_uuid
        )
