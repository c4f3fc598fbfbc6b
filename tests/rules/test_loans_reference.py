"""The loan assessment and loan parsing agree with a frozen copy of the code before it
was made faster (issue 8: a lender's batch of 100,000 rows).

The reference below is the algorithm as it stood at commit 24b5c00 (parse_loan,
the two runs through the history, the ceiling, the reasons), copied unchanged except
that it calls the LPR history through ``_publication_on`` (the old method) and is
named ``ref_*``. It shares the package's result classes, so results compare exactly:
the dataclasses' ``repr`` (which shows every Decimal with its exponent), the JSON, and
for invalid documents the problems in order. Loans are generated with a seeded
generator (valid and broken documents, every lender kind, ceiling kind, reference
day, day count and allocation order) and with the hypothesis strategy of
test_loans.py.
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import difflib
import functools
import json
import random
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, localcontext
from typing import Any, Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbitral.rules import loans
from arbitral.rules.loans import (
    _EXACT,
    _FEN,
    CHARGES,
    GROUP_ITEMS,
    ITEMS,
    LENDER_KINDS,
    LPR_FILE,
    MAX_AMOUNT,
    MAX_LIST,
    MAX_RATE,
    Allocation,
    AssessedItem,
    CeilingUsed,
    ChargeLine,
    Claimed,
    Fee,
    FixedCeiling,
    Flow,
    LoanAssessment,
    LoanClaim,
    LoanInputError,
    LoanRules,
    LprHistory,
    LprMultipleCeiling,
    LprPublication,
    LprUnknown,
    Penalty,
    Period,
    Reason,
)
from tests.conftest import REPO_ROOT
from tests.rules.test_loans import loans as loan_documents

# -- the reference: the code as it was (do not edit) -----------------------------------


def fen(amount: Decimal) -> str:
    """An amount as a string with exactly two decimals (it must already be in fen)."""
    return f"{amount.quantize(_FEN):f}"


def percent(rate: Decimal) -> str:
    """``0.154`` → ``"15.40%"``; more decimals are kept when the rate has them."""
    value = (rate * 100).normalize()
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent >= -2:
        value = value.quantize(_FEN)
    return f"{value:f}%"


def _number(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _round_fen(numerator: Decimal, denominator: int = 1) -> Decimal:
    """``numerator / denominator`` rounded to the fen, half away from zero, exactly."""
    num, den = numerator.as_integer_ratio()
    den *= denominator
    cents, remainder = divmod(abs(num) * 100, den)
    if 2 * remainder >= den:
        cents += 1
    return Decimal(cents if num >= 0 else -cents).scaleb(-2)


def join(prefix: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


def _publication_on(self: LprHistory, day: date) -> LprPublication:
    """The latest publication on or before ``day``; :class:`LprUnknown` outside the
    known range."""
    first = self.publications[0]
    if day < first.day:
        raise LprUnknown(
            f"no one-year LPR is known for {day}: the first publication recorded in "
            f"{self.source} is of {first.day}; add the publication in force on {day} to "
            f"{LPR_FILE} (the reformed LPR has been published since 2019-08-20: there is "
            "none before, and the ceiling of an older contract must refer to a later day, "
            'e.g. reference = "filing_date")',
            day,
        )
    if day > self.known_through:
        raise LprUnknown(
            f"no one-year LPR is known for {day}: {self.source} is known only through "
            f"{self.known_through}; add the publications after {self.known_through} "
            f"(全国银行间同业拆借中心, announced on the 20th of each month) to {LPR_FILE} "
            "and move known_through",
            day,
        )
    index = bisect.bisect_right([p.day for p in self.publications], day) - 1
    return self.publications[index]


_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?", re.ASCII)
_RATE = re.compile(r"(0|[1-9][0-9]?)(\.[0-9]{1,8})?", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)

LOAN_FIELDS: Final = {
    "contract_number": True,
    "lender_kind": True,
    "contract_date": True,
    "disbursements": True,
    "contract_principal": False,
    "annual_interest_rate": True,
    "maturity_date": True,
    "default_annual_rate": False,
    "fees": False,
    "penalty": False,
    "repayments": False,
    "claimed": True,
    "assessed_on": True,
}
"""Top-level fields of a loan document, and whether each is required."""


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


class _Reader:
    """Collects the problems of one loan document."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str, str]] = []

    def add(self, path: str, rule: str, message: str) -> None:
        self.problems.append((path, rule, message))

    def fields(self, obj: Mapping[str, Any], path: str, fields: Mapping[str, bool]) -> None:
        for name, required in fields.items():
            if required and name not in obj:
                self.add(join(path, name), "missing", "is required")
        known = sorted(fields)
        for name in obj:
            if name not in fields:
                close = difflib.get_close_matches(str(name), known, n=1)
                hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
                self.add(join(path, str(name)), "unknown", f"unknown field ({hint})")

    def obj(self, value: object, path: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(path, "type", f"must be an object, not {_json_type(value)}")
            return None
        return value

    def array(self, obj: Mapping[str, Any], path: str, key: str) -> list[tuple[str, Any]]:
        if key not in obj:
            return []
        value = obj[key]
        where = join(path, key)
        if not isinstance(value, list):
            self.add(where, "type", f"must be an array, not {_json_type(value)}")
            return []
        if len(value) > MAX_LIST:
            self.add(where, "range", f"must have at most {MAX_LIST} entries, not {len(value)}")
            return []
        return [(join(where, index), item) for index, item in enumerate(value)]

    def text(self, obj: Mapping[str, Any], path: str, key: str, max_length: int) -> str | None:
        if key not in obj:
            return None
        value = obj[key]
        where = join(path, key)
        if not isinstance(value, str):
            self.add(where, "type", f"must be a string, not {_json_type(value)}")
            return None
        if not value.strip() or value != value.strip():
            self.add(where, "format", "must be non-empty text without surrounding spaces")
            return None
        if len(value) > max_length or any(ord(ch) < 32 for ch in value):
            self.add(
                where,
                "format",
                f"must be at most {max_length} characters, without control characters",
            )
            return None
        return value

    def choice(
        self, obj: Mapping[str, Any], path: str, key: str, choices: Sequence[str]
    ) -> str | None:
        if key not in obj:
            return None
        value = obj[key]
        if not isinstance(value, str) or value not in choices:
            shown = repr(value) if isinstance(value, str) else _json_type(value)
            self.add(join(path, key), "choice", f"must be one of {', '.join(choices)}, not {shown}")
            return None
        return value

    def day(self, obj: Mapping[str, Any], path: str, key: str) -> date | None:
        if key not in obj:
            return None
        value = obj[key]
        where = join(path, key)
        if isinstance(value, str) and _DATE.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                self.add(where, "format", f"is not a calendar date: {value!r}")
                return None
        shown = repr(value) if isinstance(value, str) else _json_type(value)
        self.add(
            where, "format", f'must be a date written as a string such as "2021-03-01", not {shown}'
        )
        return None

    def _exact(self, where: str, value: object, what: str, example: str) -> str | None:
        if isinstance(value, float):
            self.add(
                where,
                "type",
                f'must be written as a string (e.g. "{example}"), not a number: '
                "a JSON number with decimals is binary and cannot hold it exactly",
            )
            return None
        if not isinstance(value, str):
            shown = (
                "a number"
                if isinstance(value, int) and not isinstance(value, bool)
                else _json_type(value)
            )
            self.add(
                where, "type", f'must be {what} written as a string (e.g. "{example}"), not {shown}'
            )
            return None
        if value.startswith("-"):
            self.add(where, "range", f"must not be negative: {value!r}")
            return None
        return value

    def amount(
        self, obj: Mapping[str, Any], path: str, key: str, *, positive: bool
    ) -> Decimal | None:
        if key not in obj:
            return None
        where = join(path, key)
        raw = self._exact(where, obj[key], "an amount in yuan", "1000.00")
        if raw is None:
            return None
        if not _AMOUNT.fullmatch(raw):
            self.add(
                where,
                "format",
                f'must be an amount in yuan with at most 2 decimals, e.g. "1000.00", not {raw!r}',
            )
            return None
        amount = Decimal(raw)
        if amount > MAX_AMOUNT:
            self.add(where, "range", f"must be at most {MAX_AMOUNT}, not {raw}")
            return None
        if positive and amount == 0:
            self.add(where, "range", "must be more than 0")
            return None
        return amount

    def rate(self, obj: Mapping[str, Any], path: str, key: str) -> Decimal | None:
        if key not in obj:
            return None
        where = join(path, key)
        raw = self._exact(where, obj[key], "an annual rate as a decimal fraction", "0.15")
        if raw is None:
            return None
        if not _RATE.fullmatch(raw):
            self.add(
                where,
                "format",
                f"must be an annual rate as a decimal fraction with at most 8 decimals "
                f'(15% is "0.15"), not {raw!r}',
            )
            return None
        rate = Decimal(raw)
        if rate > MAX_RATE:
            self.add(
                where,
                "range",
                f"must be a decimal fraction of at most 1 (100% a year), not {raw}: "
                '15% a year is written "0.15"',
            )
            return None
        return rate


def _flows(
    r: _Reader, document: Mapping[str, Any], key: str, *, what: str
) -> list[tuple[str, Flow | None]]:
    out: list[tuple[str, Flow | None]] = []
    for path, raw in r.array(document, "", key):
        item = r.obj(raw, path)
        if item is None:
            out.append((path, None))
            continue
        r.fields(item, path, {"date": True, "amount": True})
        day = r.day(item, path, "date")
        amount = r.amount(item, path, "amount", positive=True)
        out.append((path, Flow(day, amount) if day and amount is not None else None))
    _in_order(r, [(p, f.day if f else None) for p, f in out], what)
    return out


def _in_order(r: _Reader, days: Sequence[tuple[str, date | None]], what: str) -> None:
    previous: tuple[str, date] | None = None
    for path, day in days:
        if day is None:
            continue
        if previous is not None and day < previous[1]:
            r.add(
                join(path, "date"),
                "order",
                f"is before {previous[0]}.date ({previous[1]}): list {what} in date order",
            )
        previous = (path, day)


def ref_parse_loan(document: object) -> LoanClaim:
    """Reads a loan document (parsed JSON); :class:`LoanInputError` lists every problem.

    The shape is documented in ``rules/loan-assessment.md``; amounts are strings in yuan
    with at most 2 decimals, rates strings holding decimal fractions, dates
    ``"YYYY-MM-DD"`` strings, lists in date order.
    """
    r = _Reader()
    if not isinstance(document, dict):
        r.add("", "type", f"must be a JSON object, not {_json_type(document)}")
        raise LoanInputError(r.problems)
    r.fields(document, "", LOAN_FIELDS)
    contract_number = r.text(document, "", "contract_number", 100)
    lender_kind = r.choice(document, "", "lender_kind", LENDER_KINDS)
    contract_date = r.day(document, "", "contract_date")
    maturity_date = r.day(document, "", "maturity_date")
    assessed_on = r.day(document, "", "assessed_on")
    contract_principal = r.amount(document, "", "contract_principal", positive=True)
    interest_rate = r.rate(document, "", "annual_interest_rate")
    default_rate = r.rate(document, "", "default_annual_rate")

    disbursements = _flows(r, document, "disbursements", what="disbursements")
    if document.get("disbursements") == []:
        r.add("disbursements", "range", "must list at least one disbursement")
    repayments = _flows(r, document, "repayments", what="repayments")

    fees: list[tuple[str, Fee | None]] = []
    for path, raw in r.array(document, "", "fees"):
        item = r.obj(raw, path)
        if item is None:
            fees.append((path, None))
            continue
        r.fields(item, path, {"name": True, "amount": True, "date": True})
        name = r.text(item, path, "name", 100)
        amount = r.amount(item, path, "amount", positive=True)
        day = r.day(item, path, "date")
        fees.append((path, Fee(name, amount, day) if name and amount is not None and day else None))
    _in_order(r, [(p, f.day if f else None) for p, f in fees], "fees")

    penalty: Penalty | None = None
    if "penalty" in document:
        item = r.obj(document["penalty"], "penalty")
        if item is not None:
            r.fields(item, "penalty", {"amount": True, "date": True})
            amount = r.amount(item, "penalty", "amount", positive=True)
            day = r.day(item, "penalty", "date")
            if amount is not None and day is not None:
                penalty = Penalty(amount, day)

    claimed: dict[str, Decimal | None] = {}
    if "claimed" in document:
        item = r.obj(document["claimed"], "claimed")
        if item is not None:
            r.fields(
                item,
                "claimed",
                {
                    "principal": True,
                    "interest": True,
                    "default_interest": True,
                    "fees": True,
                    "penalty": False,
                },
            )
            for name in ITEMS:
                claimed[name] = r.amount(item, "claimed", name, positive=False)
            if "penalty" not in item:
                claimed["penalty"] = Decimal(0)

    # Consistency between fields (each checked only when its parts are valid).
    if contract_date and maturity_date and maturity_date <= contract_date:
        r.add("maturity_date", "order", f"must be after contract_date ({contract_date})")
    if contract_date and assessed_on and assessed_on < contract_date:
        r.add("assessed_on", "order", f"must not be before contract_date ({contract_date})")
    first_disbursement: date | None = None
    for path, flow in disbursements:
        if flow is None:
            continue
        first_disbursement = min(first_disbursement or flow.day, flow.day)
        where = join(path, "date")
        if contract_date and flow.day < contract_date:
            r.add(where, "order", f"is before contract_date ({contract_date})")
        if maturity_date and flow.day >= maturity_date:
            r.add(where, "order", f"must be before maturity_date ({maturity_date})")
        if assessed_on and flow.day > assessed_on:
            r.add(where, "order", f"is after assessed_on ({assessed_on})")
    for path, flow in repayments:
        if flow is None:
            continue
        where = join(path, "date")
        if first_disbursement and flow.day < first_disbursement:
            r.add(where, "order", f"is before the first disbursement ({first_disbursement})")
        if assessed_on and flow.day > assessed_on:
            r.add(where, "order", f"is after assessed_on ({assessed_on})")
    for path, fee in fees:
        if fee is not None and contract_date and fee.day < contract_date:
            r.add(join(path, "date"), "order", f"is before contract_date ({contract_date})")
    if penalty is not None and contract_date and penalty.day < contract_date:
        r.add("penalty.date", "order", f"is before contract_date ({contract_date})")
    flows_ok = bool(disbursements) and all(f is not None for _, f in disbursements)
    if contract_principal is not None and flows_ok:
        total = sum((f.amount for _, f in disbursements if f), Decimal(0))
        if total > contract_principal:
            r.add(
                "contract_principal",
                "consistency",
                f"is less than the amounts disbursed ({fen(total)})",
            )

    if r.problems:
        raise LoanInputError(r.problems)
    assert contract_number is not None
    assert lender_kind is not None
    assert contract_date is not None
    assert maturity_date is not None
    assert assessed_on is not None
    assert interest_rate is not None
    amounts = {name: claimed.get(name) for name in ITEMS}
    assert all(v is not None for v in amounts.values())
    return LoanClaim(
        contract_number=contract_number,
        lender_kind=lender_kind,
        contract_date=contract_date,
        disbursements=tuple(f for _, f in disbursements if f),
        contract_principal=contract_principal,
        annual_interest_rate=interest_rate,
        maturity_date=maturity_date,
        default_annual_rate=default_rate,
        fees=tuple(f for _, f in fees if f),
        penalty=penalty,
        repayments=tuple(f for _, f in repayments if f),
        claimed=Claimed(**{k: v for k, v in amounts.items() if v is not None}),
        assessed_on=assessed_on,
    )


@dataclass
class _Ledger:
    """One run through the loan's history, as the contract runs it (no ceiling).

    Charges are kept exact and *scaled*: an amount × ``day_count``, so that principal ×
    rate × days needs no division; principal and payments are in yuan. ``stream`` lists
    the charges in the order they fell due; ``ceiling_total`` is the ceiling over the
    same history (scaled), when a ceiling rate was given.
    """

    day_count: int
    principal: Decimal = Decimal(0)
    accrued: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(CHARGES, Decimal(0)))
    paid: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(ITEMS, Decimal(0)))
    stream: list[tuple[str, Decimal]] = field(default_factory=list)
    ceiling_total: Decimal = Decimal(0)
    surplus: Decimal = Decimal(0)
    periods: list[Period] = field(default_factory=list)
    allocations: list[Allocation] = field(default_factory=list)

    def total(self, item: str) -> Decimal:
        """A charge's total so far, in fen."""
        return _round_fen(self.accrued[item], self.day_count)

    def due(self, item: str) -> Decimal:
        """What is owed of a charge now: its total so far less what was paid of it."""
        return self.total(item) - self.paid[item]


