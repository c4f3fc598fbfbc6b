"""Arbitration fees as data: named fee schedules, and which one each case type uses.

A rule set defines its fee schedules once, by name, and each case type says which schedule
its claims (and counterclaims) are assessed with. Amounts are in yuan, exact (``Decimal``,
never ``float``), written in TOML as strings; every fee component is rounded to the fen
(0.01) half up, and the total is the sum of the rounded components.

A schedule (here the State Council table of 1995, 国办发〔1995〕44号, plus a fixed fee)::

    [fee_schedules.standard]
    currency = "CNY"                       # optional; CNY is the only currency

    [[fee_schedules.standard.components]]
    name = "acceptance"                    # lowercase letters, digits, - and _
    label_zh = "案件受理费"
    label_en = "acceptance fee"
    method = "marginal"                    # marginal | flat | fixed
    minimum = "100"                        # optional, marginal and flat only
    # maximum = "500000"                   # optional, marginal and flat only
    bands = [
      { upto = "1000", fixed = "100" },    # 0 < amount <= 1,000: 100 yuan
      { upto = "50000", rate = "0.05" },   # the part from 1,000 to 50,000: 5%
      { upto = "100000", rate = "0.04" },
      { upto = "200000", rate = "0.03" },
      { upto = "500000", rate = "0.02" },
      { upto = "1000000", rate = "0.01" },
      { rate = "0.005" },                  # above 1,000,000: 0.5% (the last band is open)
    ]

    [[fee_schedules.standard.components]]
    name = "administrative"
    label_zh = "案件处理费"
    label_en = "case handling fee"
    method = "fixed"
    amount = "300"

Bands are read in order: a band covers the amounts above the previous band's ``upto``
(above 0 for the first) up to and including its own ``upto``; the ``upto`` values rise, and
only the last band, which must be open-ended, has none. Each band has either a ``rate``
(between 0 and 1) or a ``fixed`` sum, never both.

- ``marginal``: each band charges its rate on the part of the amount that lies inside the
  band, or its fixed sum as soon as the amount reaches into it; the component is the sum.
- ``flat``: the whole amount is charged at the rate (or the fixed sum) of the one band the
  amount falls in. A flat schedule can charge less just above a band boundary than at it;
  that is what a flat table says, so it is not refused.
- ``fixed``: ``amount`` is charged whatever the claim (no bands, minimum or maximum). A
  rate of the whole amount is ``method = "flat"`` with the single band ``{ rate = "…" }``.

An amount of 0 reaches no band (a band's charge needs some amount inside it); ``minimum``
then still applies. ``minimum`` and ``maximum`` bound the exact component before it is
rounded.

A case type's fees (a table, e.g. ``[case_types.online-loan.fees]``)::

    schedule = "standard"
    discount = { rate = "0.20", components = ["acceptance"] }   # optional
    counterclaim = { schedule = "standard" }                     # optional

``discount.rate`` (0 to 1) reduces the listed components (all of them when
``components`` is left out); each component's discount is rounded to the fen half up, and
is applied after ``minimum`` and ``maximum``. A counterclaim is assessed on its own amount,
separately from the claim. Without a ``counterclaim`` table it is assessed exactly as a
claim (same schedule, same discount). With one, the table says everything about
counterclaims: ``schedule`` defaults to the claim's schedule and there is no discount
unless the table gives one (``counterclaim = { discount = { rate = "0.5" } }`` halves
every component of the claim's schedule for counterclaims).

Pure: no I/O.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, Inexact, InvalidOperation, localcontext
from typing import Any, Literal

from arbitral.rules.checker import Checker, join, type_name

Method = Literal["marginal", "flat", "fixed"]
METHODS: tuple[Method, ...] = ("marginal", "flat", "fixed")
CURRENCIES = ("CNY",)

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal(10) ** 13
"""The largest amount, in yuan, that an assessment or a schedule accepts."""
RATE_PLACES = 10

# Every product of an amount (at most 16 digits) and a rate (at most 10 decimal places)
# fits in 60 digits: the arithmetic is exact, and any rounding would be a bug (trapped).
_EXACT = Context(prec=60, rounding=ROUND_HALF_UP, traps=[InvalidOperation, Inexact])
_ROUNDING = Context(prec=60, rounding=ROUND_HALF_UP, traps=[InvalidOperation])

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}", re.ASCII)
_PLAIN_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_MAX_INPUT = 64


# --- schedules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """Amounts above ``lower`` up to and including ``upto`` (``None``: no upper bound)."""

    lower: Decimal
    upto: Decimal | None
    rate: Decimal | None
    fixed: Decimal | None

    def contains(self, amount: Decimal) -> bool:
        return amount > self.lower and (self.upto is None or amount <= self.upto)


@dataclass(frozen=True)
class BandPart:
    """What one band charged: ``amount`` is exact (not rounded), ``base`` what it applied to."""

    lower: Decimal
    upto: Decimal | None
    rate: Decimal | None
    fixed: Decimal | None
    base: Decimal
    amount: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "from": money_text(self.lower),
            "upto": None if self.upto is None else money_text(self.upto),
            "rate": None if self.rate is None else format(self.rate, "f"),
            "fixed": None if self.fixed is None else money_text(self.fixed),
            "base": exact_text(self.base),
            "amount": exact_text(self.amount),
        }


@dataclass(frozen=True)
class FeeComponent:
    name: str
    label_zh: str
    label_en: str
    method: Method
    bands: tuple[Band, ...] = ()
    amount: Decimal | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None

    def charge(self, amount: Decimal) -> tuple[tuple[BandPart, ...], Decimal]:
        """The band parts and their exact sum (before minimum, maximum and rounding)."""
        with localcontext(_EXACT):
            if self.method == "fixed":
                assert self.amount is not None
                return (), self.amount
            parts: list[BandPart] = []
            if self.method == "marginal":
                for band in self.bands:
                    if amount <= band.lower:
                        break
                    top = amount if band.upto is None or amount < band.upto else band.upto
                    parts.append(_part(band, top - band.lower))
            else:
                parts.extend(_part(band, amount) for band in self.bands if band.contains(amount))
            return tuple(parts), sum((part.amount for part in parts), Decimal(0))


def _part(band: Band, base: Decimal) -> BandPart:
    if band.fixed is not None:
        charged = band.fixed
    else:
        assert band.rate is not None
        charged = base * band.rate
    return BandPart(band.lower, band.upto, band.rate, band.fixed, base, charged)


@dataclass(frozen=True)
class FeeSchedule:
    name: str
    currency: str
    components: tuple[FeeComponent, ...]

    @property
    def component_names(self) -> tuple[str, ...]:
        return tuple(component.name for component in self.components)


class FeeSchedules(dict[str, FeeSchedule]):
    """The valid schedules by name.

    ``invalid`` holds the names of schedules that were defined but are wrong (their problems
    are already reported), so that a case type using one is not reported a second time.
    """

    def __init__(self) -> None:
        super().__init__()
        self.invalid: set[str] = set()


@dataclass(frozen=True)
class Discount:
    rate: Decimal
    components: tuple[str, ...]

    def applies_to(self, component: str) -> bool:
        return component in self.components


@dataclass(frozen=True)
class FeePlan:
    """How one kind of claim is assessed: a schedule and an optional discount."""

    schedule: FeeSchedule
    discount: Discount | None = None


# --- assessments -------------------------------------------------------------------------


@dataclass(frozen=True)
class FeeLine:
    """One component of an assessment.

    ``exact`` is the sum of the band parts (or the fixed amount); ``limit`` says whether
    the minimum or the maximum replaced it; ``amount`` is then rounded to the fen half up;
    ``discount`` is rounded the same way, and ``due`` is ``amount - discount``.
    """

    name: str
    label_zh: str
    label_en: str
    method: Method
    bands: tuple[BandPart, ...]
    exact: Decimal
    limit: Literal["minimum", "maximum"] | None
    amount: Decimal
    discount: Decimal
    due: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label_zh": self.label_zh,
            "label_en": self.label_en,
            "method": self.method,
            "bands": [part.as_json() for part in self.bands],
            "exact": exact_text(self.exact),
            "limit": self.limit,
            "amount": money_text(self.amount),
            "discount": money_text(self.discount),
            "due": money_text(self.due),
        }


@dataclass(frozen=True)
class FeeAssessment:
    """The fees on one amount: ``gross`` (sum of line amounts) - ``discount`` = ``total``."""

    schedule: str
    currency: str
    amount: Decimal
    counterclaim: bool
    discount_rate: Decimal | None
    lines: tuple[FeeLine, ...]
    gross: Decimal
    discount: Decimal
    total: Decimal

    def as_json(self) -> dict[str, Any]:
        """Plain JSON values; money as strings with exactly two decimals (``"2550.00"``).

        Band parts and ``exact`` are not rounded: they show at least two decimals, and
        more when the exact value has them (``"703.7034"``).
        """
        return {
            "schedule": self.schedule,
            "currency": self.currency,
            "amount": money_text(self.amount),
            "counterclaim": self.counterclaim,
            "discount_rate": (
                None if self.discount_rate is None else format(self.discount_rate, "f")
            ),
            "lines": [line.as_json() for line in self.lines],
            "gross": money_text(self.gross),
            "discount": money_text(self.discount),
            "total": money_text(self.total),
        }


@dataclass(frozen=True)
class CaseFees:
    """A case type's fees: how claims and counterclaims are assessed."""

    claim: FeePlan
    counterclaim: FeePlan

    def assess(self, amount: Decimal, *, counterclaim: bool = False) -> FeeAssessment:
        """The fees on ``amount`` (yuan); FeeInputError if it is not a valid amount."""
        plan = self.counterclaim if counterclaim else self.claim
        return assess(plan, amount, counterclaim=counterclaim)


