"""Loan-claim assessment ("online evaluation"): what is claimable on a loan at a date.

From a loan's terms and repayment history (:func:`parse_loan`), a rule set's loan
assessment rules (:func:`parse_loan_rules`) and the one-year LPR history
(:func:`parse_lpr_history`), :func:`assess_loan` computes, item by item (principal,
interest, default interest, fees, penalty), what the lender claims, what the contract
gives, what is supported within the ceiling and why the rest is not. The method and
its legal basis are written out in ``rules/loan-assessment.md``; in short:

* the principal is what was actually disbursed (SPC private-lending provisions art. 26;
  Civil Code art. 680): a ``contract_principal`` above it was deducted up front;
* interest is daily simple interest on the outstanding principal, at the contractual
  rate before ``maturity_date`` and at the default rate from it (art. 28), a period
  from day *a* to day *b* counting *b* − *a* days, ``day_count`` days a year;
* each repayment settles what is owed on its day in the rule set's order (Civil Code
  art. 561: fees, interest, principal);
* interest, default interest, fees and penalty together are supported only up to the
  ceiling (arts. 25, 29): ceiling rate × outstanding principal × days / ``day_count``,
  summed over the loan's life; the charges use it up in the order they fell due;
* what was paid towards a charge beyond its part within the ceiling counts, on the
  assessment day, as paid principal (then as paid towards the other charges owed).

The contract's own figures (``computed``) come from the same run on the stated
principal without a ceiling; the reasons explain the difference layer by layer.

Everything is exact (``Decimal``, with a context that raises rather than rounds);
amounts are rounded to the fen, half up, once per item: an item's cumulative total is
rounded and what was already paid of it is subtracted. Pure: no I/O, no clock reads.

Speed (a lender's batch is 100,000 loans): a valid document is read in one pass
(:func:`_parse_valid`; anything else by the reporting reader), texts of dates, amounts
and rates are read once each, a ceiling and the messages that depend only on the rules
are made once, the runs keep their state in local variables, and result objects are
made without their frozen-dataclass ``__init__`` (:func:`_build`). None of this changes
a result: tests/rules/test_loans_reference.py compares them with a frozen copy of the
straightforward code. The caches are plain dicts, bounded (cleared when full).
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    localcontext,
)
from typing import Any, Final, Literal, TypeVar

from arbitral.rules.checker import Checker, join

# -- constants ---------------------------------------------------------------------

LPR_FILE: Final = "rules/rates/lpr-1y.toml"
"""Where the one-year LPR history lives in the repository (named in error messages)."""

LENDER_KINDS: Final = ("private", "licensed")
CEILING_KINDS: Final = ("lpr_multiple", "fixed_annual")
CEILING_REFERENCES: Final = ("contract_date", "filing_date")
DAY_COUNTS: Final = (365, 360)
ALLOCATION_GROUPS: Final = ("fees", "interest", "principal")
"""Civil Code art. 561: costs (fees, then penalty), interest (interest, then default
interest), principal. A rule set orders the three groups."""

ITEMS: Final = ("principal", "interest", "default_interest", "fees", "penalty")
CHARGES: Final = ("interest", "default_interest", "fees", "penalty")
GROUP_ITEMS: Final[Mapping[str, tuple[str, ...]]] = {
    "fees": ("fees", "penalty"),
    "interest": ("interest", "default_interest"),
    "principal": ("principal",),
}

REASON_CODES: Final = (
    "exceeds_contract",  # more than the contract gives
    "not_yet_due",  # falls due after the assessment day
    "already_repaid",  # the repayments already paid it
    "deducted_upfront",  # 砍头息: never lent, or charged on what was never lent
    "above_ceiling",  # beyond the ceiling
    "excess_payments_credited",  # repayments beyond the ceiling credited to it
)

MAX_AMOUNT: Final = Decimal("999999999999.99")
MAX_LIST: Final = 10_000
MAX_RATE: Final = Decimal(1)
MAX_MULTIPLE: Final = Decimal(10)

_FEN: Final = Decimal("0.01")
_EXACT: Final = Context(
    prec=200, traps=[Inexact, Rounded, InvalidOperation, DivisionByZero, Overflow]
)
"""Arithmetic that raises instead of rounding: every sum and product here is exact."""


# -- errors ------------------------------------------------------------------------


class LprUnknown(ValueError):
    """No one-year LPR is recorded for a day (before the first publication, or after
    the day through which the history is known): never a guess."""

    def __init__(self, message: str, day: date) -> None:
        super().__init__(message)
        self.day = day

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.day))


class LoanInputError(ValueError):
    """Every problem of a loan document: ``(path, rule, message)`` triples, e.g.
    ``("repayments[3].amount", "format", "must be ...")``. ``path`` is ``""`` for the
    document itself."""

    def __init__(self, problems: Iterable[tuple[str, str, str]]) -> None:
        self.problems: list[tuple[str, str, str]] = list(problems)
        if not self.problems:
            raise ValueError("LoanInputError needs at least one problem")
        super().__init__(
            "; ".join(f"{path or '(document)'}: {message}" for path, _, message in self.problems)
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problems,))


# -- money and rates ---------------------------------------------------------------


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


_ZERO_FEN: Final = Decimal("0.00")
_TRUNCATE: Final = Context(
    prec=60, rounding=ROUND_DOWN, traps=[InvalidOperation, DivisionByZero, Overflow]
)
"""Division truncated to 60 digits, for :func:`_round_fen` only."""
_HALF_UP: Final = Context(
    prec=60, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow]
)
_truncated_quotient = _TRUNCATE.divide
_to_fen = _HALF_UP.quantize


def _round_fen(numerator: Decimal, denominator: int = 1) -> Decimal:
    """``numerator / denominator`` rounded to the fen, half away from zero, exactly.

    The quotient is first truncated to 60 significant digits, then rounded half up to
    the fen: truncation never carries a quotient across a half fen (``k + 0.005`` lies
    on the 60-digit grid while the quotient is below 10^46, and truncation keeps every
    grid point at or below the quotient), so the result is that of exact rational
    rounding, at half the cost (this runs some 30 times per assessment). Negative and
    huge numerators (never met in practice) take the rational route.
    """
    if not numerator:
        return _ZERO_FEN
    if numerator.is_signed() or numerator.adjusted() > 45:
        num, den = numerator.as_integer_ratio()
        den *= denominator
        cents, remainder = divmod(abs(num) * 100, den)
        if 2 * remainder >= den:
            cents += 1
        return Decimal(cents if num >= 0 else -cents).scaleb(-2)
    return _to_fen(_truncated_quotient(numerator, denominator), _FEN)


# -- the one-year LPR --------------------------------------------------------------


@dataclass(frozen=True)
class LprPublication:
    day: date
    rate: Decimal


@dataclass(frozen=True)
class LprHistory:
    """The one-year loan prime rate as published (changes only), known through a day."""

    publications: tuple[LprPublication, ...]
    known_through: date
    published_by: str
    sources: tuple[str, ...]
    source: str
    _days: tuple[date, ...] = field(init=False, repr=False, compare=False)
    """The publication days, for bisecting (computed once)."""
    _ceilings: dict[tuple[str, str, str, date], CeilingUsed] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    """:func:`_ceiling_used` by rule, ceiling and reference day: a batch of loans
    concluded on a few hundred days asks for the same few hundred ceilings."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_days", tuple(p.day for p in self.publications))

    def publication_on(self, day: date) -> LprPublication:
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
        index = bisect.bisect_right(self._days, day) - 1
        return self.publications[index]

    def rate_on(self, day: date) -> Decimal:
        """The one-year LPR in force on ``day`` (a decimal fraction, e.g. ``0.0385``)."""
        return self.publication_on(day).rate