def _run(
    loan: LoanClaim,
    *,
    day_count: int,
    allocation: Sequence[str],
    face: bool,
    default_rate: Decimal,
    ceiling_rate: Decimal | None = None,
) -> _Ledger:
    """Runs the history from the first event to ``assessed_on``.

    ``face``: the contract's view, in which the amount deducted up front counts as lent
    on the first disbursement day; otherwise only what was disbursed is principal.
    """
    end = loan.assessed_on
    maturity = loan.maturity_date
    inflows: dict[date, Decimal] = {}
    for flow in loan.disbursements:
        inflows[flow.day] = inflows.get(flow.day, Decimal(0)) + flow.amount
    if face and loan.deducted_upfront:
        inflows[loan.disbursements[0].day] += loan.deducted_upfront
    lumps: dict[date, list[tuple[str, Decimal]]] = {}
    for fee in loan.fees:
        if fee.day <= end:
            lumps.setdefault(fee.day, []).append(("fees", fee.amount))
    if loan.penalty is not None and loan.penalty.day <= end:
        lumps.setdefault(loan.penalty.day, []).append(("penalty", loan.penalty.amount))
    payments: dict[date, list[Decimal]] = {}
    for flow in loan.repayments:
        payments.setdefault(flow.day, []).append(flow.amount)

    days = sorted({*inflows, *lumps, *payments, end})
    if days[0] <= maturity <= end:
        days = sorted({*days, maturity})
    ledger = _Ledger(day_count)

    def accrue(item: str, scaled: Decimal) -> None:
        if scaled:
            ledger.accrued[item] += scaled
            ledger.stream.append((item, scaled))

    def settle(day: date, amount: Decimal) -> None:
        available = amount + ledger.surplus
        applied: list[tuple[str, Decimal]] = []
        for group in allocation:
            for item in GROUP_ITEMS[group]:
                owed = ledger.principal if item == "principal" else ledger.due(item)
                pay = min(available, owed)
                available -= pay
                ledger.paid[item] += pay
                if item == "principal":
                    ledger.principal -= pay
                applied.append((item, pay))
        ledger.surplus = available
        ledger.allocations.append(Allocation(day, amount, tuple(applied), available))

    previous = days[0]
    for day in days:
        if day > previous and ledger.principal > 0:
            length = (day - previous).days
            item = "interest" if previous < maturity else "default_interest"
            rate = loan.annual_interest_rate if item == "interest" else default_rate
            scaled = ledger.principal * rate * length
            accrue(item, scaled)
            ceiling = Decimal(0)
            if ceiling_rate is not None:
                ceiling = ledger.principal * ceiling_rate * length
                ledger.ceiling_total += ceiling
            ledger.periods.append(
                Period(
                    previous,
                    day,
                    ledger.principal,
                    item,
                    rate,
                    _round_fen(scaled, day_count),
                    _round_fen(ceiling, day_count),
                )
            )
        for item, amount in lumps.get(day, ()):
            accrue(item, amount * day_count)
        ledger.principal += inflows.get(day, Decimal(0))
        for amount in payments.get(day, ()):
            settle(day, amount)
        previous = day
    if ledger.surplus > 0:
        settle(end, Decimal(0))  # a surplus settles what fell due after it was paid
    return ledger