def assess(plan: FeePlan, amount: Decimal, *, counterclaim: bool = False) -> FeeAssessment:
    amount = parse_amount(amount)
    discount = plan.discount
    lines: list[FeeLine] = []
    with localcontext(_EXACT):
        for component in plan.schedule.components:
            parts, exact = component.charge(amount)
            bounded = exact
            limit: Literal["minimum", "maximum"] | None = None
            if component.minimum is not None and exact < component.minimum:
                bounded, limit = component.minimum, "minimum"
            elif component.maximum is not None and exact > component.maximum:
                bounded, limit = component.maximum, "maximum"
            rounded = round_fen(bounded)
            reduction = ZERO
            if discount is not None and discount.applies_to(component.name):
                reduction = round_fen(rounded * discount.rate)
            lines.append(
                FeeLine(
                    name=component.name,
                    label_zh=component.label_zh,
                    label_en=component.label_en,
                    method=component.method,
                    bands=parts,
                    exact=exact,
                    limit=limit,
                    amount=rounded,
                    discount=reduction,
                    due=rounded - reduction,
                )
            )
        gross = sum((line.amount for line in lines), ZERO)
        reductions = sum((line.discount for line in lines), ZERO)
        return FeeAssessment(
            schedule=plan.schedule.name,
            currency=plan.schedule.currency,
            amount=amount,
            counterclaim=counterclaim,
            discount_rate=None if discount is None else discount.rate,
            lines=tuple(lines),
            gross=gross,
            discount=reductions,
            total=gross - reductions,
        )


