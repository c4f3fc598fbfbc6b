"""``arbitral rules``: list, validate and compute with the alliance rule sets.

Every subcommand reads the rules directory (``--dir``, else ARBITRAL_RULES_DIR, else
``./rules``), prints text or, with ``--json``, one JSON document on stdout, and
exits non-zero with a precise message on stderr when something is wrong:
2 for invalid files or input, 1 for something that does not exist.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from arbitral.rules import calendar as cal
from arbitral.rules.checker import InvalidRuleFiles
from arbitral.rules.loader import RuleBook, load_rule_book, publish
from arbitral.rules.model import UnknownRule, version_key

EXIT_INVALID = 2
EXIT_NOT_FOUND = 1
F = TypeVar("F", bound=Callable[..., Any])

dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="ARBITRAL_RULES_DIR",
    default="rules",
    show_default=True,
    help="The rules directory (ARBITRAL_RULES_DIR).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _reports_errors(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InvalidRuleFiles as exc:
            for line in exc.lines:
                click.echo(f"error: {line}", err=True)
            sys.exit(EXIT_INVALID)
        except UnknownRule as exc:
            _fail(str(exc), EXIT_NOT_FOUND)
        except cal.CalendarError as exc:
            _fail(str(exc), EXIT_INVALID)

    return wrapper  # type: ignore[return-value]


def _emit(document: Any, as_json: bool, text: Callable[[Any], list[str]]) -> None:
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        for line in text(document):
            click.echo(line)


@click.group("rules")
def command() -> None:
    """Alliance rule sets: claim forms, fees, time limits, loan assessment."""


@command.command("list")
@dir_option
@json_option
@_reports_errors
def list_rule_sets(directory: Path, as_json: bool) -> None:
    """Every rule set version, published or draft, and the calendars."""
    book = load_rule_book(directory)
    document = {
        "rule_sets": [
            {
                "id": r.id,
                "version": r.version,
                "title_zh": r.title_zh,
                "title_en": r.title_en,
                "effective_from": r.effective_from.isoformat(),
                "status": "published" if book.is_published(r) else "draft",
                "sha256": r.digest,
                "case_types": sorted(r.case_types),
                "calendar": r.calendar,
            }
            for r in sorted(book.rule_sets.values(), key=lambda r: (r.id, version_key(r.version)))
        ],
        "calendars": {
            name: {"years": sorted(c.years)} for name, c in sorted(book.calendars.items())
        },
    }

    def text(doc: Any) -> list[str]:
        lines = [
            f"{r['id']}@{r['version']}  {r['status']:<9}  {r['title_en']}  "
            f"({', '.join(r['case_types'])}; from {r['effective_from']})"
            for r in doc["rule_sets"]
        ]
        lines += [
            f"calendar {name}: {', '.join(map(str, c['years']))}"
            for name, c in doc["calendars"].items()
        ]
        return lines

    _emit(document, as_json, text)


@command.command("validate")
@click.argument(
    "path",
    required=False,
    envvar="ARBITRAL_RULES_DIR",
    default="rules",
    type=click.Path(path_type=Path),
)
@json_option
@_reports_errors
def validate(path: Path, as_json: bool) -> None:
    """Validate the rules directory PATH (default: ARBITRAL_RULES_DIR or ./rules)."""
    book = load_rule_book(path)
    document = {
        "valid": True,
        "directory": str(book.root),
        "rule_sets": sorted(r.ref for r in book.rule_sets.values()),
        "calendars": sorted(book.calendars),
    }
    _emit(
        document,
        as_json,
        lambda d: [
            f"{d['directory']}: valid ({len(d['rule_sets'])} rule-set versions: "
            f"{', '.join(d['rule_sets'])})"
        ],
    )


@command.command("publish")
@click.argument("ref")
@dir_option
@_reports_errors
def publish_version(ref: str, directory: Path) -> None:
    """Publish ID@VERSION: record its digest; the file may never change afterwards."""
    rule_set, new = publish(directory, ref)
    if new:
        click.echo(f"published {rule_set.ref} (sha256 {rule_set.digest})")
    else:
        click.echo(f"{rule_set.ref} was already published (sha256 {rule_set.digest})")


def _parse_amount(value: str) -> Decimal:
    from arbitral.rules.fees import FeeInputError, parse_amount

    try:
        return parse_amount(value)
    except FeeInputError as exc:
        _fail(f"--amount: {exc}", EXIT_INVALID)


@command.command("fee")
@click.option("--rule-set", "ref", required=True, help="ID@VERSION")
@click.option("--case-type", required=True)
@click.option("--amount", required=True, help="The amount claimed, in yuan (e.g. 123456.78).")
@click.option("--counterclaim", is_flag=True, help="Assess as a counterclaim.")
@dir_option
@json_option
@_reports_errors
def fee(
    ref: str, case_type: str, amount: str, counterclaim: bool, directory: Path, as_json: bool
) -> None:
    """The fees of a claim: each component and the total."""
    value = _parse_amount(amount)
    rule_set = load_rule_book(directory).resolve(ref)
    assessment = rule_set.assess_fee(case_type, value, counterclaim=counterclaim)
    document = {"rule_set": rule_set.ref, "case_type": case_type, **assessment.as_json()}

    def text(doc: Any) -> list[str]:
        lines = [f"{doc['rule_set']} {case_type}: amount {doc.get('amount', amount)}"]
        for line in doc["lines"]:
            lines.append(f"  {line['name']:<16} {line['amount']:>14}  {line.get('label_zh', '')}")
        lines.append(f"  {'total':<16} {doc['total']:>14}")
        return lines

    _emit(document, as_json, text)


def _instant(value: str, zone: ZoneInfo, *, need_time: bool) -> datetime:
    """An ISO 8601 instant with an offset, or a bare date (00:00 that day in ``zone``)."""
    try:
        if "T" not in value and " " not in value:
            if need_time:
                _fail("--from: an hour-counted period needs a time with its offset", EXIT_INVALID)
            return datetime.combine(date.fromisoformat(value), time(0), tzinfo=zone)
        moment = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"--from: {value!r} is not an ISO 8601 date or date-time", EXIT_INVALID)
    if moment.tzinfo is None:
        _fail(
            f"--from: {value!r} has no UTC offset (write e.g. {value}+08:00 or {value}Z)",
            EXIT_INVALID,
        )
    return moment


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        _fail(f"--zone: unknown time zone {name!r}", EXIT_INVALID)


@command.command("deadline")
@click.option("--rule-set", "ref", help="ID@VERSION (with --limit).")
@click.option(
    "--case-type",
    help="The case type whose limit to use (default: the only one, or online-purchase).",
)
@click.option("--limit", "limit_name", help="A time limit of the rule set, e.g. answer.")
@click.option(
    "--calendar", "calendar_name", help="A calendar (with --days, --working-days or --hours)."
)
@click.option("--days", type=click.IntRange(min=1, max=3650))
@click.option("--working-days", is_flag=True, help="Count --days as working days.")
@click.option("--hours", type=click.IntRange(min=1, max=8760))
@click.option(
    "--from",
    "start",
    required=True,
    help="The triggering event: ISO 8601 date-time with offset, or a date.",
)
@click.option("--zone", default="Asia/Shanghai", show_default=True, help="The tenant's time zone.")
@dir_option
@json_option
@_reports_errors
def deadline(
    ref: str | None,
    case_type: str | None,
    limit_name: str | None,
    calendar_name: str | None,
    days: int | None,
    working_days: bool,
    hours: int | None,
    start: str,
    zone: str,
    directory: Path,
    as_json: bool,
) -> None:
    """When a period ends: its last day (a local date) and the instant it runs out."""
    tz = _zone(zone)
    book = load_rule_book(directory)
    document: dict[str, Any]
    if ref is not None:
        if limit_name is None:
            _fail("--rule-set needs --limit NAME", EXIT_INVALID)
        if calendar_name or days or hours or working_days:
            _fail(
                "give either --rule-set with --limit, or --calendar with --days/--hours",
                EXIT_INVALID,
            )
        rule_set = book.resolve(ref)
        if case_type is None:
            case_type = (
                next(iter(rule_set.case_types))
                if len(rule_set.case_types) == 1
                else "online-purchase"
            )
        limit = rule_set.case_type(case_type).time_limit(limit_name)
        trigger = _instant(start, tz, need_time=limit.period.unit is cal.PeriodUnit.HOURS)
        result = rule_set.deadline(
            case_type, limit_name, trigger, zone=tz, calendar=book.calendar(rule_set.calendar)
        )
        document = {
            "rule_set": rule_set.ref,
            "case_type": case_type,
            "limit": limit.as_json(),
            "calendar": rule_set.calendar,
        }
    else:
        if calendar_name is None:
            _fail(
                "give --rule-set ID@VERSION --limit NAME, or --calendar NAME --days N", EXIT_INVALID
            )
        if (days is None) == (hours is None):
            _fail("give exactly one of --days N and --hours N", EXIT_INVALID)
        if working_days and days is None:
            _fail("--working-days counts --days", EXIT_INVALID)
        if hours is not None:
            period = cal.Period(hours, cal.PeriodUnit.HOURS)
        else:
            assert days is not None
            period = cal.Period(
                days, cal.PeriodUnit.WORKING_DAYS if working_days else cal.PeriodUnit.DAYS
            )
        trigger = _instant(start, tz, need_time=hours is not None)
        result = cal.compute_deadline(
            period, trigger, zone=tz, calendar=book.calendar(calendar_name)
        )
        document = {"calendar": calendar_name, "period": str(period)}
    document.update({"from": trigger.isoformat(), "zone": zone, **result.as_json()})
    _emit(document, as_json, lambda d: [f"last_day {d['last_day']}", f"ends_at  {d['ends_at']}"])


@command.command("assess-loan")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--rule-set", "ref", help="ID@VERSION (default: the newest published version with online-loan)."
)
@dir_option
@json_option
@_reports_errors
def assess_loan(file: Path, ref: str | None, directory: Path, as_json: bool) -> None:
    """The itemised assessment of the loan claim in FILE.json."""
    from arbitral.rules import loans

    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(f"{file}: cannot read: {exc.strerror}", EXIT_NOT_FOUND)
    except (UnicodeDecodeError, ValueError) as exc:
        _fail(f"{file}: not JSON: {exc}", EXIT_INVALID)
    try:
        loan = loans.parse_loan(document)
    except loans.LoanInputError as exc:
        for path, rule, message in exc.problems:
            click.echo(f"error: {file}: {path or '$'}: {message} ({rule})", err=True)
        sys.exit(EXIT_INVALID)
    book = load_rule_book(directory)
    rule_set = book.resolve(ref) if ref else _newest_loan_rule_set(book)
    rules = rule_set.case_type("online-loan").loan_assessment
    if rules is None:
        raise UnknownRule(f"{rule_set.ref} has no loan assessment rules")
    try:
        assessment = loans.assess_loan(loan, rules, book.lpr_history())
    except loans.LprUnknown as exc:
        _fail(str(exc), EXIT_INVALID)
    result = {"rule_set": rule_set.ref, **assessment.as_json()}

    def text(doc: Any) -> list[str]:
        lines = [f"{doc['rule_set']}: {file.name}"]
        for key, value in doc.items():
            if key == "items":
                continue
            if isinstance(value, (str, int)):
                lines.append(f"  {key}: {value}")
        lines.append(f"  {'item':<18}{'claimed':>14}{'supported':>14}{'unsupported':>14}")
        for item in doc.get("items", []):
            lines.append(
                f"  {item['name']:<18}{item['claimed']:>14}"
                f"{item['supported']:>14}{item['unsupported']:>14}"
            )
            for reason in item.get("reasons", []):
                if isinstance(reason, dict):
                    amount = f"{reason['amount']}: " if reason.get("amount") else ""
                    lines.append(f"      - {amount}{reason.get('message', '')}")
                else:
                    lines.append(f"      - {reason}")
        return lines

    _emit(result, as_json, text)


def _newest_loan_rule_set(book: RuleBook) -> Any:
    candidates = [
        r for r in book.rule_sets.values() if "online-loan" in r.case_types and book.is_published(r)
    ]
    if not candidates:
        raise UnknownRule("no published rule set has online-loan rules; pass --rule-set ID@VERSION")
    ids = {r.id for r in candidates}
    if len(ids) > 1:
        raise UnknownRule(
            f"several rule sets have online-loan rules ({', '.join(sorted(ids))}): pass --rule-set"
        )
    return max(candidates, key=lambda r: version_key(r.version))