@dataclass(frozen=True)
class _Supported:
    """The ceiling applied to a run: what remains owed of each item."""

    within: dict[str, Decimal]  # of each charge, the part within the ceiling (fen)
    excess: dict[str, Decimal]  # of each charge, what was paid beyond that part
    outstanding: dict[str, Decimal]  # every item, after the excess was credited
    credited: dict[str, Decimal]  # where the excess went
    overpaid: Decimal


def _apply_ceiling(run: _Ledger, allocation: Sequence[str]) -> _Supported:
    """The charges use the ceiling up in the order they fell due; what was paid towards
    a charge beyond its part within the ceiling is credited, on the assessment day, to
    principal, then to the charges still owed (in the allocation order)."""
    room = run.ceiling_total
    admitted = dict.fromkeys(CHARGES, Decimal(0))
    for item, amount in run.stream:
        take = min(room, amount)
        admitted[item] += take
        room -= take
    within = {item: _round_fen(admitted[item], run.day_count) for item in CHARGES}
    excess = {item: max(run.paid[item] - within[item], Decimal(0)) for item in CHARGES}
    outstanding = {item: max(within[item] - run.paid[item], Decimal(0)) for item in CHARGES}
    outstanding["principal"] = run.principal
    left = sum(excess.values(), Decimal(0)) + run.surplus
    credited = dict.fromkeys(ITEMS, Decimal(0))
    order = ["principal", *(i for g in allocation for i in GROUP_ITEMS[g] if i != "principal")]
    for item in order:
        take = min(left, outstanding[item])
        outstanding[item] -= take
        credited[item] += take
        left -= take
    return _Supported(within, excess, outstanding, credited, left)