def round_fen(value: Decimal) -> Decimal:
    """To the fen, half up (0.005 → 0.01); never a negative zero."""
    rounded = value.quantize(FEN, context=_ROUNDING)
    return rounded if rounded else ZERO


def money_text(value: Decimal) -> str:
    """Exactly two decimals: ``"2550.00"``."""
    return f"{round_fen(value):.2f}"


def exact_text(value: Decimal) -> str:
    """At least two decimals, more when the value has them: ``"703.7034"``."""
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        return format(value.normalize(), "f")
    return f"{value:.2f}"


# --- amounts typed by people -------------------------------------------------------------


class FeeInputError(ValueError):
    """An amount that cannot be assessed; the message says why, as a predicate of the field
    (``"must not be negative"``) so that callers can prefix the field's name."""


def parse_amount(value: str | int | Decimal) -> Decimal:
    """A claim amount in yuan, exact, with two decimals (``Decimal("12345.60")``).

    Accepts an integer, a finite ``Decimal`` or a string of plain digits with an optional
    decimal point (``"12345.6"``; full-width digits are read as digits; surrounding spaces
    are ignored). Refuses, with a precise FeeInputError: floats (binary, inexact), booleans,
    thousands separators (``"12,345.60"``: a comma is a decimal point in some places),
    exponents (``"1e5"``), NaN and infinities, signs other than a minus on zero, negative
    amounts, more than two decimal places (yuan are counted to the fen) and amounts above
    10^13 yuan.
    """
    if isinstance(value, bool):
        raise FeeInputError("must be an amount in yuan, not a boolean")
    if isinstance(value, float):
        raise FeeInputError(
            "must not be a float (binary and inexact): give the amount as a string "
            'such as "12345.60", or as a Decimal'
        )
    if isinstance(value, int):
        shown = str(value) if value.bit_length() < 128 else "a very large integer"
        return _checked(Decimal(value), shown)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise FeeInputError(f"must be a finite amount, not {value}")
        return _checked(value, str(value))
    if not isinstance(value, str):
        raise FeeInputError(
            f"must be an amount in yuan (a string, an integer or a Decimal), not {type_name(value)}"
        )
    text = value.strip()
    return _checked(_parse_text(value), repr(text if len(text) <= 40 else text[:37] + "..."))


