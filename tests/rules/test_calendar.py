"""The Chinese public-holiday calendar and time limits counted in it."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbitral.rules.calendar import (
    Calendar,
    CalendarError,
    CalendarYear,
    Deadline,
    Period,
    PeriodUnit,
    YearNotInCalendar,
    build_calendar,
    compute_deadline,
    parse_calendar,
    parse_calendar_year,
    parse_period,
)
from arbitral.rules.checker import Checker, InvalidRuleFiles

REPO_ROOT = Path(__file__).resolve().parents[2]
CN_DIR = REPO_ROOT / "rules" / "calendars" / "cn"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def read(year: int) -> dict[str, Any]:
    return tomllib.loads((CN_DIR / f"{year}.toml").read_text("utf-8"))


@pytest.fixture(scope="module")
def cn() -> Calendar:
    """The real calendar, from the repository's files."""
    paths = sorted(CN_DIR.glob("*.toml"))
    assert [path.name for path in paths] == ["2025.toml", "2026.toml"]
    return parse_calendar(
        "cn",
        [
            (str(path.relative_to(REPO_ROOT)), int(path.stem), read(int(path.stem)))
            for path in paths
        ],
    )


@pytest.fixture
def doc2026() -> dict[str, Any]:
    return read(2026)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def deadline(cn: Calendar, amount: int, unit: PeriodUnit, trigger: str) -> Deadline:
    return compute_deadline(Period(amount, unit), at(trigger), zone=SHANGHAI, calendar=cn)


def problems(document: dict[str, Any], *, year: int = 2026, name: str = "cn") -> list[str]:
    with pytest.raises(InvalidRuleFiles) as caught:
        parse_calendar_year(document, source="cn/2026.toml", name=name, year=year)
    return caught.value.lines


# -- the data ----------------------------------------------------------------------


def test_the_files_load(cn: Calendar) -> None:
    assert (cn.name, cn.first_year, cn.last_year) == ("cn", 2025, 2026)
    y2025, y2026 = cn.year(2025), cn.year(2026)
    assert y2025.source == "国务院办公厅关于2025年部分节假日安排的通知"
    assert y2025.notice == "国办发明电〔2024〕12号"
    assert y2026.notice == "国办发明电〔2025〕7号"
    assert y2026.published == date(2025, 11, 4)
    # 2025: 1 + 8 + 3 + 5 + 3 + 8 days off; 2026: 3 + 9 + 3 + 5 + 3 + 3 + 7.
    assert len(y2025.holidays) == 28
    assert len(y2026.holidays) == 33
    assert sorted(y2025.adjusted_working_days) == [
        date(2025, 1, 26),
        date(2025, 2, 8),
        date(2025, 4, 27),
        date(2025, 9, 28),
        date(2025, 10, 11),
    ]
    assert sorted(y2026.adjusted_working_days) == [
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    ]
    assert y2026.names_en["春节"] == "Spring Festival"
    assert cn.holiday_name(date(2026, 2, 16)) == "春节"
    assert cn.holiday_name(date(2025, 10, 6)) == "国庆节、中秋节"
    assert cn.holiday_name(date(2026, 2, 24)) is None


