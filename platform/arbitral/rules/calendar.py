"""Working-day calendars and time limits counted as Chinese procedure counts them.

A calendar (``cn``: the People's Republic of China) is one data file per year,
``rules/calendars/<calendar>/<year>.toml``, transcribed from the State Council's
annual notice on public holidays (国务院办公厅关于<year>年部分节假日安排的通知): the
holidays, and the adjusted working days (调休上班: weekend days that are worked).
:func:`parse_calendar_year` validates one parsed document and reports all its
problems at once (:class:`~arbitral.rules.checker.InvalidRuleFiles`);
:func:`build_calendar` joins the years into a :class:`Calendar`.

A day is a *rest day* when it is a Saturday, a Sunday or a holiday, unless it is an
adjusted working day; every other day is a *working day*. A calendar never guesses:
looking at a day of a year it has no file for raises :class:`YearNotInCalendar`.

:func:`compute_deadline` counts a :class:`Period` (``15 days``, ``5 working days``,
``24 hours``) from a triggering instant, in the tenant's time zone; see its
docstring for the rules. Pure: no I/O, no clock reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo

from arbitral.rules.checker import Checker, InvalidRuleFiles, RuleFileError, join

# -- errors ------------------------------------------------------------------------


class CalendarError(ValueError):
    """A calendar or a time limit cannot be used as asked (the message says why)."""


class YearNotInCalendar(CalendarError):
    """A day was looked at in a year for which the calendar has no data."""

    def __init__(self, calendar: str, year: int) -> None:
        super().__init__(
            f"calendar {calendar} has no data for {year}: add "
            f"rules/calendars/{calendar}/{year}.toml from the State Council's notice"
        )
        self.calendar = calendar
        self.year = year

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.calendar, self.year))


# -- calendars ---------------------------------------------------------------------

WEEKDAY_NAMES: Final = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
MAX_HOLIDAY_DAYS: Final = 14
"""The longest stretch one holiday entry may cover (the longest so far: 9 days)."""


def _is_weekend(day: date) -> bool:
    return day.weekday() >= 5


@dataclass(frozen=True)
class CalendarYear:
    """One year of a calendar, as its State Council notice fixes it.

    ``holidays`` maps each holiday date to the holiday's (Chinese) name;
    ``adjusted_working_days`` are the weekend days that are worked; ``source`` is the
    title of the notice. ``notice`` (the document number), ``published`` and
    ``names_en`` (Chinese holiday name -> English name) are informative.
    """

    year: int
    holidays: Mapping[date, str]
    adjusted_working_days: frozenset[date]
    source: str
    notice: str | None = None
    published: date | None = None
    names_en: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        outside = sorted(
            day for day in (*self.holidays, *self.adjusted_working_days) if day.year != self.year
        )
        if outside:
            raise CalendarError(f"calendar year {self.year} holds {outside[0]}, of another year")
        both = sorted(self.adjusted_working_days & self.holidays.keys())
        if both:
            raise CalendarError(f"{both[0]} is both a holiday and an adjusted working day")
        object.__setattr__(self, "holidays", MappingProxyType(dict(self.holidays)))
        object.__setattr__(self, "adjusted_working_days", frozenset(self.adjusted_working_days))
        object.__setattr__(self, "names_en", MappingProxyType(dict(self.names_en)))


@dataclass(frozen=True)
class Calendar:
    """Years of one calendar; gaps are allowed, but any day of a missing year raises."""

    name: str
    years: Mapping[int, CalendarYear]

    def __post_init__(self) -> None:
        if not self.years:
            raise CalendarError(f"calendar {self.name} has no year")
        for year, data in self.years.items():
            if year != data.year:
                raise CalendarError(f"calendar {self.name}: year {year} holds data of {data.year}")
        object.__setattr__(self, "years", MappingProxyType(dict(sorted(self.years.items()))))

    @property
    def first_year(self) -> int:
        return min(self.years)

    @property
    def last_year(self) -> int:
        return max(self.years)

    def year(self, year: int) -> CalendarYear:
        """The data of ``year``; raises :class:`YearNotInCalendar` when there is none."""
        try:
            return self.years[year]
        except KeyError:
            raise YearNotInCalendar(self.name, year) from None

    def require_years(self, first: date, last: date) -> None:
        """Raises :class:`YearNotInCalendar` for the first year from ``first`` to ``last``
        that the calendar lacks."""
        for year in range(first.year, last.year + 1):
            self.year(year)

    def holiday_name(self, day: date) -> str | None:
        """The name of the holiday ``day`` belongs to, if any."""
        return self.year(day.year).holidays.get(day)

    def is_rest_day(self, day: date) -> bool:
        """A weekend day or a holiday, unless it is an adjusted working day (调休上班)."""
        data = self.year(day.year)
        if day in data.adjusted_working_days:
            return False
        return day in data.holidays or _is_weekend(day)

    def is_working_day(self, day: date) -> bool:
        return not self.is_rest_day(day)

    def next_working_day(self, day: date) -> date:
        """The first working day on or after ``day``."""
        while self.is_rest_day(day):
            day += timedelta(days=1)
        return day

    def working_days_after(self, day: date) -> Iterator[date]:
        """The working days after ``day``, in order (endless, until a year is missing)."""
        while True:
            day += timedelta(days=1)
            if self.is_working_day(day):
                yield day


def build_calendar(name: str, years: Iterable[CalendarYear]) -> Calendar:
    """A calendar of ``years`` (in any order, each year once; gaps are allowed)."""
    by_year: dict[int, CalendarYear] = {}
    for data in years:
        if data.year in by_year:
            raise CalendarError(f"calendar {name} has {data.year} twice")
        by_year[data.year] = data
    return Calendar(name, by_year)


# -- calendar files ----------------------------------------------------------------

_TOP_KEYS: Final = (
    "calendar",
    "year",
    "source",
    "notice",
    "published",
    "holidays",
    "adjusted_working_days",
)
_HOLIDAY_KEYS: Final = ("name", "name_en", "from", "to")
_WORKED_KEYS: Final = ("date", "holiday")


def _in_year(c: Checker, path: str, day: date | None, year: int) -> date | None:
    if day is not None and day.year != year:
        c.error(path, f"must be a date in {year}, not {day}")
        return None
    return day


def parse_calendar_year(
    document: Mapping[str, Any], *, source: str, name: str, year: int
) -> CalendarYear:
    """Validates one parsed calendar file and returns its year.

    ``source`` names the file in errors; ``name`` and ``year`` are what its path says
    (``rules/calendars/<name>/<year>.toml``) and the document must agree with them.
    The format (see ``rules/calendars/README.md``)::

        calendar = "cn"
        year = 2026
        source = "国务院办公厅关于2026年部分节假日安排的通知"
        notice = "国办发明电〔2025〕7号"      # optional
        published = 2025-11-04               # optional
        [[holidays]]                         # from/to: first and last day, inclusive
        name = "春节"
        name_en = "Spring Festival"
        from = 2026-02-15
        to = 2026-02-23
        [[adjusted_working_days]]            # a weekend day worked (调休上班)
        date = 2026-02-14
        holiday = "春节"                      # the holiday it makes up for

    Every date must lie in ``year``; a date may appear only once (in one holiday, or as
    one adjusted working day, never both); an adjusted working day must be a Saturday
    or a Sunday. Raises :class:`InvalidRuleFiles` listing every problem.
    """
    c = Checker(source)
    c.unknown(document, "", _TOP_KEYS)
    if (calendar := c.string(document, "", "calendar")) is not None and calendar != name:
        c.error(
            "calendar", f"must be {name!r}, the calendar of the file's folder, not {calendar!r}"
        )
    file_year = c.integer(document, "", "year")
    if file_year is not None and file_year != year:
        c.error("year", f"must be {year}, the year of the file name, not {file_year}")
    title = c.string(document, "", "source", max_length=300)
    notice = c.string(document, "", "notice", required=False)
    published = c.date(document, "", "published", required=False)

    holidays: dict[date, str] = {}
    holiday_at: dict[date, str] = {}  # date -> path of the holiday entry holding it
    names_en: dict[str, str] = {}
    name_paths: dict[str, str] = {}
    holidays_whole = True
    entries = c.tables(document, "", "holidays", min_items=1)
    for path, entry in entries or ():
        c.unknown(entry, path, _HOLIDAY_KEYS)
        holiday = c.string(entry, path, "name", max_length=40)
        english = c.string(entry, path, "name_en", max_length=80)
        first = _in_year(c, join(path, "from"), c.date(entry, path, "from"), year)
        last = _in_year(c, join(path, "to"), c.date(entry, path, "to"), year)
        if holiday is not None:
            if holiday in name_paths:
                c.error(join(path, "name"), f"repeats {name_paths[holiday]}: {holiday}")
                holiday = None
            else:
                name_paths[holiday] = path
        if first is not None and last is not None:
            span = (last - first).days + 1
            if span < 1:
                c.error(join(path, "to"), f"must not be before from ({first}), not {last}")
                last = None
            elif span > MAX_HOLIDAY_DAYS:
                c.error(path, f"must cover at most {MAX_HOLIDAY_DAYS} days, not {span}")
                last = None
        if holiday is None or english is None or first is None or last is None:
            holidays_whole = False
            continue
        names_en[holiday] = english
        repeated: dict[str, list[date]] = {}
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            if day in holiday_at:
                repeated.setdefault(holiday_at[day], []).append(day)
            else:
                holiday_at[day] = path
                holidays[day] = holiday
        for other, days in repeated.items():
            shown = ", ".join(str(day) for day in days)
            c.error(path, f"repeats {shown} of {other} ({holidays[days[0]]})")
    if entries is None:
        holidays_whole = False

    worked: set[date] = set()
    worked_at: dict[date, str] = {}
    for path, entry in c.tables(document, "", "adjusted_working_days", required=False) or ():
        c.unknown(entry, path, _WORKED_KEYS)
        worked_day = _in_year(c, join(path, "date"), c.date(entry, path, "date"), year)
        holiday = c.string(entry, path, "holiday", max_length=40)
        if holiday is not None and holidays_whole and holiday not in name_paths:
            known = ", ".join(name_paths)
            c.error(
                join(path, "holiday"),
                f"must name a holiday of this file ({known}), not {holiday!r}",
            )
        if worked_day is None:
            continue
        date_path = join(path, "date")
        if not _is_weekend(worked_day):
            c.error(
                date_path,
                "must be a Saturday or a Sunday (a weekend day that is worked), "
                f"not {WEEKDAY_NAMES[worked_day.weekday()]} {worked_day}",
            )
        elif worked_day in holiday_at:
            c.error(
                date_path,
                f"{worked_day} is a day of {holiday_at[worked_day]} ({holidays[worked_day]}), "
                "so it cannot be worked",
            )
        elif worked_day in worked_at:
            c.error(date_path, f"repeats {worked_at[worked_day]}: {worked_day}")
        else:
            worked_at[worked_day] = path
            worked.add(worked_day)

    c.raise_if_any()
    assert title is not None
    return CalendarYear(
        year=year,
        holidays=dict(sorted(holidays.items())),
        adjusted_working_days=frozenset(worked),
        source=title,
        notice=notice,
        published=published,
        names_en=names_en,
    )


def parse_calendar(name: str, documents: Iterable[tuple[str, int, Mapping[str, Any]]]) -> Calendar:
    """A calendar from its files, given as (source, year from the file name, document).

    Every problem of every file is reported in one :class:`InvalidRuleFiles`.
    """
    years: list[CalendarYear] = []
    errors: list[RuleFileError] = []
    for source, year, document in documents:
        try:
            years.append(parse_calendar_year(document, source=source, name=name, year=year))
        except InvalidRuleFiles as invalid:
            errors.extend(invalid.errors)
    if errors:
        raise InvalidRuleFiles(errors)
    return build_calendar(name, years)


# -- periods -----------------------------------------------------------------------


class PeriodUnit(StrEnum):
    DAYS = "days"
    WORKING_DAYS = "working_days"
    HOURS = "hours"


PERIOD_MAXIMUM: Final[Mapping[PeriodUnit, int]] = MappingProxyType(
    {PeriodUnit.DAYS: 3650, PeriodUnit.WORKING_DAYS: 2500, PeriodUnit.HOURS: 8760}
)
"""The longest period of each unit (ten years of days, a year of hours): anything
longer is a typing mistake in a rule file."""

_UNIT_WORDS: Final[Mapping[PeriodUnit, tuple[str, str]]] = MappingProxyType(
    {
        PeriodUnit.DAYS: ("day", "days"),
        PeriodUnit.WORKING_DAYS: ("working day", "working days"),
        PeriodUnit.HOURS: ("hour", "hours"),
    }
)


@dataclass(frozen=True)
class Period:
    """A time limit: ``amount`` days, working days or hours (``str()``: ``15 days``)."""

    amount: int
    unit: PeriodUnit

    def __post_init__(self) -> None:
        try:
            unit = PeriodUnit(self.unit)
        except ValueError:
            units = ", ".join(PeriodUnit)
            raise CalendarError(
                f"a period's unit must be one of {units}, not {self.unit!r}"
            ) from None
        object.__setattr__(self, "unit", unit)
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise CalendarError(f"a period's amount must be an integer, not {self.amount!r}")
        maximum = PERIOD_MAXIMUM[unit]
        if not 1 <= self.amount <= maximum:
            plural = _UNIT_WORDS[unit][1]
            raise CalendarError(f"a period must be from 1 to {maximum} {plural}, not {self.amount}")

    def __str__(self) -> str:
        singular, plural = _UNIT_WORDS[self.unit]
        return f"{self.amount} {singular if self.amount == 1 else plural}"


def parse_period(c: Checker, table: Mapping[str, Any] | None, prefix: str) -> Period | None:
    """The period of a rule-file table such as ``{ days = 15 }`` or ``{ working_days = 5 }``.

    Reads exactly one of the keys ``days``, ``working_days`` and ``hours`` (a positive
    integer up to :data:`PERIOD_MAXIMUM`); other keys of ``table`` are the caller's to
    read and check. Problems are recorded in ``c``; returns ``None`` when there is one,
    or when ``table`` is ``None`` (itself missing or wrong, already reported).
    """
    if table is None:
        return None
    units = [unit for unit in PeriodUnit if unit.value in table]
    keys = ", ".join(unit.value for unit in PeriodUnit)
    if not units:
        c.error(prefix, f"must give the period as one of {keys} (e.g. {{ days = 15 }})")
        return None
    if len(units) > 1:
        given = " and ".join(unit.value for unit in units)
        c.error(prefix, f"must give the period as only one of {keys}, not {given}")
        return None
    [unit] = units
    amount = c.integer(table, prefix, unit.value, minimum=1, maximum=PERIOD_MAXIMUM[unit])
    return None if amount is None else Period(amount, unit)


# -- deadlines ---------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    """When a period runs out.

    ``last_day`` is the last local day (in the tenant's zone) on which the act can be
    done; ``ends_at`` is the instant (aware, UTC) at which the period has run out: an
    act at or after it is late.
    """

    last_day: date
    ends_at: datetime

    def __post_init__(self) -> None:
        if self.ends_at.utcoffset() != timedelta(0):
            raise CalendarError(f"a deadline's ends_at must be in UTC, not {self.ends_at}")
        object.__setattr__(self, "ends_at", self.ends_at.astimezone(UTC))

    def as_json(self) -> dict[str, str]:
        """``{"last_day": "2026-03-02", "ends_at": "2026-03-02T16:00:00Z"}``."""
        return {
            "last_day": self.last_day.isoformat(),
            "ends_at": self.ends_at.isoformat().replace("+00:00", "Z"),
        }


def _start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """00:00 local of ``day`` in UTC; where a DST change skips or repeats midnight,
    ``fold=0`` gives the day's first instant."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def compute_deadline(
    period: Period, trigger: datetime, *, zone: ZoneInfo, calendar: Calendar
) -> Deadline:
    """When ``period``, triggered at ``trigger``, runs out (Civil Procedure Law art. 85).

    ``trigger`` must be timezone-aware; days are counted in ``zone`` (the tenant's), and
    ``ends_at`` is returned in UTC.

    - ``days``: the day of the trigger does not count; the period starts the next day,
      so its last day is the trigger's local date plus N days. When that day is a rest
      day (a weekend day or a holiday, but not an adjusted working day) the period ends
      on the next working day instead. It runs to 24:00 local of its last day:
      ``ends_at`` is 00:00 local of the following day.
    - ``working_days``: counting from the day after the trigger, the last day is the
      Nth working day (rest days are skipped); ``ends_at`` as for ``days``.
    - ``hours``: clock time, with no rest-day extension: ``ends_at`` is the trigger plus
      N hours in absolute time (a daylight-saving change does not shift it), and
      ``last_day`` is the local date of the period's last instant (so a period ending
      exactly at midnight has the day before as its last day, as ``days`` periods do).

    For ``days`` and ``working_days`` the calendar must hold every year from the
    trigger's local date to the last day, else :class:`YearNotInCalendar`; ``hours``
    do not use the calendar.
    """
    if trigger.tzinfo is None or trigger.utcoffset() is None:
        raise CalendarError(f"the trigger must carry a time zone, not naive {trigger.isoformat()}")
    if period.unit is PeriodUnit.HOURS:
        ends_at = trigger.astimezone(UTC) + timedelta(hours=period.amount)
        last_day = (ends_at - timedelta(microseconds=1)).astimezone(zone).date()
        return Deadline(last_day=last_day, ends_at=ends_at)

    start = trigger.astimezone(zone).date()
    calendar.year(start.year)
    if period.unit is PeriodUnit.DAYS:
        last_day = start + timedelta(days=period.amount)
        calendar.require_years(start, last_day)
        last_day = calendar.next_working_day(last_day)
    else:
        days = calendar.working_days_after(start)
        for _ in range(period.amount - 1):
            next(days)
        last_day = next(days)
    return Deadline(last_day=last_day, ends_at=_start_of_day(last_day + timedelta(days=1), zone))
