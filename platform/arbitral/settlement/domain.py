"""Settlement as rules (pure Python, no I/O).

The parties negotiate by offers (an amount and terms); the other side accepts,
rejects or answers with a counter-offer, the offering side may withdraw an offer
still open. The commission may assign a mediator (a member of its staff or an
arbitrator sitting on the case). Terms agreed (an accepted offer, or in
mediation) become a settlement agreement: one text, identified by its SHA-256,
that each side confirms by that hash, for its own side only. A signed agreement
ends the case as it says: a consent award or a mediation statement (recorded by
the staff or the tribunal: ``record_settlement``), or the claimant's withdrawal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Final

from arbitral.cases.domain import COMMANDS, CaseState, Side

MAX_TERMS: Final = 20_000
MAX_AMOUNT: Final = Decimal("1000000000000")


class OfferStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    COUNTERED = "countered"  # the other side answered with a counter-offer


class Decision(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    WITHDRAW = "withdraw"


class Outcome(StrEnum):
    """What the parties ask the agreement to become."""

    CONSENT_AWARD = "consent_award"  # 根据和解协议作出裁决书
    MEDIATION_STATEMENT = "mediation_statement"  # 调解书
    WITHDRAWAL = "withdrawal"  # 撤回仲裁申请


class AgreementStatus(StrEnum):
    PROPOSED = "proposed"
    SIGNED = "signed"  # both sides confirmed the same text
    SUPERSEDED = "superseded"  # another text was proposed before both signed
    CONCLUDED = "concluded"  # the case ended as the agreement says


class MediationResult(StrEnum):
    SETTLED = "settled"
    FAILED = "failed"


DOCUMENTS: Final = frozenset({Outcome.CONSENT_AWARD, Outcome.MEDIATION_STATEMENT})
# Where a case can still settle: where the settlement can be recorded.
OPEN_STATES: Final = COMMANDS["record_settlement"].sources


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def amount_problem(value: str | None) -> str | None:
    """Why ``value`` is not an amount of money in yuan (None: it is, or none is given)."""
    if value is None:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return "a decimal amount such as 1234.50"
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        return "from 0 to 1,000,000,000,000"
    if amount != amount.quantize(Decimal("0.01")):
        return "at most two decimals (fen)"
    return None


def decision_refusal(
    decision: Decision, by: Side, offered_by: Side, status: OfferStatus
) -> str | None:
    """Why ``by`` may not take ``decision`` on an offer of ``offered_by`` (None: it may)."""
    if status is not OfferStatus.OPEN:
        return f"the offer is {status.value}"
    if decision is Decision.WITHDRAW and by is not offered_by:
        return "only the side that made an offer withdraws it"
    if decision is not Decision.WITHDRAW and by is offered_by:
        return "the other side accepts or rejects an offer"
    return None


def counter_refusal(by: Side, offered_by: Side, status: OfferStatus) -> str | None:
    """Why ``by`` may not answer this offer with a counter-offer (None: it may)."""
    if status is not OfferStatus.OPEN:
        return f"the offer is {status.value}"
    if by is offered_by:
        return "a counter-offer answers the other side's offer"
    return None


def signature_refusal(
    *,
    signer: Side | None,
    side: Side,
    sha256: str,
    agreement_sha256: str,
    status: AgreementStatus,
    signed: Iterable[Side],
) -> tuple[str, str, str] | None:
    """(field, rule, message) when this signature cannot be taken (None: it can)."""
    if signer is None:
        return ("$", "party", "only the parties sign a settlement agreement")
    if side is not signer:
        return ("$.side", "own_side", f"you sign for the {signer.value} side only")
    if status is not AgreementStatus.PROPOSED:
        return ("$", "status", f"the agreement is {status.value}")
    if sha256 != agreement_sha256:
        return ("$.sha256", "same_text", "the hash of the text you confirm differs: read it again")
    if side in set(signed):
        return ("$.side", "once", "your side signed already")
    return None


def fully_signed(signed: Iterable[Side]) -> bool:
    return set(signed) >= {Side.CLAIMANT, Side.RESPONDENT}


def may_settle(state: CaseState) -> bool:
    return state in OPEN_STATES
