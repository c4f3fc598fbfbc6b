"""Fee schedules as data: the 1995 State Council table, discounts, counterclaims, input."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbitral.rules.checker import Checker
from arbitral.rules.fees import (
    MAX_AMOUNT,
    CaseFees,
    FeeAssessment,
    FeeInputError,
    FeeSchedules,
    parse_amount,
    parse_case_fees,
    parse_fee_schedules,
    round_fen,
)

# 国办发〔1995〕44号: up to 1,000 → 100 yuan; then 5%, 4%, 3%, 2%, 1% on the parts up to
# 50,000 / 100,000 / 200,000 / 500,000 / 1,000,000, and 0.5% above; plus a fixed fee.
STANDARD = """
[fee_schedules.standard]
currency = "CNY"

[[fee_schedules.standard.components]]
name = "acceptance"
label_zh = "案件受理费"
label_en = "acceptance fee"
method = "marginal"
bands = [
  { upto = "1000", fixed = "100" },
  { upto = "50000", rate = "0.05" },
  { upto = "100000", rate = "0.04" },
  { upto = "200000", rate = "0.03" },
  { upto = "500000", rate = "0.02" },
  { upto = "1000000", rate = "0.01" },
  { rate = "0.005" },
]

[[fee_schedules.standard.components]]
name = "administrative"
label_zh = "案件处理费"
label_en = "case handling fee"
method = "fixed"
amount = "300"
"""

# A schedule with a flat table, a minimum and a maximum.
OTHERS = """
[fee_schedules.flat]
[[fee_schedules.flat.components]]
name = "acceptance"
label_zh = "案件受理费"
label_en = "acceptance fee"
method = "flat"
bands = [
  { upto = "10000", fixed = "50" },
  { upto = "100000", rate = "0.01" },
  { rate = "0.005" },
]