def parse_lpr_history(document: object, *, source: str) -> LprHistory:
    """Reads ``rules/rates/lpr-1y.toml`` (already parsed); :class:`InvalidRuleFiles`
    lists every problem. Shape::

        published_by = "..."
        sources = ["...", ...]
        known_through = 2025-12-31      # every publication up to this day is recorded
        [[publications]]                # in date order, changes of the rate only
        date = 2019-08-20
        rate = "0.0425"
    """
    c = Checker(source)
    if not isinstance(document, dict):
        c.error("", "must be a TOML document (a table)")
        c.raise_if_any()
    assert isinstance(document, dict)
    c.unknown(document, "", ("published_by", "sources", "known_through", "publications"))
    published_by = c.string(document, "", "published_by", max_length=500)
    sources = c.strings(document, "", "sources", min_items=1)
    known_through = c.date(document, "", "known_through")
    publications: list[LprPublication] = []
    for path, table in c.tables(document, "", "publications", min_items=1) or ():
        c.unknown(table, path, ("date", "rate"))
        day = c.date(table, path, "date")
        rate = c.decimal(table, path, "rate", places=4)
        if rate is not None and not Decimal(0) < rate < MAX_RATE:
            c.error(join(path, "rate"), f"must be a fraction between 0 and 1, not {rate}")
            rate = None
        if day is None or rate is None:
            continue
        if publications and day <= publications[-1].day:
            c.error(
                join(path, "date"),
                f"must be after the previous publication ({publications[-1].day}): "
                "publications are listed in date order",
            )
            continue
        publications.append(LprPublication(day, rate))
    if known_through is not None and publications and known_through < publications[-1].day:
        c.error(
            "known_through",
            f"is before the last publication ({publications[-1].day})",
        )
    c.raise_if_any()
    assert published_by is not None
    assert sources is not None
    assert known_through is not None
    return LprHistory(tuple(publications), known_through, published_by, sources, source)


# -- rules -------------------------------------------------------------------------


@dataclass(frozen=True)
class LprMultipleCeiling:
    """``multiple`` × the one-year LPR on the contract date or on the filing date."""

    multiple: Decimal
    reference: Literal["contract_date", "filing_date"]
    kind: Literal["lpr_multiple"] = "lpr_multiple"


@dataclass(frozen=True)
class FixedCeiling:
    """A fixed annual rate (e.g. 24% for licensed lenders)."""

    rate: Decimal
    kind: Literal["fixed_annual"] = "fixed_annual"


Ceiling = LprMultipleCeiling | FixedCeiling


@dataclass(frozen=True)
class LoanRules:
    """A rule set's ``[case_types.online-loan.loan_assessment]``.

    ``ceiling`` applies to every loan; ``licensed_ceiling``, when set, replaces it for
    licensed lenders (banks, consumer finance companies, ...), which the private-lending
    provisions do not bind.
    """

    ceiling: Ceiling
    licensed_ceiling: Ceiling | None
    day_count: int
    allocation: tuple[str, ...]

    def ceiling_for(self, lender_kind: str) -> tuple[str, Ceiling]:
        if lender_kind == "licensed" and self.licensed_ceiling is not None:
            return "licensed_ceiling", self.licensed_ceiling
        return "ceiling", self.ceiling


def _parse_ceiling(
    c: Checker, table: Mapping[str, Any] | None, prefix: str, key: str, *, required: bool
) -> Ceiling | None:
    ceiling = c.table(table, prefix, key, required=required)
    if ceiling is None:
        return None
    path = join(prefix, key)
    kind = c.choice(ceiling, path, "kind", CEILING_KINDS)
    if kind == "lpr_multiple":
        c.unknown(ceiling, path, ("kind", "multiple", "reference"))
        multiple = c.decimal(ceiling, path, "multiple", maximum=MAX_MULTIPLE)
        if multiple is not None and multiple <= 0:
            c.error(join(path, "multiple"), f"must be more than 0, not {multiple}")
            multiple = None
        reference = c.choice(ceiling, path, "reference", CEILING_REFERENCES)
        if multiple is None or reference is None:
            return None
        return LprMultipleCeiling(
            multiple, "contract_date" if reference == "contract_date" else "filing_date"
        )
    if kind == "fixed_annual":
        c.unknown(ceiling, path, ("kind", "rate"))
        rate = c.decimal(ceiling, path, "rate", maximum=MAX_RATE)
        if rate is not None and rate <= 0:
            c.error(join(path, "rate"), f"must be more than 0, not {rate}")
            rate = None
        return None if rate is None else FixedCeiling(rate)
    return None


