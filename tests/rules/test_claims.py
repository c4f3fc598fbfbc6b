"""Claim forms: reading them from a rule set, and validating submitted claims (pure, no DB).

Claims are checked against the real example alliance rule set
(rules/gba-alliance/online-arbitration/1.0.toml); form-reading errors against small
inline TOML snippets.
"""

from __future__ import annotations

import copy
import functools
import json
import tomllib
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbitral.errors import FieldProblem
from arbitral.rules.checker import Checker
from arbitral.rules.claims import (
    FIELD_TYPES,
    ClaimForm,
    ClaimInvalid,
    FieldSpec,
    ValidClaim,
    parse_claim_form,
    validate_claim,
)
from arbitral.rules.loader import load_rule_book
from arbitral.rules.loans import LoanClaim
from arbitral.rules.parties import resident_id_check_char
from tests.conftest import REPO_ROOT

RULE_SET = "gba-alliance/online-arbitration"
FILED_ON = date(2026, 3, 1)
# 1949-12-31, a woman: the check character is X (given here in lower case).
PERSON_ID = "11010519491231002x"
PERSON_ID_BODY = "44030619900101123"
OTHER_PERSON_ID = PERSON_ID_BODY + resident_id_check_char(PERSON_ID_BODY)
COMPANY_CODE = "91350100M000100Y43"


@functools.cache
def form_of(case_type: str, version: str = "1.0") -> ClaimForm:
    book = load_rule_book(REPO_ROOT / "rules")
    return book.get(RULE_SET, version).case_type(case_type).claim_form


def purchase_claim(**changes: Any) -> dict[str, Any]:
    """A complete, valid online-purchase claim; ``changes`` replace (None removes) keys."""
    claim: dict[str, Any] = {
        "claimant": {
            "kind": "person",
            "name": " 张三 ",
            "id_number": PERSON_ID,
            "phone": "138 0013 8000",
            "address": "广州市天河区某路1号",
        },
        "respondent": {
            "kind": "company",
            "name": "某某电子商务有限公司",
            "id_number": COMPANY_CODE.lower(),
            "email": "Service@Shop.EXAMPLE.cn",
        },
        "platform": "某购物平台",
        "order_number": "SO-2026-000123",
        "order_date": "2026-02-01",
        "delivery_date": "2026-02-05",
        "order_total": "1999.90",
        "refund_claimed": "1999.9",
        "amount_claimed": "2500",
        "claims": "1. 退还货款 1999.90 元；2. 赔偿损失 500.10 元。",
        "facts_and_reasons": "所购商品与描述不符。\n卖家拒绝退货。",
    }
    for key, value in changes.items():
        if value is None:
            claim.pop(key, None)
        else:
            claim[key] = value
    return claim


def loan_document() -> dict[str, Any]:
    document = json.loads((REPO_ROOT / "rules/examples/loan-private.json").read_text("utf-8"))
    assert isinstance(document, dict)
    return document


def loan_claim(**changes: Any) -> dict[str, Any]:
    claim: dict[str, Any] = {
        "claimant": {
            "kind": "person",
            "name": "李四",
            "id_number": OTHER_PERSON_ID,
            "email": "lender@example.com",
        },
        "respondent": {
            "kind": "person",
            "name": "王五",
            "id_number": PERSON_ID,
            "phone": "+8613912345678",
        },
        "loan": loan_document(),
        "agreed_service_address": "深圳市南山区某路2号",
        "amount_claimed": "10782.00",
        "claims": "请求被申请人偿还借款本金及利息。",
    }
    claim.update(changes)
    return claim


def problems_of(form: ClaimForm, data: object, *, filed_on: date = FILED_ON) -> list[FieldProblem]:
    with pytest.raises(ClaimInvalid) as caught:
        validate_claim(form, data, filed_on=filed_on)
    problems = list(caught.value.problems)
    assert problems, "ClaimInvalid is never empty"
    assert isinstance(caught.value, ValueError)
    return problems


def purchase_problems(**changes: Any) -> list[tuple[str, str]]:
    """(field, rule) of every problem of the purchase claim with ``changes``."""
    problems = problems_of(form_of("online-purchase"), purchase_claim(**changes))
    return [(p.field, p.rule) for p in problems]


def only_problem(**changes: Any) -> FieldProblem:
    problems = problems_of(form_of("online-purchase"), purchase_claim(**changes))
    assert len(problems) == 1, problems
    return problems[0]


