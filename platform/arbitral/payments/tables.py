"""Tables of the payments context: invoices, what providers told us, refunds.

``payment_event`` keeps every verified notification once (a unique key on the tenant,
the provider and the provider's notification id): the same notification delivered again
finds its row and has no second effect. ``payment_refund`` rows carry the idempotency
key the provider is called with (``out_request_no``), so a refund job run twice refunds
once at the provider.
"""

from __future__ import annotations

from decimal import Decimal

from piccolo.columns import JSON, UUID, Integer, Numeric, Text, Timestamptz, Varchar
from piccolo.table import Table


class PaymentInvoice(Table, tablename="payment_invoice"):
    """Fees of one case, assessed from its pinned rule set.

    Its subject (``kind``) is the claim (invoiced when the case is accepted, paid by
    the claimant side) or the respondent's counterclaim (invoiced when it is filed,
    paid by the respondent side); ``payer`` is the side that pays.
    """

    id = UUID(primary_key=True)
    tenant_id = UUID()
    case_id = UUID()
    kind = Varchar(length=20, default="claim")
    payer = Varchar(length=20, default="claimant")
    counterclaim_id = UUID(null=True, default=None)
    rule_set = Varchar(length=100)
    rule_set_version = Varchar(length=20)
    currency = Varchar(length=3)
    total = Numeric(digits=(16, 2))
    lines = JSON()
    assessment = JSON()
    status = Varchar(length=16, default="open")
    issued_at = Timestamptz()
    due_at = Timestamptz()
    # The provider's side: the merchant order number and, once paid, the trade.
    provider = Varchar(length=20, null=True, default=None)
    out_trade_no = Varchar(length=64)
    trade_no = Varchar(length=64, null=True, default=None)
    checkout_started_at = Timestamptz(null=True, default=None)
    paid_at = Timestamptz(null=True, default=None)
    paid_amount = Numeric(digits=(16, 2), null=True, default=None)
    paid_via = Varchar(length=20, null=True, default=None)
    refunded_amount = Numeric(digits=(16, 2), default=Decimal("0.00"))
    settled_at = Timestamptz(null=True, default=None)
    # A case of a lender's batch: its fees are a line of the batch's invoice, paid with it.
    batch_id = UUID(null=True, default=None)


class PaymentEvent(Table, tablename="payment_event"):
    """A verified notification from a payment provider, kept once, with what it did."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    invoice_id = UUID(null=True, default=None)
    provider = Varchar(length=20)
    event_id = Varchar(length=128)
    out_trade_no = Varchar(length=64)
    trade_no = Varchar(length=64)
    trade_status = Varchar(length=32)
    amount = Numeric(digits=(16, 2), null=True, default=None)
    effect = Varchar(length=16)
    reason = Text(default="")
    params = JSON()
    received_at = Timestamptz()
    # A notification about a batch's invoice (``invoice_id`` is then None).
    batch_invoice_id = UUID(null=True, default=None)


class PaymentRefund(Table, tablename="payment_refund"):
    """Money given back on an invoice: by the rules on withdrawal, or by the staff."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    invoice_id = UUID()
    case_id = UUID()
    kind = Varchar(length=20)
    amount = Numeric(digits=(16, 2))
    lines = JSON()
    reason = Text(default="")
    requested_by = Varchar(length=200)
    out_request_no = Varchar(length=64)
    status = Varchar(length=16, default="pending")
    attempts = Integer(default=0)
    result = JSON()
    created_at = Timestamptz()
    completed_at = Timestamptz(null=True, default=None)


class BatchInvoice(Table, tablename="batch_invoice"):
    """The fees of a lender's batch: one order at the provider for all its cases.

    Each accepted case of the batch keeps its own ``payment_invoice`` (its fee lines, its
    deadline, its refunds), with ``batch_id`` set; this row is their sum, checked out once
    by the lender. It is opened when the batch's acceptance starts (or its first case is
    accepted), its total follows the cases as they are accepted, and it is closed for
    additions (``closed_at``) when the acceptance job has gone through the batch: only
    then can it be paid. ``acceptance_*`` record who asked for the acceptance run.
    """

    id = UUID(primary_key=True)
    tenant_id = UUID()
    batch_id = UUID()
    # The lender's API client that submitted the batch (the one that pays).
    client_id = Varchar(length=64, null=True, default=None)
    currency = Varchar(length=3, default="CNY")
    total = Numeric(digits=(16, 2), default=Decimal("0.00"))
    cases = Integer(default=0)
    # open -> paid | cancelled (every case closed unpaid)
    status = Varchar(length=16, default="open")
    issued_at = Timestamptz()
    # The earliest fee deadline of its cases (unpaid then, they are deemed withdrawn).
    due_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    # automatic (the commission's policy) or staff (POST /batches/{id}/accept)
    acceptance_mode = Varchar(length=16, null=True, default=None)
    acceptance_by = Varchar(length=200, null=True, default=None)
    acceptance_reason = Text(default="")
    acceptance_started_at = Timestamptz(null=True, default=None)
    accepted_cases = Integer(default=0)
    provider = Varchar(length=20, null=True, default=None)
    out_trade_no = Varchar(length=64)
    trade_no = Varchar(length=64, null=True, default=None)
    checkout_started_at = Timestamptz(null=True, default=None)
    paid_at = Timestamptz(null=True, default=None)
    paid_amount = Numeric(digits=(16, 2), null=True, default=None)
    settled_at = Timestamptz(null=True, default=None)