def parse_loan_rules(c: Checker, table: Mapping[str, Any] | None, prefix: str) -> LoanRules | None:
    """Reads a ``loan_assessment`` table (``table`` is the table itself, ``prefix`` its
    dotted path); problems go to ``c``; ``None`` when ``table`` is ``None`` or wrong::

        ceiling = { kind = "lpr_multiple", multiple = "4", reference = "contract_date" }
        licensed_ceiling = { kind = "fixed_annual", rate = "0.24" }     # optional
        day_count = 365
        allocation = ["fees", "interest", "principal"]
    """
    if table is None:
        return None
    before = len(c.errors)
    c.unknown(table, prefix, ("ceiling", "licensed_ceiling", "day_count", "allocation"))
    ceiling = _parse_ceiling(c, table, prefix, "ceiling", required=True)
    licensed = _parse_ceiling(c, table, prefix, "licensed_ceiling", required=False)
    day_count = c.integer(table, prefix, "day_count")
    if day_count is not None and day_count not in DAY_COUNTS:
        c.error(join(prefix, "day_count"), f"must be 365 or 360, not {day_count}")
    allocation = c.strings(table, prefix, "allocation", choices=ALLOCATION_GROUPS)
    if allocation is not None and len(allocation) != len(ALLOCATION_GROUPS):
        missing = [g for g in ALLOCATION_GROUPS if g not in allocation]
        c.error(
            join(prefix, "allocation"),
            f"must order all of {', '.join(ALLOCATION_GROUPS)} (missing: {', '.join(missing)})",
        )
    if len(c.errors) > before:
        return None
    assert ceiling is not None
    assert day_count is not None
    assert allocation is not None
    return LoanRules(ceiling, licensed, day_count, allocation)


# -- the loan ----------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    """A disbursement or a repayment."""

    day: date
    amount: Decimal


@dataclass(frozen=True)
class Fee:
    name: str
    amount: Decimal
    day: date


@dataclass(frozen=True)
class Penalty:
    amount: Decimal
    day: date


@dataclass(frozen=True)
class Claimed:
    principal: Decimal
    interest: Decimal
    default_interest: Decimal
    fees: Decimal
    penalty: Decimal

    def get(self, item: str) -> Decimal:
        value = getattr(self, item)
        assert isinstance(value, Decimal)
        return value


@dataclass(frozen=True)
class LoanClaim:
    """A loan's terms, its history and the lender's claim (see ``parse_loan``)."""

    contract_number: str
    lender_kind: str
    contract_date: date
    disbursements: tuple[Flow, ...]
    contract_principal: Decimal | None
    annual_interest_rate: Decimal
    maturity_date: date
    default_annual_rate: Decimal | None
    fees: tuple[Fee, ...]
    penalty: Penalty | None
    repayments: tuple[Flow, ...]
    claimed: Claimed
    assessed_on: date

    @property
    def disbursed(self) -> Decimal:
        return sum((d.amount for d in self.disbursements), Decimal(0))

    @property
    def deducted_upfront(self) -> Decimal:
        """What the contract states as principal beyond what was actually disbursed."""
        if self.contract_principal is None:
            return Decimal(0)
        return max(self.contract_principal - self.disbursed, Decimal(0))


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


def parse_loan(document: object) -> LoanClaim:
    """Reads a loan document (parsed JSON); :class:`LoanInputError` lists every problem.

    The shape is documented in ``rules/loan-assessment.md``; amounts are strings in yuan
    with at most 2 decimals, rates strings holding decimal fractions, dates
    ``"YYYY-MM-DD"`` strings, lists in date order.

    A valid document is read by :func:`_parse_valid` (a lender's batch holds 100,000 of
    them); anything it does not accept is read again by :func:`_parse_reporting`, which
    finds every problem with its path.
    """
    if type(document) is dict:
        loan = _parse_valid(document)
        if loan is not None:
            return loan
    return _parse_reporting(document)


_REQUIRED_FIELDS: Final = tuple(name for name, required in LOAN_FIELDS.items() if required)
_CLAIMED_FIELDS: Final = frozenset(ITEMS)
_CONTROL = re.compile(r"[\x00-\x1f]")


_DAYS: dict[str, date] = {}
"""Dates read so far, by their text: a batch's loans share a few thousand days."""


def _valid_day(value: object) -> date | None:
    if type(value) is not str:
        return None
    day = _DAYS.get(value)
    if day is None and _DATE.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return None
        if len(_DAYS) >= _CACHE_LIMIT:
            _DAYS.clear()
        _DAYS[value] = day
    return day


_NUMBERS: dict[str, Decimal] = {}
"""Amounts read so far, by their text: a batch's loans repeat many ("0.00", round
principals, fees). Decimals are immutable, so one can serve every loan."""


def _valid_amount(value: object, *, positive: bool) -> Decimal | None:
    if type(value) is not str:
        return None
    amount = _NUMBERS.get(value)
    if amount is None:
        if not _AMOUNT.fullmatch(value):
            return None
        amount = Decimal(value)
        if amount > MAX_AMOUNT:
            return None
        _remember_number(value, amount)
    if positive and amount == 0:
        return None
    return amount


def _valid_rate(value: object) -> Decimal | None:
    if type(value) is not str:
        return None
    rate = _RATES.get(value)
    if rate is None:
        if not _RATE.fullmatch(value):
            return None
        rate = Decimal(value)
        if rate > MAX_RATE:
            return None
        if len(_RATES) >= _CACHE_LIMIT:
            _RATES.clear()
        _RATES[value] = rate
    return rate


_RATES: dict[str, Decimal] = {}
"""Rates read so far (kept apart from amounts: "1.5" is an amount, not a rate)."""


def _remember_number(text: str, number: Decimal) -> None:
    if len(_NUMBERS) >= _CACHE_LIMIT:
        _NUMBERS.clear()
    _NUMBERS[text] = number


def _valid_text(value: object, max_length: int) -> str | None:
    if (
        type(value) is not str
        or not value.strip()
        or value != value.strip()
        or len(value) > max_length
        or _CONTROL.search(value)
    ):
        return None
    return value


def _valid_flows(value: object) -> list[Flow] | None:
    """Dated amounts in date order, each exactly ``{"date", "amount"}``."""
    if type(value) is not list or len(value) > MAX_LIST:
        return None
    flows: list[Flow] = []
    previous: date | None = None
    for item in value:
        if type(item) is not dict or len(item) != 2:
            return None
        day = _valid_day(item.get("date"))
        amount = _valid_amount(item.get("amount"), positive=True)
        if day is None or amount is None or (previous is not None and day < previous):
            return None
        flows.append(_build(Flow, {"day": day, "amount": amount}))
        previous = day
    return flows


