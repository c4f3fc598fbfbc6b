"""Awards as plain values: what a draft must hold, how the tribunal decides, corrections.

The tribunal writes the facts found, the reasoning, the decision items and who bears the
fees; the case supplies everything else (parties, tribunal, procedural history, claims)
when the document is made. A three-member tribunal decides by majority (Arbitration Law
art. 53): the award is approved once a majority of the sitting arbitrators concur with
its current text; an arbitrator who dissents may write an opinion, recorded with the
award. Any change to the text after a vote clears the votes: a vote is for one text,
named by its SHA-256. An issued award is never edited; a clerical correction (补正) is a
new award of kind ``correction`` that names the award it corrects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final
from uuid import UUID

from arbitral.errors import FieldProblem

MAX_TEXT: Final = 50_000
MAX_ITEM: Final = 2_000
MAX_ITEMS: Final = 50
MAX_PLACE: Final = 100
MAX_OPINION: Final = 20_000


class AwardKind(StrEnum):
    AWARD = "award"  # 裁决书
    CORRECTION = "correction"  # 补正裁决书: corrects a clerical error of an issued award


class AwardStatus(StrEnum):
    DRAFT = "draft"  # the tribunal is writing it
    APPROVED = "approved"  # a majority concurs with its text
    ISSUING = "issuing"  # the secretary asked for it to be issued; the job makes the document
    ISSUED = "issued"  # signed, stored, logged: never changed again


class Vote(StrEnum):
    CONCUR = "concur"
    DISSENT = "dissent"


class Payer(StrEnum):
    CLAIMANT = "claimant"
    RESPONDENT = "respondent"


@dataclass(frozen=True)
class DecisionItem:
    """One item of the award's decision (裁决如下): its text, and the amount if it orders one."""

    text: str
    amount: Decimal | None = None
    payer: Payer | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "amount": f"{self.amount:.2f}" if self.amount is not None else None,
            "payer": self.payer.value if self.payer else None,
        }


@dataclass(frozen=True)
class FeeAllocation:
    """Who bears the arbitration fees, in yuan; the two shares make up the total."""

    total: Decimal
    claimant: Decimal
    respondent: Decimal

    def as_json(self) -> dict[str, str]:
        return {
            "total": f"{self.total:.2f}",
            "claimant": f"{self.claimant:.2f}",
            "respondent": f"{self.respondent:.2f}",
        }


@dataclass(frozen=True)
class Content:
    """What the tribunal writes."""

    facts: str
    reasoning: str
    decision: tuple[DecisionItem, ...]
    fees: FeeAllocation
    place: str

    def as_json(self) -> dict[str, Any]:
        return {
            "facts": self.facts,
            "reasoning": self.reasoning,
            "decision": [item.as_json() for item in self.decision],
            "fees": self.fees.as_json(),
            "place": self.place,
        }

    @property
    def sha256(self) -> str:
        return content_sha256(self.as_json())

    def missing_for_approval(self) -> list[FieldProblem]:
        """What a draft still lacks before it can be voted on."""
        problems = []
        if not self.facts:
            problems.append(FieldProblem("$.facts", "required", "the facts found"))
        if not self.reasoning:
            problems.append(FieldProblem("$.reasoning", "required", "the tribunal's reasoning"))
        if not self.decision:
            problems.append(FieldProblem("$.decision", "required", "at least one decision item"))
        if not self.place:
            problems.append(FieldProblem("$.place", "required", "where the award is made"))
        return problems