@pytest.mark.parametrize(
    ("day", "working"),
    [
        # 2025
        (date(2025, 1, 1), False),  # 元旦, Wednesday
        (date(2025, 1, 2), True),
        (date(2025, 1, 26), True),  # Sunday worked (春节)
        (date(2025, 1, 27), True),
        (date(2025, 1, 28), False),  # 除夕
        (date(2025, 2, 4), False),
        (date(2025, 2, 5), True),
        (date(2025, 2, 8), True),  # Saturday worked
        (date(2025, 2, 9), False),
        (date(2025, 4, 4), False),
        (date(2025, 4, 7), True),
        (date(2025, 4, 27), True),  # Sunday worked (劳动节)
        (date(2025, 5, 5), False),
        (date(2025, 5, 6), True),
        (date(2025, 5, 31), False),
        (date(2025, 6, 2), False),
        (date(2025, 6, 3), True),
        (date(2025, 9, 28), True),  # Sunday worked (国庆节、中秋节)
        (date(2025, 10, 8), False),
        (date(2025, 10, 9), True),
        (date(2025, 10, 11), True),  # Saturday worked
        (date(2025, 10, 12), False),
        # 2026
        (date(2026, 1, 1), False),
        (date(2026, 1, 3), False),
        (date(2026, 1, 4), True),  # Sunday worked (元旦)
        (date(2026, 2, 13), True),
        (date(2026, 2, 14), True),  # Saturday worked (春节)
        (date(2026, 2, 15), False),
        (date(2026, 2, 16), False),
        (date(2026, 2, 23), False),  # Monday, last day off
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # Saturday worked
        (date(2026, 3, 1), False),  # an ordinary Sunday
        (date(2026, 4, 6), False),
        (date(2026, 5, 5), False),
        (date(2026, 5, 9), True),  # Saturday worked (劳动节)
        (date(2026, 6, 19), False),
        (date(2026, 9, 20), True),  # Sunday worked (国庆节)
        (date(2026, 9, 25), False),  # 中秋节
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # Saturday worked
        (date(2026, 10, 11), False),
        (date(2026, 12, 31), True),
    ],
)
def test_rest_and_working_days(cn: Calendar, day: date, working: bool) -> None:
    assert cn.is_working_day(day) is working
    assert cn.is_rest_day(day) is not working


def test_next_working_day(cn: Calendar) -> None:
    assert cn.next_working_day(date(2026, 2, 24)) == date(2026, 2, 24)
    assert cn.next_working_day(date(2026, 2, 15)) == date(2026, 2, 24)
    assert cn.next_working_day(date(2026, 10, 1)) == date(2026, 10, 8)
    assert cn.next_working_day(date(2025, 12, 27)) == date(2025, 12, 29)
    # Across the year boundary into 元旦 2026 (Thursday to Saturday, Sunday worked).
    assert cn.next_working_day(date(2026, 1, 1)) == date(2026, 1, 4)


def test_a_day_of_a_missing_year_raises(cn: Calendar) -> None:
    for day in (date(2024, 12, 31), date(2027, 1, 4)):
        with pytest.raises(YearNotInCalendar) as caught:
            cn.is_rest_day(day)
        assert caught.value.calendar == "cn"
        assert caught.value.year == day.year
    assert str(caught.value) == (
        "calendar cn has no data for 2027: add rules/calendars/cn/2027.toml "
        "from the State Council's notice"
    )
    assert isinstance(caught.value, CalendarError)
    assert isinstance(caught.value, ValueError)


def test_a_calendar_with_a_gap_answers_only_for_its_years(cn: Calendar) -> None:
    gapped = build_calendar("cn", [cn.year(2026), CalendarYear(2028, {}, frozenset(), "test")])
    assert (gapped.first_year, gapped.last_year) == (2026, 2028)
    assert gapped.is_working_day(date(2028, 1, 3))
    with pytest.raises(YearNotInCalendar, match="no data for 2027"):
        gapped.next_working_day(date(2027, 1, 2))
    with pytest.raises(YearNotInCalendar, match="no data for 2027"):
        compute_deadline(
            Period(400, PeriodUnit.DAYS),
            at("2026-12-01T10:00+08:00"),
            zone=SHANGHAI,
            calendar=gapped,
        )


def test_building_refuses_nonsense(cn: Calendar) -> None:
    with pytest.raises(CalendarError, match="has 2026 twice"):
        build_calendar("cn", [cn.year(2026), cn.year(2026)])
    with pytest.raises(CalendarError, match="has no year"):
        build_calendar("cn", [])
    with pytest.raises(CalendarError, match="2025-12-31, of another year"):
        CalendarYear(2026, {date(2025, 12, 31): "x"}, frozenset(), "test")
    with pytest.raises(CalendarError, match="both a holiday and an adjusted working day"):
        CalendarYear(2026, {date(2026, 1, 3): "x"}, frozenset({date(2026, 1, 3)}), "test")