def _parse_valid(document: dict[str, Any]) -> LoanClaim | None:
    """A valid loan document read without collecting problems (no paths, no messages):
    ``None`` at the first thing :func:`_parse_reporting` would refuse, or that this
    reading does not know for sure (then that one reads it). For what it returns, it
    returns what that one would."""
    get = document.get
    for name in document:
        if name not in LOAN_FIELDS:
            return None
    for name in _REQUIRED_FIELDS:
        if name not in document:
            return None
    contract_number = _valid_text(get("contract_number"), 100)
    lender_kind = get("lender_kind")
    contract_date = _valid_day(get("contract_date"))
    maturity_date = _valid_day(get("maturity_date"))
    assessed_on = _valid_day(get("assessed_on"))
    interest_rate = _valid_rate(get("annual_interest_rate"))
    if (
        contract_number is None
        or type(lender_kind) is not str
        or lender_kind not in LENDER_KINDS
        or contract_date is None
        or maturity_date is None
        or assessed_on is None
        or interest_rate is None
        or maturity_date <= contract_date
        or assessed_on < contract_date
    ):
        return None
    contract_principal = None
    if "contract_principal" in document:
        contract_principal = _valid_amount(document["contract_principal"], positive=True)
        if contract_principal is None:
            return None
    default_rate = None
    if "default_annual_rate" in document:
        default_rate = _valid_rate(document["default_annual_rate"])
        if default_rate is None:
            return None

    disbursements = _valid_flows(document["disbursements"])
    if not disbursements:
        return None
    first_disbursement = disbursements[0].day  # the list is in date order
    for flow in disbursements:
        if flow.day < contract_date or flow.day >= maturity_date or flow.day > assessed_on:
            return None
    repayments: list[Flow] = []
    if "repayments" in document:
        found = _valid_flows(document["repayments"])
        if found is None:
            return None
        for flow in found:
            if flow.day < first_disbursement or flow.day > assessed_on:
                return None
        repayments = found

    fees: list[Fee] = []
    if "fees" in document:
        listed = document["fees"]
        if type(listed) is not list or len(listed) > MAX_LIST:
            return None
        previous = contract_date  # in date order, none before the contract
        for item in listed:
            if type(item) is not dict or len(item) != 3:
                return None
            fee_name = _valid_text(item.get("name"), 100)
            amount = _valid_amount(item.get("amount"), positive=True)
            day = _valid_day(item.get("date"))
            if fee_name is None or amount is None or day is None or day < previous:
                return None
            fees.append(_build(Fee, {"name": fee_name, "amount": amount, "day": day}))
            previous = day

    penalty: Penalty | None = None
    if "penalty" in document:
        item = document["penalty"]
        if type(item) is not dict or len(item) != 2:
            return None
        amount = _valid_amount(item.get("amount"), positive=True)
        day = _valid_day(item.get("date"))
        if amount is None or day is None or day < contract_date:
            return None
        penalty = _build(Penalty, {"amount": amount, "day": day})

    item = document["claimed"]
    if type(item) is not dict:
        return None
    for name in item:
        if name not in _CLAIMED_FIELDS:
            return None
    claimed: dict[str, Decimal] = {}
    for name in ITEMS:
        if name in item:
            amount = _valid_amount(item[name], positive=False)
            if amount is None:
                return None
            claimed[name] = amount
        elif name == "penalty":
            claimed[name] = Decimal(0)
        else:
            return None

    if contract_principal is not None:
        total = sum((f.amount for f in disbursements), Decimal(0))
        if total > contract_principal:
            return None
    return _build(
        LoanClaim,
        {
            "contract_number": contract_number,
            "lender_kind": lender_kind,
            "contract_date": contract_date,
            "disbursements": tuple(disbursements),
            "contract_principal": contract_principal,
            "annual_interest_rate": interest_rate,
            "maturity_date": maturity_date,
            "default_annual_rate": default_rate,
            "fees": tuple(fees),
            "penalty": penalty,
            "repayments": tuple(repayments),
            "claimed": _build(Claimed, claimed),
            "assessed_on": assessed_on,
        },
    )


def _parse_reporting(document: object) -> LoanClaim:
    """:func:`parse_loan` collecting every problem, with its path and message."""
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


# -- the assessment ----------------------------------------------------------------


@dataclass(frozen=True)
class CeilingUsed:
    """The annual ceiling applied to a loan, and how it was obtained."""

    rule: str  # "ceiling" or "licensed_ceiling"
    kind: str
    annual_rate: Decimal
    explanation: str  # "4 × LPR 3.85% on 2021-03-01 = 15.40%"
    reference: str | None = None
    reference_day: date | None = None
    lpr: LprPublication | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "kind": self.kind,
            "annual_rate": _number(self.annual_rate),
            "explanation": self.explanation,
        }
        if self.lpr is not None:
            out.update(
                reference=self.reference,
                reference_date=str(self.reference_day),
                lpr=_number(self.lpr.rate),
                lpr_published=str(self.lpr.day),
            )
        return out


@dataclass(frozen=True)
class Reason:
    code: str
    amount: Decimal
    message: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "amount": fen(self.amount), "message": self.message}


@dataclass(frozen=True)
class AssessedItem:
    """One item: ``unsupported`` = ``claimed`` − ``supported``, explained by ``reasons``
    (whose amounts add up to it)."""

    name: str
    claimed: Decimal
    computed: Decimal
    supported: Decimal
    unsupported: Decimal
    reasons: tuple[Reason, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "claimed": fen(self.claimed),
            "computed": fen(self.computed),
            "supported": fen(self.supported),
            "unsupported": fen(self.unsupported),
            "reasons": [reason.as_json() for reason in self.reasons],
        }


@dataclass(frozen=True)
class Period:
    """A stretch of constant principal and rate (the supported computation)."""

    start: date
    end: date
    principal: Decimal
    item: str  # interest or default_interest
    rate: Decimal
    accrued: Decimal  # for reading: rounded to the fen (totals use the exact figures)
    ceiling: Decimal  # likewise

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def as_json(self) -> dict[str, Any]:
        return {
            "from": str(self.start),
            "to": str(self.end),
            "days": self.days,
            "principal": fen(self.principal),
            "item": self.item,
            "rate": _number(self.rate),
            "accrued": fen(self.accrued),
            "ceiling": fen(self.ceiling),
        }


@dataclass(frozen=True)
class Allocation:
    """How one repayment (plus any earlier surplus) was applied (the supported
    computation); ``surplus`` is what was left over after the principal."""

    day: date
    amount: Decimal
    applied: tuple[tuple[str, Decimal], ...]
    surplus: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "date": str(self.day),
            "amount": fen(self.amount),
            **{item: fen(value) for item, value in self.applied},
            "surplus": fen(self.surplus),
        }


