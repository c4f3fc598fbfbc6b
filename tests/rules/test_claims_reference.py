"""Claim validation and party checks agree with a frozen copy of the code before it
was made faster (issue 8: a lender's batch of 100,000 rows).

The reference below is ``validate_claim`` and the party checks as they stood at commit
24b5c00, copied unchanged except for names (``ref_validate_claim``; the party checks
called directly instead of through ``parties.``; loans read by the frozen
``ref_parse_loan`` of test_loans_reference.py). Claims are generated from the example
claims with seeded mutations (parties, identity numbers typed in every way, contacts,
amounts, dates, texts, loans) and compared: the values' ``repr`` (Decimal exponents
included) or the problems, in order, with their messages.
"""

from __future__ import annotations

import copy
import functools
import itertools
import random
import re
import unicodedata
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

import pytest

from arbitral.errors import FieldProblem
from arbitral.identity.domain import normalize_email, normalize_phone
from arbitral.rules import claims, parties
from arbitral.rules.claims import (
    FIELD_TYPES,
    MAX_MONEY,
    PARTY_KEYS,
    PARTY_KINDS,
    STRING_LENGTH,
    TEXT_LENGTH,
    ClaimForm,
    ClaimInvalid,
    FieldSpec,
    FormCheck,
    ValidClaim,
)
from arbitral.rules.loader import load_rule_book
from arbitral.rules.loans import LoanInputError
from arbitral.rules.parties import (
    CREDIT_CODE_ALPHABET,
    CREDIT_CODE_WEIGHTS,
    EARLIEST_BIRTH,
    ORGANISATION_CODE_WEIGHTS,
    RESIDENT_ID_CHECK,
    RESIDENT_ID_WEIGHTS,
    CreditCode,
    PartyIdError,
    ResidentId,
)
from tests.conftest import REPO_ROOT
from tests.rules.test_claims import loan_claim, purchase_claim
from tests.rules.test_loans_reference import broken, generated_loan, ref_parse_loan

# -- the reference: the code as it was (do not edit) -----------------------------------


def _compact(value: str) -> str:
    if not isinstance(value, str):
        raise PartyIdError("charset", "must be text")
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


_DIGITS = frozenset("0123456789")


def resident_id_check_char(body: str) -> str:
    """The check character of 17 digits."""
    if len(body) != 17 or not set(body) <= _DIGITS:
        raise ValueError("needs exactly 17 digits")
    total = sum(
        int(digit) * weight for digit, weight in zip(body, RESIDENT_ID_WEIGHTS, strict=True)
    )
    return RESIDENT_ID_CHECK[total % 11]


def check_resident_id(value: str, *, today: date | None = None) -> ResidentId:
    """A resident identity number (18 characters), checked and normalised.

    With ``today``, a birth date after it is refused. Old 15-digit numbers are refused
    with a message asking for the 18-digit one (which every current card carries).
    """
    number = _compact(value)
    if not number:
        raise PartyIdError("length", "is empty: give the 18-character resident identity number")
    for position, char in enumerate(number, start=1):
        if char in _DIGITS or (char == "X" and position == len(number)):
            continue
        raise PartyIdError(
            "charset",
            f"must be digits, the last of which may be X: character {position} is not",
        )
    if len(number) == 15 and "X" not in number:
        raise PartyIdError(
            "length",
            "is an old 15-digit number: give the 18-digit number of the current resident "
            "identity card",
        )
    if len(number) != 18:
        raise PartyIdError("length", f"must be 18 characters long, not {len(number)}")
    if number[0] not in "12345678":
        raise PartyIdError("region", "must start with a region code whose first digit is 1 to 8")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise PartyIdError(
            "birth_date",
            "has an impossible birth date (characters 7 to 14 are the date, YYYYMMDD)",
        ) from None
    if born < EARLIEST_BIRTH:
        raise PartyIdError("birth_date", "has a birth date before 1900")
    if today is not None and born > today:
        raise PartyIdError("birth_date", "has a birth date in the future")
    if resident_id_check_char(number[:17]) != number[17]:
        raise PartyIdError(
            "checksum",
            "has a wrong check character (the last one): a digit is probably mistyped",
        )
    return ResidentId(
        number=number,
        birth_date=born,
        sex="male" if int(number[16]) % 2 else "female",
        region=number[:6],
    )