def test_calendar_data_is_immutable(cn: Calendar) -> None:
    with pytest.raises(TypeError):
        cn.year(2026).holidays[date(2026, 3, 2)] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        cn.years[2027] = cn.year(2026)  # type: ignore[index]


# -- invalid files -----------------------------------------------------------------


def test_the_year_and_calendar_must_match_the_path(doc2026: dict[str, Any]) -> None:
    lines = problems(doc2026, year=2025, name="hk")
    assert lines[:4] == [
        "cn/2026.toml: calendar: must be 'hk', the calendar of the file's folder, not 'cn'",
        "cn/2026.toml: year: must be 2025, the year of the file name, not 2026",
        "cn/2026.toml: holidays[0].from: must be a date in 2025, not 2026-01-01",
        "cn/2026.toml: holidays[0].to: must be a date in 2025, not 2026-01-03",
    ]
    assert lines[-1] == (
        "cn/2026.toml: adjusted_working_days[5].date: must be a date in 2025, not 2026-10-10"
    )
    # The year, both ends of the seven holidays, the six worked days.
    assert len(lines) == 2 + 2 * 7 + 6


def test_an_adjusted_working_day_must_be_a_weekend_day(doc2026: dict[str, Any]) -> None:
    doc2026["adjusted_working_days"][0]["date"] = date(2026, 1, 5)
    assert problems(doc2026) == [
        "cn/2026.toml: adjusted_working_days[0].date: must be a Saturday or a Sunday "
        "(a weekend day that is worked), not Monday 2026-01-05"
    ]


def test_an_adjusted_working_day_must_not_be_a_holiday(doc2026: dict[str, Any]) -> None:
    doc2026["adjusted_working_days"][1]["date"] = date(2026, 2, 21)
    assert problems(doc2026) == [
        "cn/2026.toml: adjusted_working_days[1].date: 2026-02-21 is a day of holidays[1] (春节), "
        "so it cannot be worked"
    ]


def test_unknown_keys_are_reported_with_a_suggestion(doc2026: dict[str, Any]) -> None:
    doc2026["holiday"] = []
    doc2026["holidays"][2]["too"] = date(2026, 4, 6)
    doc2026["adjusted_working_days"][0]["note"] = "x"
    assert problems(doc2026) == [
        "cn/2026.toml: holiday: unknown key (did you mean holidays?)",
        "cn/2026.toml: holidays[2].too: unknown key (did you mean to?)",
        "cn/2026.toml: adjusted_working_days[0].note: unknown key (known: date, holiday)",
    ]


def test_a_float_is_not_a_date(doc2026: dict[str, Any]) -> None:
    doc2026["holidays"][0]["from"] = 20260101.0
    doc2026["published"] = "2025-11-31"
    assert problems(doc2026) == [
        "cn/2026.toml: published: must be a date such as 2026-02-15, not '2025-11-31'",
        "cn/2026.toml: holidays[0].from: must be a date such as 2026-02-15, not 20260101.0",
    ]


def test_every_date_lies_in_the_year(doc2026: dict[str, Any]) -> None:
    doc2026["holidays"][0]["from"] = date(2025, 12, 31)
    doc2026["adjusted_working_days"][-1]["date"] = date(2027, 1, 2)
    assert problems(doc2026) == [
        "cn/2026.toml: holidays[0].from: must be a date in 2026, not 2025-12-31",
        "cn/2026.toml: adjusted_working_days[5].date: must be a date in 2026, not 2027-01-02",
    ]