def _parse_text(value: str) -> Decimal:
    if len(value) > _MAX_INPUT:
        raise FeeInputError(f"is too long to be an amount in yuan ({len(value)} characters)")
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        raise FeeInputError("is empty: give an amount in yuan such as 12345.60")
    negative = text.startswith("-")
    body = text[1:] if negative else text
    if _PLAIN_AMOUNT.fullmatch(body):
        number = Decimal(body)
        if negative and number:
            raise FeeInputError(f"must not be negative, not {text!r}")
        return number
    if "," in body and _PLAIN_AMOUNT.fullmatch(body.replace(",", "")):
        raise FeeInputError(
            f"must not contain thousands separators: write {body.replace(',', '')}, not {text!r}"
        )
    try:
        parsed: Decimal | None = Decimal(body)
    except InvalidOperation:
        parsed = None
    if parsed is not None and not parsed.is_finite():
        raise FeeInputError(f"must be a finite amount, not {text!r}")
    if parsed is not None and "e" in body.lower():
        raise FeeInputError(f"must be written in plain digits, without an exponent, not {text!r}")
    raise FeeInputError(
        f"is not an amount in yuan: {text!r} (write digits with an optional decimal point, "
        "e.g. 12345.60)"
    )


def _checked(number: Decimal, shown: str) -> Decimal:
    """``number`` checked; ``shown`` is how the input is quoted in messages."""
    if len(shown) > 42:
        shown = shown[:39] + "..."
    if number < 0:
        raise FeeInputError(f"must not be negative, not {shown}")
    if number > MAX_AMOUNT:
        raise FeeInputError(f"must be at most {MAX_AMOUNT:f} yuan, not {shown}")
    with localcontext(_EXACT):
        try:
            rounded = number.quantize(FEN)
        except Inexact:
            raise FeeInputError(
                f"must have at most 2 decimal places (yuan to the fen), not {shown}"
            ) from None
    return rounded if rounded else ZERO


# --- reading rule data -------------------------------------------------------------------


_SCHEDULE_KEYS = ("currency", "components")
_COMPONENT_KEYS = (
    "name",
    "label_zh",
    "label_en",
    "method",
    "bands",
    "amount",
    "minimum",
    "maximum",
)
_BAND_KEYS = ("upto", "rate", "fixed")
_CASE_KEYS = ("schedule", "discount", "counterclaim")
_COUNTERCLAIM_KEYS = ("schedule", "discount")
_DISCOUNT_KEYS = ("rate", "components")


