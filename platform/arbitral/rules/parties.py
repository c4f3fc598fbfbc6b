"""Checking the identity numbers and contact details that parties give (pure Python).

- Resident identity numbers (公民身份号码, GB 11643-1999): 17 digits and a check
  character. The first 6 digits are the region code, the next 8 the birth date
  (YYYYMMDD), then 3 digits of sequence (odd for men, even for women); the check character
  is ``"10X98765432"[sum(digit × weight) mod 11]`` with the weights 7 9 10 5 8 4 2 1 6 3 7 9
  10 5 8 4 2.
- Unified social credit codes (统一社会信用代码, GB 32100-2015): 18 characters from
  ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (never I, O, Z, S or V): the registration authority,
  the entity type, the region (6 digits), the organisation code (9 characters, itself
  checked as GB 11714 prescribes) and a check character ``31 - (sum mod 31)`` (31 → 0)
  with the weights 3^i mod 31.

Input typed with a Chinese input method is accepted: full-width characters are read as
their ASCII forms (NFKC), spaces are ignored and letters are upper-cased. Error messages
never repeat the number itself: it is personal data and messages end up in logs.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal

from arbitral.identity.domain import normalize_email, normalize_phone

Rule = Literal[
    "length",
    "charset",
    "region",
    "birth_date",
    "checksum",
    "organisation_code",
    "phone",
    "email",
]


class PartyIdError(ValueError):
    """A number or address that fails one rule; ``str(error)`` is the precise message,
    written as a predicate of the field (``"must be 18 characters long, not 17"``)."""

    def __init__(self, rule: Rule, message: str) -> None:
        super().__init__(message)
        self.rule: Rule = rule
        self.message = message


def _compact(value: str) -> str:
    if not isinstance(value, str):
        raise PartyIdError("charset", "must be text")
    if value.isascii():  # NFKC leaves ASCII as it is
        return "".join(value.split()).upper()
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


# --- resident identity numbers -----------------------------------------------------------

RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK = "10X98765432"
_WEIGHT_TOTAL = sum(RESIDENT_ID_WEIGHTS)
EARLIEST_BIRTH = date(1900, 1, 1)
_DIGITS = frozenset("0123456789")
_RESIDENT_ID_CHARS = re.compile(r"[0-9]*X?")
"""Digits, the last of which may be X (what the charset check below lets through)."""


@dataclass(frozen=True)
class ResidentId:
    number: str
    """18 characters, a final check ``X`` in upper case."""
    birth_date: date
    sex: Literal["male", "female"]
    region: str
    """The first six digits: the region where the number was first issued."""


def resident_id_check_char(body: str) -> str:
    """The check character of 17 digits."""
    if len(body) != 17 or not set(body) <= _DIGITS:
        raise ValueError("needs exactly 17 digits")
    return RESIDENT_ID_CHECK[_resident_id_sum(body) % 11]


def _resident_id_sum(body: str) -> int:
    """The weighted sum of 17 ASCII digits: each digit's code less 48 ("0"), times its
    weight, summed in C (``map``), the 48s taken off at once (the weights add up to
    100). A batch checks two numbers a row."""
    weighted: int = sum(map(operator.mul, body.encode(), RESIDENT_ID_WEIGHTS))
    return weighted - 48 * _WEIGHT_TOTAL


def check_resident_id(value: str, *, today: date | None = None) -> ResidentId:
    """A resident identity number (18 characters), checked and normalised.

    With ``today``, a birth date after it is refused. Old 15-digit numbers are refused
    with a message asking for the 18-digit one (which every current card carries).
    """
    number, born = _resident_id(value, today)
    return ResidentId(
        number=number,
        birth_date=born,
        sex="male" if int(number[16]) % 2 else "female",
        region=number[:6],
    )


def resident_id_number(value: str, *, today: date | None = None) -> str:
    """:func:`check_resident_id`'s number only (what a claim keeps)."""
    return _resident_id(value, today)[0]