[fee_schedules.bounded]
[[fee_schedules.bounded.components]]
name = "handling"
label_zh = "案件处理费"
label_en = "case handling fee"
method = "marginal"
minimum = "200"
maximum = "1000"
bands = [{ rate = "0.01" }]
"""


def read(text: str) -> tuple[Checker, FeeSchedules, CaseFees | None]:
    """Schedules from ``fee_schedules`` and, if present, the case fees in ``fees``."""
    document = tomllib.loads(text)
    c = Checker("test.toml")
    schedules = parse_fee_schedules(c, document.get("fee_schedules"), "fee_schedules")
    fees = None
    if "fees" in document:
        fees = parse_case_fees(c, document["fees"], "fees", schedules)
    return c, schedules, fees


def fees_of(fees_toml: str, schedules: str = STANDARD + OTHERS) -> CaseFees:
    c, _, fees = read(schedules + "\n[fees]\n" + fees_toml)
    assert [str(e) for e in c.errors] == []
    assert fees is not None
    return fees


def errors(text: str) -> list[str]:
    c, _, _ = read(text)
    return [str(e) for e in c.errors]


def line(assessment: FeeAssessment, name: str) -> Any:
    return next(item for item in assessment.lines if item.name == name)


PLAIN = fees_of('schedule = "standard"')


# --- the 1995 table ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "acceptance"),
    [
        # 0 reaches no band (there is no minimum in this schedule).
        ("0", "0.00"),
        # Anything up to 1,000 (inclusive) is in the first band: its fixed 100.
        ("0.01", "100.00"),
        ("500", "100.00"),
        ("1000", "100.00"),
        # 100 + 0.01 × 5% = 100.0005 → 100.00
        ("1000.01", "100.00"),
        # 100 + 500 × 5% = 100 + 25
        ("1500", "125.00"),
        # 100 + 49,000 × 5% = 100 + 2,450
        ("50000", "2550.00"),
        # 2,550 + 0.01 × 4% = 2,550.0004
        ("50000.01", "2550.00"),
        # 2,550 + 50,000 × 4% = 2,550 + 2,000
        ("100000", "4550.00"),
        # 100 + 2,450 + 2,000 + 23,456.78 × 3% (= 703.7034) = 5,253.7034 → 5,253.70
        ("123456.78", "5253.70"),
        # 4,550 + 100,000 × 3% = 4,550 + 3,000
        ("200000", "7550.00"),
        # 7,550 + 300,000 × 2% = 7,550 + 6,000
        ("500000", "13550.00"),
        # 13,550 + 500,000 × 1% = 13,550 + 5,000
        ("1000000", "18550.00"),
        # 18,550 + 0.01 × 0.5% = 18,550.00005
        ("1000000.01", "18550.00"),
        # 18,550 + 1,000,000 × 0.5% = 18,550 + 5,000
        ("2000000", "23550.00"),
        # 18,550 + 9,000,000 × 0.5% = 18,550 + 45,000
        ("10000000", "63550.00"),
        # 18,550 + 1,234,567.89 × 0.5% (= 6,172.83945) = 24,722.83945 → 24,722.84
        ("2234567.89", "24722.84"),
    ],
)
def test_the_1995_table(amount: str, acceptance: str) -> None:
    assessment = PLAIN.assess(Decimal(amount))
    assert f"{line(assessment, 'acceptance').amount}" == acceptance
    assert f"{line(assessment, 'administrative').amount}" == "300.00"
    assert assessment.total == Decimal(acceptance) + 300
    assert assessment.discount == 0


def test_band_parts_are_exact_and_the_component_is_rounded() -> None:
    assessment = PLAIN.assess(Decimal("123456.78"))
    acceptance = line(assessment, "acceptance")
    assert [(p.lower, p.upto, p.rate, p.fixed, p.base, p.amount) for p in acceptance.bands] == [
        (0, 1000, None, 100, 1000, 100),
        (1000, 50000, Decimal("0.05"), None, 49000, 2450),
        (50000, 100000, Decimal("0.04"), None, 50000, 2000),
        (100000, 200000, Decimal("0.03"), None, Decimal("23456.78"), Decimal("703.7034")),
    ]
    assert acceptance.exact == Decimal("5253.7034")
    assert acceptance.amount == Decimal("5253.70")
    assert acceptance.limit is None


def test_the_open_band_is_charged_on_the_part_above_the_last_bound() -> None:
    parts = line(PLAIN.assess(Decimal("2000000")), "acceptance").bands
    assert parts[-1].upto is None
    assert (parts[-1].lower, parts[-1].base, parts[-1].amount) == (1000000, 1000000, 5000)


def test_rounding_is_half_up_per_component() -> None:
    # 100 + 0.10 × 5% = 100.005: half up gives 100.01 (half-even would give 100.00).
    assessment = PLAIN.assess(Decimal("1000.10"))
    assert line(assessment, "acceptance").exact == Decimal("100.005")
    assert line(assessment, "acceptance").amount == Decimal("100.01")
    assert assessment.total == Decimal("400.01")
    # 100 + 0.30 × 5% = 100.015 → 100.02 (half-even would also round up: 2 is even).
    assert line(PLAIN.assess(Decimal("1000.30")), "acceptance").amount == Decimal("100.02")
    assert round_fen(Decimal("0.005")) == Decimal("0.01")
    assert round_fen(Decimal("0.0049999")) == Decimal("0.00")
    assert round_fen(Decimal("2.675")) == Decimal("2.68")


def test_as_json_shows_money_with_two_decimals() -> None:
    document = PLAIN.assess(Decimal("123456.78")).as_json()
    assert document["amount"] == "123456.78"
    assert document["schedule"] == "standard"
    assert document["currency"] == "CNY"
    assert document["counterclaim"] is False
    assert document["discount_rate"] is None
    acceptance, administrative = document["lines"]
    assert acceptance["amount"] == "5253.70"
    assert acceptance["exact"] == "5253.7034"
    assert acceptance["bands"][0] == {
        "from": "0.00",
        "upto": "1000.00",
        "rate": None,
        "fixed": "100.00",
        "base": "1000.00",
        "amount": "100.00",
    }
    assert acceptance["bands"][3]["rate"] == "0.03"
    assert acceptance["bands"][3]["amount"] == "703.7034"
    assert administrative == {
        "name": "administrative",
        "label_zh": "案件处理费",
        "label_en": "case handling fee",
        "method": "fixed",
        "bands": [],
        "exact": "300.00",
        "limit": None,
        "amount": "300.00",
        "discount": "0.00",
        "due": "300.00",
    }
    assert (document["gross"], document["discount"], document["total"]) == (
        "5553.70",
        "0.00",
        "5553.70",
    )
    assert PLAIN.assess(Decimal("0")).as_json()["total"] == "300.00"


# --- other methods, minimum and maximum --------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("5000", "50.00"),  # first band: its fixed 50
        ("10000", "50.00"),  # 10,000 is still in the first band
        ("10000.01", "100.00"),  # 10,000.01 × 1% = 100.0001
        ("100000", "1000.00"),  # 100,000 × 1%
        ("100000.01", "500.00"),  # 100,000.01 × 0.5% = 500.00005: the whole amount, lower rate
        ("150000", "750.00"),  # 150,000 × 0.5%
        ("0", "0.00"),  # no band
    ],
)
def test_flat_charges_the_whole_amount_at_its_band(amount: str, expected: str) -> None:
    assessment = fees_of('schedule = "flat"').assess(Decimal(amount))
    assert assessment.total == Decimal(expected)
    parts = assessment.lines[0].bands
    if amount != "0":
        assert len(parts) == 1
        assert parts[0].base == Decimal(amount)


def test_minimum_and_maximum_bound_the_component() -> None:
    bounded = fees_of('schedule = "bounded"')
    low = bounded.assess(Decimal("1000"))  # 1,000 × 1% = 10 → the minimum, 200
    assert (low.lines[0].exact, low.lines[0].limit, low.total) == (10, "minimum", 200)
    assert bounded.assess(Decimal("0")).total == Decimal("200.00")  # the minimum applies to 0
    middle = bounded.assess(Decimal("54321.99"))  # 543.2199 → 543.22
    assert (middle.lines[0].limit, middle.total) == (None, Decimal("543.22"))
    high = bounded.assess(Decimal("250000"))  # 2,500 → the maximum, 1,000
    assert (high.lines[0].limit, high.total) == ("maximum", Decimal("1000.00"))
    assert str(high.total) == "1000.00"


# --- discounts and counterclaims ---------------------------------------------------------


def test_a_discount_reduces_the_listed_components() -> None:
    fees = fees_of(
        'schedule = "standard"\ndiscount = { rate = "0.20", components = ["acceptance"] }'
    )
    assessment = fees.assess(Decimal("50000"))
    # acceptance 2,550 - 20% (510) ; administrative 300 without discount
    assert line(assessment, "acceptance").discount == Decimal("510.00")
    assert line(assessment, "acceptance").due == Decimal("2040.00")
    assert line(assessment, "administrative").discount == 0
    assert (assessment.gross, assessment.discount, assessment.total) == (2850, 510, 2340)
    assert assessment.discount_rate == Decimal("0.20")
    assert assessment.as_json()["discount_rate"] == "0.20"


def test_a_discount_without_components_reduces_them_all_and_is_rounded_half_up() -> None:
    fees = fees_of('schedule = "standard"\ndiscount = { rate = "0.125" }')
    # acceptance: 100 + 0.20 × 5% = 100.01; 12.5% of it = 12.50125 → 12.50
    # administrative: 12.5% of 300 = 37.50
    assessment = fees.assess(Decimal("1000.20"))
    assert [(x.amount, x.discount, x.due) for x in assessment.lines] == [
        (Decimal("100.01"), Decimal("12.50"), Decimal("87.51")),
        (Decimal("300.00"), Decimal("37.50"), Decimal("262.50")),
    ]
    assert assessment.total == Decimal("350.01")
    # 12.5% of 100.04 (1,000.80) = 12.505 → 12.51: half up
    assert fees.assess(Decimal("1000.80")).lines[0].discount == Decimal("12.51")


def test_counterclaims_default_to_the_claims_schedule_and_discount() -> None:
    fees = fees_of('schedule = "standard"\ndiscount = { rate = "0.5" }')
    claim = fees.assess(Decimal("50000"))
    counter = fees.assess(Decimal("50000"), counterclaim=True)
    assert counter.counterclaim is True
    assert claim.counterclaim is False
    assert counter.total == claim.total == Decimal("1425.00")  # (2,550 + 300) / 2


def test_a_counterclaim_table_gives_its_own_schedule_and_discount() -> None:
    fees = fees_of(
        'schedule = "standard"\n'
        'discount = { rate = "0.20" }\n'
        'counterclaim = { schedule = "flat", discount = { rate = "0.5" } }'
    )
    counter = fees.assess(Decimal("150000"), counterclaim=True)
    # flat: 150,000 × 0.5% = 750, halved
    assert (counter.schedule, counter.gross, counter.discount, counter.total) == (
        "flat",
        750,
        375,
        375,
    )
    assert fees.assess(Decimal("150000")).schedule == "standard"


def test_a_counterclaim_table_without_schedule_keeps_the_claims_schedule_without_discount() -> None:
    fees = fees_of('schedule = "standard"\ndiscount = { rate = "0.20" }\ncounterclaim = {}')
    counter = fees.assess(Decimal("50000"), counterclaim=True)
    assert (counter.schedule, counter.discount, counter.total) == ("standard", 0, 2850)
    assert fees.assess(Decimal("50000")).total == Decimal("2280.00")  # 2,850 - 20%


# --- what the assessment accepts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12345.6", "12345.60"),
        ("12345.60", "12345.60"),
        (" 12345 ", "12345.00"),
        ("0", "0.00"),
        ("-0", "0.00"),
        ("１２３４５．６", "12345.60"),  # full-width, typed with a Chinese input method
        ("1.230", "1.23"),  # trailing zeros are not more precision
        ("10000000000000", "10000000000000.00"),
        (12345, "12345.00"),
        (Decimal("12345.6"), "12345.60"),
        (Decimal("1E+3"), "1000.00"),
    ],
)
def test_parse_amount_accepts(value: str | int | Decimal, expected: str) -> None:
    parsed = parse_amount(value)
    assert str(parsed) == expected
    assert parsed.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "is not an amount in yuan: 'abc' (write digits with an optional decimal point"),
        ("", "is empty: give an amount in yuan such as 12345.60"),
        ("  ", "is empty"),
        ("12.", "is not an amount in yuan: '12.'"),
        (".5", "is not an amount in yuan: '.5'"),
        ("+5", "is not an amount in yuan: '+5'"),
        ("1_000", "is not an amount in yuan: '1_000'"),
        ("1e5", "must be written in plain digits, without an exponent, not '1e5'"),
        ("NaN", "must be a finite amount, not 'NaN'"),
        ("Infinity", "must be a finite amount, not 'Infinity'"),
        ("-inf", "must be a finite amount, not '-inf'"),
        ("12,345.60", "must not contain thousands separators: write 12345.60, not '12,345.60'"),
        ("-5", "must not be negative, not '-5'"),
        ("-0.01", "must not be negative, not '-0.01'"),
        ("1.234", "must have at most 2 decimal places (yuan to the fen), not '1.234'"),
        ("10000000000000.01", "must be at most 10000000000000 yuan"),
        ("1" * 65, "is too long to be an amount in yuan (65 characters)"),
        (-1, "must not be negative, not -1"),
        (-(10**200), "must not be negative, not a very large integer"),
        (10**14, "must be at most 10000000000000 yuan, not 100000000000000"),
        ("9" * 50, f"must be at most 10000000000000 yuan, not '{'9' * 37}...'"),
        (Decimal("-3"), "must not be negative, not -3"),
        (Decimal("1E+99999"), "must be at most 10000000000000 yuan, not 1E+99999"),
        (Decimal("0.001"), "must have at most 2 decimal places"),
        (Decimal("NaN"), "must be a finite amount, not NaN"),
        (Decimal("sNaN"), "must be a finite amount, not sNaN"),
        (Decimal("-Infinity"), "must be a finite amount, not -Infinity"),
        (1.5, "must not be a float (binary and inexact)"),
        (True, "must be an amount in yuan, not a boolean"),
        (None, "must be an amount in yuan (a string, an integer or a Decimal), not a NoneType"),
    ],
)
def test_parse_amount_refuses(value: Any, message: str) -> None:
    with pytest.raises(FeeInputError) as caught:
        parse_amount(value)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)


def test_assess_refuses_what_parse_amount_refuses() -> None:
    with pytest.raises(FeeInputError, match="float"):
        PLAIN.assess(1000.0)  # type: ignore[arg-type]
    with pytest.raises(FeeInputError, match="negative"):
        PLAIN.assess(Decimal("-1"))
    with pytest.raises(FeeInputError, match="2 decimal places"):
        PLAIN.assess(Decimal("1.001"))
    assert Decimal(10) ** 13 == MAX_AMOUNT
    # 18,550 + (10^13 - 1,000,000) × 0.5% = 18,550 + 49,999,995,000; plus the fixed 300
    largest = PLAIN.assess(MAX_AMOUNT)
    assert line(largest, "acceptance").amount == Decimal("50000013550.00")
    assert largest.total == Decimal("50000013850.00")


# --- invalid schedules: every problem with its path --------------------------------------


def schedule(bands: str, extra: str = "", method: str = "marginal") -> str:
    return f"""
