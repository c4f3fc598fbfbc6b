"""Claim forms: the fields a claim of a case type carries, their checks, and validation.

A rule set declares, per case type, a form::

    [[case_types.online-purchase.claim_form.fields]]
    name = "order_total"
    type = "money"            # see FIELD_TYPES
    required = true
    min = "0.01"
    max = "1000000"
    label_zh = "订单金额"
    label_en = "order total"

    [[case_types.online-purchase.claim_form.checks]]
    rule = "dates_in_order"   # see CHECK_RULES
    fields = ["order_date", "delivery_date"]

and :func:`validate_claim` checks a submitted claim (a JSON object) against it,
reporting every problem at once as :class:`~arbitral.errors.FieldProblem` with a
JSON path (``$.respondent.id_number``), the rule broken and a message. Values come
back normalised (amounts as :class:`~decimal.Decimal`, dates as :class:`date`,
identity numbers upper-cased, phones in E.164). Pure: no I/O.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Final

from arbitral.errors import FieldProblem
from arbitral.rules import loans, parties
from arbitral.rules.checker import Checker, join

FIELD_TYPES: Final = (
    "string",  # one line, max_length (default 200)
    "text",  # free text, max_length (default 20,000)
    "money",  # yuan as a string, at most 2 decimals, min/max
    "rate",  # an annual rate as a decimal fraction string ("0.15"), min/max
    "integer",  # min/max
    "date",  # ISO date
    "boolean",
    "choice",  # one of `choices`
    "phone",
    "email",
    "resident_id",  # GB 11643 resident identity number
    "credit_code",  # GB 32100 unified social credit code
    "party",  # a person or company with identity and contact (see PARTY_KEYS)
    "loan",  # a loan's terms and repayment history (arbitral.rules.loans.parse_loan)
)
CHECK_RULES: Final = (
    "dates_in_order",  # each listed date on or before the next
    "not_after_filing",  # the listed dates are not after the day of filing
    "at_most",  # the first listed amount is at most the second
)
PARTY_KINDS: Final = ("person", "company")
PARTY_KEYS: Final = ("kind", "name", "id_number", "phone", "email", "address")
_FIELD_KEYS: Final = (
    "name",
    "type",
    "required",
    "label_zh",
    "label_en",
    "help",
    "min",
    "max",
    "max_length",
    "choices",
)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_NUMBER = re.compile(r"-?\d+(?:\.(\d+))?", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
MAX_MONEY: Final = Decimal("10000000000000")  # 10^13 yuan: nothing real is larger
TEXT_LENGTH: Final = 20_000
STRING_LENGTH: Final = 200


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    required: bool
    label_zh: str
    label_en: str
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    max_length: int | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormCheck:
    rule: str
    fields: tuple[str, ...]
    message: str | None = None


@dataclass(frozen=True)
class ClaimForm:
    fields: tuple[FieldSpec, ...]
    checks: tuple[FormCheck, ...]

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    @functools.cached_property
    def _names(self) -> frozenset[str]:
        """The fields' names (asked for on every claim validated)."""
        return frozenset(f.name for f in self.fields)

    @functools.cached_property
    def _paths(self) -> tuple[tuple[FieldSpec, str], ...]:
        """Each field with its JSON path (``$.name``)."""
        return tuple((f, f"$.{f.name}") for f in self.fields)

    def as_json(self) -> dict[str, Any]:
        return {
            "fields": [
                {
                    "name": f.name,
                    "type": f.type,
                    "required": f.required,
                    "label_zh": f.label_zh,
                    "label_en": f.label_en,
                    **({"min": str(f.minimum)} if f.minimum is not None else {}),
                    **({"max": str(f.maximum)} if f.maximum is not None else {}),
                    **({"max_length": f.max_length} if f.max_length is not None else {}),
                    **({"choices": list(f.choices)} if f.choices else {}),
                }
                for f in self.fields
            ],
            "checks": [
                {
                    "rule": k.rule,
                    "fields": list(k.fields),
                    **({"message": k.message} if k.message else {}),
                }
                for k in self.checks
            ],
        }


# -- reading a form from a rule set ---------------------------------------------------


def parse_claim_form(c: Checker, table: Mapping[str, Any] | None, prefix: str) -> ClaimForm | None:
    """The ``claim_form`` table of a case type (``fields`` and ``checks``)."""
    if table is None:
        return None
    c.unknown(table, prefix, ("fields", "checks"))
    errors_before = len(c.errors)
    fields: list[FieldSpec] = []
    for path, item in c.tables(table, prefix, "fields", min_items=1) or []:
        spec = _parse_field(c, item, path)
        if spec is None:
            continue
        if any(f.name == spec.name for f in fields):
            c.error(join(path, "name"), f"the field {spec.name} is declared twice")
            continue
        fields.append(spec)
    checks: list[FormCheck] = []
    by_name = {f.name: f for f in fields}
    for path, item in c.tables(table, prefix, "checks", required=False) or []:
        check = _parse_check(c, item, path, by_name)
        if check is not None:
            checks.append(check)
    if len(c.errors) > errors_before:
        return None
    return ClaimForm(fields=tuple(fields), checks=tuple(checks))