def with_party(role: str, **changes: Any) -> dict[str, Any]:
    party = copy.deepcopy(purchase_claim()[role])
    for key, value in changes.items():
        if value is None:
            party.pop(key, None)
        else:
            party[key] = value
    return {role: party}


# -- valid claims ----------------------------------------------------------------------


def test_a_complete_online_purchase_claim_is_valid_and_normalised() -> None:
    valid = validate_claim(form_of("online-purchase"), purchase_claim(), filed_on=FILED_ON)
    assert isinstance(valid, ValidClaim)
    values = valid.values
    assert values["claimant"] == {
        "kind": "person",
        "name": "张三",
        "id_number": "11010519491231002X",
        "phone": "+8613800138000",
        "address": "广州市天河区某路1号",
    }
    assert values["respondent"] == {
        "kind": "company",
        "name": "某某电子商务有限公司",
        "id_number": COMPANY_CODE,
        "email": "Service@shop.example.cn",
    }
    assert values["order_date"] == date(2026, 2, 1)
    assert values["delivery_date"] == date(2026, 2, 5)
    for name, amount in (
        ("order_total", "1999.90"),
        ("refund_claimed", "1999.90"),
        ("amount_claimed", "2500"),
    ):
        assert type(values[name]) is Decimal
        assert values[name] == Decimal(amount)
    assert values["order_number"] == "SO-2026-000123"
    assert values["facts_and_reasons"] == "所购商品与描述不符。\n卖家拒绝退货。"
    assert set(values) == set(purchase_claim())
    with pytest.raises(TypeError):
        values["order_total"] = Decimal(1)  # type: ignore[index]


def test_optional_fields_may_be_left_out_or_blank() -> None:
    claim = purchase_claim(delivery_date=None, refund_claimed="  ")
    values = validate_claim(form_of("online-purchase"), claim, filed_on=FILED_ON).values
    assert "delivery_date" not in values
    assert "refund_claimed" not in values


def test_a_claim_filed_on_the_order_date_is_valid() -> None:
    claim = purchase_claim(order_date="2026-03-01", delivery_date="2026-03-01")
    values = validate_claim(form_of("online-purchase"), claim, filed_on=FILED_ON).values
    assert values["order_date"] == values["delivery_date"] == FILED_ON


def test_an_online_loan_claim_with_the_example_loan_is_valid() -> None:
    valid = validate_claim(form_of("online-loan"), loan_claim(), filed_on=FILED_ON)
    values = valid.values
    loan = values["loan"]
    assert isinstance(loan, LoanClaim)
    assert loan.contract_principal == Decimal("10000.00")
    assert loan.lender_kind == "private"
    assert values["claimant"]["id_number"] == OTHER_PERSON_ID
    assert values["respondent"]["phone"] == "+8613912345678"
    assert values["amount_claimed"] == Decimal("10782.00")
    assert "facts_and_reasons" not in values  # optional in loan cases


def test_version_1_1_has_the_same_claim_forms() -> None:
    for case_type in ("online-purchase", "online-loan"):
        assert form_of(case_type, "1.1") == form_of(case_type, "1.0")


# -- each problem, precisely --------------------------------------------------------------


def test_a_missing_required_field() -> None:
    assert only_problem(order_number=None) == FieldProblem(
        "$.order_number", "required", "order number is required"
    )
    assert only_problem(order_number="   ") == FieldProblem(
        "$.order_number", "required", "order number is required"
    )


def test_an_unknown_field() -> None:
    claim = purchase_claim()
    claim["order_totl"] = "1.00"
    problems = problems_of(form_of("online-purchase"), claim)
    assert problems == [
        FieldProblem("$.order_totl", "unknown", "is not a field of this claim form")
    ]


@pytest.mark.parametrize(
    ("amount", "rule", "message"),
    [
        ("19.999", "format", "must have at most 2 decimal places (fen)"),
        ("19.990", "format", "must have at most 2 decimal places (fen)"),
        ("-5.00", "min", "must not be negative"),
        ("-0", "min", "must not be negative"),
        ("1000000.01", "max", "must be at most 1000000"),
        ("0.00", "min", "must be at least 0.01"),
        ("1,000.00", "format", "must be a plain decimal number such as 1234.50"),
        ("1e3", "format", "must be a plain decimal number such as 1234.50"),
        ("NaN", "format", "must be a plain decimal number such as 1234.50"),
        ("１００", "format", "must be a plain decimal number such as 1234.50"),
        (19.99, "type", "must be written as a string (a JSON number may lose precision)"),
        (True, "type", "must be written as a string (a JSON number may lose precision)"),
        ("1" * 40, "max", "is too large"),
        ("1" * 40 + ".5", "max", "is too large"),
        (10**40, "max", "is too large"),
    ],
)
def test_bad_money(amount: object, rule: str, message: str) -> None:
    assert only_problem(order_total=amount, refund_claimed=None) == FieldProblem(
        "$.order_total", rule, message
    )