def test_no_date_twice(doc2026: dict[str, Any]) -> None:
    doc2026["holidays"][2]["from"] = date(2026, 2, 22)
    doc2026["holidays"][2]["to"] = date(2026, 2, 23)
    doc2026["holidays"][3]["name"] = "春节"
    doc2026["adjusted_working_days"].append({"date": date(2026, 2, 14), "holiday": "春节"})
    assert problems(doc2026) == [
        "cn/2026.toml: holidays[2]: repeats 2026-02-22, 2026-02-23 of holidays[1] (春节)",
        "cn/2026.toml: holidays[3].name: repeats holidays[1]: 春节",
        "cn/2026.toml: adjusted_working_days[6].date: repeats adjusted_working_days[1]: 2026-02-14",
    ]


def test_holiday_ranges_and_names(doc2026: dict[str, Any]) -> None:
    doc2026["holidays"][1]["to"] = date(2026, 2, 10)
    doc2026["holidays"][6]["to"] = date(2026, 10, 31)
    doc2026["adjusted_working_days"][0]["holiday"] = "元 旦"
    # While a holiday is wrong, the names the worked days refer to are not checked.
    assert problems(doc2026) == [
        "cn/2026.toml: holidays[1].to: must not be before from (2026-02-15), not 2026-02-10",
        "cn/2026.toml: holidays[6]: must cover at most 14 days, not 31",
    ]
    del doc2026["holidays"][1]
    del doc2026["holidays"][5]
    assert problems(doc2026) == [
        "cn/2026.toml: adjusted_working_days[0].holiday: must name a holiday of this file "
        "(元旦, 清明节, 劳动节, 端午节, 中秋节), not '元 旦'",
        "cn/2026.toml: adjusted_working_days[1].holiday: must name a holiday of this file "
        "(元旦, 清明节, 劳动节, 端午节, 中秋节), not '春节'",
        "cn/2026.toml: adjusted_working_days[2].holiday: must name a holiday of this file "
        "(元旦, 清明节, 劳动节, 端午节, 中秋节), not '春节'",
        "cn/2026.toml: adjusted_working_days[4].holiday: must name a holiday of this file "
        "(元旦, 清明节, 劳动节, 端午节, 中秋节), not '国庆节'",
        "cn/2026.toml: adjusted_working_days[5].holiday: must name a holiday of this file "
        "(元旦, 清明节, 劳动节, 端午节, 中秋节), not '国庆节'",
    ]


def test_required_keys() -> None:
    assert problems({}) == [
        "cn/2026.toml: calendar: missing (a string)",
        "cn/2026.toml: year: missing (an integer)",
        "cn/2026.toml: source: missing (a string)",
        "cn/2026.toml: holidays: missing (an array of tables)",
    ]
    assert problems(
        {"calendar": "cn", "year": 2026, "source": "x", "holidays": [{"name": "元旦"}]}
    ) == [
        "cn/2026.toml: holidays[0].name_en: missing (a string)",
        "cn/2026.toml: holidays[0].from: missing (a date, e.g. 2026-02-15)",
        "cn/2026.toml: holidays[0].to: missing (a date, e.g. 2026-02-15)",
    ]


def test_all_files_problems_come_at_once(doc2026: dict[str, Any]) -> None:
    bad2025 = {**read(2025), "year": 2024}
    doc2026["extra"] = 1
    with pytest.raises(InvalidRuleFiles) as caught:
        parse_calendar("cn", [("cn/2025.toml", 2025, bad2025), ("cn/2026.toml", 2026, doc2026)])
    assert caught.value.lines == [
        "cn/2025.toml: year: must be 2025, the year of the file name, not 2024",
        "cn/2026.toml: extra: unknown key (known: adjusted_working_days, calendar, holidays, "
        "notice, published, source, year)",
    ]


# -- periods -----------------------------------------------------------------------