def _parse_field(c: Checker, item: Mapping[str, Any], path: str) -> FieldSpec | None:
    c.unknown(item, path, _FIELD_KEYS)
    before = len(c.errors)
    name = c.string(item, path, "name", max_length=63)
    if name is not None and not _NAME.match(name):
        c.error(
            join(path, "name"),
            "must be lower_snake_case ASCII (a-z, 0-9, _), starting with a letter",
        )
    kind = c.choice(item, path, "type", FIELD_TYPES)
    required = c.boolean(item, path, "required", required=False)
    label_zh = c.string(item, path, "label_zh")
    label_en = c.string(item, path, "label_en")
    numeric = kind in ("money", "rate", "integer")
    minimum = maximum = None
    if numeric:
        minimum = c.decimal(item, path, "min", required=False)
        maximum = c.decimal(item, path, "max", required=False)
        if minimum is not None and maximum is not None and minimum > maximum:
            c.error(join(path, "max"), f"must not be below min ({minimum})")
    elif kind is not None:  # an unknown type says nothing of which keys fit
        for key in ("min", "max"):
            if key in item:
                c.error(join(path, key), f"only money, rate and integer fields have {key}")
    max_length = None
    if kind in ("string", "text"):
        limit = TEXT_LENGTH if kind == "text" else STRING_LENGTH
        max_length = c.integer(item, path, "max_length", required=False, minimum=1, maximum=limit)
    elif kind is not None and "max_length" in item:
        c.error(join(path, "max_length"), "only string and text fields have max_length")
    choices: tuple[str, ...] = ()
    if kind == "choice":
        choices = c.strings(item, path, "choices", min_items=1) or ()
    elif kind is not None and "choices" in item:
        c.error(join(path, "choices"), "only choice fields have choices")
    if (
        len(c.errors) > before
        or name is None
        or kind is None
        or label_zh is None
        or label_en is None
    ):
        return None
    return FieldSpec(
        name=name,
        type=kind,
        required=True if required is None else required,
        label_zh=label_zh,
        label_en=label_en,
        minimum=minimum,
        maximum=maximum,
        max_length=max_length,
        choices=choices,
    )


_CHECK_TYPES: Final = {
    "dates_in_order": ("date",),
    "not_after_filing": ("date",),
    "at_most": ("money", "rate", "integer"),
}


def _parse_check(
    c: Checker, item: Mapping[str, Any], path: str, fields: Mapping[str, FieldSpec]
) -> FormCheck | None:
    c.unknown(item, path, ("rule", "fields", "message"))
    rule = c.choice(item, path, "rule", CHECK_RULES)
    names = c.strings(item, path, "fields", min_items=1)
    message = c.string(item, path, "message", required=False, max_length=500)
    if rule is None or names is None:
        return None
    if rule == "at_most" and len(names) != 2:
        c.error(join(path, "fields"), "at_most compares exactly two fields")
        return None
    if rule == "dates_in_order" and len(names) < 2:
        c.error(join(path, "fields"), f"{rule} compares at least two fields")
        return None
    ok = True
    for name in names:
        spec = fields.get(name)
        if spec is None:
            c.error(join(path, "fields"), f"no field named {name} in this form")
            ok = False
        elif spec.type not in _CHECK_TYPES[rule]:
            wanted = " or ".join(_CHECK_TYPES[rule])
            c.error(join(path, "fields"), f"{rule} needs {wanted} fields; {name} is {spec.type}")
            ok = False
    return FormCheck(rule=rule, fields=names, message=message) if ok else None


# -- validating a claim --------------------------------------------------------------


@dataclass(frozen=True)
class ValidClaim:
    """A claim that passed its form: values normalised, keyed by field name."""

    values: Mapping[str, Any]


