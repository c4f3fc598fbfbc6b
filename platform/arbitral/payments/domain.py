"""Invoices, provider notifications and refunds as plain values and decisions (no I/O).

An invoice is the fee assessment of a case, frozen when the case is accepted: its lines
(one per fee component of the rule set, with what is due after discounts), its total
and currency, and when it falls due. It is ``open`` until paid (``paid``) or until the
case closes unpaid (``cancelled``). What a verified provider notification does to it is
decided here (:func:`judge`), and so is what a withdrawal gives back
(:func:`withdrawal_refund`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final
from uuid import UUID

from arbitral.rules.fees import FeeAssessment
from arbitral.rules.refunds import STAGES, RefundRules

CENT: Final = Decimal("0.01")
ZERO: Final = Decimal("0.00")
PAID_STATUSES: Final = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"  # the case closed before the fees were paid


class Effect(StrEnum):
    """What a verified notification did."""

    PAID = "paid"  # the invoice is paid, the case moves to fee_paid
    IGNORED = "ignored"  # nothing to do (not a payment, or already paid)
    ANOMALY = "anomaly"  # recorded for the staff, the case does not move
    REFUND = "refund"  # paid after the case closed: recorded and given back


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class InvoiceLine:
    name: str
    label_zh: str
    label_en: str
    amount: Decimal
    discount: Decimal
    due: Decimal

    def as_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "label_zh": self.label_zh,
            "label_en": self.label_en,
            "amount": money(self.amount),
            "discount": money(self.discount),
            "due": money(self.due),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InvoiceLine:
        return cls(
            name=str(data["name"]),
            label_zh=str(data["label_zh"]),
            label_en=str(data["label_en"]),
            amount=Decimal(str(data["amount"])),
            discount=Decimal(str(data["discount"])),
            due=Decimal(str(data["due"])),
        )


def lines_of(assessment: FeeAssessment) -> tuple[InvoiceLine, ...]:
    return tuple(
        InvoiceLine(line.name, line.label_zh, line.label_en, line.amount, line.discount, line.due)
        for line in assessment.lines
    )


def money(value: Decimal) -> str:
    return f"{value.quantize(CENT):.2f}"


def out_trade_no(invoice_id: UUID) -> str:
    """The merchant's order number at the provider: unique across every commission."""
    return f"ARB{invoice_id.hex}"


def refund_request_no(refund_id: UUID) -> str:
    """The provider's idempotency key for one refund (``out_request_no``)."""
    return f"RF{refund_id.hex}"


@dataclass(frozen=True)
class Notice:
    """A provider's notification, verified and read into the fields that matter."""

    event_id: str
    out_trade_no: str
    trade_no: str
    trade_status: str
    amount: Decimal | None
    currency: str | None  # None: the provider's own (CNY for domestic Alipay trades)


@dataclass(frozen=True)
class Verdict:
    effect: Effect
    reason: str


def judge(
    notice: Notice, *, status: InvoiceStatus, total: Decimal, currency: str, trade_no: str | None
) -> Verdict:
    """What a verified notification does to the invoice it names."""
    if notice.trade_status not in PAID_STATUSES:
        return Verdict(Effect.IGNORED, f"trade_status {notice.trade_status}")
    if notice.amount is None or notice.amount != total:
        return Verdict(
            Effect.ANOMALY,
            f"amount_mismatch: paid {notice.amount}, the invoice is {money(total)}",
        )
    if (notice.currency or "CNY") != currency:
        return Verdict(
            Effect.ANOMALY, f"currency_mismatch: paid in {notice.currency}, invoice in {currency}"
        )
    if status is InvoiceStatus.PAID:
        if trade_no and trade_no != notice.trade_no:
            return Verdict(Effect.ANOMALY, f"paid_twice: trade {notice.trade_no} after {trade_no}")
        return Verdict(Effect.IGNORED, "already_paid")
    if status is InvoiceStatus.CANCELLED:
        return Verdict(Effect.REFUND, "paid_after_close")
    return Verdict(Effect.PAID, "paid")


def withdrawal_refund(
    rules: RefundRules | None, reached: str, lines: Iterable[InvoiceLine]
) -> dict[str, Decimal] | None:
    """Per fee component, what a claim withdrawn at stage ``reached`` gets back.

    None when the rule set says nothing about refunds (before 1.2): the commission's
    staff decide, with the refund endpoint. Components refunded nothing are left out.
    """
    if rules is None:
        return None
    if reached not in STAGES:
        return {}
    paid = {line.name: line.due for line in lines}
    return {
        name: amount for name, amount in rules.withdrawal_refund(reached, paid).items() if amount
    }


def refundable(total_paid: Decimal, refunded: Decimal, asked: Decimal) -> bool:
    return ZERO < asked <= total_paid - refunded