def parse_fee_schedules(c: Checker, table: Mapping[str, Any] | None, prefix: str) -> FeeSchedules:
    """The schedules of a ``fee_schedules`` table (``None``: none, already reported).

    Every problem is recorded in ``c``; only the schedules without problems are returned.
    """
    schedules = FeeSchedules()
    if table is None:
        return schedules
    for name in table:
        path = join(prefix, name)
        before = len(c.errors)
        if not _NAME.fullmatch(name):
            c.error(path, "a schedule name must be lowercase letters, digits, - and _")
        body = c.table(table, prefix, name, _SCHEDULE_KEYS)
        schedule = _parse_schedule(c, body, path, name)
        if schedule is None or len(c.errors) > before:
            schedules.invalid.add(name)
        else:
            schedules[name] = schedule
    return schedules


def _parse_schedule(
    c: Checker, table: Mapping[str, Any] | None, prefix: str, name: str
) -> FeeSchedule | None:
    if table is None:
        return None
    currency = "CNY"
    if "currency" in table:
        currency = c.choice(table, prefix, "currency", CURRENCIES) or currency
    items = c.tables(table, prefix, "components", min_items=1)
    components: list[FeeComponent] = []
    seen: dict[str, str] = {}
    for path, item in items or ():
        component = _parse_component(c, item, path)
        if component is None:
            continue
        if component.name in seen:
            c.error(
                join(path, "name"),
                f"repeats the component name {component.name!r} of {seen[component.name]}",
            )
            continue
        seen[component.name] = path
        components.append(component)
    if items is None:
        return None
    return FeeSchedule(name=name, currency=currency, components=tuple(components))


def _money(
    c: Checker, table: Mapping[str, Any], prefix: str, key: str, *, required: bool
) -> Decimal | None:
    return c.decimal(
        table, prefix, key, required=required, minimum=Decimal(0), maximum=MAX_AMOUNT, places=2
    )


def _rate(c: Checker, table: Mapping[str, Any], prefix: str, key: str) -> Decimal | None:
    return c.decimal(table, prefix, key, minimum=Decimal(0), maximum=Decimal(1), places=RATE_PLACES)


def _parse_component(c: Checker, table: Mapping[str, Any], prefix: str) -> FeeComponent | None:
    before = len(c.errors)
    c.unknown(table, prefix, _COMPONENT_KEYS)
    name = c.string(table, prefix, "name", max_length=64)
    if name is not None and not _NAME.fullmatch(name):
        c.error(join(prefix, "name"), "must be lowercase letters, digits, - and _")
    label_zh = c.string(table, prefix, "label_zh")
    label_en = c.string(table, prefix, "label_en")
    method = _method(c.choice(table, prefix, "method", METHODS))
    bands: tuple[Band, ...] = ()
    amount = minimum = maximum = None
    if method == "fixed":
        for key in ("bands", "minimum", "maximum"):
            if key in table:
                c.error(join(prefix, key), 'is not used by method = "fixed" (it charges amount)')
        amount = _money(c, table, prefix, "amount", required=True)
    elif method is not None:
        if "amount" in table:
            c.error(
                join(prefix, "amount"),
                f'is not used by method = "{method}" (its bands say what is charged; '
                'a fixed sum is method = "fixed")',
            )
        bands = _parse_bands(c, table, prefix)
        minimum = _money(c, table, prefix, "minimum", required=False)
        maximum = _money(c, table, prefix, "maximum", required=False)
        if minimum is not None and maximum is not None and maximum < minimum:
            c.error(join(prefix, "maximum"), f"must be at least minimum ({minimum}), not {maximum}")
    if len(c.errors) > before or name is None or label_zh is None or label_en is None:
        return None
    assert method is not None
    return FeeComponent(
        name=name,
        label_zh=label_zh,
        label_en=label_en,
        method=method,
        bands=bands,
        amount=amount,
        minimum=minimum,
        maximum=maximum,
    )


def _method(name: str | None) -> Method | None:
    for method in METHODS:
        if name == method:
            return method
    return None