def test_periods_read_from_rule_tables() -> None:
    c = Checker("rules/x.toml")
    assert parse_period(c, {"days": 15}, "limits.answer") == Period(15, PeriodUnit.DAYS)
    assert parse_period(c, {"working_days": 5, "from": "service"}, "limits.evidence") == Period(
        5, PeriodUnit.WORKING_DAYS
    )
    assert parse_period(c, {"hours": 24}, "rounds.questioning") == Period(24, PeriodUnit.HOURS)
    assert parse_period(c, None, "limits.missing") is None
    assert c.errors == []

    assert parse_period(c, {"from": "service"}, "limits.a") is None
    assert parse_period(c, {"days": 15, "hours": 2}, "limits.b") is None
    assert parse_period(c, {"days": 0}, "limits.c") is None
    assert parse_period(c, {"hours": 8761}, "limits.d") is None
    assert parse_period(c, {"working_days": 1.5}, "limits.e") is None
    assert parse_period(c, {"days": "15"}, "limits.f") is None
    assert [str(error) for error in c.errors] == [
        "rules/x.toml: limits.a: must give the period as one of days, working_days, hours "
        "(e.g. { days = 15 })",
        "rules/x.toml: limits.b: must give the period as only one of days, working_days, hours, "
        "not days and hours",
        "rules/x.toml: limits.c.days: must be at least 1, not 0",
        "rules/x.toml: limits.d.hours: must be at most 8760, not 8761",
        "rules/x.toml: limits.e.working_days: must be an integer, not a float",
        "rules/x.toml: limits.f.days: must be an integer, not a string",
    ]


def test_periods_read_as_english() -> None:
    assert str(Period(15, PeriodUnit.DAYS)) == "15 days"
    assert str(Period(1, PeriodUnit.DAYS)) == "1 day"
    assert str(Period(5, PeriodUnit.WORKING_DAYS)) == "5 working days"
    assert str(Period(1, PeriodUnit.WORKING_DAYS)) == "1 working day"
    assert str(Period(24, PeriodUnit.HOURS)) == "24 hours"
    assert Period(3, "days") == Period(3, PeriodUnit.DAYS)  # type: ignore[arg-type]
    with pytest.raises(CalendarError, match="from 1 to 3650 days, not 0"):
        Period(0, PeriodUnit.DAYS)
    with pytest.raises(CalendarError, match="from 1 to 2500 working days, not 2501"):
        Period(2501, PeriodUnit.WORKING_DAYS)
    with pytest.raises(CalendarError, match="unit must be one of days, working_days, hours"):
        Period(3, "weeks")  # type: ignore[arg-type]
    with pytest.raises(CalendarError, match="amount must be an integer, not True"):
        Period(True, PeriodUnit.DAYS)


# -- worked examples -----------------------------------------------------------------


def test_a_15_day_period_landing_in_the_spring_festival(cn: Calendar) -> None:
    # Event on Sunday 1 February 2026: day 1 is 2 February, day 15 is Monday 16 February,
    # inside the Spring Festival (15-23 February): the period ends Tuesday 24 February.
    d = deadline(cn, 15, PeriodUnit.DAYS, "2026-02-01T10:30:00+08:00")
    assert d.last_day == date(2026, 2, 24)
    assert d.ends_at == datetime(2026, 2, 24, 16, 0, tzinfo=UTC)
    assert d.as_json() == {"last_day": "2026-02-24", "ends_at": "2026-02-24T16:00:00Z"}
    # Landing on the Festival's last day (a Monday) moves it just the same.
    assert deadline(cn, 10, PeriodUnit.DAYS, "2026-02-13T09:00+08:00").last_day == date(2026, 2, 24)


def test_a_period_landing_on_a_worked_saturday_stays(cn: Calendar) -> None:
    d = deadline(cn, 14, PeriodUnit.DAYS, "2026-02-14T09:00+08:00")
    assert d.last_day == date(2026, 2, 28)  # a Saturday, but a working one
    assert d.as_json() == {"last_day": "2026-02-28", "ends_at": "2026-02-28T16:00:00Z"}


