"""Payment routes: a case's invoice, its checkout, staff refunds, a batch's invoice and its
checkout, the provider's notify."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from arbitral.auth.controllers import tenant_by_slug
from arbitral.auth.domain import Permission
from arbitral.auth.guards import current_principal, public, require
from arbitral.errors import ValidationFailed
from arbitral.payments import batch, services
from arbitral.payments.schemas import BatchInvoiceOut, CheckoutOut, InvoiceOut, RefundIn

AnyRequest = Request[Any, Any, Any]
MAX_NOTIFY = 64 * 1024


class InvoiceController(Controller):
    path = "/api/v1/cases/{case_id:uuid}/invoice"
    tags = ("payments",)

    @get(
        "/",
        opt=require(Permission.CASES_READ),
        summary="The case's fees: the invoice, its payment and refunds",
        description=(
            "Assessed from the case's pinned rule-set version when the case was accepted: "
            "one line per fee component, the total, and the time limit to pay (counted "
            "in the commission's calendar). The commission's staff also see what the "
            "payment provider notified. `subject=counterclaim`: the fee of the respondent's "
            "counterclaim instead (assessed when it was filed, paid by the respondent side)."
        ),
    )
    async def show(
        self, request: AnyRequest, case_id: FromPath[UUID], subject: FromQuery[str] = services.CLAIM
    ) -> InvoiceOut:
        return await services.get_invoice(
            request.app.state.runtime, current_principal(request), case_id, subject
        )

    @post(
        "/checkout",
        opt=require(Permission.CASES_FILE),
        summary="Pay the fees: the payment provider's checkout URL (the payer's side)",
        description=(
            "The claim's fees by the claimant side; with `subject=counterclaim`, the fee of "
            "the respondent's counterclaim by the respondent side. Idempotent: every "
            "checkout of an invoice names the same merchant order, so the provider never "
            "opens a second one. 409 when the invoice is paid or void or the time limit "
            "ran out; 503 when no provider is configured."
        ),
        status_code=200,
    )
    async def checkout(
        self, request: AnyRequest, case_id: FromPath[UUID], subject: FromQuery[str] = services.CLAIM
    ) -> CheckoutOut:
        return await services.checkout(
            request.app.state.runtime, current_principal(request), case_id, subject
        )

    @post(
        "/refunds",
        opt=require(Permission.CASES_MANAGE),
        summary="Refund an amount, with a reason (the commission's staff)",
        description=(
            "For rule sets that state no refunds (before 1.2), and for what they do not "
            "cover. Never more than what was paid and not yet refunded."
        ),
        status_code=201,
    )
    async def refund(
        self, request: AnyRequest, case_id: FromPath[UUID], data: JSONBody[RefundIn]
    ) -> InvoiceOut:
        return await services.staff_refund(
            request.app.state.runtime, current_principal(request), case_id, data
        )


class BatchInvoiceController(Controller):
    path = "/api/v1/batches/{batch_id:uuid}/invoice"
    tags = ("payments",)

    @get(
        "/",
        opt=require(Permission.TENANT_READ),
        summary="The batch's invoice: the fees of its accepted cases, paid as one order",
        description=(
            "For the lender API client that submitted the batch and the commission's "
            "staff (anyone else: 404). Each accepted case keeps its own invoice (its fee "
            "lines, its deadline, its refunds); this is their sum. It can be paid once it "
            "is no longer open for additions (the acceptance of the batch has finished); "
            "`due_at` is the earliest fee deadline of its cases."
        ),
    )
    async def show(self, request: AnyRequest, batch_id: FromPath[UUID]) -> BatchInvoiceOut:
        return await batch.get_batch_invoice(
            request.app.state.runtime, current_principal(request), batch_id
        )

    @post(
        "/checkout",
        opt=require(Permission.BATCHES_SUBMIT),
        summary="Pay the batch's fees: the payment provider's checkout URL (the lender)",
        description=(
            "By the lender API client that submitted the batch. Idempotent: one merchant "
            "order per batch invoice, for its total. Once the provider notifies the "
            "payment, every case of the batch moves to fee_paid (by a job, in chunks) and "
            "its respondents are served. 409 while the batch's cases are being accepted, "
            "when the invoice is paid or void or the time limit ran out; 503 when no "
            "provider is configured."
        ),
        status_code=200,
    )
    async def checkout(self, request: AnyRequest, batch_id: FromPath[UUID]) -> CheckoutOut:
        return await batch.checkout_batch(
            request.app.state.runtime, current_principal(request), batch_id
        )


class PaymentNotifyController(Controller):
    path = "/t/{tenant_slug:str}/payments"
    tags = ("payments",)

    @post(
        "/alipay/notify",
        opt=public(),
        summary="Alipay's asynchronous notification (signed by Alipay, form-encoded)",
        description=(
            "Verified with the Alipay public key (RSA2 over the sorted parameters, sign and "
            "sign_type left out). Answers `success` once the notification is kept (again "
            "for a repeated one, which has no second effect); a forged or altered one gets "
            "400 `failure` and is audited."
        ),
        status_code=200,
        request_max_body_size=MAX_NOTIFY,
        media_type=MediaType.TEXT,
    )
    async def alipay_notify(self, request: AnyRequest, tenant_slug: FromPath[str]) -> Response[str]:
        tenant = await tenant_by_slug(request, tenant_slug)
        body = await request.body()
        try:
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise ValidationFailed("the notification is not UTF-8") from None
        answer = await services.take_notification(
            request.app.state.runtime, tenant, "alipay", params
        )
        return Response(answer.body, status_code=answer.status, media_type=MediaType.TEXT)