@dataclass(frozen=True)
class ChargeLine:
    """A charge in the supported computation (on the principal actually lent): what the
    contract gives, the part within the ceiling, what was paid, what was paid beyond
    that part (credited elsewhere) and what remains owed."""

    name: str
    contractual: Decimal
    within_ceiling: Decimal
    paid: Decimal
    paid_beyond_ceiling: Decimal
    outstanding: Decimal

    def as_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "contractual": fen(self.contractual),
            "within_ceiling": fen(self.within_ceiling),
            "paid": fen(self.paid),
            "paid_beyond_ceiling": fen(self.paid_beyond_ceiling),
            "outstanding": fen(self.outstanding),
        }


@dataclass(frozen=True)
class LoanAssessment:
    """The assessment of one loan claim; :meth:`as_json` is what the CLI and the API
    show (amounts as strings with two decimals)."""

    contract_number: str
    lender_kind: str
    assessed_on: date
    ceiling: CeilingUsed
    day_count: int
    allocation: tuple[str, ...]
    interest_rate: Decimal
    default_rate: Decimal
    default_rate_basis: str
    contract_principal: Decimal
    disbursed: Decimal
    items: tuple[AssessedItem, ...]
    ceiling_amount: Decimal
    """The ceiling over the loan's life: ceiling rate × principal × days / day_count,
    summed over the periods (on the principal actually lent)."""
    charges: tuple[ChargeLine, ...]
    credited: tuple[tuple[str, Decimal], ...]
    """Where the payments beyond the ceiling went (principal first)."""
    overpaid: Decimal
    periods: tuple[Period, ...]
    repayments: tuple[Allocation, ...]
    notes: tuple[str, ...]

    def item(self, name: str) -> AssessedItem:
        return next(i for i in self.items if i.name == name)

    def total(self, field: str) -> Decimal:
        """The sum of one field (``claimed``, ``supported``, ...) over the items."""
        return sum((getattr(i, field) for i in self.items), Decimal(0))

    def as_json(self) -> dict[str, Any]:
        return {
            "contract_number": self.contract_number,
            "lender_kind": self.lender_kind,
            "assessed_on": str(self.assessed_on),
            "ceiling": self.ceiling.explanation,
            "ceiling_detail": self.ceiling.as_json(),
            "day_count": self.day_count,
            "allocation": list(self.allocation),
            "interest_rate": _number(self.interest_rate),
            "default_rate": _number(self.default_rate),
            "default_rate_basis": self.default_rate_basis,
            "contract_principal": fen(self.contract_principal),
            "disbursed": fen(self.disbursed),
            "items": [item.as_json() for item in self.items],
            "totals": {
                field: fen(self.total(field))
                for field in ("claimed", "computed", "supported", "unsupported")
            },
            "ceiling_amount": fen(self.ceiling_amount),
            "charges": [line.as_json() for line in self.charges],
            "credited": {item: fen(amount) for item, amount in self.credited},
            "overpaid": fen(self.overpaid),
            "periods": [period.as_json() for period in self.periods],
            "repayments": [allocation.as_json() for allocation in self.repayments],
            "notes": list(self.notes),
        }


_Built = TypeVar("_Built")
_BUILT: Final = (
    "Flow",
    "Fee",
    "Penalty",
    "Claimed",
    "LoanClaim",
    "Period",
    "Allocation",
    "Reason",
    "AssessedItem",
    "ChargeLine",
    "LoanAssessment",
)
"""The classes :func:`_build` makes."""
_new_object = object.__new__
_set_attribute = object.__setattr__


def _build(cls: type[_Built], fields: dict[str, Any]) -> _Built:
    """``cls(**fields)`` for a frozen result dataclass, without its generated
    ``__init__``, which sets each field through ``object.__setattr__`` and costs twice
    as much (a loan makes some thirty of these objects, a batch 100,000 loans).
    ``fields`` must hold every field, in order: the classes built so (_BUILT) have no
    defaults, no ``__post_init__`` and no slots, which tests/rules/test_loans_reference.py
    checks; the results are equal and alike (``repr``) to those of constructor calls.
    """
    obj = _new_object(cls)
    _set_attribute(obj, "__dict__", fields)
    return obj


class _Ledger:
    """One run through the loan's history, as the contract runs it (no ceiling).

    Charges are kept exact and *scaled*: an amount × ``day_count``, so that principal ×
    rate × days needs no division; principal and payments are in yuan. ``stream`` lists
    the charges in the order they fell due; ``ceiling_total`` is the ceiling over the
    same history (scaled), when a ceiling rate was given. ``stream``, ``periods`` and
    ``allocations`` are kept only by a run that records them (the supported one).
    ``totals`` keeps each charge's rounded total as of its last accrual: rounding is
    the costly part, and every payment asks for every charge's total.

    A plain class with slots: two are made per assessment.
    """

    __slots__ = (
        "accrued",
        "allocations",
        "ceiling_total",
        "day_count",
        "paid",
        "periods",
        "principal",
        "stream",
        "surplus",
        "totals",
    )

    def __init__(self, day_count: int) -> None:
        zero = Decimal(0)
        self.day_count = day_count
        self.principal = zero
        self.accrued: dict[str, Decimal] = dict.fromkeys(CHARGES, zero)
        self.paid: dict[str, Decimal] = dict.fromkeys(ITEMS, zero)
        self.stream: list[tuple[str, Decimal]] = []
        self.ceiling_total = zero
        self.surplus = zero
        self.periods: list[Period] = []
        self.allocations: list[Allocation] = []
        self.totals: dict[str, Decimal] = dict.fromkeys(CHARGES, _ZERO_FEN)  # nothing accrued

    def accrue(self, item: str, scaled: Decimal) -> None:
        self.accrued[item] += scaled
        self.totals.pop(item, None)

    def total(self, item: str) -> Decimal:
        """A charge's total so far, in fen."""
        total = self.totals.get(item)
        if total is None:
            total = self.totals[item] = _round_fen(self.accrued[item], self.day_count)
        return total

    def due(self, item: str) -> Decimal:
        """What is owed of a charge now: its total so far less what was paid of it."""
        return self.total(item) - self.paid[item]


_ALLOCATION_ITEMS: dict[tuple[str, ...], tuple[str, ...]] = {}
"""A rule set's allocation, group by group, as the items it settles in order."""


def _allocation_items(allocation: Sequence[str]) -> tuple[str, ...]:
    key = tuple(allocation)
    items = _ALLOCATION_ITEMS.get(key)
    if items is None:
        items = _ALLOCATION_ITEMS[key] = tuple(i for g in key for i in GROUP_ITEMS[g])
    return items


_CREDIT_ORDER: dict[tuple[str, ...], tuple[str, ...]] = {}