def test_money_may_be_a_json_integer() -> None:
    values = validate_claim(
        form_of("online-purchase"), purchase_claim(order_total=2000), filed_on=FILED_ON
    ).values
    assert values["order_total"] == Decimal(2000)


@pytest.mark.parametrize(
    "day", ["2026/02/01", "2026-02-30", "20260201", "2026-W05-7", "1 Feb 2026", "2026-2-1"]
)
def test_a_bad_date(day: str) -> None:
    assert only_problem(order_date=day) == FieldProblem(
        "$.order_date", "format", "must be a date such as 2026-02-15"
    )


def test_a_date_must_be_a_string() -> None:
    assert only_problem(order_date=20260201) == FieldProblem(
        "$.order_date", "type", "must be a date as a string, e.g. 2026-02-15"
    )


def test_delivery_before_the_order() -> None:
    assert only_problem(delivery_date="2026-01-31") == FieldProblem(
        "$.delivery_date",
        "dates_in_order",
        "delivery date must not be before order date (2026-02-01)",
    )


def test_an_order_after_the_filing_date() -> None:
    assert only_problem(order_date="2026-03-02", delivery_date=None) == FieldProblem(
        "$.order_date",
        "not_after_filing",
        "order date must not be after the filing date (2026-03-01)",
    )


def test_a_refund_above_the_order_total_uses_the_rule_sets_message() -> None:
    assert only_problem(refund_claimed="1999.91") == FieldProblem(
        "$.refund_claimed", "at_most", "a refund cannot exceed what was paid for the order"
    )


def test_a_resident_id_with_a_wrong_check_character() -> None:
    problem = only_problem(**with_party("claimant", id_number="110105194912310021"))
    assert (problem.field, problem.rule) == ("$.claimant.id_number", "checksum")
    assert "110105194912310021" not in problem.message  # personal data stays out of messages


def test_a_company_given_a_resident_id() -> None:
    problem = only_problem(**with_party("respondent", id_number="11010519491231002X"))
    assert (problem.field, problem.rule) == ("$.respondent.id_number", "checksum")


def test_a_person_given_a_credit_code() -> None:
    problem = only_problem(**with_party("claimant", id_number=COMPANY_CODE))
    assert (problem.field, problem.rule) == ("$.claimant.id_number", "charset")


def test_a_party_with_neither_phone_nor_email() -> None:
    assert only_problem(**with_party("claimant", phone=None)) == FieldProblem(
        "$.claimant",
        "contact",
        "a phone number or an email address is required for service",
    )


def test_a_party_without_contact_is_reported_with_its_other_problems() -> None:
    problems = purchase_problems(
        **with_party("claimant", phone=None, id_number="110105194912310021")
    )
    assert problems == [("$.claimant.id_number", "checksum"), ("$.claimant", "contact")]


def test_a_bad_contact_is_not_also_a_missing_contact() -> None:
    problem = only_problem(**with_party("respondent", email="not an address"))
    assert problem == FieldProblem("$.respondent.email", "email", "is not an email address")
    problem = only_problem(**with_party("claimant", phone="12345"))
    assert (problem.field, problem.rule) == ("$.claimant.phone", "phone")


def test_party_problems() -> None:
    assert only_problem(**with_party("claimant", nickname="三哥")) == FieldProblem(
        "$.claimant.nickname", "unknown", "is not a party field"
    )
    assert only_problem(**with_party("claimant", kind="robot")) == FieldProblem(
        "$.claimant.kind", "choice", "must be person or company"
    )
    assert only_problem(**with_party("claimant", name=" ")) == FieldProblem(
        "$.claimant.name", "required", "the party's name is required"
    )
    assert only_problem(**with_party("respondent", id_number=None)) == FieldProblem(
        "$.respondent.id_number", "required", "the unified social credit code is required"
    )
    assert only_problem(**with_party("claimant", phone=13800138000)) == FieldProblem(
        "$.claimant.phone", "type", "must be a string"
    )
    for address in (["a"], "某路\x001号", "x" * 501):
        assert only_problem(**with_party("claimant", address=address)) == FieldProblem(
            "$.claimant.address",
            "format",
            "must be text of at most 500 characters, without control characters",
        )
    for name in ("张\n三", "张\x00三"):
        assert only_problem(**with_party("claimant", name=name)) == FieldProblem(
            "$.claimant.name", "format", "must be one line without control characters"
        )
    assert only_problem(claimant="张三") == FieldProblem("$.claimant", "type", "must be an object")