def _ceiling_used(loan: LoanClaim, rules: LoanRules, lpr: LprHistory) -> CeilingUsed:
    rule, ceiling = rules.ceiling_for(loan.lender_kind)
    if isinstance(ceiling, FixedCeiling):
        return CeilingUsed(
            rule, ceiling.kind, ceiling.rate, f"fixed {percent(ceiling.rate)} a year ({rule})"
        )
    day = loan.contract_date if ceiling.reference == "contract_date" else loan.assessed_on
    publication = _publication_on(lpr, day)
    rate = ceiling.multiple * publication.rate
    return CeilingUsed(
        rule,
        ceiling.kind,
        rate,
        f"{_number(ceiling.multiple)} × LPR {percent(publication.rate)} on {day} = {percent(rate)}",
        ceiling.reference,
        day,
        publication,
    )


def _default_rate(loan: LoanClaim, lpr: LprHistory) -> tuple[Decimal, str]:
    if loan.default_annual_rate is not None:
        return loan.default_annual_rate, "agreed default rate"
    if loan.annual_interest_rate > 0 or loan.assessed_on <= loan.maturity_date:
        return (
            loan.annual_interest_rate,
            "no default rate agreed: the contractual rate (SPC private-lending provisions "
            "art. 28(2))",
        )
    publication = _publication_on(lpr, loan.maturity_date)
    return (
        publication.rate,
        f"no interest agreed: the one-year LPR {percent(publication.rate)} on "
        f"{loan.maturity_date} (SPC private-lending provisions art. 28(1))",
    )