def test_a_period_landing_on_an_ordinary_sunday_moves_to_monday(cn: Calendar) -> None:
    d = deadline(cn, 15, PeriodUnit.DAYS, "2026-02-14T09:00+08:00")
    assert d.as_json() == {"last_day": "2026-03-02", "ends_at": "2026-03-02T16:00:00Z"}


def test_a_period_landing_on_a_working_day_stays(cn: Calendar) -> None:
    d = deadline(cn, 10, PeriodUnit.DAYS, "2026-03-02T23:59:59+08:00")
    assert d.last_day == date(2026, 3, 12)
    assert d.ends_at == datetime(2026, 3, 12, 16, 0, tzinfo=UTC)


def test_national_day_2025_and_its_worked_days(cn: Calendar) -> None:
    # Day 3 after 28 September 2025 is 1 October, in the eight days off (1-8 October).
    assert deadline(cn, 3, PeriodUnit.DAYS, "2025-09-28T12:00+08:00").last_day == date(2025, 10, 9)
    # Day 13 after 28 September is Saturday 11 October, worked.
    assert deadline(cn, 13, PeriodUnit.DAYS, "2025-09-28T12:00+08:00").last_day == date(
        2025, 10, 11
    )


def test_working_days_across_national_day(cn: Calendar) -> None:
    # After Monday 28 September 2026: 29, 30 September; 1-7 October off; 8, 9 and
    # Saturday 10 October (worked).
    d = deadline(cn, 5, PeriodUnit.WORKING_DAYS, "2026-09-28T15:00+08:00")
    assert d.as_json() == {"last_day": "2026-10-10", "ends_at": "2026-10-10T16:00:00Z"}
    assert deadline(cn, 6, PeriodUnit.WORKING_DAYS, "2026-09-28T15:00+08:00").last_day == date(
        2026, 10, 12
    )
    # 2025: after 30 September, 1-8 October off: 9, 10 and Saturday 11 October.
    assert deadline(cn, 3, PeriodUnit.WORKING_DAYS, "2025-09-30T15:00+08:00").last_day == date(
        2025, 10, 11
    )
    # After Friday 26 September 2025: Sunday 28 (worked) counts, Saturday 27 does not.
    assert deadline(cn, 1, PeriodUnit.WORKING_DAYS, "2025-09-26T15:00+08:00").last_day == date(
        2025, 9, 28
    )


def test_working_days_across_the_new_year(cn: Calendar) -> None:
    # After Wednesday 31 December 2025: 1-3 January off, Sunday 4 January worked.
    d = deadline(cn, 2, PeriodUnit.WORKING_DAYS, "2025-12-31T18:00+08:00")
    assert d.last_day == date(2026, 1, 5)


def test_hours_run_in_clock_time_across_midnight(cn: Calendar) -> None:
    d = deadline(cn, 24, PeriodUnit.HOURS, "2026-02-14T20:00:00+08:00")
    assert d.ends_at == datetime(2026, 2, 15, 12, 0, tzinfo=UTC)
    assert d.last_day == date(2026, 2, 15)  # a holiday: no extension for hours
    assert d.as_json() == {"last_day": "2026-02-15", "ends_at": "2026-02-15T12:00:00Z"}
    d = deadline(cn, 48, PeriodUnit.HOURS, "2026-02-14T20:00:00.250000+08:00")
    assert d.as_json()["ends_at"] == "2026-02-16T12:00:00.250000Z"


def test_hours_ending_at_local_midnight_have_the_day_before_as_last_day(cn: Calendar) -> None:
    d = deadline(cn, 24, PeriodUnit.HOURS, "2026-03-02T00:00:00+08:00")
    assert d.ends_at == datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # 24:00 on 2 March
    assert d.last_day == date(2026, 3, 2)