[fee_schedules.s]
[[fee_schedules.s.components]]
name = "acceptance"
label_zh = "案件受理费"
label_en = "acceptance fee"
method = "{method}"
{extra}
bands = [{bands}]
"""


P = "test.toml: fee_schedules.s.components[0]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            schedule('{ upto = "50000", rate = "0.05" }, { upto = "40000", rate = "0.04" },'),
            [
                f"{P}.bands[1].upto: must be left out: the last band is open-ended, so that every "
                "amount has a fee",
                f"{P}.bands[1].upto: must be more than the previous band's upto (50000), not 40000",
            ],
        ),
        (
            schedule('{ upto = "1000", fixed = "100" }, { rate = "0.05" }, { rate = "0.04" }'),
            [f"{P}.bands[1].upto: missing: only the last band may be open-ended"],
        ),
        (
            schedule('{ upto = "1000", fixed = "100" }, { upto = "5000", rate = "0.05" }'),
            [
                f"{P}.bands[1].upto: must be left out: the last band is open-ended, so that every "
                "amount has a fee"
            ],
        ),
        (
            schedule('{ upto = "1000", fixed = "100", rate = "0.1" }, { rate = "0.05" }'),
            [f"{P}.bands[0]: must have either a rate or a fixed sum, not both"],
        ),
        (
            schedule('{ upto = "1000" }, { rate = "0.05" }'),
            [f'{P}.bands[0]: must have a rate (e.g. rate = "0.05") or a fixed sum (fixed = "100")'],
        ),
        (
            schedule('{ upto = "1000", fixd = "100" }, { rate = "0.05" }'),
            [
                f"{P}.bands[0].fixd: unknown key (did you mean fixed?)",
                f'{P}.bands[0]: must have a rate (e.g. rate = "0.05") or a fixed sum '
                '(fixed = "100")',
            ],
        ),
        (schedule('{ rate = "1.5" }'), [f"{P}.bands[0].rate: must be at most 1, not 1.5"]),
        (schedule('{ rate = "-0.1" }'), [f"{P}.bands[0].rate: must be at least 0, not -0.1"]),
        (
            schedule("{ rate = 0.05 }"),
            [f'{P}.bands[0].rate: must be written as a string, not a float: write "0.05"'],
        ),
        (schedule('{ rate = "five" }'), [f"{P}.bands[0].rate: is not a number: 'five'"]),
        (
            schedule('{ rate = "0.00000000001" }'),
            [f"{P}.bands[0].rate: must have at most 10 decimal places"],
        ),
        (
            schedule('{ upto = "1000", fixed = "100.005" }, { rate = "0.05" }'),
            [f"{P}.bands[0].fixed: must have at most 2 decimal places"],
        ),
        (
            schedule('{ upto = "1000.001", fixed = "100" }, { rate = "0.05" }'),
            [f"{P}.bands[0].upto: must have at most 2 decimal places"],
        ),
        (
            schedule('{ upto = "0", fixed = "100" }, { rate = "0.05" }'),
            [f"{P}.bands[0].upto: must be more than 0"],
        ),
        (
            schedule('{ upto = "-5", fixed = "100" }, { rate = "0.05" }'),
            [f"{P}.bands[0].upto: must be at least 0, not -5"],
        ),
        (
            schedule('{ upto = "1000", fixed = "-1" }, { rate = "0.05" }'),
            [f"{P}.bands[0].fixed: must be at least 0, not -1"],
        ),
        (schedule(""), [f"{P}.bands: must have at least 1 item"]),
        (schedule('"0.05"'), [f"{P}.bands[0]: must be a table, not a string"]),
        (
            schedule('{ rate = "0.05" }', method="progressive"),
            [f"{P}.method: must be one of marginal, flat, fixed, not 'progressive'"],
        ),
        (
            schedule('{ rate = "0.05" }', extra='minimun = "100"'),
            [f"{P}.minimun: unknown key (did you mean minimum?)"],
        ),
        (
            schedule('{ rate = "0.05" }', extra='minimum = "100"\nmaximum = "50"'),
            [f"{P}.maximum: must be at least minimum (100), not 50"],
        ),
        (
            schedule('{ rate = "0.05" }', extra='amount = "300"'),
            [
                f'{P}.amount: is not used by method = "marginal" (its bands say what is charged; '
                'a fixed sum is method = "fixed")'
            ],
        ),
        (
            schedule('{ rate = "0.05" }', extra='amount = "300"\nminimum = "1"', method="fixed"),
            [
                f'{P}.bands: is not used by method = "fixed" (it charges amount)',
                f'{P}.minimum: is not used by method = "fixed" (it charges amount)',
            ],
        ),
        (
            '[fee_schedules.s]\n[[fee_schedules.s.components]]\nname = "a"\nlabel_zh = "甲"\n'
            'label_en = "a"\nmethod = "fixed"',
            [f'{P}.amount: missing (a number written as a string, e.g. "0.05")'],
        ),
        (
            '[fee_schedules.s]\n[[fee_schedules.s.components]]\nname = "Accept Fee"\n'
            'label_zh = "甲"\nmethod = "fixed"\namount = "1"',
            [
                f"{P}.name: must be lowercase letters, digits, - and _",
                f"{P}.label_en: missing (a string)",
            ],
        ),
        (
            '[fee_schedules.s]\ncurrency = "USD"\ncomponents = []',
            [
                "test.toml: fee_schedules.s.currency: must be one of CNY, not 'USD'",
                "test.toml: fee_schedules.s.components: must have at least 1 item",
            ],
        ),
        (
            '[fee_schedules.s]\nlabel = "x"\n[[fee_schedules.s.components]]\nname = "a"\n'
            'label_zh = "甲"\nlabel_en = "a"\nmethod = "fixed"\namount = "1"\n'
            '[[fee_schedules.s.components]]\nname = "a"\nlabel_zh = "乙"\nlabel_en = "b"\n'
            'method = "fixed"\namount = "2"',
            [
                "test.toml: fee_schedules.s.label: unknown key (known: components, currency)",
                "test.toml: fee_schedules.s.components[1].name: repeats the component name 'a' "
                "of fee_schedules.s.components[0]",
            ],
        ),
        (
            '[fee_schedules]\n"Big Fees" = 3',
            [
                "test.toml: fee_schedules.Big Fees: a schedule name must be lowercase letters, "
                "digits, - and _",
                "test.toml: fee_schedules.Big Fees: must be a table, not an integer",
            ],
        ),
    ],
)
def test_invalid_schedules_are_reported_with_their_paths(text: str, expected: list[str]) -> None:
    c, schedules, _ = read(text)
    assert [str(e) for e in c.errors] == expected
    assert "s" not in schedules


def test_every_problem_of_a_document_is_reported_at_once() -> None:
    text = schedule('{ upto = "1000", fixed = "1.001" }, { upto = "500", rate = "2" }, {}')
    assert errors(text) == [
        f"{P}.bands[0].fixed: must have at most 2 decimal places",
        f"{P}.bands[1].upto: must be more than the previous band's upto (1000), not 500",
        f"{P}.bands[1].rate: must be at most 1, not 2",
        f'{P}.bands[2]: must have a rate (e.g. rate = "0.05") or a fixed sum (fixed = "100")',
    ]


# --- invalid case-type fees --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fees", "expected"),
    [
        (
            'schedule = "standrd"',
            ["fees.schedule: unknown fee schedule 'standrd' (did you mean standard?)"],
        ),
        (
            'schedule = "cheap"',
            ["fees.schedule: unknown fee schedule 'cheap' (known: bounded, flat, standard)"],
        ),
        ("", ["fees.schedule: missing (a string)"]),
        (
            'schedule = "standard"\ndiscont = {}',
            ["fees.discont: unknown key (did you mean discount?)"],
        ),
        (
            'schedule = "standard"\ndiscount = { rate = "1.2" }',
            ["fees.discount.rate: must be at most 1, not 1.2"],
        ),
        (
            'schedule = "standard"\ndiscount = { components = ["acceptance"] }',
            ['fees.discount.rate: missing (a number written as a string, e.g. "0.05")'],
        ),
        (
            'schedule = "standard"\ndiscount = { rate = "0.2", components = ["admin"] }',
            ["fees.discount.components: unknown admin (one of acceptance, administrative)"],
        ),
        (
            'schedule = "standard"\ndiscount = "20%"',
            ["fees.discount: must be a table, not a string"],
        ),
        (
            'schedule = "standard"\ncounterclaim = { schedule = "flatt" }',
            ["fees.counterclaim.schedule: unknown fee schedule 'flatt' (did you mean flat?)"],
        ),
        (
            'schedule = "standard"\ncounterclaim = { rate = "0.5" }',
            ["fees.counterclaim.rate: unknown key (known: discount, schedule)"],
        ),
        (
            'schedule = "standard"\n'
            'counterclaim = { schedule = "flat", discount = { rate = "0.5", '
            'components = ["administrative"] } }',
            ["fees.counterclaim.discount.components: unknown administrative (one of acceptance)"],
        ),
        (
            'schedule = "standard"\ncounterclaim = true',
            ["fees.counterclaim: must be a table, not a boolean"],
        ),
    ],
)
def test_invalid_case_fees_are_reported_with_their_paths(fees: str, expected: list[str]) -> None:
    c, _, parsed = read(STANDARD + OTHERS + "\n[fees]\n" + fees)
    assert [str(e) for e in c.errors] == [f"test.toml: {line}" for line in expected]
    assert parsed is None


def test_a_case_type_using_a_broken_schedule_is_not_reported_twice() -> None:
    text = schedule('{ rate = "2" }') + '\n[fees]\nschedule = "s"\ndiscount = { rate = "0.1" }'
    c, schedules, fees = read(text)
    assert [str(e) for e in c.errors] == [f"{P}.bands[0].rate: must be at most 1, not 2"]
    assert schedules.invalid == {"s"}
    assert fees is None


def test_without_schedules_the_message_says_so() -> None:
    c, _, fees = read('[fees]\nschedule = "standard"')
    assert [str(e) for e in c.errors] == [
        "test.toml: fees.schedule: unknown fee schedule 'standard' (no fee_schedules are defined)"
    ]
    assert fees is None


# --- properties --------------------------------------------------------------------------

amounts = st.decimals(min_value=0, max_value=MAX_AMOUNT, places=2, allow_nan=False)
small_amounts = st.decimals(min_value=0, max_value=3_000_000, places=2, allow_nan=False)
DISCOUNTED = fees_of(
    'schedule = "standard"\ndiscount = { rate = "0.37", components = ["acceptance"] }'
)
BOUNDED = fees_of('schedule = "bounded"')
MARGINAL_PLANS = st.sampled_from([PLAIN, DISCOUNTED, BOUNDED])


@settings(deadline=None)
@given(
    fees=MARGINAL_PLANS, a=st.one_of(amounts, small_amounts), b=st.one_of(amounts, small_amounts)
)
def test_a_fee_never_decreases_as_the_amount_grows(fees: CaseFees, a: Decimal, b: Decimal) -> None:
    low, high = fees.assess(min(a, b)), fees.assess(max(a, b))
    assert low.total <= high.total
    assert low.gross <= high.gross
    for before, after in zip(low.lines, high.lines, strict=True):
        assert before.amount <= after.amount
        assert before.due <= after.due


@settings(deadline=None)
@given(fees=MARGINAL_PLANS, amount=st.one_of(amounts, small_amounts))
def test_components_are_their_bands_and_the_total_their_rounded_sum(
    fees: CaseFees, amount: Decimal
) -> None:
    assessment = fees.assess(amount)
    for item in assessment.lines:
        if item.method == "marginal":
            assert item.exact == sum((part.amount for part in item.bands), Decimal(0))
            assert sum((part.base for part in item.bands), Decimal(0)) == amount
            if item.limit is None:
                assert item.amount == round_fen(item.exact)
        assert item.due == item.amount - item.discount
    assert assessment.gross == sum(item.amount for item in assessment.lines)
    assert assessment.discount == sum(item.discount for item in assessment.lines)
    assert assessment.total == sum(item.due for item in assessment.lines)
    assert assessment.total == assessment.gross - assessment.discount


@settings(deadline=None)
@given(
    fees=st.sampled_from([PLAIN, DISCOUNTED, BOUNDED, fees_of('schedule = "flat"')]),
    amount=st.one_of(amounts, small_amounts),
    counterclaim=st.booleans(),
)
def test_assessments_are_deterministic_and_have_two_decimals(
    fees: CaseFees, amount: Decimal, counterclaim: bool
) -> None:
    first = fees.assess(amount, counterclaim=counterclaim)
    again = fees.assess(Decimal(str(amount)), counterclaim=counterclaim)
    assert first == again
    assert first.as_json() == again.as_json()
    money = [first.gross, first.discount, first.total, first.amount]
    for item in first.lines:
        money += [item.amount, item.discount, item.due]
    assert all(value.as_tuple().exponent == -2 for value in money)
    assert all(value >= 0 for value in money)
    document = first.as_json()
    texts = [document["gross"], document["discount"], document["total"], document["amount"]]
    for item in document["lines"]:
        texts += [item["amount"], item["discount"], item["due"]]
    assert all(text.count(".") == 1 and len(text.split(".")[1]) == 2 for text in texts)
