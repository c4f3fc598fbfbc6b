"""Message templates, SMS arithmetic and redaction (no database)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbitral.notify.domain import (
    MAX_EMAIL_BODY,
    MAX_SMS_SEGMENTS,
    BodyTooLong,
    Channel,
    Purpose,
    check_body,
    language_of,
    login_code_message,
    redact,
    sms_encoding,
    sms_segments,
    sms_units,
)


def test_login_code_message_in_chinese() -> None:
    body = login_code_message(locale="zh-CN", sender="广州仲裁委员会", code="123456", minutes=10)
    assert body == "【广州仲裁委员会】您的登录验证码为 123456，10分钟内有效。请勿向他人透露。"
    assert sms_encoding(body) == "ucs2"
    assert sms_segments(body) == 1


def test_login_code_message_in_english() -> None:
    body = login_code_message(
        locale="en", sender="Shenzhen Court of International Arbitration", code="004711", minutes=10
    )
    assert body.startswith(
        "[Shenzhen Court of International Arbitration] Your login code is 004711."
    )
    assert "valid for 10 minutes" in body
    assert sms_encoding(body) == "gsm7"
    assert sms_segments(body) == 1


@pytest.mark.parametrize(
    ("locale", "language"), [("zh-CN", "zh"), ("zh-Hant-HK", "zh"), ("en", "en"), ("fr-FR", "en")]
)
def test_language_follows_the_locale(locale: str, language: str) -> None:
    assert language_of(locale) == language


@pytest.mark.parametrize(
    ("code", "sender", "minutes", "problem"),
    [
        ("123", "广州", 10, "digits"),
        ("12a456", "广州", 10, "digits"),
        ("１２３４５６", "广州", 10, "digits"),  # full-width: the caller normalises first
        ("123456", "  ", 10, "sender"),
        ("123456", "广州", 0, "minute"),
    ],
)
def test_login_code_message_refuses_bad_parts(
    code: str, sender: str, minutes: int, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        login_code_message(locale="zh", sender=sender, code=code, minutes=minutes)


def test_sms_segments_count_as_the_networks_do() -> None:
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2  # 153 per part once split
    assert sms_segments("a" * 306) == 2
    assert sms_segments("a" * 307) == 3
    assert sms_segments("中" * 70) == 1
    assert sms_segments("中" * 71) == 2  # 67 per part once split
    assert sms_segments("中" * 134) == 2
    assert sms_segments("中" * 135) == 3
    # One Chinese character makes the whole text UCS-2.
    assert sms_segments("a" * 70 + "中") == 2
    # The GSM extension characters take two septets.
    assert sms_units("[]€") == 6
    assert sms_segments("[" * 80) == 1
    assert sms_segments("[" * 81) == 2
    # Characters outside the BMP take two UTF-16 units.
    assert sms_units("𠀀") == 2


def test_check_body_limits_per_channel() -> None:
    check_body(Channel.SMS, "中" * (67 * MAX_SMS_SEGMENTS))
    with pytest.raises(BodyTooLong, match="parts"):
        check_body(Channel.SMS, "中" * (67 * MAX_SMS_SEGMENTS + 1))
    check_body(Channel.EMAIL, "x" * MAX_EMAIL_BODY)
    with pytest.raises(BodyTooLong):
        check_body(Channel.EMAIL, "x" * (MAX_EMAIL_BODY + 1))
    with pytest.raises(ValueError, match="body"):
        check_body(Channel.SMS, "   ")


def test_redaction_masks_the_code_of_secret_purposes_only() -> None:
    body = login_code_message(locale="zh-CN", sender="广州仲裁委员会", code="987654", minutes=10)
    redacted = redact(Purpose.LOGIN_CODE.value, body)
    assert "987654" not in redacted
    assert redacted == "【广州仲裁委员会】您的登录验证码为 ******，10分钟内有效。请勿向他人透露。"
    notice = "案件(2026)穗仲网字第000123号已受理。"
    assert redact("case_notice", notice) == notice


@given(
    code=st.from_regex(re.compile(r"\A[0-9]{6}\Z")),
    locale=st.sampled_from(["zh-CN", "en"]),
    sender=st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1
    ).filter(str.strip),
)
def test_no_login_code_survives_redaction(code: str, locale: str, sender: str) -> None:
    body = login_code_message(locale=locale, sender=sender, code=code, minutes=10)
    assert code in body
    redacted = redact(Purpose.LOGIN_CODE.value, body)
    assert not re.search(rf"(?<!\d){code}(?!\d)", redacted)