def _credit_order(allocation: Sequence[str]) -> tuple[str, ...]:
    """Where payments beyond the ceiling go: principal, then the charges in the
    allocation order."""
    key = tuple(allocation)
    items = _CREDIT_ORDER.get(key)
    if items is None:
        charges = (i for i in _allocation_items(key) if i != "principal")
        items = _CREDIT_ORDER[key] = ("principal", *charges)
    return items


def _run(
    loan: LoanClaim,
    *,
    day_count: int,
    allocation: Sequence[str],
    face: bool,
    default_rate: Decimal,
    deducted_upfront: Decimal,
    ceiling_rate: Decimal | None = None,
    record: bool = True,
) -> _Ledger:
    """Runs the history from the first event to ``assessed_on``.

    ``face``: the contract's view, in which the amount deducted up front (the loan's
    ``deducted_upfront``, passed in) counts as lent on the first disbursement day;
    otherwise only what was disbursed is principal. ``record``: keep the periods, the
    allocations and the stream of charges (only the supported run's are read).

    Written for speed (it runs twice per loan of a 100,000-row batch): the ledger's
    state is held in local variables, ``min(a, b)`` is spelt ``b if b < a else a``
    (the same result, the same Decimal, without a call).
    """
    end = loan.assessed_on
    maturity = loan.maturity_date
    zero = Decimal(0)
    inflows: dict[date, Decimal] = {}
    for flow in loan.disbursements:
        inflows[flow.day] = inflows.get(flow.day, zero) + flow.amount
    if face and deducted_upfront:
        inflows[loan.disbursements[0].day] += deducted_upfront
    lumps: dict[date, list[tuple[str, Decimal]]] = {}
    for fee in loan.fees:
        if fee.day <= end:
            lumps.setdefault(fee.day, []).append(("fees", fee.amount))
    penalty = loan.penalty
    if penalty is not None and penalty.day <= end:
        lumps.setdefault(penalty.day, []).append(("penalty", penalty.amount))
    payments: dict[date, list[Decimal]] = {}
    for flow in loan.repayments:
        payments.setdefault(flow.day, []).append(flow.amount)

    days = sorted({*inflows, *lumps, *payments, end})
    if days[0] <= maturity <= end:
        days = sorted({*days, maturity})
    ledger = _Ledger(day_count)
    accrued = ledger.accrued
    paid = ledger.paid
    totals = ledger.totals
    stream = ledger.stream
    periods = ledger.periods
    allocations = ledger.allocations
    order = _allocation_items(allocation)
    interest_rate = loan.annual_interest_rate
    principal = surplus = ceiling_total = zero

    def settle(day: date, amount: Decimal) -> None:
        """Applies a payment (and any surplus) in the allocation order."""
        nonlocal principal, surplus
        available = amount + surplus
        applied: list[tuple[str, Decimal]] = []
        for item in order:
            if item == "principal":
                pay = principal if principal < available else available
                principal -= pay
            else:
                total = totals.get(item)
                if total is None:
                    total = totals[item] = _round_fen(accrued[item], day_count)
                owed = total - paid[item]
                pay = owed if owed < available else available
            available -= pay
            paid[item] += pay
            if record:
                applied.append((item, pay))
        surplus = available
        if record:
            allocations.append(
                _build(
                    Allocation,
                    {"day": day, "amount": amount, "applied": tuple(applied), "surplus": available},
                )
            )

    previous = days[0]
    for day in days:
        if day > previous and principal > 0:
            length = (day - previous).days
            if previous < maturity:
                item, rate = "interest", interest_rate
            else:
                item, rate = "default_interest", default_rate
            scaled = principal * rate * length
            if scaled:
                accrued[item] += scaled
                totals.pop(item, None)
                if record:
                    stream.append((item, scaled))
            ceiling = zero
            if ceiling_rate is not None:
                ceiling = principal * ceiling_rate * length
                ceiling_total += ceiling
            if record:
                periods.append(
                    _build(
                        Period,
                        {
                            "start": previous,
                            "end": day,
                            "principal": principal,
                            "item": item,
                            "rate": rate,
                            "accrued": _round_fen(scaled, day_count),
                            "ceiling": _round_fen(ceiling, day_count),
                        },
                    )
                )
        lumped = lumps.get(day)
        if lumped is not None:
            for item, amount in lumped:
                scaled = amount * day_count
                if scaled:
                    accrued[item] += scaled
                    totals.pop(item, None)
                    if record:
                        stream.append((item, scaled))
        inflow = inflows.get(day)
        if inflow is not None:  # amounts have at most 2 decimals: + 0 would change nothing
            principal += inflow
        paying = payments.get(day)
        if paying is not None:
            for amount in paying:
                settle(day, amount)
        previous = day
    if surplus > 0:
        settle(end, zero)  # a surplus settles what fell due after it was paid
    ledger.principal = principal
    ledger.surplus = surplus
    ledger.ceiling_total = ceiling_total
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
    principal, then to the charges still owed (in the allocation order).

    ``min(a, b)`` is spelt ``b if b < a else a`` and ``max(a, b)`` ``b if b > a else
    a``: the same results, without the calls."""
    zero = Decimal(0)
    room = run.ceiling_total
    admitted = dict.fromkeys(CHARGES, zero)
    for item, amount in run.stream:
        if not room:  # used up: the rest of the stream takes nothing
            break
        take = amount if amount < room else room
        admitted[item] += take
        room -= take
    day_count = run.day_count
    paid = run.paid
    within: dict[str, Decimal] = {}
    excess: dict[str, Decimal] = {}
    outstanding: dict[str, Decimal] = {}
    left = zero
    accrued = run.accrued
    for item in CHARGES:
        taken = admitted[item]
        if taken == accrued[item]:  # all of it within the ceiling: its total, rounded already
            part = within[item] = run.total(item)
        else:
            part = within[item] = _round_fen(taken, day_count)
        beyond = paid[item] - part
        beyond = zero if zero > beyond else beyond
        excess[item] = beyond
        left += beyond
        owed = part - paid[item]
        outstanding[item] = zero if zero > owed else owed
    outstanding["principal"] = run.principal
    left += run.surplus
    credited = dict.fromkeys(ITEMS, zero)
    for item in _credit_order(allocation):
        owed = outstanding[item]
        take = owed if owed < left else left
        outstanding[item] = owed - take
        credited[item] += take
        left -= take
    return _Supported(within, excess, outstanding, credited, left)


_FIXED_CEILINGS: dict[tuple[str, str], CeilingUsed] = {}
_CACHE_LIMIT: Final = 20_000
"""Ceilings kept per LPR history (a day each: some 55 years of days)."""


def _ceiling_used(loan: LoanClaim, rules: LoanRules, lpr: LprHistory) -> CeilingUsed:
    """The ceiling that applies to ``loan``; computed once per rule, ceiling and
    reference day (it is immutable, and its explanation is costly to format)."""
    rule, ceiling = rules.ceiling_for(loan.lender_kind)
    # Keyed by the numbers as written: equal ceilings ("4", "4.0") give equal results
    # written differently.
    if isinstance(ceiling, FixedCeiling):
        fixed_key = (rule, str(ceiling.rate))
        fixed = _FIXED_CEILINGS.get(fixed_key)
        if fixed is None:
            if len(_FIXED_CEILINGS) >= _CACHE_LIMIT:
                _FIXED_CEILINGS.clear()
            fixed = _FIXED_CEILINGS[fixed_key] = CeilingUsed(
                rule, ceiling.kind, ceiling.rate, f"fixed {percent(ceiling.rate)} a year ({rule})"
            )
        return fixed
    day = loan.contract_date if ceiling.reference == "contract_date" else loan.assessed_on
    key = (rule, str(ceiling.multiple), ceiling.reference, day)
    known = lpr._ceilings.get(key)
    if known is not None:
        return known
    publication = lpr.publication_on(day)
    with localcontext(_EXACT):
        rate = ceiling.multiple * publication.rate
        used = CeilingUsed(
            rule,
            ceiling.kind,
            rate,
            f"{_number(ceiling.multiple)} × LPR {percent(publication.rate)} on {day} = "
            f"{percent(rate)}",
            ceiling.reference,
            day,
            publication,
        )
    if len(lpr._ceilings) >= _CACHE_LIMIT:
        lpr._ceilings.clear()
    lpr._ceilings[key] = used
    return used


def _default_rate(loan: LoanClaim, lpr: LprHistory) -> tuple[Decimal, str]:
    if loan.default_annual_rate is not None:
        return loan.default_annual_rate, "agreed default rate"
    if loan.annual_interest_rate > 0 or loan.assessed_on <= loan.maturity_date:
        return (
            loan.annual_interest_rate,
            "no default rate agreed: the contractual rate (SPC private-lending provisions "
            "art. 28(2))",
        )
    publication = lpr.publication_on(loan.maturity_date)
    return (
        publication.rate,
        f"no interest agreed: the one-year LPR {percent(publication.rate)} on "
        f"{loan.maturity_date} (SPC private-lending provisions art. 28(1))",
    )


def _reasons(
    claimed: Decimal,
    supported: Decimal,
    layers: Sequence[tuple[str, Decimal, str]],
    message: Callable[[str], str],
) -> tuple[Reason, ...]:
    """Explains ``claimed`` − ``supported``. ``layers`` go from the top down, each
    ``(code, floor, message key)``: the first reaches from its floor up to any claim,
    each next one from its floor up to the floor above it (a floor above the one before
    it counts as that one: the layer is then empty). Each reason is the part of the
    interval from ``supported`` to ``claimed`` that falls in its layer, so the reasons
    add up to what is unsupported. ``message`` gives a reason's message from its key
    (messages are formatted only for the reasons given)."""
    # min(a, b) is spelt "b if b < a else a", max(a, b) "b if b > a else a": the same
    # results without the calls (this runs for every item of every loan).
    reasons: list[Reason] = []
    explained = Decimal(0)
    upper: Decimal | None = None  # the floor of the layer above
    for code, floor, key in layers:
        if upper is None:
            top = claimed
        else:
            if upper < floor:
                floor = upper
            top = upper if upper < claimed else claimed
        amount = top - (floor if floor > supported else supported)
        if amount > 0:
            reasons.append(
                _build(Reason, {"code": code, "amount": amount, "message": message(key)})
            )
            explained += amount
        if floor <= supported:  # every layer below is empty
            break
        upper = floor
    assert explained == claimed - supported, layers
    return tuple(reasons)


def assess_loan(loan: LoanClaim, rules: LoanRules, lpr: LprHistory) -> LoanAssessment:
    """What is claimable on ``loan`` at ``loan.assessed_on`` (see the module docstring
    and ``rules/loan-assessment.md``). :class:`LprUnknown` when a needed LPR is not
    recorded.

    ``loan`` is a parsed loan: :func:`~arbitral.rules.claims.validate_claim` already
    gives one as the value of a ``loan`` field (``valid.values["loan"]``), so a caller
    that validated a claim passes that on rather than parsing the document again.
    """
    with localcontext(_EXACT):
        return _assess(loan, rules, lpr)


class _Messages:
    """The reasons' messages of one assessment, each formatted when first needed."""

    def __init__(
        self,
        loan: LoanClaim,
        rules: LoanRules,
        ceiling: CeilingUsed,
        disbursed: Decimal,
        deducted_upfront: Decimal,
    ) -> None:
        self.loan = loan
        self.rules = rules
        self.ceiling = ceiling
        self.disbursed = disbursed
        self.deducted_upfront = deducted_upfront
        self.texts: dict[str, str] = {}

    def get(self, key: str) -> str:
        text = self.texts.get(key)
        if text is None:
            text = self.texts[key] = self._format(key)
        return text

    def _format(self, key: str) -> str:
        end = self.loan.assessed_on
        deducted = self.deducted_upfront
        if key == "exceeds":
            return f"more than the contract gives up to {end}"
        if key == "not_yet_due":
            return f"falls due after {end}"
        if key == "already_repaid":
            return _repaid_message(self.rules.allocation)
        if key == "deducted_upfront":
            return (
                f"the contract states {fen(self.disbursed + deducted)} but "
                f"{fen(self.disbursed)} was actually lent: the {fen(deducted)} "
                "deducted up front is not principal, and what repayments paid of the charges "
                "on it counts as paid principal (SPC private-lending provisions art. 26; "
                "Civil Code art. 680)"
            )
        if key == "deducted_charges":
            return (
                f"charged on the {fen(deducted)} deducted up front, which was never "
                "lent (SPC private-lending provisions art. 26; Civil Code art. 680)"
            )
        if key == "above_ceiling":
            return _above_ceiling_message(self.ceiling, self.loan.lender_kind == "private")
        if key == "credited":
            return (
                "repayments made towards charges beyond the ceiling count as payments of "
                "principal, then of the other charges still owed"
            )
        if key == "principal_not_due":
            return f"the principal falls due on {self.loan.maturity_date}, after {end}"
        if key == "exceeds_principal":
            return f"more than the contract's principal ({fen(self.disbursed + deducted)})"
        raise AssertionError(f"no message {key}")


