"""Request and response types of the payments API (money as strings: ``"1250.00"``)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class InvoiceLineOut(msgspec.Struct):
    name: str
    label_zh: str
    label_en: str
    amount: str
    discount: str
    due: str


class RefundOut(msgspec.Struct):
    id: UUID
    kind: str  # withdrawal (by the rules), staff, late_payment (paid after the case closed)
    amount: str
    lines: dict[str, str]
    reason: str
    status: str  # pending, succeeded, failed
    requested_by: str
    created_at: datetime
    completed_at: datetime | None
    detail: str


class PaymentEventOut(msgspec.Struct):
    """What a provider told us (shown to the commission's staff)."""

    event_id: str
    trade_no: str
    trade_status: str
    amount: str | None
    effect: str
    reason: str
    received_at: datetime


class InvoiceOut(msgspec.Struct):
    id: UUID
    case_id: UUID
    kind: str  # its subject: claim, counterclaim
    payer: str  # the side that pays: claimant, respondent
    status: str  # open, paid, cancelled
    currency: str
    total: str
    lines: list[InvoiceLineOut]
    rule_set: str
    rule_set_version: str
    issued_at: datetime
    due_at: datetime
    out_trade_no: str
    paid_at: datetime | None
    paid_amount: str | None
    paid_via: str | None
    trade_no: str | None
    refunded_amount: str
    refunds: list[RefundOut]
    events: list[PaymentEventOut]
    # A case of a lender's batch: its fees are a line of the batch's invoice, paid with it.
    batch_id: UUID | None = None


class CheckoutOut(msgspec.Struct):
    invoice_id: UUID
    provider: str
    out_trade_no: str
    amount: str
    currency: str
    expires_at: datetime
    url: str


class RefundIn(msgspec.Struct, forbid_unknown_fields=True):
    """A refund the commission's staff decide (rule sets before 1.2 state none)."""

    amount: str
    reason: str


class BatchInvoiceOut(msgspec.Struct):
    """The fees of a lender's batch: the sum of its cases' invoices, paid as one order."""

    id: UUID
    batch_id: UUID
    status: str  # open, paid, cancelled (every case closed unpaid)
    currency: str
    total: str
    cases: int  # the lines in the total
    lines: dict[str, int]  # the cases' invoices by status now: open, paid, cancelled
    open_for_additions: bool  # the acceptance job is still going through the batch
    issued_at: datetime
    due_at: datetime | None  # the earliest fee deadline of its cases
    closed_at: datetime | None
    acceptance_mode: str | None  # automatic (the commission's policy) or staff
    acceptance_by: str | None
    acceptance_started_at: datetime | None
    accepted_cases: int
    out_trade_no: str
    trade_no: str | None
    paid_at: datetime | None
    paid_amount: str | None
    events: list[PaymentEventOut]  # what the provider notified about it