class ClaimInvalid(ValueError):
    """Every problem of a submitted claim (never empty)."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


def validate_claim(form: ClaimForm, data: object, *, filed_on: date) -> ValidClaim:
    """``data`` checked against ``form``; raises :class:`ClaimInvalid` with every problem.

    ``filed_on`` is the local date of filing (for ``not_after_filing`` checks and
    birth dates). Unknown fields are refused: a typo must not silently drop data.

    The value of a ``loan`` field is the parsed :class:`~arbitral.rules.loans.LoanClaim`:
    pass it to :func:`~arbitral.rules.loans.assess_loan` as it is (parsing the document
    again would double the cost of reading it: a lender's batch has 100,000 rows).
    """
    problems: list[FieldProblem] = []
    if type(data) is not dict and not isinstance(data, Mapping):  # (the ABC check is slow)
        raise ClaimInvalid([FieldProblem("$", "type", "the claim must be a JSON object")])
    known = form._names
    for key in data:
        if key not in known:
            problems.append(
                FieldProblem(f"$.{key}", "unknown", "is not a field of this claim form")
            )
    values: dict[str, Any] = {}
    for spec, path in form._paths:
        raw = data.get(spec.name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if spec.required:
                problems.append(FieldProblem(path, "required", f"{spec.label_en} is required"))
            continue
        value = _value(spec, raw, path, problems, filed_on)
        if value is not None:
            values[spec.name] = value
    for check in form.checks:
        _apply_check(form, check, values, problems, filed_on)
    if problems:
        raise ClaimInvalid(problems)
    return ValidClaim(values=MappingProxyType(values))


def validate_field(form: ClaimForm, name: str, raw: object, *, filed_on: date) -> Any:
    """One field of ``form`` checked alone (a batch checks its claimant once, not per row);
    raises :class:`ClaimInvalid` with its problems. ``KeyError`` if the form has no such field.
    """
    found = [(s, p) for s, p in form._paths if s.name == name]
    if not found:
        raise KeyError(name)
    [(spec, path)] = found
    problems: list[FieldProblem] = []
    value = _value(spec, raw, path, problems, filed_on)
    if problems:
        raise ClaimInvalid(problems)
    return value


def _value(
    spec: FieldSpec, raw: object, path: str, problems: list[FieldProblem], filed_on: date
) -> Any:
    kind = spec.type
    # The object types first: a loan claim's row is two parties and a loan.
    if kind == "party":
        return _party(raw, path, problems, filed_on)
    if kind == "loan":
        try:
            return loans.parse_loan(raw)
        except loans.LoanInputError as exc:
            for field, rule, message in exc.problems:
                problems.append(FieldProblem(f"{path}.{field}" if field else path, rule, message))
            return None

    def fail(rule: str, message: str) -> None:
        problems.append(FieldProblem(path, rule, message))

    if kind in ("string", "text"):
        if not isinstance(raw, str):
            return fail("type", "must be a string")
        text = raw.strip()
        limit = spec.max_length or (TEXT_LENGTH if kind == "text" else STRING_LENGTH)
        if len(text) > limit:
            return fail("max_length", f"must be at most {limit} characters, not {len(text)}")
        if kind == "string" and ("\r" in text or "\n" in text):
            return fail("format", "must be one line")
        if _has_control(text):
            return fail("format", "must not contain control characters")
        return text
    if kind in ("money", "rate", "integer"):
        number = _number(kind, raw, fail)
        if number is None:
            return None
        if spec.minimum is not None and number < spec.minimum:
            return fail("min", f"must be at least {spec.minimum}")
        if spec.maximum is not None and number > spec.maximum:
            return fail("max", f"must be at most {spec.maximum}")
        return int(number) if kind == "integer" else number
    if kind == "date":
        if not isinstance(raw, str):
            return fail("type", "must be a date as a string, e.g. 2026-02-15")
        text = raw.strip()
        try:
            if not _DATE.fullmatch(text):
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            return fail("format", "must be a date such as 2026-02-15")
    if kind == "boolean":
        if not isinstance(raw, bool):
            return fail("type", "must be true or false")
        return raw
    if kind == "choice":
        if not isinstance(raw, str) or raw not in spec.choices:
            return fail("choice", f"must be one of {', '.join(spec.choices)}")
        return raw
    if kind in ("phone", "email", "resident_id", "credit_code"):
        if not isinstance(raw, str):
            return fail("type", "must be a string")
        try:
            return _identity(kind, raw, filed_on)
        except parties.PartyIdError as exc:
            return fail(exc.rule, str(exc))
    raise AssertionError(f"unhandled field type {kind}")  # the loader allows only FIELD_TYPES


def _number(kind: str, raw: object, fail: Any) -> Decimal | None:
    if isinstance(raw, (bool, float)):
        fail("type", "must be written as a string (a JSON number may lose precision)")
        return None
    decimals = 0
    if isinstance(raw, int):
        number = Decimal(raw)
    elif isinstance(raw, str) and (match := _NUMBER.fullmatch(raw.strip())):
        decimals = len(match.group(1) or "")
        try:
            number = Decimal(raw.strip())
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            fail("format", "is not a number")
            return None
    else:
        fail("format", "must be a plain decimal number such as 1234.50")
        return None
    if kind == "integer" and number != number.to_integral_value():
        fail("format", "must be a whole number")
        return None
    if kind == "money":
        if number.is_signed():  # also "-0"
            fail("min", "must not be negative")
            return None
        if decimals > 2:  # as written: "1.000" is not an amount in fen either
            fail("format", "must have at most 2 decimal places (fen)")
            return None
        if number > MAX_MONEY:
            fail("max", "is too large")
            return None
    if kind == "rate" and not Decimal(0) <= number <= Decimal(10):
        fail("range", "must be a decimal fraction such as 0.15 (15%)")
        return None
    return number


def _identity(kind: str, raw: str, filed_on: date) -> Any:
    if kind == "phone":
        return parties.check_phone(raw)
    if kind == "email":
        return parties.check_email(raw)
    if kind == "resident_id":
        return parties.resident_id_number(raw, today=filed_on)
    return parties.credit_code(raw)


def _party(
    raw: object, path: str, problems: list[FieldProblem], filed_on: date
) -> dict[str, str] | None:
    """A party: a person (resident identity number) or a company (credit code)."""
    if type(raw) is not dict and not isinstance(raw, Mapping):  # (the ABC check is slow)
        problems.append(FieldProblem(path, "type", "must be an object"))
        return None
    before = len(problems)
    for key in raw:
        if key not in PARTY_KEYS:
            problems.append(FieldProblem(f"{path}.{key}", "unknown", "is not a party field"))
    kind = raw.get("kind")
    if kind not in PARTY_KINDS:
        problems.append(FieldProblem(f"{path}.kind", "choice", "must be person or company"))
    out: dict[str, str] = {"kind": str(kind)}
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(FieldProblem(f"{path}.name", "required", "the party's name is required"))
    elif len(name.strip()) > STRING_LENGTH:
        problems.append(FieldProblem(f"{path}.name", "max_length", "is too long"))
    elif _has_control(name) or "\r" in name or "\n" in name:
        problems.append(
            FieldProblem(f"{path}.name", "format", "must be one line without control characters")
        )
    else:
        out["name"] = name.strip()
    number = raw.get("id_number")
    if not isinstance(number, str) or not number.strip():
        what = "unified social credit code" if kind == "company" else "resident identity number"
        problems.append(FieldProblem(f"{path}.id_number", "required", f"the {what} is required"))
    elif kind in PARTY_KINDS:
        try:
            out["id_number"] = (
                parties.credit_code(number)
                if kind == "company"
                else parties.resident_id_number(number, today=filed_on)
            )
        except parties.PartyIdError as exc:
            problems.append(FieldProblem(f"{path}.id_number", exc.rule, str(exc)))
    for key, check in (("phone", parties.check_phone), ("email", parties.check_email)):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(FieldProblem(f"{path}.{key}", "type", "must be a string"))
            continue
        try:
            out[key] = check(value)
        except parties.PartyIdError as exc:
            problems.append(FieldProblem(f"{path}.{key}", exc.rule, str(exc)))
    if raw.get("phone") is None and raw.get("email") is None:  # a bad one is reported above
        problems.append(
            FieldProblem(
                path, "contact", "a phone number or an email address is required for service"
            )
        )
    address = raw.get("address")
    if address is not None:
        if not isinstance(address, str) or len(address.strip()) > 500 or _has_control(address):
            problems.append(
                FieldProblem(
                    f"{path}.address",
                    "format",
                    "must be text of at most 500 characters, without control characters",
                )
            )
        elif address.strip():
            out["address"] = address.strip()
    return out if len(problems) == before else None


def _apply_check(
    form: ClaimForm,
    check: FormCheck,
    values: Mapping[str, Any],
    problems: list[FieldProblem],
    filed_on: date,
) -> None:
    present = [(name, values[name]) for name in check.fields if name in values]
    if check.rule == "dates_in_order":
        for (a, first), (b, second) in itertools.pairwise(present):
            if first > second:
                label_a = _label(form, a)
                label_b = _label(form, b)
                problems.append(
                    FieldProblem(
                        f"$.{b}",
                        "dates_in_order",
                        check.message or f"{label_b} must not be before {label_a} ({first})",
                    )
                )
    elif check.rule == "not_after_filing":
        for name, value in present:
            if value > filed_on:
                problems.append(
                    FieldProblem(
                        f"$.{name}",
                        "not_after_filing",
                        check.message
                        or f"{_label(form, name)} must not be after the filing date ({filed_on})",
                    )
                )
    elif check.rule == "at_most" and len(present) == 2:
        (a, first), (b, second) = present
        if first > second:
            problems.append(
                FieldProblem(
                    f"$.{a}",
                    "at_most",
                    check.message
                    or f"{_label(form, a)} must not exceed {_label(form, b)} ({second})",
                )
            )


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _has_control(text: str) -> bool:
    """C0 controls other than tab and line breaks, and DEL (PostgreSQL refuses NUL)."""
    return _CONTROL.search(text) is not None


def _label(form: ClaimForm, name: str) -> str:
    spec = form.field(name)
    return spec.label_en if spec else name