def _resident_id(value: str, today: date | None) -> tuple[str, date]:
    """The normalised number and its birth date; :class:`PartyIdError` as
    :func:`check_resident_id` documents."""
    number = _compact(value)
    if not number:
        raise PartyIdError("length", "is empty: give the 18-character resident identity number")
    if not _RESIDENT_ID_CHARS.fullmatch(number):
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
    if RESIDENT_ID_CHECK[_resident_id_sum(number[:17]) % 11] != number[17]:
        raise PartyIdError(
            "checksum",
            "has a wrong check character (the last one): a digit is probably mistyped",
        )
    return number, born


# --- unified social credit codes ---------------------------------------------------------

CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORGANISATION_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_CREDIT_VALUES = {char: value for value, char in enumerate(CREDIT_CODE_ALPHABET)}
_UNUSED_LETTERS = "IOZSV"
_BASE_36 = {char: int(char, 36) for char in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_CREDIT_CODE_CHARS = re.compile(r"[0-9A-HJ-NPQRTUWXY]*")
"""The alphabet above (what the charset check below lets through)."""


@dataclass(frozen=True)
class CreditCode:
    code: str
    registration_authority: str
    """1st character: 9 market regulation (工商), 5 civil affairs (民政), 1 staffing…"""
    entity_type: str
    """2nd character, meaning depends on the authority (91 a company, 92 a sole trader…)."""
    region: str
    """Characters 3 to 8: the registering authority's region code."""
    organisation_code: str
    """Characters 9 to 17: the organisation code (GB 11714), its own check character last."""


def credit_code_check_char(body: str) -> str:
    """The check character of the first 17 characters of a credit code."""
    if len(body) != 17 or any(char not in _CREDIT_VALUES for char in body):
        raise ValueError("needs exactly 17 credit-code characters")
    return CREDIT_CODE_ALPHABET[_credit_code_check(body)]


def _credit_code_check(body: str) -> int:
    """The check character's value for 17 credit-code characters (summed in C)."""
    weighted: int = sum(
        map(operator.mul, map(_CREDIT_VALUES.__getitem__, body), CREDIT_CODE_WEIGHTS)
    )
    return (31 - weighted % 31) % 31


def organisation_code_check_char(body: str) -> str:
    """The GB 11714 check character of an organisation code's first 8 characters.

    Characters count 0-9 for digits and 10-35 for A-Z; the check is 11 - (sum mod 11),
    written X for 10 and 0 for 11.
    """
    if len(body) != 8 or not body.isascii() or not body.isalnum() or body != body.upper():
        raise ValueError("needs exactly 8 digits or capital letters")
    return _organisation_code_check(body)


def _organisation_code_check(body: str) -> str:
    """The check character of 8 digits or capital letters (summed in C)."""
    weighted: int = sum(
        map(operator.mul, map(_BASE_36.__getitem__, body), ORGANISATION_CODE_WEIGHTS)
    )
    check = 11 - weighted % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def check_credit_code(value: str) -> CreditCode:
    """A unified social credit code (18 characters), checked and normalised."""
    code = credit_code(value)
    return CreditCode(
        code=code,
        registration_authority=code[0],
        entity_type=code[1],
        region=code[2:8],
        organisation_code=code[8:17],
    )


def credit_code(value: str) -> str:
    """:func:`check_credit_code`'s code only (what a claim keeps)."""
    code = _compact(value)
    if not code:
        raise PartyIdError("length", "is empty: give the 18-character unified social credit code")
    if not _CREDIT_CODE_CHARS.fullmatch(code):  # which character, and why
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
    if CREDIT_CODE_ALPHABET[_credit_code_check(code[:17])] != code[17]:
        raise PartyIdError(
            "checksum",
            "has a wrong check character (the last one): a character is probably mistyped",
        )
    if _organisation_code_check(code[8:16]) != code[16]:  # credit-code characters, checked
        raise PartyIdError(
            "organisation_code",
            "has an organisation code (characters 9 to 17) whose check character is wrong",
        )
    return code


# --- contact details ---------------------------------------------------------------------


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