def _parse_bands(c: Checker, table: Mapping[str, Any], prefix: str) -> tuple[Band, ...]:
    items = c.tables(table, prefix, "bands", min_items=1)
    if items is None:
        return ()
    bands: list[Band] = []
    lower: Decimal | None = Decimal(0)  # None once a bound is unknown (already reported)
    last = len(items) - 1
    for index, (path, item) in enumerate(items):
        c.unknown(item, path, _BAND_KEYS)
        upto = _money(c, item, path, "upto", required=False)
        if "upto" not in item and index != last:
            c.error(join(path, "upto"), "missing: only the last band may be open-ended")
        if "upto" in item and index == last:
            c.error(
                join(path, "upto"),
                "must be left out: the last band is open-ended, so that every amount has a fee",
            )
        if upto is not None and lower is not None and upto <= lower:
            if index == 0:
                c.error(join(path, "upto"), "must be more than 0")
            else:
                c.error(
                    join(path, "upto"),
                    f"must be more than the previous band's upto ({lower}), not {upto}",
                )
        rate = fixed = None
        if "rate" in item and "fixed" in item:
            c.error(path, "must have either a rate or a fixed sum, not both")
        elif "rate" in item:
            rate = _rate(c, item, path, "rate")
        elif "fixed" in item:
            fixed = _money(c, item, path, "fixed", required=True)
        else:
            c.error(path, 'must have a rate (e.g. rate = "0.05") or a fixed sum (fixed = "100")')
        if lower is not None:
            bands.append(Band(lower=lower, upto=upto, rate=rate, fixed=fixed))
        lower = upto if upto is not None and (lower is None or upto > lower) else None
    return tuple(bands)


def parse_case_fees(
    c: Checker,
    table: Mapping[str, Any] | None,
    prefix: str,
    schedules: Mapping[str, FeeSchedule],
) -> CaseFees | None:
    """A case type's fees table (``None``: missing or wrong, already reported).

    ``schedules`` is what parse_fee_schedules returned. Returns None when the table has a
    problem (recorded in ``c``).
    """
    if table is None:
        return None
    before = len(c.errors)
    c.unknown(table, prefix, _CASE_KEYS)
    claim = _parse_plan(c, table, prefix, schedules, default=None)
    counterclaim = claim
    if "counterclaim" in table:
        sub = c.table(table, prefix, "counterclaim", _COUNTERCLAIM_KEYS)
        counterclaim = None
        if sub is not None:
            default = claim.schedule if claim is not None else None
            counterclaim = _parse_plan(
                c, sub, join(prefix, "counterclaim"), schedules, default=default
            )
    if claim is None or counterclaim is None or len(c.errors) > before:
        return None
    return CaseFees(claim=claim, counterclaim=counterclaim)


def _parse_plan(
    c: Checker,
    table: Mapping[str, Any],
    prefix: str,
    schedules: Mapping[str, FeeSchedule],
    *,
    default: FeeSchedule | None,
) -> FeePlan | None:
    schedule: FeeSchedule | None = default
    if "schedule" in table or default is None:
        name = c.string(table, prefix, "schedule", max_length=64)
        schedule = None
        if name is not None:
            schedule = schedules.get(name)
            if schedule is None:
                invalid = schedules.invalid if isinstance(schedules, FeeSchedules) else set()
                if name not in invalid:
                    c.error(join(prefix, "schedule"), _unknown_schedule(name, schedules))
    discount = None
    if "discount" in table:
        sub = c.table(table, prefix, "discount", _DISCOUNT_KEYS)
        discount = _parse_discount(c, sub, join(prefix, "discount"), schedule)
        if discount is None:
            return None
    if schedule is None:
        return None
    return FeePlan(schedule=schedule, discount=discount)


def _unknown_schedule(name: str, schedules: Iterable[str]) -> str:
    names = sorted(set(schedules) | getattr(schedules, "invalid", set()))
    if not names:
        return f"unknown fee schedule {name!r} (no fee_schedules are defined)"
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(names)}"
    return f"unknown fee schedule {name!r} ({hint})"


def _parse_discount(
    c: Checker,
    table: Mapping[str, Any] | None,
    prefix: str,
    schedule: FeeSchedule | None,
) -> Discount | None:
    if table is None:
        return None
    rate = _rate(c, table, prefix, "rate")
    choices = schedule.component_names if schedule is not None else None
    if "components" in table:
        components = c.strings(table, prefix, "components", min_items=1, choices=choices)
    else:
        components = choices
    if rate is None or components is None:
        return None
    return Discount(rate=rate, components=components)
