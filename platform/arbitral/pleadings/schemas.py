"""Request and response types of the pleadings API."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class AnswerIn(msgspec.Struct, forbid_unknown_fields=True):
    """The respondent's answer: its text and, optionally, exhibits of its side it relies on."""

    text: str
    exhibit_ids: list[UUID] = msgspec.field(default_factory=list)


class AnswerOut(msgspec.Struct):
    id: UUID
    case_id: UUID
    text: str
    sha256: str
    exhibit_ids: list[UUID]
    submitted_by: str
    submitted_at: datetime


class CounterclaimIn(msgspec.Struct, forbid_unknown_fields=True):
    """The respondent's counterclaim: checked against the case type's claim form.

    ``claims`` and ``facts_and_reasons`` as the claim form's fields of those names,
    ``amount`` as its ``amount_claimed`` (yuan as a string: ``"1200.00"``).
    """

    claims: Any = None
    amount: Any = None
    facts_and_reasons: Any = None


class CounterclaimFeeOut(msgspec.Struct):
    invoice_id: UUID
    status: str  # open, paid, cancelled
    currency: str
    total: str
    due_at: datetime
    paid_at: datetime | None


class CounterclaimOut(msgspec.Struct):
    id: UUID
    case_id: UUID
    status: str  # pending_fee, standing, deemed_withdrawn
    claims: str
    amount: str
    facts_and_reasons: str
    sha256: str
    filed_by: str
    filed_at: datetime
    paid_at: datetime | None
    withdrawn_at: datetime | None
    fee: CounterclaimFeeOut | None
    # The claimant's period to answer the counterclaim, once its fee is paid.
    answer_due_at: datetime | None
    # The claimant's answer, if it gave one within that period.
    answer: CounterclaimAnswerOut | None = None


class CounterclaimAnswerIn(msgspec.Struct, forbid_unknown_fields=True):
    """The claimant's answer to the counterclaim (its text)."""

    text: str


class CounterclaimAnswerOut(msgspec.Struct):
    text: str
    sha256: str
    answered_by: str
    answered_at: datetime