_MESSAGES: dict[tuple[object, ...], str] = {}
"""Messages that depend on the rules and the ceiling only, by what they depend on."""


def _repaid_message(allocation: tuple[str, ...]) -> str:
    key = ("already_repaid", allocation)
    text = _MESSAGES.get(key)
    if text is None:
        order = ", ".join(allocation)
        text = f"already paid: repayments are applied {order} (Civil Code art. 561)"
        _remember(key, text)
    return text


def _above_ceiling_message(ceiling: CeilingUsed, private: bool) -> str:
    key = ("above_ceiling", ceiling.kind, ceiling.annual_rate, ceiling.explanation, private)
    text = _MESSAGES.get(key)
    if text is None:
        basis = (
            "SPC private-lending provisions arts. 25, 28, 29"
            if private and ceiling.kind == "lpr_multiple"
            else "the rule set's ceiling"
        )
        text = (
            "interest, default interest, fees and penalty together are supported only up "
            f"to {percent(ceiling.annual_rate)} a year on the outstanding principal "
            f"({ceiling.explanation}; {basis}); the ceiling is used up in the order the "
            "charges fell due"
        )
        _remember(key, text)
    return text


def _remember(key: tuple[object, ...], text: str) -> None:
    if len(_MESSAGES) >= _CACHE_LIMIT:
        _MESSAGES.clear()
    _MESSAGES[key] = text


