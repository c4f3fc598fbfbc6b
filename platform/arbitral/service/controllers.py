"""Service routes: a case's service record, service by other means, the portal inbox,
and the SMS gateway's delivery reports."""

from __future__ import annotations

import hmac
from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import Stream

from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, public, require
from arbitral.errors import NotFound, ValidationFailed
from arbitral.notify.aliyun import parse_reports
from arbitral.notify.services import record_reports, resolve_secret
from arbitral.safejson import decode_json
from arbitral.service import documents, services
from arbitral.service.schemas import (
    CaseDocumentOut,
    CaseServiceOut,
    InboxItemOut,
    ReportAnswer,
    StaffServiceIn,
)

AnyRequest = Request[Any, Any, Any]


class CaseServiceController(Controller):
    path = "/api/v1/cases/{case_id:uuid}/service"
    tags = ("service",)

    @get(
        "/",
        opt=require(Permission.CASES_READ),
        summary="How the case's notices were served: requests, attempts, certificates",
        description=(
            "Every notice served on a party of the case (the ladder of the pinned rule set), "
            "each attempt with its channel, masked address, status and times, and the "
            "certificates of service (送达回证) with their SHA-256 and ledger leaf. To "
            "everyone on the case."
        ),
    )
    async def show(self, request: AnyRequest, case_id: FromPath[UUID]) -> CaseServiceOut:
        return await services.case_service(
            request.app.state.runtime, current_principal(request), case_id
        )

    @post(
        "/record",
        opt=require(Permission.CASES_MANAGE),
        summary="Record service by other means (post, in person, public notice)",
        description=(
            "For a notice the ladder could not serve (referred to the staff), or one served "
            "outside the platform: the method, a reason, and when it was served. The notice "
            "counts as served, with its certificate; the last respondent served with the "
            "notice of arbitration starts the answer period."
        ),
        status_code=200,
    )
    async def record(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[StaffServiceIn]
    ) -> CaseServiceOut:
        return await services.record_by_staff(
            request.app.state.runtime, current_principal(request), case_id, data
        )


class CaseDocumentsController(Controller):
    path = "/api/v1/cases/{case_id:uuid}/documents"
    tags = ("service",)

    @get(
        "/",
        opt=require(Permission.CASES_READ),
        summary="The case's signed documents you may see: awards, notices, certificates",
        description=(
            "Every signed PDF issued for the case (kind, verification code, SHA-256, ledger "
            "leaf). A notice served on a party (acceptance, arbitration, tribunal "
            "constitution, hearing) is also made as a formal document, and each served "
            "notice gets its certificate of service (送达回证, kind certificate_of_service, "
            "naming the SHA-256 of the PDF served). They are made by a job after the notice "
            "is sent, so they appear shortly after; service never depends on them: a "
            "commission without a document signer serves the text notice all the same, and "
            "the documents are missing until `arbitral keys issue-document-signer` (or "
            "`import-document-signer`) gives it one. The staff and the tribunal see every "
            "document; a party's side sees the awards and the notices and certificates of "
            "the parties of its own side, not the other side's."
        ),
    )
    async def index(self, request: AnyRequest, case_id: FromPath[UUID]) -> list[CaseDocumentOut]:
        return await documents.list_documents(
            request.app.state.runtime, current_principal(request), case_id
        )

    @get(
        "/{document_id:uuid}",
        opt=require(Permission.CASES_READ),
        summary="One signed document of the case, as its PDF (every download audited)",
        media_type="application/pdf",
    )
    async def download(
        self, request: AnyRequest, case_id: FromPath[UUID], document_id: FromPath[UUID]
    ) -> Stream:
        runtime = request.app.state.runtime
        key, name, size = await documents.open_document(
            runtime, current_principal(request), case_id, document_id
        )
        return Stream(
            runtime.store.open(key),
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Content-Length": str(size),
                "Cache-Control": "private, no-store",
            },
        )


class InboxController(Controller):
    path = "/api/v1/inbox"
    tags = ("service",)

    @get(
        "/",
        opt=require(Permission.TENANT_READ),
        summary="Your notices (the portal inbox), newest first",
        description=(
            "Listing the inbox shows its notices to you: a notice served through the portal "
            "counts as delivered from then."
        ),
    )
    async def index(self, request: AnyRequest) -> list[InboxItemOut]:
        return await services.list_inbox(request.app.state.runtime, current_principal(request))

    @post(
        "/{notice_id:uuid}/open",
        opt=require(Permission.TENANT_READ),
        summary="Open one of your notices (recorded once; it serves the notice)",
        status_code=200,
    )
    async def open(self, request: AnyRequest, notice_id: FromPath[UUID]) -> InboxItemOut:
        return await services.open_item(
            request.app.state.runtime, current_principal(request), notice_id
        )


class SmsReportController(Controller):
    path = "/hooks/sms"
    tags = ("service",)

    @post(
        "/aliyun/{token:str}",
        opt=public(),
        summary="Delivery reports pushed by the SMS gateway (Alibaba Cloud SmsReport)",
        description=(
            "A JSON array of reports, each naming our message by `out_id` and the gateway's "
            "`biz_id`. The URL's secret token authenticates the gateway. Answered "
            '`{"code": 0}` when every report is recorded (again: a report twice has one '
            "effect), `code` 1 when one came before its message was recorded as sent (the "
            "gateway pushes it again)."
        ),
        request_max_body_size=1024 * 1024,
        status_code=200,
    )
    async def aliyun(self, request: AnyRequest, token: FromPath[str]) -> ReportAnswer:
        runtime = request.app.state.runtime
        sms = runtime.settings.sms
        if sms is None:
            raise NotFound("no SMS gateway is configured")
        expected = resolve_secret(sms.variable, sms.report_token_ref)
        if not hmac.compare_digest(token.encode(), expected.encode()):
            raise NotFound("no such report endpoint")
        try:
            reports, _ = parse_reports(decode_json(await request.body()))
        except ValueError as exc:
            raise ValidationFailed(f"not an SmsReport push: {exc}") from None
        result = await record_reports(runtime, reports)
        if result.early:
            return ReportAnswer(code=1, msg="some messages are not recorded yet; push again")
        return ReportAnswer(code=0, msg="接收成功")