@pytest.mark.parametrize(
    ("changes", "field", "rule", "message"),
    [
        (
            {"platform": "x" * 101},
            "$.platform",
            "max_length",
            "must be at most 100 characters, not 101",
        ),
        ({"platform": "某\n平台"}, "$.platform", "format", "must be one line"),
        ({"platform": 7}, "$.platform", "type", "must be a string"),
        ({"platform": "某\x00平台"}, "$.platform", "format", "must not contain control characters"),
        (
            {"facts_and_reasons": "事实\x1b[31m"},
            "$.facts_and_reasons",
            "format",
            "must not contain control characters",
        ),
    ],
)
def test_text_problems(changes: dict[str, Any], field: str, rule: str, message: str) -> None:
    assert only_problem(**changes) == FieldProblem(field, rule, message)


def test_text_keeps_tabs_and_line_breaks() -> None:
    text = "第一段\t缩进\r\n第二段"
    values = validate_claim(
        form_of("online-purchase"), purchase_claim(facts_and_reasons=text), filed_on=FILED_ON
    ).values
    assert values["facts_and_reasons"] == text


@pytest.mark.parametrize(
    ("path", "value", "field", "rule"),
    [
        (("repayments", 0, "amount"), "-5.00", "$.loan.repayments[0].amount", "range"),
        (("repayments", 0, "amount"), 1500.0, "$.loan.repayments[0].amount", "type"),
        (("disbursements", 0, "date"), "2021/03/01", "$.loan.disbursements[0].date", "format"),
        (("claimed", "interest"), "419.844", "$.loan.claimed.interest", "format"),
        (("lender_kind",), "friend", "$.loan.lender_kind", "choice"),
    ],
)
def test_loan_problems_carry_paths_under_the_loan(
    path: tuple[str | int, ...], value: object, field: str, rule: str
) -> None:
    document = loan_document()
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    problems = problems_of(form_of("online-loan"), loan_claim(loan=document))
    assert [(p.field, p.rule) for p in problems] == [(field, rule)]


def test_loan_problems_all_at_once_and_of_the_whole_loan() -> None:
    document = loan_document()
    del document["contract_date"]
    document["repayments"][0]["amount"] = "1500.001"
    problems = problems_of(form_of("online-loan"), loan_claim(loan=document))
    assert [(p.field, p.rule) for p in problems] == [
        ("$.loan.contract_date", "missing"),
        ("$.loan.repayments[0].amount", "format"),
    ]
    problems = problems_of(form_of("online-loan"), loan_claim(loan=["not", "a", "loan"]))
    assert [(p.field, p.rule) for p in problems] == [("$.loan", "type")]


@pytest.mark.parametrize("data", [[], "claim", None, 42, [purchase_claim()]])
def test_a_claim_that_is_not_an_object(data: object) -> None:
    assert problems_of(form_of("online-purchase"), data) == [
        FieldProblem("$", "type", "the claim must be a JSON object")
    ]


def test_an_empty_claim_lists_every_required_field() -> None:
    problems = problems_of(form_of("online-purchase"), {})
    required = [f.name for f in form_of("online-purchase").fields if f.required]
    assert [(p.field, p.rule) for p in problems] == [(f"$.{name}", "required") for name in required]


# -- every problem at once ----------------------------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    claim = purchase_claim(
        order_number=None,
        order_total=19.99,
        delivery_date="2026-01-01",
        **with_party("claimant", id_number="110105194912310021"),
    )
    claim["note"] = "hello"
    problems = problems_of(form_of("online-purchase"), claim)
    assert [(p.field, p.rule) for p in problems] == [
        ("$.note", "unknown"),
        ("$.claimant.id_number", "checksum"),
        ("$.order_number", "required"),
        ("$.order_total", "type"),
        ("$.delivery_date", "dates_in_order"),
    ]


def test_four_distinct_errors_yield_four_problems() -> None:
    problems = purchase_problems(
        order_number=None,
        order_total="1.234",
        order_date="2026-13-01",
        **with_party("respondent", email="nobody"),
    )
    assert sorted(problems) == sorted(
        [
            ("$.order_number", "required"),
            ("$.order_total", "format"),
            ("$.order_date", "format"),
            ("$.respondent.email", "email"),
        ]
    )