def test_hours_do_not_need_the_calendar(cn: Calendar) -> None:
    d = deadline(cn, 24, PeriodUnit.HOURS, "2027-06-01T09:00:00+08:00")
    assert d.as_json() == {"last_day": "2027-06-02", "ends_at": "2027-06-02T01:00:00Z"}


def test_hours_ignore_daylight_saving_changes(cn: Calendar) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    trigger = datetime(2026, 3, 28, 12, 0, tzinfo=berlin)  # the clocks go forward on 29 March
    d = compute_deadline(Period(24, PeriodUnit.HOURS), trigger, zone=berlin, calendar=cn)
    assert d.ends_at - trigger == timedelta(hours=24)
    assert d.ends_at.astimezone(berlin).time() == time(13, 0)


def test_days_end_at_local_midnight_even_across_daylight_saving(cn: Calendar) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    trigger = datetime(2026, 3, 27, 12, 0, tzinfo=berlin)
    d = compute_deadline(Period(3, PeriodUnit.DAYS), trigger, zone=berlin, calendar=cn)
    assert d.last_day == date(2026, 3, 30)
    assert d.as_json()["ends_at"] == "2026-03-30T22:00:00Z"  # 24:00 CEST


def test_a_trigger_in_utc_counts_from_the_shanghai_date(cn: Calendar) -> None:
    # 17:30 UTC on 31 January is 01:30 on 1 February in Shanghai.
    d = deadline(cn, 15, PeriodUnit.DAYS, "2026-01-31T17:30:00+00:00")
    assert d.last_day == date(2026, 2, 24)
    # 15:59 UTC is still 31 January in Shanghai: day 15 is Sunday 15 February, off.
    assert deadline(cn, 15, PeriodUnit.DAYS, "2026-01-31T15:59:00Z").last_day == date(2026, 2, 24)
    assert deadline(cn, 12, PeriodUnit.DAYS, "2026-01-31T15:59:00Z").last_day == date(2026, 2, 12)
    assert deadline(cn, 12, PeriodUnit.DAYS, "2026-01-31T16:00:00Z").last_day == date(2026, 2, 13)
    # Any zone of the trigger gives the same deadline for the same instant.
    instant = at("2026-01-31T17:30:00+00:00")
    other = instant.astimezone(timezone(timedelta(hours=-5)))
    period = Period(15, PeriodUnit.DAYS)
    assert compute_deadline(period, other, zone=SHANGHAI, calendar=cn) == compute_deadline(
        period, instant, zone=SHANGHAI, calendar=cn
    )


def test_a_naive_trigger_is_refused(cn: Calendar) -> None:
    with pytest.raises(CalendarError, match="must carry a time zone") as caught:
        deadline(cn, 15, PeriodUnit.DAYS, "2026-02-01T10:00:00")
    assert str(caught.value) == "the trigger must carry a time zone, not naive 2026-02-01T10:00:00"


def test_a_period_reaching_a_missing_year_raises(cn: Calendar) -> None:
    with pytest.raises(YearNotInCalendar) as caught:
        deadline(cn, 15, PeriodUnit.DAYS, "2026-12-25T10:00+08:00")
    assert caught.value.year == 2027
    assert str(caught.value) == (
        "calendar cn has no data for 2027: add rules/calendars/cn/2027.toml "
        "from the State Council's notice"
    )
    with pytest.raises(YearNotInCalendar) as caught:
        deadline(cn, 15, PeriodUnit.DAYS, "2024-12-31T10:00+08:00")
    assert caught.value.year == 2024
    with pytest.raises(YearNotInCalendar) as caught:
        deadline(cn, 20, PeriodUnit.WORKING_DAYS, "2026-12-10T10:00+08:00")
    assert caught.value.year == 2027
    # 23:00 UTC on 31 December 2024 is already 2025 in Shanghai.
    assert deadline(cn, 1, PeriodUnit.DAYS, "2024-12-31T23:00:00Z").last_day == date(2025, 1, 2)
    # The last day of the data still works.
    assert deadline(cn, 6, PeriodUnit.DAYS, "2026-12-25T10:00+08:00").as_json() == {
        "last_day": "2026-12-31",
        "ends_at": "2026-12-31T16:00:00Z",
    }