def _reasons(
    claimed: Decimal, supported: Decimal, layers: Sequence[tuple[str, Decimal, str]]
) -> tuple[Reason, ...]:
    """Explains ``claimed`` − ``supported``. ``layers`` go from the top down, each
    ``(code, floor, message)``: the first reaches from its floor up to any claim, each
    next one from its floor up to the floor above it (a floor above the one before it
    counts as that one: the layer is then empty). Each reason is the part of the
    interval from ``supported`` to ``claimed`` that falls in its layer, so the reasons
    add up to what is unsupported."""
    reasons: list[Reason] = []
    upper: Decimal | None = None  # the floor of the layer above
    for code, floor, message in layers:
        if upper is not None:
            floor = min(floor, upper)
        top = claimed if upper is None else min(claimed, upper)
        amount = top - max(supported, floor)
        if amount > 0:
            reasons.append(Reason(code, amount, message))
        upper = floor
    assert sum((r.amount for r in reasons), Decimal(0)) == claimed - supported, layers
    return tuple(reasons)


def ref_assess_loan(loan: LoanClaim, rules: LoanRules, lpr: LprHistory) -> LoanAssessment:
    """What is claimable on ``loan`` at ``loan.assessed_on`` (see the module docstring
    and ``rules/loan-assessment.md``). :class:`LprUnknown` when a needed LPR is not
    recorded."""
    with localcontext(_EXACT):
        return _assess(loan, rules, lpr)


def _assess(loan: LoanClaim, rules: LoanRules, lpr: LprHistory) -> LoanAssessment:
    ceiling = _ceiling_used(loan, rules, lpr)
    default_rate, default_basis = _default_rate(loan, lpr)
    d = rules.day_count

    def run(*, face: bool, ceiling_rate: Decimal | None = None) -> _Ledger:
        return _run(
            loan,
            day_count=d,
            allocation=rules.allocation,
            face=face,
            default_rate=default_rate,
            ceiling_rate=ceiling_rate,
        )

    contract = run(face=True)  # what the contract gives (the face principal)
    actual = run(face=False, ceiling_rate=ceiling.annual_rate)  # on what was lent
    legal = _apply_ceiling(actual, rules.allocation)  # within the ceiling

    end = loan.assessed_on
    due = end >= loan.maturity_date
    later = {
        "fees": sum((f.amount for f in loan.fees if f.day > end), Decimal(0)),
        "penalty": (
            loan.penalty.amount
            if loan.penalty is not None and loan.penalty.day > end
            else Decimal(0)
        ),
        "interest": Decimal(0),
        "default_interest": Decimal(0),
    }
    order = ", ".join(rules.allocation)
    basis = (
        "SPC private-lending provisions arts. 25, 28, 29"
        if loan.lender_kind == "private" and ceiling.kind == "lpr_multiple"
        else "the rule set's ceiling"
    )
    messages = {
        "exceeds": f"more than the contract gives up to {end}",
        "not_yet_due": f"falls due after {end}",
        "already_repaid": f"already paid: repayments are applied {order} (Civil Code art. 561)",
        "deducted_upfront": (
            f"the contract states {fen(loan.disbursed + loan.deducted_upfront)} but "
            f"{fen(loan.disbursed)} was actually lent: the {fen(loan.deducted_upfront)} "
            "deducted up front is not principal, and what repayments paid of the charges on "
            "it counts as paid principal (SPC private-lending provisions art. 26; Civil Code "
            "art. 680)"
        ),
        "deducted_charges": (
            f"charged on the {fen(loan.deducted_upfront)} deducted up front, which was never "
            "lent (SPC private-lending provisions art. 26; Civil Code art. 680)"
        ),
        "above_ceiling": (
            "interest, default interest, fees and penalty together are supported only up to "
            f"{percent(ceiling.annual_rate)} a year on the outstanding principal "
            f"({ceiling.explanation}; {basis}); the ceiling is used up in the order the "
            "charges fell due"
        ),
        "credited": (
            "repayments made towards charges beyond the ceiling count as payments of "
            "principal, then of the other charges still owed"
        ),
        "principal_not_due": f"the principal falls due on {loan.maturity_date}, after {end}",
    }

    exceeds_principal = (
        f"more than the contract's principal ({fen(loan.disbursed + loan.deducted_upfront)})"
    )
    items: list[AssessedItem] = []
    for name in ITEMS:
        claimed = loan.claimed.get(name)
        supported_owed = legal.outstanding[name]
        if name == "principal":
            computed = contract.principal if due else Decimal(0)
            supported = min(claimed, supported_owed) if due else Decimal(0)
            layers = [  # from the claim down to what is supported (floors)
                ("exceeds_contract", loan.disbursed + loan.deducted_upfront, exceeds_principal),
                ("already_repaid", contract.principal, messages["already_repaid"]),
                ("deducted_upfront", actual.principal, messages["deducted_upfront"]),
                ("excess_payments_credited", supported_owed, messages["credited"]),
                ("not_yet_due", Decimal(0), messages["principal_not_due"]),
            ]
        else:
            computed = contract.due(name)
            supported = min(claimed, supported_owed)
            layers = [  # from the claim down to what is supported (floors)
                ("exceeds_contract", contract.total(name) + later[name], messages["exceeds"]),
                ("not_yet_due", contract.total(name), messages["not_yet_due"]),
                ("already_repaid", computed, messages["already_repaid"]),
                ("deducted_upfront", actual.due(name), messages["deducted_charges"]),
                (
                    "above_ceiling",
                    max(legal.within[name] - actual.paid[name], Decimal(0)),
                    messages["above_ceiling"],
                ),
                ("excess_payments_credited", supported_owed, messages["credited"]),
            ]
        unsupported = claimed - supported
        items.append(
            AssessedItem(
                name,
                claimed,
                computed,
                supported,
                unsupported,
                _reasons(claimed, supported, layers),
            )
        )

    charges = tuple(
        ChargeLine(
            name,
            actual.total(name),
            legal.within[name],
            actual.paid[name],
            legal.excess[name],
            legal.outstanding[name],
        )
        for name in CHARGES
    )
    notes: list[str] = []
    if not due:
        notes.append(
            f"assessed on {end}, before maturity ({loan.maturity_date}): the principal is not "
            "yet due (if the lender called the loan in, give the day it did as maturity_date)"
        )
    if (
        loan.lender_kind == "private"
        and ceiling.reference == "contract_date"
        and loan.contract_date < date(2020, 8, 20)
    ):
        notes.append(
            "contract concluded before 2020-08-20: under SPC private-lending provisions art. 31 "
            "the interest from 2020-08-20 is capped at the standard in force at filing; this "
            "assessment applies one ceiling to the whole loan"
        )
    if loan.lender_kind == "licensed" and ceiling.rule == "ceiling":
        notes.append(
            "the rule set has no licensed_ceiling: its general ceiling applies to licensed lenders"
        )
    if legal.overpaid > 0:
        notes.append(
            f"the repayments exceed everything supported by {fen(legal.overpaid)}: "
            "the borrower has overpaid (not claimed back here)"
        )
    return LoanAssessment(
        contract_number=loan.contract_number,
        lender_kind=loan.lender_kind,
        assessed_on=end,
        ceiling=ceiling,
        day_count=d,
        allocation=rules.allocation,
        interest_rate=loan.annual_interest_rate,
        default_rate=default_rate,
        default_rate_basis=default_basis,
        contract_principal=loan.disbursed + loan.deducted_upfront,
        disbursed=loan.disbursed,
        items=tuple(items),
        ceiling_amount=_round_fen(actual.ceiling_total, d),
        charges=charges,
        credited=tuple((k, v) for k, v in legal.credited.items() if v),
        overpaid=legal.overpaid,
        periods=tuple(actual.periods),
        repayments=tuple(actual.allocations),
        notes=tuple(notes),
    )