def test_the_exception_message_names_every_field() -> None:
    with pytest.raises(ClaimInvalid) as caught:
        validate_claim(
            form_of("online-purchase"),
            purchase_claim(order_number=None, order_total="-1"),
            filed_on=FILED_ON,
        )
    assert str(caught.value) == (
        "$.order_number: order number is required; $.order_total: must not be negative"
    )


# -- reading forms ------------------------------------------------------------------------

FIELD = """
[[claim_form.fields]]
name = "{name}"
type = "{type}"
label_zh = "字段"
label_en = "field"
{extra}
"""


def field(name: str = "amount", type: str = "money", extra: str = "") -> str:
    return FIELD.format(name=name, type=type, extra=extra)


def check(rule: str, *fields: str) -> str:
    return f"""
[[claim_form.checks]]
rule = "{rule}"
fields = {json.dumps(list(fields))}
"""


def read_form(text: str) -> ClaimForm | list[str]:
    """The form, or every error as ``test.toml: path: problem``."""
    c = Checker("test.toml")
    form = parse_claim_form(c, tomllib.loads(text)["claim_form"], "claim_form")
    if c.errors:
        assert form is None
        return [str(error) for error in c.errors]
    assert form is not None
    return form


def errors_of(text: str) -> list[str]:
    result = read_form(text)
    assert isinstance(result, list), result
    return result


def test_a_small_form_is_read() -> None:
    form = read_form(
        field("order_date", "date")
        + field("delivery_date", "date", "required = false")
        + field("total", "money", 'min = "0.01"\nmax = "100"')
        + field("paid", "money")
        + field("kind", "choice", 'choices = ["a", "b"]')
        + field("note", "string", "max_length = 10")
        + check("dates_in_order", "order_date", "delivery_date")
        + check("at_most", "paid", "total")
    )
    assert isinstance(form, ClaimForm)
    assert form.field("total") == FieldSpec(
        name="total",
        type="money",
        required=True,
        label_zh="字段",
        label_en="field",
        minimum=Decimal("0.01"),
        maximum=Decimal("100"),
    )
    assert form.field("delivery_date") is not None
    assert form.field("delivery_date").required is False  # type: ignore[union-attr]
    assert form.field("nothing") is None
    assert form.as_json()["checks"] == [
        {"rule": "dates_in_order", "fields": ["order_date", "delivery_date"]},
        {"rule": "at_most", "fields": ["paid", "total"]},
    ]
    assert form.as_json()["fields"][4]["choices"] == ["a", "b"]


def test_the_real_forms_round_trip_as_json() -> None:
    for case_type in ("online-purchase", "online-loan"):
        shape = form_of(case_type).as_json()
        assert json.loads(json.dumps(shape)) == shape


def test_a_field_declared_twice() -> None:
    assert errors_of(field("total") + field("total")) == [
        "test.toml: claim_form.fields[1].name: the field total is declared twice"
    ]


def test_an_unknown_field_type_lists_the_types() -> None:
    assert errors_of(field(type="strng")) == [
        "test.toml: claim_form.fields[0].type: must be one of "
        + ", ".join(FIELD_TYPES)
        + ", not 'strng'"
    ]
    assert "resident_id" in ", ".join(FIELD_TYPES)


def test_an_unknown_field_type_is_its_only_error() -> None:
    # Which keys a field may have depends on its type: an unknown type says nothing of them.
    assert errors_of(field(type="strng", extra="max_length = 10")) == [
        "test.toml: claim_form.fields[0].type: must be one of "
        + ", ".join(FIELD_TYPES)
        + ", not 'strng'"
    ]
    assert errors_of(field(type="mony", extra='min = "0"')) == [
        "test.toml: claim_form.fields[0].type: must be one of "
        + ", ".join(FIELD_TYPES)
        + ", not 'mony'"
    ]


def test_min_above_max() -> None:
    assert errors_of(field(extra='min = "100"\nmax = "10"')) == [
        "test.toml: claim_form.fields[0].max: must not be below min (100)"
    ]


def test_min_on_a_string_field() -> None:
    assert errors_of(field("note", "string", 'min = "1"')) == [
        "test.toml: claim_form.fields[0].min: only money, rate and integer fields have min"
    ]