def _assess(loan: LoanClaim, rules: LoanRules, lpr: LprHistory) -> LoanAssessment:
    ceiling = _ceiling_used(loan, rules, lpr)
    default_rate, default_basis = _default_rate(loan, lpr)
    d = rules.day_count
    allocation = rules.allocation
    disbursed = loan.disbursed
    deducted = (
        Decimal(0)
        if loan.contract_principal is None
        else max(loan.contract_principal - disbursed, Decimal(0))
    )  # loan.deducted_upfront, without summing the disbursements again

    # on what was lent
    actual = _run(
        loan,
        day_count=d,
        allocation=allocation,
        face=False,
        default_rate=default_rate,
        deducted_upfront=deducted,
        ceiling_rate=ceiling.annual_rate,
    )
    # what the contract gives (the face principal): with nothing deducted up front, the
    # same run (the ceiling and the records change nothing else)
    contract = actual
    if deducted:
        contract = _run(
            loan,
            day_count=d,
            allocation=allocation,
            face=True,
            default_rate=default_rate,
            deducted_upfront=deducted,
            record=False,
        )
    legal = _apply_ceiling(actual, allocation)  # within the ceiling

    end = loan.assessed_on
    due = end >= loan.maturity_date
    message = _Messages(loan, rules, ceiling, disbursed, deducted).get
    contract_principal = disbursed + deducted

    # min(a, b) is spelt "b if b < a else a", max(a, b) "b if b > a else a" (as in _run)
    zero = Decimal(0)
    actual_totals = {name: actual.total(name) for name in CHARGES}
    contract_totals = (
        actual_totals if contract is actual else {name: contract.total(name) for name in CHARGES}
    )
    items: list[AssessedItem] = []
    claims = loan.claimed
    outstanding = legal.outstanding
    for name in ITEMS:
        claimed: Decimal = getattr(claims, name)
        supported_owed = outstanding[name]
        layers: list[tuple[str, Decimal, str]] = []  # none when there is nothing to explain
        if name == "principal":
            computed = contract.principal if due else zero
            supported = zero
            if due:
                supported = supported_owed if supported_owed < claimed else claimed
            if claimed != supported:
                layers = [  # from the claim down to what is supported (floors)
                    ("exceeds_contract", contract_principal, "exceeds_principal"),
                    ("already_repaid", contract.principal, "already_repaid"),
                    ("deducted_upfront", actual.principal, "deducted_upfront"),
                    ("excess_payments_credited", supported_owed, "credited"),
                    ("not_yet_due", Decimal(0), "principal_not_due"),
                ]
        else:
            contractual = contract_totals[name]
            computed = contractual - contract.paid[name]  # contract.due(name)
            supported = supported_owed if supported_owed < claimed else claimed
            if claimed != supported:
                if name == "fees":
                    later = sum((f.amount for f in loan.fees if f.day > end), Decimal(0))
                elif name == "penalty":
                    later = (
                        loan.penalty.amount
                        if loan.penalty is not None and loan.penalty.day > end
                        else Decimal(0)
                    )
                else:
                    later = Decimal(0)
                within_owed = legal.within[name] - actual.paid[name]
                layers = [  # from the claim down to what is supported (floors)
                    ("exceeds_contract", contractual + later, "exceeds"),
                    ("not_yet_due", contractual, "not_yet_due"),
                    ("already_repaid", computed, "already_repaid"),
                    (
                        "deducted_upfront",
                        actual_totals[name] - actual.paid[name],
                        "deducted_charges",
                    ),
                    ("above_ceiling", within_owed if within_owed > zero else zero, "above_ceiling"),
                    ("excess_payments_credited", supported_owed, "credited"),
                ]
        items.append(
            _build(
                AssessedItem,
                {
                    "name": name,
                    "claimed": claimed,
                    "computed": computed,
                    "supported": supported,
                    "unsupported": claimed - supported,
                    "reasons": _reasons(claimed, supported, layers, message) if layers else (),
                },
            )
        )

    charges = tuple(
        [
            _build(
                ChargeLine,
                {
                    "name": name,
                    "contractual": actual_totals[name],
                    "within_ceiling": legal.within[name],
                    "paid": actual.paid[name],
                    "paid_beyond_ceiling": legal.excess[name],
                    "outstanding": legal.outstanding[name],
                },
            )
            for name in CHARGES
        ]
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
    return _build(
        LoanAssessment,
        {
            "contract_number": loan.contract_number,
            "lender_kind": loan.lender_kind,
            "assessed_on": end,
            "ceiling": ceiling,
            "day_count": d,
            "allocation": allocation,
            "interest_rate": loan.annual_interest_rate,
            "default_rate": default_rate,
            "default_rate_basis": default_basis,
            "contract_principal": contract_principal,
            "disbursed": disbursed,
            "items": tuple(items),
            "ceiling_amount": _round_fen(actual.ceiling_total, d),
            "charges": charges,
            "credited": tuple([(k, v) for k, v in legal.credited.items() if v]),
            "overpaid": legal.overpaid,
            "periods": tuple(actual.periods),
            "repayments": tuple(actual.allocations),
            "notes": tuple(notes),
        },
    )