# -- properties ----------------------------------------------------------------------

triggers = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2026, 11, 30, 23, 59, 59)
).map(lambda naive: naive.replace(tzinfo=SHANGHAI))
amounts = st.integers(min_value=1, max_value=30)
trigger_zones = st.sampled_from([SHANGHAI, UTC, ZoneInfo("America/New_York")])


@settings(deadline=None)
@given(trigger=triggers, amount=amounts, shown_in=trigger_zones)
def test_days_never_end_on_a_rest_day_nor_early(
    cn: Calendar, trigger: datetime, amount: int, shown_in: ZoneInfo
) -> None:
    d = compute_deadline(
        Period(amount, PeriodUnit.DAYS), trigger.astimezone(shown_in), zone=SHANGHAI, calendar=cn
    )
    earliest = trigger.date() + timedelta(days=amount)
    assert d.last_day >= earliest
    assert cn.is_working_day(d.last_day)
    # Extended only over rest days.
    assert all(
        cn.is_rest_day(earliest + timedelta(days=i)) for i in range((d.last_day - earliest).days)
    )
    assert d.ends_at == datetime.combine(d.last_day + timedelta(days=1), time(0), SHANGHAI)
    assert d.ends_at.tzinfo is UTC


@settings(deadline=None)
@given(trigger=triggers, amount=amounts)
def test_working_days_count_exactly_n_working_days(
    cn: Calendar, trigger: datetime, amount: int
) -> None:
    period = Period(amount, PeriodUnit.WORKING_DAYS)
    days = [trigger.date() + timedelta(days=i) for i in range(1, 3 * amount + 40)]
    in_data = [day for day in days if day.year <= cn.last_year]
    working = [day for day in in_data if cn.is_working_day(day)]
    if len(working) < amount:
        with pytest.raises(YearNotInCalendar) as caught:
            compute_deadline(period, trigger, zone=SHANGHAI, calendar=cn)
        assert caught.value.year == 2027
        return
    d = compute_deadline(period, trigger, zone=SHANGHAI, calendar=cn)
    counted = [day for day in days if trigger.date() < day <= d.last_day]
    assert [day for day in counted if cn.is_working_day(day)] == working[:amount]
    assert cn.is_working_day(d.last_day)
    assert d.last_day == working[amount - 1]


@settings(deadline=None)
@given(trigger=triggers, amount=amounts, unit=st.sampled_from(PeriodUnit))
def test_the_same_inputs_give_the_same_deadline(
    cn: Calendar, trigger: datetime, amount: int, unit: PeriodUnit
) -> None:
    period = Period(amount, unit)
    try:
        first = compute_deadline(period, trigger, zone=SHANGHAI, calendar=cn)
    except YearNotInCalendar:
        return
    assert compute_deadline(Period(amount, unit), trigger, zone=SHANGHAI, calendar=cn) == first
    assert (
        compute_deadline(period, trigger, zone=SHANGHAI, calendar=cn).as_json() == first.as_json()
    )
    assert first.ends_at > trigger


@settings(deadline=None)
@given(trigger=triggers, amount=st.integers(min_value=1, max_value=8760))
def test_hours_are_exactly_n_hours(cn: Calendar, trigger: datetime, amount: int) -> None:
    d = compute_deadline(Period(amount, PeriodUnit.HOURS), trigger, zone=SHANGHAI, calendar=cn)
    assert d.ends_at - trigger == timedelta(hours=amount)
    assert d.last_day == (d.ends_at - timedelta(microseconds=1)).astimezone(SHANGHAI).date()