def test_other_field_key_problems() -> None:
    assert errors_of(field("note", "date", "max_length = 5")) == [
        "test.toml: claim_form.fields[0].max_length: only string and text fields have max_length"
    ]
    assert errors_of(field("note", "string", 'choices = ["a"]')) == [
        "test.toml: claim_form.fields[0].choices: only choice fields have choices"
    ]
    assert errors_of(field(extra="min = 0.5")) == [
        'test.toml: claim_form.fields[0].min: must be written as a string, not a float: write "0.5"'
    ]
    assert errors_of(field(extra='colour = "red"')) == [
        "test.toml: claim_form.fields[0].colour: unknown key (known: choices, help, label_en, "
        "label_zh, max, max_length, min, name, required, type)"
    ]


def test_a_check_naming_an_unknown_field() -> None:
    assert errors_of(field("paid") + check("at_most", "paid", "total")) == [
        "test.toml: claim_form.checks[0].fields: no field named total in this form"
    ]


def test_dates_in_order_over_a_money_field() -> None:
    dates = check("dates_in_order", "order_date", "total")
    text = field("order_date", "date") + field("total") + dates
    assert errors_of(text) == [
        "test.toml: claim_form.checks[0].fields: dates_in_order needs date fields; total is money"
    ]


def test_at_most_compares_exactly_two_fields() -> None:
    three = field("a") + field("b") + field("c") + check("at_most", "a", "b", "c")
    assert errors_of(three) == [
        "test.toml: claim_form.checks[0].fields: at_most compares exactly two fields"
    ]
    one = field("a") + check("at_most", "a")
    assert errors_of(one) == [
        "test.toml: claim_form.checks[0].fields: at_most compares exactly two fields"
    ]
    assert errors_of(field("d", "date") + check("dates_in_order", "d")) == [
        "test.toml: claim_form.checks[0].fields: dates_in_order compares at least two fields"
    ]


@pytest.mark.parametrize("name", ["OrderTotal", "order-total", "1st", "_total", "订单"])
def test_a_field_name_not_in_snake_case(name: str) -> None:
    assert errors_of(field(name)) == [
        "test.toml: claim_form.fields[0].name: must be lower_snake_case ASCII (a-z, 0-9, _), "
        "starting with a letter"
    ]


def test_a_form_needs_fields_and_knows_its_keys() -> None:
    assert errors_of("[claim_form]\nfield = []\n") == [
        "test.toml: claim_form.field: unknown key (did you mean fields?)",
        "test.toml: claim_form.fields: missing (an array of tables)",
    ]
    assert errors_of("[claim_form]\nfields = []\n") == [
        "test.toml: claim_form.fields: must have at least 1 item"
    ]


def test_every_form_error_is_reported_at_once() -> None:
    text = (
        field("Total")
        + field("paid", "string", 'min = "1"')
        + field("paid")
        + check("at_most", "paid", "total")
    )
    assert errors_of(text) == [
        "test.toml: claim_form.fields[0].name: must be lower_snake_case ASCII (a-z, 0-9, _), "
        "starting with a letter",
        "test.toml: claim_form.fields[1].min: only money, rate and integer fields have min",
        "test.toml: claim_form.checks[0].fields: no field named total in this form",
    ]


# -- money, as a property -----------------------------------------------------------------

MONEY_FORM = ClaimForm(
    fields=(
        FieldSpec(
            name="amount",
            type="money",
            required=True,
            label_zh="金额",
            label_en="amount",
            minimum=Decimal(0),
            maximum=Decimal("1000000000"),
        ),
    ),
    checks=(),
)
DIGITS = "0123456789"


@given(
    whole=st.integers(min_value=0, max_value=999_999_999),
    fraction=st.text(DIGITS, max_size=2),
)
def test_money_with_at_most_two_decimals_is_accepted_exactly(whole: int, fraction: str) -> None:
    text = f"{whole}.{fraction}" if fraction else str(whole)
    values = validate_claim(MONEY_FORM, {"amount": text}, filed_on=FILED_ON).values
    assert type(values["amount"]) is Decimal
    assert values["amount"] == Decimal(text)
    assert str(values["amount"]) == text


@given(
    whole=st.integers(min_value=0, max_value=10**30),
    fraction=st.text(DIGITS, min_size=3, max_size=30),
)
def test_money_with_three_or_more_decimals_is_refused(whole: int, fraction: str) -> None:
    with pytest.raises(ClaimInvalid) as caught:
        validate_claim(MONEY_FORM, {"amount": f"{whole}.{fraction}"}, filed_on=FILED_ON)
    assert [(p.field, p.rule) for p in caught.value.problems] == [("$.amount", "format")]