# -- generated loans ---------------------------------------------------------------------

LPR_START = date(2019, 8, 20)


def _money(rng: random.Random, *, zero: bool = False) -> str:
    """An amount as a lender's system writes it: whole yuan, one or two decimals."""
    fen = rng.choice(
        [rng.randint(1, 999), rng.randint(1, 10_000_000), rng.randint(1, 99_999_999_999_999)]
    )
    if zero and rng.random() < 0.15:
        fen = 0
    text = f"{Decimal(fen) / 100:.2f}"
    if fen % 100 == 0 and rng.random() < 0.5:
        return text[:-3]
    if fen % 10 == 0 and rng.random() < 0.5:
        return text[:-1]
    return text


def _rate(rng: random.Random) -> str:
    return rng.choice(
        [
            "0",
            "0.0",
            "1",
            f"{Decimal(rng.randint(0, 3600)) / 10000}",
            f"{Decimal(rng.randint(0, 99_999_999)) / 100_000_000}",
            f"0.{rng.randint(1, 99):02d}",
        ]
    )


def generated_loan(rng: random.Random) -> dict[str, Any]:
    """A valid loan document with a varied history (possibly refused by the LPR check:
    contracts before the reformed LPR, assessments after the known history)."""
    contract = LPR_START + timedelta(days=rng.randint(-120, 2400))
    first = contract + timedelta(days=rng.choice([0, 0, rng.randint(0, 30)]))
    maturity = first + timedelta(days=rng.choice([1, 30, 90, 180, 365, rng.randint(1, 1000)]))
    disbursed_on = sorted(
        first + timedelta(days=rng.randint(0, (maturity - first).days - 1))
        for _ in range(rng.choice([1, 1, 1, 2, 3, 5]))
    )
    end = max(disbursed_on[-1], contract) + timedelta(
        days=rng.choice(
            [0, rng.randint(0, 60), (maturity - disbursed_on[-1]).days, rng.randint(0, 900)]
        )
    )
    disbursements = [{"date": str(d), "amount": _money(rng)} for d in disbursed_on]
    total = sum(Decimal(d["amount"]) for d in disbursements)
    span = (end - disbursed_on[0]).days
    repayments = sorted(
        (disbursed_on[0] + timedelta(days=rng.randint(0, span)), _money(rng))
        for _ in range(rng.choice([0, 0, 1, 2, 3, 6]))
    )
    if repayments and rng.random() < 0.2:  # two payments on one day
        repayments.append(repayments[-1])
    fees = sorted(
        (contract + timedelta(days=rng.randint(0, span + 30)), _money(rng))
        for _ in range(rng.choice([0, 0, 1, 2, 3]))
    )
    document: dict[str, Any] = {
        "contract_number": rng.choice(["JK-2021-0001", "借款合同 第 7 号", "P" * 100]),
        "lender_kind": rng.choice(LENDER_KINDS),
        "contract_date": str(contract),
        "disbursements": disbursements,
        "annual_interest_rate": _rate(rng),
        "maturity_date": str(maturity),
        "claimed": {
            name: _money(rng, zero=True)
            for name in ("principal", "interest", "default_interest", "fees")
        },
        "assessed_on": str(end),
    }
    if repayments or rng.random() < 0.5:
        document["repayments"] = [{"date": str(d), "amount": a} for d, a in repayments]
    if fees or rng.random() < 0.5:
        document["fees"] = [
            {"name": f"fee {i}", "amount": a, "date": str(d)} for i, (d, a) in enumerate(fees)
        ]
    if rng.random() < 0.7:
        document["claimed"]["penalty"] = _money(rng, zero=True)
    if rng.random() < 0.5:
        extra = rng.choice([0, 0, 1, rng.randint(1, 100_000), rng.randint(1, 10_000_000)])
        document["contract_principal"] = f"{total + Decimal(extra) / 100:.2f}"
    if rng.random() < 0.5:
        document["default_annual_rate"] = _rate(rng)
    if rng.random() < 0.4:
        document["penalty"] = {
            "amount": _money(rng),
            "date": str(contract + timedelta(days=rng.randint(0, span + 30))),
        }
    if rng.random() < 0.3:  # keys in another order than the form's
        document = dict(reversed(list(document.items())))
    return document


