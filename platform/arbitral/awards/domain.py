"""Awards as plain values: what a draft must hold, how the tribunal decides, corrections.

The tribunal writes the facts found, the reasoning, the decision items and who bears the
fees; the case supplies everything else (parties, tribunal, procedural history, claims)
when the document is made. A three-member tribunal decides by majority (Arbitration Law
art. 53): the award is approved once a majority of the sitting arbitrators concur with
its current text; an arbitrator who dissents may write an opinion, recorded with the
award. Any change to the text after a vote clears the votes: a vote is for one text,
named by its SHA-256. An issued award is never edited; a clerical correction (补正) is a
new award of kind ``correction`` that names the award it corrects.

A settlement agreement signed by both sides becomes a consent award (裁决书 according to
the settlement, Arbitration Law art. 49) or a mediation statement (调解书, art. 51): drafted,
voted on and issued like an award, its terms suggested from the agreement's text, the
agreement itself (id, SHA-256, when both sides had signed) kept with the text voted on.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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
    CONSENT_AWARD = "consent_award"  # 裁决书 made on the terms of a settlement agreement
    MEDIATION_STATEMENT = "mediation_statement"  # 调解书: binding once the parties sign for it


# The kinds made on a settlement agreement (what its ``outcome`` asks for).
ON_SETTLEMENT: Final = frozenset({AwardKind.CONSENT_AWARD, AwardKind.MEDIATION_STATEMENT})
# The template each kind is made with, as a rule set's case type names it (``templates``).
TEMPLATE_OF: Final[Mapping[AwardKind, str]] = {
    AwardKind.AWARD: "award",
    AwardKind.CORRECTION: "award",
    AwardKind.CONSENT_AWARD: "consent-award",
    AwardKind.MEDIATION_STATEMENT: "mediation-statement",
}


def template_missing(kind: AwardKind, named: Iterable[str], where: str) -> str | None:
    """Why ``kind`` cannot be made under a case type naming ``named`` (None: it can)."""
    template = TEMPLATE_OF[kind]
    if template in set(named):
        return None
    return f"{where} names no {template!r} template: its documents are made only as it says"


TITLES_ZH: Final[Mapping[AwardKind, str]] = {
    AwardKind.AWARD: "裁决书",
    AwardKind.CORRECTION: "补正裁决书",
    AwardKind.CONSENT_AWARD: "裁决书",
    AwardKind.MEDIATION_STATEMENT: "调解书",
}
TITLES_EN: Final[Mapping[AwardKind, str]] = {
    AwardKind.AWARD: "award",
    AwardKind.CORRECTION: "correction of the award",
    AwardKind.CONSENT_AWARD: "award on the settlement agreement",
    AwardKind.MEDIATION_STATEMENT: "mediation statement",
}


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
class AgreementRef:
    """The settlement agreement a consent award or mediation statement is made on: its id,
    the SHA-256 of the text both sides signed, and when the second of them signed (UTC)."""

    id: UUID
    sha256: str
    signed_at: datetime

    def as_json(self) -> dict[str, str]:
        return {"id": str(self.id), "sha256": self.sha256, "signed_at": self.signed_at.isoformat()}


@dataclass(frozen=True)
class Content:
    """What the tribunal writes (and, for a document on a settlement, the agreement)."""

    facts: str
    reasoning: str
    decision: tuple[DecisionItem, ...]
    fees: FeeAllocation
    place: str
    agreement: AgreementRef | None = None

    def as_json(self) -> dict[str, Any]:
        content: dict[str, Any] = {
            "facts": self.facts,
            "reasoning": self.reasoning,
            "decision": [item.as_json() for item in self.decision],
            "fees": self.fees.as_json(),
            "place": self.place,
        }
        if self.agreement is not None:
            content["agreement"] = self.agreement.as_json()
        return content

    @property
    def sha256(self) -> str:
        return content_sha256(self.as_json())

    def missing_for_approval(self) -> list[FieldProblem]:
        """What a draft still lacks before it can be voted on."""
        problems = []
        if self.agreement is None:  # the terms agreed need no facts found nor reasoning
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
    unknown = set(raw) - {"facts", "reasoning", "decision", "fees", "place", "agreement"}
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
    agreement = parse_agreement(raw.get("agreement"), problems)
    return Content(facts, reasoning, tuple(decision), fees, place, agreement), problems


def parse_agreement(raw: object, problems: list[FieldProblem]) -> AgreementRef | None:
    """The agreement a document on a settlement names (set by the platform, never typed in)."""
    if raw is None:
        return None
    try:
        assert isinstance(raw, Mapping)
        sha256 = str(raw["sha256"])
        assert re.fullmatch(r"[0-9a-f]{64}", sha256)
        signed_at = datetime.fromisoformat(str(raw["signed_at"]))
        assert signed_at.tzinfo is not None
        return AgreementRef(UUID(str(raw["id"])), sha256, signed_at)
    except (AssertionError, KeyError, ValueError):
        problems.append(
            FieldProblem("$.agreement", "agreement", "the id, SHA-256 and signing time")
        )
        return None


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


# -- terms from a settlement agreement's text -------------------------------------------

_CN_NUMBER = "一二三四五六七八九十百"
# 1. / 1、 / 1) / (1) / （一） / 一、 / 第一条 / ①, at the start of a line.
_NUMBERED = re.compile(
    rf"^\s*(?:[(（]\s*(?:\d{{1,3}}|[{_CN_NUMBER}]{{1,4}})\s*[)）]"
    rf"|(?:\d{{1,3}}|[{_CN_NUMBER}]{{1,4}})\s*(?:[.．、:：)）](?!\d))"
    rf"|第\s*(?:\d{{1,3}}|[{_CN_NUMBER}]{{1,4}})\s*[条项款]"
    r"|[\u2460-\u2473])\s*"
)
_SENTENCE_END = re.compile(r"(?<=[。；;！？!?])")
_TRAILING = "。；;，,、.：:　 "


def _squash(text: str) -> str:
    """Lines of one item joined (no space between Chinese lines), trailing stops removed."""
    parts = [line.strip() for line in text.splitlines() if line.strip()]
    joined = ""
    for part in parts:
        if joined and (joined[-1].isascii() and part[0].isascii()):
            joined += " "
        joined += part
    return joined.strip(_TRAILING)


def _split_long(item: str, maximum: int) -> list[str]:
    """An item longer than ``maximum`` split at sentence ends (or, failing that, cut)."""
    if len(item) <= maximum:
        return [item]
    pieces: list[str] = []
    current = ""
    for sentence in (s for s in _SENTENCE_END.split(item) if s):
        while len(sentence) > maximum:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:maximum])
            sentence = sentence[maximum:]
        if len(current) + len(sentence) > maximum:
            pieces.append(current)
            current = ""
        current += sentence
    if current:
        pieces.append(current)
    return [p.strip(_TRAILING) for p in pieces if p.strip(_TRAILING)]


def _fit(items: list[str], maximum: int, count: int) -> list[str]:
    """At most ``count`` items of at most ``maximum`` characters: long items split, then the
    shortest neighbouring pair merged while there are too many."""
    fitted = [piece for item in items for piece in _split_long(item, maximum)]
    while len(fitted) > count:
        at = min(range(len(fitted) - 1), key=lambda i: len(fitted[i]) + len(fitted[i + 1]))
        merged = f"{fitted[at]}；{fitted[at + 1]}"
        if len(merged) > maximum:
            break  # cannot happen for an agreement within MAX_TERMS; validation reports it
        fitted[at : at + 2] = [merged]
    return fitted


def terms_from_agreement(text: str) -> list[str]:
    """The decision items suggested from a settlement agreement: one per numbered line (a
    line without a number continues the item above; an introduction ending in a colon is
    left out), or, when no line is numbered, one per paragraph (blank-line separated, or
    each line when there is no blank line). Numbers and closing stops are removed: the
    document numbers its items itself."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    items: list[str] = []
    if any(_NUMBERED.match(line) and _NUMBERED.sub("", line, count=1).strip() for line in lines):
        current: list[str] | None = None
        preamble: list[str] = []
        for line in lines:
            match = _NUMBERED.match(line)
            if match and line[match.end() :].strip():
                if current is not None:
                    items.append("\n".join(current))
                current = [line[match.end() :]]
            elif current is not None:
                current.append(line)
            else:
                preamble.append(line)
        if current is not None:
            items.append("\n".join(current))
        intro = "\n".join(preamble).strip()
        if intro and not intro.endswith((":", "：")):
            items.insert(0, intro)
    else:
        blocks = re.split(r"\n\s*\n", "\n".join(lines))
        items = blocks if len([b for b in blocks if b.strip()]) > 1 else lines
    cleaned = [_squash(item) for item in items]
    return _fit([c for c in cleaned if c], MAX_ITEM, MAX_ITEMS)
