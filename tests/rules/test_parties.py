"""Parties' identity numbers and contact details (pure, no database)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbitral.rules.parties import (
    CREDIT_CODE_ALPHABET,
    CREDIT_CODE_WEIGHTS,
    RESIDENT_ID_WEIGHTS,
    CreditCode,
    PartyIdError,
    ResidentId,
    check_credit_code,
    check_email,
    check_phone,
    check_resident_id,
    credit_code_check_char,
    organisation_code_check_char,
    resident_id_check_char,
)


def rule_of(call: object, *args: object, **kwargs: object) -> tuple[str, str]:
    assert callable(call)
    with pytest.raises(PartyIdError) as caught:
        call(*args, **kwargs)
    error = caught.value
    assert isinstance(error, ValueError)
    assert str(error) == error.message
    return error.rule, error.message


# --- resident identity numbers -----------------------------------------------------------


def test_the_weights_are_powers_of_two_modulo_eleven() -> None:
    # GB 11643 (ISO 7064 MOD 11-2): the weight of position i (1-based) is 2^(18-i) mod 11.
    assert tuple(pow(2, 17 - i, 11) for i in range(17)) == RESIDENT_ID_WEIGHTS


def test_the_textbook_example() -> None:
    # 1×7 + 1×9 + 0×10 + 1×5 + 0×8 + 5×4 + 1×2 + 9×1 + 4×6 + 9×3 + 1×7 + 2×9 + 3×10
    # + 1×5 + 0×8 + 0×4 + 2×2 = 167; 167 mod 11 = 2; "10X98765432"[2] = X
    assert resident_id_check_char("11010519491231002") == "X"
    assert check_resident_id("11010519491231002X") == ResidentId(
        number="11010519491231002X",
        birth_date=date(1949, 12, 31),
        sex="female",  # the 17th digit, 2, is even
        region="110105",
    )


@pytest.mark.parametrize(
    ("number", "born", "sex"),
    [
        # 3×7 + 6×9 + 0×10 + 4×5 + 2×8 + 6×4 + 1×2 + 9×1 + 9×6 + 1×3 + 0×7 + 1×9 + 0×10
        # + 1×5 + 0×8 + 0×4 + 7×2 = 231; 231 mod 11 = 0 → "1"
        ("360426199101010071", date(1991, 1, 1), "male"),
        ("44011320141005001X", date(2014, 10, 5), "male"),
        # 4×7 + 4×9 + 0×10 + 3×5 + 0×8 + 4×4 + 2×2 + 0×1 + 0×6 + 0×3 + 0×7 + 2×9 + 2×10
        # + 9×5 + 0×8 + 0×4 + 2×2 = 186; 186 mod 11 = 10 → "2"
        ("440304200002290022", date(2000, 2, 29), "female"),  # a leap day
        # 8×7 + 1×9 + 1×2 + 9×1 + 1×9 + 1×5 + 1×2 = 92; 92 mod 11 = 4 → "8"
        ("810000190001010018", date(1900, 1, 1), "male"),  # the earliest date; Hong Kong
    ],
)
def test_valid_numbers(number: str, born: date, sex: str) -> None:
    checked = check_resident_id(number, today=date(2026, 1, 1))
    assert (checked.number, checked.birth_date, checked.sex, checked.region) == (
        number,
        born,
        sex,
        number[:6],
    )


def test_the_number_is_normalised() -> None:
    expected = "11010519491231002X"
    assert check_resident_id("11010519491231002x").number == expected
    assert check_resident_id(" 110105 19491231 002X ").number == expected
    # Full-width digits and letter, as typed with a Chinese input method, and an ideographic
    # space.
    assert check_resident_id("１１０１０５\u3000１９４９１２３１００２ｘ").number == expected


def with_check(body: str) -> str:
    return body + resident_id_check_char(body)


@pytest.mark.parametrize(
    ("value", "rule", "message"),
    [
        (
            "110105194912310021",
            "checksum",
            "has a wrong check character (the last one): a digit is probably mistyped",
        ),
        (
            with_check("11010519490230002"),
            "birth_date",
            "has an impossible birth date (characters 7 to 14 are the date, YYYYMMDD)",
        ),
        (with_check("11010519491301002"), "birth_date", "has an impossible birth date"),
        (with_check("11010519490001002"), "birth_date", "has an impossible birth date"),
        (with_check("11010519000229002"), "birth_date", "has an impossible birth date"),
        (with_check("11010518991231002"), "birth_date", "has a birth date before 1900"),
        (with_check("11010520260102002"), "birth_date", "has a birth date in the future"),
        (
            "110105491231002",
            "length",
            "is an old 15-digit number: give the 18-digit number of the current resident "
            "identity card",
        ),
        ("11010519491231002", "length", "must be 18 characters long, not 17"),
        ("1101051949123100211", "length", "must be 18 characters long, not 19"),
        ("11010519491231002X1", "charset", "must be digits, the last of which may be X"),
        ("", "length", "is empty: give the 18-character resident identity number"),
        ("   ", "length", "is empty"),
        (
            "1101051949123100AX",
            "charset",
            "must be digits, the last of which may be X: character 17 is not",
        ),
        ("X10105194912310021", "charset", "must be digits, the last of which may be X"),
        ("110105-19491231-002X", "charset", "must be digits, the last of which may be X"),
        ("abc", "charset", "must be digits, the last of which may be X: character 1 is not"),
        (
            with_check("01010519491231002"),
            "region",
            "must start with a region code whose first digit is 1 to 8",
        ),
        (with_check("91010519491231002"), "region", "must start with a region code"),
        (with_check("00000019491231002"), "region", "must start with a region code"),
    ],
)
def test_invalid_numbers(value: str, rule: str, message: str) -> None:
    got_rule, got_message = rule_of(check_resident_id, value, today=date(2026, 1, 1))
    assert got_rule == rule
    assert got_message.startswith(message)
    if len(value.strip()) >= 6:
        assert value.strip()[:6] not in got_message  # the number is never repeated


def test_a_future_birth_date_is_refused_only_against_a_given_today() -> None:
    number = with_check("11010520300101002")
    assert check_resident_id(number).birth_date == date(2030, 1, 1)
    assert check_resident_id(number, today=date(2030, 1, 1)).birth_date == date(2030, 1, 1)
    assert rule_of(check_resident_id, number, today=date(2029, 12, 31))[0] == "birth_date"


bodies = st.builds(
    lambda first, rest, born, sequence: f"{first}{rest:05d}{born:%Y%m%d}{sequence:03d}",
    st.integers(min_value=1, max_value=8),
    st.integers(min_value=0, max_value=99999),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 1, 1)),
    st.integers(min_value=0, max_value=999),
)


@given(body=bodies, data=st.data())
def test_a_computed_check_character_validates_and_any_single_change_fails(
    body: str, data: st.DataObject
) -> None:
    number = body + resident_id_check_char(body)
    checked = check_resident_id(number, today=date(2026, 1, 1))
    assert checked.number == number
    assert checked.sex == ("male" if int(body[16]) % 2 else "female")
    position = data.draw(st.integers(min_value=0, max_value=17), label="position")
    replacement = data.draw(
        st.sampled_from([c for c in "0123456789X" if c != number[position]]), label="by"
    )
    changed = number[:position] + replacement + number[position + 1 :]
    with pytest.raises(PartyIdError):
        check_resident_id(changed, today=date(2026, 1, 1))


def test_today_is_a_valid_birth_date() -> None:
    today = date(2026, 1, 1)
    number = with_check(f"110105{today:%Y%m%d}002")
    assert check_resident_id(number, today=today).birth_date == today
    tomorrow = with_check(f"110105{today + timedelta(days=1):%Y%m%d}002")
    assert rule_of(check_resident_id, tomorrow, today=today)[0] == "birth_date"


# --- unified social credit codes ---------------------------------------------------------


def test_the_credit_code_weights_are_powers_of_three_modulo_31() -> None:
    assert tuple(pow(3, i, 31) for i in range(17)) == CREDIT_CODE_WEIGHTS
    assert len(CREDIT_CODE_ALPHABET) == 31
    assert not set("IOZSV") & set(CREDIT_CODE_ALPHABET)


# Real codes: the commonly cited example, and codes that python-stdnum's tests list as
# found online (tests/test_cn_uscc.doctest), of a company, a foreign-invested company, a
# sole trader (92…, organisation code assigned after 2015, MA…) and a public institution
# (12…). Every one passes both the GB 32100 check and the GB 11714 check of its
# organisation code.
REAL_CODES = [
    "91350100M000100Y43",
    "914403001922038216",
    "9144030071526726XG",
    "91110000600037341L",
    "91310115MA1K3BTP2B",
    "92340602MA2PBMEM24",
    "92340621MA2PBN0KXX",
    "121200004013590816",
]


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_credit_codes(code: str) -> None:
    checked = check_credit_code(code)
    assert checked == CreditCode(
        code=code,
        registration_authority=code[0],
        entity_type=code[1],
        region=code[2:8],
        organisation_code=code[8:17],
    )
    assert credit_code_check_char(code[:17]) == code[17]
    assert organisation_code_check_char(code[8:16]) == code[16]


def test_the_organisation_code_check_by_hand() -> None:
    # M000100Y: M = 22, Y = 34; 22×3 + 0×7 + 0×9 + 0×10 + 1×5 + 0×8 + 0×4 + 34×2 = 139;
    # 139 mod 11 = 7; 11 - 7 = 4
    assert organisation_code_check_char("M000100Y") == "4"
    # 71526726: 7×3 + 1×7 + 5×9 + 2×10 + 6×5 + 7×8 + 2×4 + 6×2 = 199; 199 mod 11 = 1;
    # 11 - 1 = 10 → X
    assert organisation_code_check_char("71526726") == "X"
    # 00000000: 0 mod 11 = 0; 11 - 0 = 11 → 0
    assert organisation_code_check_char("00000000") == "0"


def test_a_credit_code_is_normalised() -> None:
    assert check_credit_code("91350100m000100y43").code == "91350100M000100Y43"
    assert check_credit_code(" 91 350100 M000100Y4 3 ").code == "91350100M000100Y43"
    assert check_credit_code("９１３５０１００Ｍ０００１００Ｙ４３").code == "91350100M000100Y43"


def code_with_check(body: str) -> str:
    return body + credit_code_check_char(body)


@pytest.mark.parametrize(
    ("value", "rule", "message"),
    [
        (
            "91110000600037341N",
            "checksum",
            "has a wrong check character (the last one): a character is probably mistyped",
        ),
        ("91350100M000100Y44", "checksum", "has a wrong check character"),
        ("91350100M000010Y43", "checksum", "has a wrong check character"),  # two swapped
        (
            "9111000060003IOZSV",
            "charset",
            "must be digits and capital letters: character 14 is I, a letter that credit "
            "codes never use (no I, O, Z, S or V)",
        ),
        ("913501OOM000100Y43", "charset", "must be digits and capital letters: character 7 is O"),
        (
            "91350100-M000100Y43",
            "charset",
            "must be digits and capital letters: character 9 is neither a digit nor a capital "
            "letter",
        ),
        ("91350100M000100Y4", "length", "must be 18 characters long, not 17"),
        ("91350100M000100Y433", "length", "must be 18 characters long, not 19"),
        (
            "310105000123456",
            "length",
            "is a 15-digit business registration number (注册号): give the 18-character "
            "unified social credit code on the current business licence",
        ),
        ("", "length", "is empty: give the 18-character unified social credit code"),
        (
            code_with_check("91A50100M000100Y4"),
            "region",
            "must have a region code of 6 digits (characters 3 to 8)",
        ),
        (
            code_with_check("91350100M000100Y5"),
            "organisation_code",
            "has an organisation code (characters 9 to 17) whose check character is wrong",
        ),
    ],
)
def test_invalid_credit_codes(value: str, rule: str, message: str) -> None:
    got_rule, got_message = rule_of(check_credit_code, value)
    assert got_rule == rule
    assert got_message.startswith(message)


organisation_bodies = st.text(alphabet=CREDIT_CODE_ALPHABET, min_size=8, max_size=8)
credit_bodies = st.builds(
    lambda head, region, org: head + region + org + organisation_code_check_char(org),
    st.text(alphabet=CREDIT_CODE_ALPHABET, min_size=2, max_size=2),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    organisation_bodies,
)


@given(body=credit_bodies, data=st.data())
def test_a_computed_credit_code_validates_and_any_single_change_fails(
    body: str, data: st.DataObject
) -> None:
    code = body + credit_code_check_char(body)
    assert check_credit_code(code).code == code
    position = data.draw(st.integers(min_value=0, max_value=17), label="position")
    replacement = data.draw(
        st.sampled_from([c for c in CREDIT_CODE_ALPHABET + "IOZSV" if c != code[position]]),
        label="by",
    )
    changed = code[:position] + replacement + code[position + 1 :]
    with pytest.raises(PartyIdError):
        check_credit_code(changed)


# --- contact details ---------------------------------------------------------------------


def test_phone_numbers() -> None:
    assert check_phone("13800138000") == "+8613800138000"
    assert check_phone("１３８ ００１３ ８０００") == "+8613800138000"
    assert check_phone("+852 2123 4567") == "+85221234567"
    assert rule_of(check_phone, "12345") == (
        "phone",
        "is not a phone number in international form (+86…)",
    )


def test_email_addresses() -> None:
    assert check_email(" Party@Example.COM ") == "Party@example.com"
    assert rule_of(check_email, "not-an-address") == ("email", "is not an email address")
    assert rule_of(check_email, "a@b")[0] == "email"