_CREDIT_VALUES = {char: value for value, char in enumerate(CREDIT_CODE_ALPHABET)}
_UNUSED_LETTERS = "IOZSV"


def credit_code_check_char(body: str) -> str:
    """The check character of the first 17 characters of a credit code."""
    if len(body) != 17 or any(char not in _CREDIT_VALUES for char in body):
        raise ValueError("needs exactly 17 credit-code characters")
    total = sum(_CREDIT_VALUES[char] * w for char, w in zip(body, CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def organisation_code_check_char(body: str) -> str:
    """The GB 11714 check character of an organisation code's first 8 characters.

    Characters count 0-9 for digits and 10-35 for A-Z; the check is 11 - (sum mod 11),
    written X for 10 and 0 for 11.
    """
    if len(body) != 8 or not body.isascii() or not body.isalnum() or body != body.upper():
        raise ValueError("needs exactly 8 digits or capital letters")
    total = sum(int(char, 36) * w for char, w in zip(body, ORGANISATION_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def check_credit_code(value: str) -> CreditCode:
    """A unified social credit code (18 characters), checked and normalised."""
    code = _compact(value)
    if not code:
        raise PartyIdError("length", "is empty: give the 18-character unified social credit code")
    for position, char in enumerate(code, start=1):
        if char in _CREDIT_VALUES:
            continue
        if char in _UNUSED_LETTERS:
            problem = (
                f"character {position} is {char}, a letter that credit codes never use "
                "(no I, O, Z, S or V)"
            )
        else:
            problem = f"character {position} is neither a digit nor a capital letter"
        raise PartyIdError("charset", f"must be digits and capital letters: {problem}")
    if len(code) == 15 and code.isdigit():
        raise PartyIdError(
            "length",
            "is a 15-digit business registration number (注册号): give the 18-character "
            "unified social credit code on the current business licence",
        )
    if len(code) != 18:
        raise PartyIdError("length", f"must be 18 characters long, not {len(code)}")
    if not code[2:8].isdigit():
        raise PartyIdError("region", "must have a region code of 6 digits (characters 3 to 8)")
    if credit_code_check_char(code[:17]) != code[17]:
        raise PartyIdError(
            "checksum",
            "has a wrong check character (the last one): a character is probably mistyped",
        )
    if organisation_code_check_char(code[8:16]) != code[16]:
        raise PartyIdError(
            "organisation_code",
            "has an organisation code (characters 9 to 17) whose check character is wrong",
        )
    return CreditCode(
        code=code,
        registration_authority=code[0],
        entity_type=code[1],
        region=code[2:8],
        organisation_code=code[8:17],
    )


def check_phone(value: str) -> str:
    """E.164 (``+8613800138000``); a bare mainland mobile number gets +86."""
    try:
        return normalize_phone(value)
    except ValueError as exc:
        raise PartyIdError("phone", str(exc)) from None


def check_email(value: str) -> str:
    """Trimmed, with the domain in lower case."""
    try:
        return normalize_email(value)
    except ValueError as exc:
        raise PartyIdError("email", str(exc)) from None


_NUMBER = re.compile(r"-?\d+(?:\.(\d+))?", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def ref_validate_claim(form: ClaimForm, data: object, *, filed_on: date) -> ValidClaim:
    """``data`` checked against ``form``; raises :class:`ClaimInvalid` with every problem.

    ``filed_on`` is the local date of filing (for ``not_after_filing`` checks and
    birth dates). Unknown fields are refused: a typo must not silently drop data.
    """
    problems: list[FieldProblem] = []
    if not isinstance(data, Mapping):
        raise ClaimInvalid([FieldProblem("$", "type", "the claim must be a JSON object")])
    known = {f.name for f in form.fields}
    for key in data:
        if key not in known:
            problems.append(
                FieldProblem(f"$.{key}", "unknown", "is not a field of this claim form")
            )
    values: dict[str, Any] = {}
    for spec in form.fields:
        path = f"$.{spec.name}"
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


def _value(
    spec: FieldSpec, raw: object, path: str, problems: list[FieldProblem], filed_on: date
) -> Any:
    def fail(rule: str, message: str) -> None:
        problems.append(FieldProblem(path, rule, message))

    kind = spec.type
    if kind in ("string", "text"):
        if not isinstance(raw, str):
            return fail("type", "must be a string")
        text = raw.strip()
        limit = spec.max_length or (TEXT_LENGTH if kind == "text" else STRING_LENGTH)
        if len(text) > limit:
            return fail("max_length", f"must be at most {limit} characters, not {len(text)}")
        if kind == "string" and any(ch in text for ch in "\r\n"):
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
        except PartyIdError as exc:
            return fail(exc.rule, str(exc))
    if kind == "party":
        return _party(raw, path, problems, filed_on)
    if kind == "loan":
        try:
            return ref_parse_loan(raw)
        except LoanInputError as exc:
            for field, rule, message in exc.problems:
                problems.append(FieldProblem(f"{path}.{field}" if field else path, rule, message))
            return None
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
        return check_phone(raw)
    if kind == "email":
        return check_email(raw)
    if kind == "resident_id":
        return check_resident_id(raw, today=filed_on).number
    return check_credit_code(raw).code


def _party(
    raw: object, path: str, problems: list[FieldProblem], filed_on: date
) -> dict[str, str] | None:
    """A party: a person (resident identity number) or a company (credit code)."""
    if not isinstance(raw, Mapping):
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
    elif _has_control(name) or any(ch in name for ch in "\r\n"):
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
                check_credit_code(number).code
                if kind == "company"
                else check_resident_id(number, today=filed_on).number
            )
        except PartyIdError as exc:
            problems.append(FieldProblem(f"{path}.id_number", exc.rule, str(exc)))
    for key, check in (("phone", check_phone), ("email", check_email)):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(FieldProblem(f"{path}.{key}", "type", "must be a string"))
            continue
        try:
            out[key] = check(value)
        except PartyIdError as exc:
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


def _has_control(text: str) -> bool:
    """C0 controls other than tab and line breaks, and DEL (PostgreSQL refuses NUL)."""
    return any((ord(ch) < 32 and ch not in "\t\r\n") or ch == "\x7f" for ch in text)


def _label(form: ClaimForm, name: str) -> str:
    spec = form.field(name)
    return spec.label_en if spec else name


# -- generated claims --------------------------------------------------------------------

FILED_ON = date(2026, 3, 1)


def resident_id(rng: random.Random) -> str:
    born = date(1900, 1, 1) + timedelta(days=rng.randint(-400, 46_000))
    region = rng.choice(["110105", "440306", "910000", "010101"])
    body = f"{region}{born:%Y%m%d}{rng.randint(0, 999):03d}"
    number = (
        body
        + RESIDENT_ID_CHECK[
            sum(int(d) * w for d, w in zip(body, RESIDENT_ID_WEIGHTS, strict=True)) % 11
        ]
    )
    return number


def credit_code(rng: random.Random) -> str:
    organisation = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    total = sum(
        int(c, 36) * w for c, w in zip(organisation, ORGANISATION_CODE_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    organisation += "X" if check == 10 else "0" if check == 11 else str(check)
    body = rng.choice(["91", "92", "51", "11"]) + f"{rng.randint(0, 999999):06d}" + organisation
    values = {c: v for v, c in enumerate(CREDIT_CODE_ALPHABET)}
    total = sum(values[c] * w for c, w in zip(body, CREDIT_CODE_WEIGHTS, strict=True))
    return body + CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def typed(rng: random.Random, number: str) -> str:
    """A number as people type it: lower case, spaces, full-width, a slip."""
    roll = rng.random()
    if roll < 0.5:
        return number
    if roll < 0.6:
        return number.lower()
    if roll < 0.7:
        return f" {number[:6]} {number[6:14]}\u3000{number[14:]} "
    if roll < 0.78:
        return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in number)
    if roll < 0.86:  # one character changed
        i = rng.randrange(len(number))
        return number[:i] + rng.choice("0123456789XIOZSVxa-é٣") + number[i + 1 :]
    if roll < 0.92:
        return number[: rng.choice([0, 15, 17, 19])] if rng.random() < 0.8 else number + "1"
    return rng.choice(
        ["", "   ", "123456789012345", "X" * 18, "11010519491231002X", "91350100M000100Y43"]
    )


def party(rng: random.Random) -> object:
    kind = rng.choice(["person", "person", "company", "company", "robot", None])
    out: dict[str, Any] = {
        "kind": kind,
        "name": rng.choice(["张三", " 某某有限公司 ", "", "a\nb", "x\x07", "名" * 201, 3]),
    }
    number = credit_code(rng) if kind == "company" else resident_id(rng)
    if rng.random() < 0.1:  # the other kind of number
        number = resident_id(rng) if kind == "company" else credit_code(rng)
    out["id_number"] = typed(rng, number) if rng.random() < 0.95 else rng.choice([None, 7, ""])
    contact = rng.random()
    if contact < 0.7:
        out["phone"] = rng.choice(
            [
                "+8613912345678",
                "138 0013 8000",
                "13800138000",
                "0086 13800138000",
                "(020) 1234",
                "１３８００１３８０００",
                "12",
                5,
            ]
        )
    if contact > 0.3:
        out["email"] = rng.choice(
            ["lender@example.com", "Service@Shop.EXAMPLE.cn", "no-at-sign", " a@b.cn ", None]
        )
    if rng.random() < 0.5:
        out["address"] = rng.choice(
            ["广州市天河区某路1号", "  ", "x" * 501, "a\x00b", 3, "第一行\n第二行"]
        )
    if rng.random() < 0.05:
        out["nickname"] = "x"
    if rng.random() < 0.03:
        return rng.choice(["张三", [], None])
    return out


def text(rng: random.Random) -> object:
    return rng.choice(
        [
            "请求偿还借款。",
            "  两端空格  ",
            "一行\n两行",
            "tab\there",
            "bell\x07",
            "del\x7f",
            "x" * 201,
            "x" * 5001,
            "",
            12,
            None,
        ]
    )


def amount(rng: random.Random) -> object:
    return rng.choice(
        [
            "10782.00",
            "0.01",
            "1",
            " 12.5 ",
            "-1",
            "-0",
            "1.001",
            "1e3",
            "10000001",
            "0",
            12,
            1.5,
            True,
            "１２",
            "NaN",
        ]
    )


def day(rng: random.Random) -> object:
    return rng.choice(
        [
            "2026-02-01",
            "2026-02-05",
            "2026-03-02",
            "2026-02-30",
            "2026-2-1",
            " 2026-02-03 ",
            20260201,
            "",
            "２０２６-02-01",
        ]
    )


def generated_claim(rng: random.Random, case_type: str) -> object:
    claim: dict[str, Any]
    if case_type == "online-loan":
        claim = loan_claim()
        loan: object = generated_loan(rng)
        if rng.random() < 0.3:
            loan = broken(rng, loan)  # type: ignore[arg-type]
        claim["loan"] = loan
    else:
        claim = purchase_claim()
    claim = copy.deepcopy(claim)
    for key in list(claim):
        roll = rng.random()
        if roll > 0.12:
            continue
        if key in ("claimant", "respondent"):
            claim[key] = party(rng)
        elif key.endswith("_date"):
            claim[key] = day(rng)
        elif key in ("amount_claimed", "order_total", "refund_claimed"):
            claim[key] = amount(rng)
        elif key != "loan":
            claim[key] = text(rng)
        if roll < 0.02:
            del claim[key]
    if rng.random() < 0.03:
        claim["surplus_field"] = 1
    if rng.random() < 0.01:
        return rng.choice([[], "claim", None])
    return claim


def every_type_form() -> ClaimForm:
    """A form with a field of every type, and every kind of check."""

    def spec(name: str, kind: str, **more: Any) -> FieldSpec:
        return FieldSpec(name, kind, rng_required(name), f"{name} zh", f"{name} en", **more)

    def rng_required(name: str) -> bool:
        return not name.endswith("_opt")

    fields = (
        spec("title", "string", max_length=20),
        spec("notes_opt", "text"),
        spec("paid", "money", minimum=Decimal("0.01"), maximum=Decimal(1000)),
        spec("cap_opt", "money"),
        spec("rate", "rate", minimum=Decimal(0), maximum=Decimal("0.36")),
        spec("count", "integer", minimum=Decimal(1), maximum=Decimal(10)),
        spec("start", "date"),
        spec("end_opt", "date"),
        spec("flag", "boolean"),
        spec("colour", "choice", choices=("red", "green")),
        spec("phone", "phone"),
        spec("email_opt", "email"),
        spec("person", "resident_id"),
        spec("company_opt", "credit_code"),
        spec("party", "party"),
        spec("loan_opt", "loan"),
    )
    checks = (
        FormCheck("dates_in_order", ("start", "end_opt")),
        FormCheck("not_after_filing", ("start", "end_opt"), "no future dates"),
        FormCheck("at_most", ("paid", "cap_opt")),
    )
    assert {f.type for f in fields} == set(FIELD_TYPES)
    return ClaimForm(fields, checks)


def every_type_claim(rng: random.Random) -> dict[str, Any]:
    """Mostly valid (each value is right 9 times in 10), so that both outcomes come."""

    def pick(right: object, wrong: Any) -> object:
        return right if rng.random() < 0.9 else wrong()

    claim: dict[str, Any] = {
        "title": pick(
            "A title", lambda: rng.choice([" padded ", "x" * 21, "two\nlines", "c\x01", 3])
        ),
        "paid": pick("12.50", lambda: amount(rng)),
        "rate": pick("0.15", lambda: rng.choice(["0.36", "0.37", "-0.1", "11", "0.123456789", 0])),
        "count": pick("3", lambda: rng.choice([3, "3.0", "3.5", "0", "11", True, 2.0, "1e1"])),
        "start": pick("2026-02-01", lambda: day(rng)),
        "flag": pick(True, lambda: rng.choice([False, "true", 1])),
        "colour": pick("red", lambda: rng.choice(["green", "blue", " red", 1])),
        "phone": pick(
            "138 0013 8000", lambda: rng.choice(["+8613912345678", "12", 5, "０086 13800138000"])
        ),
        "person": pick(resident_id(rng), lambda: typed(rng, resident_id(rng))),
        "party": pick(
            {
                "kind": "person",
                "name": "张三",
                "id_number": resident_id(rng),
                "phone": "13800138000",
            },
            lambda: party(rng),
        ),
    }
    if rng.random() < 0.6:
        claim["notes_opt"] = pick("备注", lambda: text(rng))
    if rng.random() < 0.6:
        claim["cap_opt"] = pick("100.00", lambda: amount(rng))
    if rng.random() < 0.6:
        claim["end_opt"] = pick("2026-02-05", lambda: day(rng))
    if rng.random() < 0.5:
        claim["email_opt"] = pick("a@b.cn", lambda: rng.choice(["bad", 3, " A@B.CN "]))
    if rng.random() < 0.6:
        claim["company_opt"] = pick(credit_code(rng), lambda: typed(rng, credit_code(rng)))
    if rng.random() < 0.3:
        claim["loan_opt"] = pick(generated_loan(rng), lambda: broken(rng, generated_loan(rng)))
    for key in list(claim):
        if rng.random() < 0.02:
            del claim[key]
    return claim


def _outcome(call: Any) -> str:
    try:
        result = call()
    except ClaimInvalid as exc:
        return f"ClaimInvalid {exc.problems!r} {exc}"
    except PartyIdError as exc:
        return f"PartyIdError {exc.rule} {exc.message} {exc}"
    except ValueError as exc:  # the check characters' own refusals
        return f"ValueError {exc}"
    if isinstance(result, ValidClaim):
        return f"ValidClaim {dict(result.values)!r}"
    return repr(result)


@functools.cache
def forms() -> dict[str, ClaimForm]:
    book = load_rule_book(REPO_ROOT / "rules")
    out = {}
    for version in ("1.0", "1.2"):
        rule_set = book.get("gba-alliance/online-arbitration", version)
        for case_type in ("online-loan", "online-purchase"):
            out[f"{case_type} {version}"] = rule_set.case_type(case_type).claim_form
    return out


@pytest.mark.parametrize("seed", range(4))
def test_generated_claims_are_validated_as_before(seed: int) -> None:
    rng = random.Random(seed)
    seen = {"valid": 0, "invalid": 0}
    for name, form in forms().items():
        for _ in range(250):
            data = generated_claim(rng, name.split()[0])
            filed_on = FILED_ON + timedelta(days=rng.choice([0, 0, -40, 300]))
            new = _outcome(functools.partial(claims.validate_claim, form, data, filed_on=filed_on))
            old = _outcome(functools.partial(ref_validate_claim, form, data, filed_on=filed_on))
            assert new == old, data
            seen["valid" if new.startswith("ValidClaim") else "invalid"] += 1
    assert seen["valid"] > 100, seen
    assert seen["invalid"] > 300, seen


@pytest.mark.parametrize("seed", range(4))
def test_every_field_type_is_validated_as_before(seed: int) -> None:
    rng = random.Random(seed)
    form = every_type_form()
    outcomes = set()
    for _ in range(400):
        data = every_type_claim(rng)
        new = _outcome(functools.partial(claims.validate_claim, form, data, filed_on=FILED_ON))
        old = _outcome(functools.partial(ref_validate_claim, form, data, filed_on=FILED_ON))
        assert new == old, data
        outcomes.add(new.split(" ", 1)[0])
        # A form's field, validated alone as the batch does (claims._value).
        problems: list[FieldProblem] = []
        for spec in form.fields:
            if data.get(spec.name) is None:
                continue
            kept: list[FieldProblem] = []
            value = claims._value(spec, data[spec.name], f"$.{spec.name}", problems, FILED_ON)
            expected = _value(spec, data[spec.name], f"$.{spec.name}", kept, FILED_ON)
            assert repr(value) == repr(expected)
    assert outcomes == {"ValidClaim", "ClaimInvalid"}


@pytest.mark.parametrize("seed", range(3))
def test_identity_numbers_are_checked_as_before(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(3000):
        person = (
            typed(rng, resident_id(rng)) if rng.random() < 0.8 else typed(rng, credit_code(rng))
        )
        company = (
            typed(rng, credit_code(rng)) if rng.random() < 0.8 else typed(rng, resident_id(rng))
        )
        today = rng.choice([None, FILED_ON, date(1990, 1, 1)])
        old = _outcome(functools.partial(check_resident_id, person, today=today))
        assert _outcome(functools.partial(parties.check_resident_id, person, today=today)) == old
        number = _outcome(functools.partial(parties.resident_id_number, person, today=today))
        assert number == (
            old
            if old.startswith("PartyIdError")
            else repr(check_resident_id(person, today=today).number)
        )
        old = _outcome(functools.partial(check_credit_code, company))
        assert _outcome(functools.partial(parties.check_credit_code, company)) == old
        code = _outcome(functools.partial(parties.credit_code, company))
        assert code == (
            old if old.startswith("PartyIdError") else repr(check_credit_code(company).code)
        )
        for new_check, old_check, body in (
            (parties.resident_id_check_char, resident_id_check_char, person.strip()[:17]),
            (parties.credit_code_check_char, credit_code_check_char, company.strip()[:17]),
            (
                parties.organisation_code_check_char,
                organisation_code_check_char,
                company.strip()[8:16],
            ),
        ):
            assert _outcome(functools.partial(new_check, body)) == _outcome(
                functools.partial(old_check, body)
            )