def content_sha256(content: Mapping[str, Any]) -> str:
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _text(value: object, field: str, maximum: int, problems: list[FieldProblem]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(FieldProblem(field, "type", "a string"))
        return ""
    text = value.strip()
    if len(text) > maximum:
        problems.append(FieldProblem(field, "max_length", f"at most {maximum} characters"))
    if "\x00" in text:
        problems.append(FieldProblem(field, "characters", "no NUL characters"))
    return text


def parse_amount(value: object, field: str, problems: list[FieldProblem]) -> Decimal | None:
    """Yuan as a string with at most two decimals, not negative, below 10^13."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append(
            FieldProblem(field, "type", 'an amount in yuan as a string, e.g. "1999.90"')
        )
        return None
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        problems.append(FieldProblem(field, "amount", 'an amount in yuan, e.g. "1999.90"'))
        return None
    if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 13:
        problems.append(FieldProblem(field, "range", "from 0 to 9999999999999.99 yuan"))
        return None
    if amount != amount.quantize(Decimal("0.01")):
        problems.append(FieldProblem(field, "precision", "at most two decimals (fen)"))
        return None
    return amount.quantize(Decimal("0.01"))


def _item(raw: object, at: int, problems: list[FieldProblem]) -> DecisionItem | None:
    field = f"$.decision[{at}]"
    if not isinstance(raw, Mapping):
        problems.append(FieldProblem(field, "type", "an object with text, amount and payer"))
        return None
    unknown = set(raw) - {"text", "amount", "payer"}
    if unknown:
        problems.append(FieldProblem(f"{field}.{sorted(unknown)[0]}", "unknown", "not a field"))
    text = _text(raw.get("text"), f"{field}.text", MAX_ITEM, problems)
    if not text:
        problems.append(FieldProblem(f"{field}.text", "required", "what the tribunal decides"))
    amount = parse_amount(raw.get("amount"), f"{field}.amount", problems)
    payer: Payer | None = None
    if raw.get("payer") is not None:
        try:
            payer = Payer(raw["payer"])
        except ValueError:
            problems.append(FieldProblem(f"{field}.payer", "choice", "claimant or respondent"))
    if amount is not None and payer is None:
        problems.append(FieldProblem(f"{field}.payer", "required", "who pays the amount"))
    return DecisionItem(text, amount, payer)


def parse_content(raw: Mapping[str, Any], fee_total: Decimal) -> tuple[Content, list[FieldProblem]]:
    """The content of a draft from its JSON, and every problem found in it (not raised)."""
    problems: list[FieldProblem] = []
    unknown = set(raw) - {"facts", "reasoning", "decision", "fees", "place"}
    if unknown:
        problems.append(FieldProblem(f"$.{sorted(unknown)[0]}", "unknown", "not a field"))
    facts = _text(raw.get("facts"), "$.facts", MAX_TEXT, problems)
    reasoning = _text(raw.get("reasoning"), "$.reasoning", MAX_TEXT, problems)
    place = _text(raw.get("place"), "$.place", MAX_PLACE, problems)
    items_raw = raw.get("decision") or []
    decision: list[DecisionItem] = []
    if not isinstance(items_raw, Sequence) or isinstance(items_raw, str):
        problems.append(FieldProblem("$.decision", "type", "a list of decision items"))
    elif len(items_raw) > MAX_ITEMS:
        problems.append(FieldProblem("$.decision", "max_items", f"at most {MAX_ITEMS} items"))
    else:
        for at, entry in enumerate(items_raw):
            item = _item(entry, at, problems)
            if item is not None:
                decision.append(item)
    fees = parse_fees(raw.get("fees"), fee_total, problems)
    return Content(facts, reasoning, tuple(decision), fees, place), problems


def parse_fees(raw: object, total: Decimal, problems: list[FieldProblem]) -> FeeAllocation:
    """Who bears the fees: by default the respondent, all of it (the claims upheld)."""
    if raw is None:
        return FeeAllocation(total, Decimal("0.00"), total)
    if not isinstance(raw, Mapping):
        problems.append(FieldProblem("$.fees", "type", "an object with claimant and respondent"))
        return FeeAllocation(total, Decimal("0.00"), total)
    claimant = parse_amount(raw.get("claimant"), "$.fees.claimant", problems)
    respondent = parse_amount(raw.get("respondent"), "$.fees.respondent", problems)
    if claimant is None and respondent is None:
        claimant, respondent = Decimal("0.00"), total
    elif claimant is None:
        claimant = total - (respondent or Decimal(0))
    elif respondent is None:
        respondent = total - claimant
    assert claimant is not None
    assert respondent is not None
    if claimant < 0 or respondent < 0 or claimant + respondent != total:
        problems.append(
            FieldProblem(
                "$.fees",
                "sum",
                f"the shares must make up the fees assessed, {total:.2f} yuan "
                f"(given {claimant:.2f} + {respondent:.2f})",
            )
        )
    return FeeAllocation(total, claimant, respondent)


def majority(members: int) -> int:
    return members // 2 + 1


def decided(votes: Mapping[UUID, Vote], members: Iterable[UUID]) -> bool:
    """A majority of the sitting arbitrators concur."""
    seated = set(members)
    concur = sum(1 for who, vote in votes.items() if who in seated and vote is Vote.CONCUR)
    return bool(seated) and concur >= majority(len(seated))