_WRONG: Final[tuple[object, ...]] = (
    None,
    True,
    0,
    12,
    1.5,
    -3,
    "",
    " ",
    "x",
    "-1.00",
    "1.000",
    "01.00",
    "1e3",
    "1,000.00",
    "12345678901234.00",
    "2021-02-30",
    "2021-2-3",
    "2021-03-01T00:00",
    "\u0661\u0662",
    [],
    {},
    [1],
    {"a": 1},
    "0",
    "0.00",
    "1.5",
    "NaN",
    "Infinity",
    "9" * 13,
    " 1.00",
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def broken(rng: random.Random, document: dict[str, Any]) -> object:
    """``document`` with one to four things wrong (or right, by chance)."""
    if rng.random() < 0.02:
        return rng.choice([None, [], "loan", 3])
    document = json.loads(json.dumps(document))
    for _ in range(rng.randint(1, 4)):
        path = rng.choice([p for p in _paths(document) if p])
        parent: Any = document
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        action = rng.random()
        if action < 0.45:
            parent[key] = rng.choice(_WRONG)
        elif action < 0.6 and isinstance(parent, dict):
            del parent[key]
        elif action < 0.7 and isinstance(parent, dict):
            parent[rng.choice(["contract_no", "amount_", "dates", "extra", "penality"])] = "1"
        elif action < 0.8 and isinstance(parent, list):
            parent.reverse()
        elif action < 0.9 and isinstance(parent, list):
            parent.append(rng.choice(_WRONG))
        else:  # a date moved or a real-looking amount changed
            value = parent[key]
            if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                parent[key] = str(
                    date.fromisoformat(value) + timedelta(days=rng.randint(-400, 400))
                )
            elif isinstance(value, str):
                parent[key] = _money(rng, zero=True)
    if rng.random() < 0.01:
        document["repayments"] = [{"date": "2021-01-01", "amount": "1"}] * (MAX_LIST + 1)
    return document


def generated_rules(rng: random.Random) -> LoanRules:
    def ceiling() -> LprMultipleCeiling | FixedCeiling:
        if rng.random() < 0.6:
            multiple = rng.choice(
                [Decimal(4), Decimal("4.0"), Decimal("3.5"), Decimal("0.25"), Decimal(10)]
            )
            return LprMultipleCeiling(multiple, rng.choice(["contract_date", "filing_date"]))
        return FixedCeiling(
            rng.choice(
                [Decimal("0.24"), Decimal("0.36"), Decimal("0.1"), Decimal("0.0001"), Decimal(1)]
            )
        )

    allocation = ["fees", "interest", "principal"]
    rng.shuffle(allocation)
    return LoanRules(
        ceiling(),
        ceiling() if rng.random() < 0.6 else None,
        rng.choice([365, 360]),
        tuple(allocation),
    )


def _outcome(call: Any) -> str:
    """What a call gives, compared as text: the result's repr (every Decimal with its
    exponent) and JSON, or the error with its problems or day."""
    try:
        with localcontext() as context:
            context.prec = 28  # the caller's context: the code must not depend on it
            result = call()
    except LoanInputError as exc:
        return f"LoanInputError {exc.problems!r} {exc}"
    except LprUnknown as exc:
        return f"LprUnknown {exc.day} {exc}"
    if isinstance(result, LoanAssessment):
        return repr(result) + json.dumps(result.as_json(), ensure_ascii=False)
    return repr(result)


@pytest.fixture(scope="module")
def lpr() -> LprHistory:
    with (REPO_ROOT / "rules" / "rates" / "lpr-1y.toml").open("rb") as f:
        return loans.parse_lpr_history(tomllib.load(f), source="rates/lpr-1y.toml")


@pytest.fixture(scope="module")
def old_lpr(lpr: LprHistory) -> LprHistory:
    """The same history, built again: the new code keeps per-history caches."""
    return LprHistory(
        lpr.publications, lpr.known_through, lpr.published_by, lpr.sources, lpr.source
    )


@pytest.mark.parametrize("seed", range(8))
def test_generated_loans_are_parsed_and_assessed_as_before(
    seed: int, lpr: LprHistory, old_lpr: LprHistory
) -> None:
    rng = random.Random(seed)
    kinds: dict[str, int] = {}
    for _ in range(400):
        document: object = generated_loan(rng)
        if rng.random() < 0.3:
            document = broken(rng, document)  # type: ignore[arg-type]
        parsed = _outcome(functools.partial(loans.parse_loan, document))
        assert parsed == _outcome(functools.partial(ref_parse_loan, document)), document
        if parsed.startswith("LoanInputError"):
            kinds["refused"] = kinds.get("refused", 0) + 1
            assert not isinstance(document, dict) or loans._parse_valid(document) is None
            continue
        # A valid document is read by the quick reading (not only by the reporting one).
        assert isinstance(document, dict)
        assert loans._parse_valid(document) is not None, document
        claim = loans.parse_loan(document)
        for _ in range(3):
            rules = generated_rules(rng)
            new = _outcome(functools.partial(loans.assess_loan, claim, rules, lpr))
            old = _outcome(functools.partial(ref_assess_loan, claim, rules, old_lpr))
            assert new == old, (document, rules)
            kind = new.split(" ", 1)[0] if new.startswith("LprUnknown") else "assessed"
            kinds[kind] = kinds.get(kind, 0) + 1
    # The generator reaches every outcome (else this test would prove little).
    assert kinds.get("refused", 0) > 40, kinds
    assert kinds.get("LprUnknown", 0) > 10, kinds
    assert kinds.get("assessed", 0) > 500, kinds


def test_the_generated_assessments_cover_every_reason(lpr: LprHistory) -> None:
    """The generated loans reach every reason code, an overpayment and a run without
    a deduction (the branches the faster code takes differently)."""
    rng = random.Random(99)
    codes: set[str] = set()
    overpaid = deducted = plain = 0
    for _ in range(600):
        try:
            claim = loans.parse_loan(generated_loan(rng))
            result = loans.assess_loan(claim, generated_rules(rng), lpr)
        except (LoanInputError, LprUnknown):  # e.g. a contract principal beyond the maximum
            continue
        codes.update(r.code for item in result.items for r in item.reasons)
        overpaid += result.overpaid > 0
        deducted += claim.deducted_upfront > 0
        plain += claim.deducted_upfront == 0
    assert codes == set(loans.REASON_CODES)
    assert overpaid
    assert deducted
    assert plain


@settings(max_examples=300, deadline=None)
@given(document=loan_documents(), data=st.data())
def test_hypothesis_loans_are_assessed_as_before(
    document: dict[str, Any], data: st.DataObject, lpr: LprHistory, old_lpr: LprHistory
) -> None:
    rules = generated_rules(random.Random(data.draw(st.integers(0, 2**32))))
    claim = loans.parse_loan(document)
    assert _outcome(lambda: claim) == _outcome(lambda: ref_parse_loan(document))
    new = _outcome(lambda: loans.assess_loan(claim, rules, lpr))
    assert new == _outcome(lambda: ref_assess_loan(claim, rules, old_lpr))


@settings(max_examples=300, deadline=None)
@given(
    numerator=st.integers(0, 10**30).map(lambda n: n) | st.integers(-(10**20), 10**20),
    exponent=st.integers(-30, 5),
    denominator=st.sampled_from([1, 360, 365, 7, 10**6]),
)
def test_rounding_to_the_fen_is_exact(numerator: int, exponent: int, denominator: int) -> None:
    value = Decimal(numerator).scaleb(exponent)
    with localcontext(_EXACT):
        new = loans._round_fen(value, denominator)
        old = _round_fen(value, denominator)
    assert repr(new) == repr(old)


@pytest.mark.parametrize(
    ("numerator", "denominator"),
    [
        ("0.005", 1),
        ("0.00499999999999999999999999999999", 1),
        ("1.825", 365),
        ("1.8249999999", 365),
        ("0", 365),
        ("-0.005", 1),
        ("1E+60", 7),
    ],
)
def test_rounding_half_a_fen(numerator: str, denominator: int) -> None:
    with localcontext(_EXACT):
        assert repr(loans._round_fen(Decimal(numerator), denominator)) == repr(
            _round_fen(Decimal(numerator), denominator)
        )


def _objects(value: object) -> Iterator[object]:
    yield value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _objects(getattr(value, f.name))
    elif isinstance(value, tuple):
        for item in value:
            yield from _objects(item)


def test_objects_built_without_their_constructor_are_whole(lpr: LprHistory) -> None:
    """loans._build makes result objects without calling their __init__: the classes
    must have nothing an __init__ would add (defaults, __post_init__, slots), and each
    built object holds every field, in the declared order."""
    classes = [getattr(loans, name) for name in loans._BUILT]
    for cls in classes:
        assert dataclasses.is_dataclass(cls)
        assert not hasattr(cls, "__post_init__"), cls
        assert "__slots__" not in vars(cls), cls
        for f in dataclasses.fields(cls):
            assert f.default is dataclasses.MISSING, (cls, f.name)
            assert f.default_factory is dataclasses.MISSING, (cls, f.name)
    rng = random.Random(7)
    seen: set[type] = set()
    for _ in range(200):
        try:
            claim = loans.parse_loan(generated_loan(rng))
            result = loans.assess_loan(claim, generated_rules(rng), lpr)
        except (LoanInputError, LprUnknown):
            continue
        for obj in [*_objects(claim), *_objects(result)]:
            if type(obj) in classes:
                seen.add(type(obj))
                assert list(vars(obj)) == [f.name for f in dataclasses.fields(obj)]  # type: ignore[arg-type]
                assert obj == copy.copy(obj)
                hash(obj)  # frozen: hashable (a tuple field holds only hashables)
    assert seen == set(classes)
