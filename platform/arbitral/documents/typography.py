"""How amounts, dates and numbers are written in formal documents, per language (pure)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

_CENT = Decimal("0.01")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_ZH_DIGITS = "〇一二三四五六七八九"


def number(amount: Decimal) -> str:
    """``1234567.5`` → ``1,234,567.50`` (thousands separators, two decimals, half up)."""
    return f"{amount.quantize(_CENT, rounding=ROUND_HALF_UP):,}"


def money(amount: Decimal, lang: str) -> str:
    """An amount of yuan: ``12,345.60元`` in Chinese, ``CNY 12,345.60`` in English."""
    return f"{number(amount)}元" if lang == "zh" else f"CNY {number(amount)}"


def day(value: date, lang: str) -> str:
    """``2026年12月6日`` in Chinese, ``6 December 2026`` in English."""
    if lang == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def moment(value: datetime, lang: str) -> str:
    """A date and a time of day (minutes), as the commission's clock shows it."""
    return f"{day(value, lang)} {value:%H:%M}"


def zh_number(value: int) -> str:
    """1 → 一, 10 → 十, 21 → 二十一, 100 and above in digits (items never run that long)."""
    if not 1 <= value <= 99:
        return str(value)
    tens, units = divmod(value, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else f"{_ZH_DIGITS[tens]}十")
    return head + (_ZH_DIGITS[units] if units else "")


def ordinal(index: int, lang: str) -> str:
    """Numbering of decision items: ``一、`` ``二、`` … ``十一、`` in Chinese, ``1.`` in English."""
    return f"{zh_number(index)}、" if lang == "zh" else f"{index}."
