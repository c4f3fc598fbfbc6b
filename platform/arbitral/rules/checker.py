"""Reading rule data (TOML documents already parsed) with precise errors.

Every problem is reported as ``file: path: problem``, where ``path`` is the dotted
path inside the document (``case_types.online-loan.fees.bands[2].rate``), and a
document is read to the end so that all its problems are reported at once.

Money, rates and other exact quantities are written as strings (``"0.05"``) or
integers, never as TOML floats: a float is binary and cannot hold 0.05 exactly.
Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

E = TypeVar("E")


class RuleFileError(Exception):
    """One problem of one rule file: ``source: path: problem``."""

    def __init__(self, source: str, path: str, problem: str) -> None:
        super().__init__(f"{source}: {path}: {problem}" if path else f"{source}: {problem}")
        self.source = source
        self.path = path
        self.problem = problem

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RuleFileError):
            return NotImplemented
        return (self.source, self.path, self.problem) == (other.source, other.path, other.problem)

    def __hash__(self) -> int:
        return hash((self.source, self.path, self.problem))


class InvalidRuleFiles(Exception):
    """Every problem found in one or more rule files (never empty)."""

    def __init__(self, errors: Iterable[RuleFileError]) -> None:
        self.errors: tuple[RuleFileError, ...] = tuple(errors)
        if not self.errors:
            raise ValueError("InvalidRuleFiles needs at least one error")
        super().__init__("\n".join(str(error) for error in self.errors))

    @property
    def lines(self) -> list[str]:
        return [str(error) for error in self.errors]


def type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime):
        return "a date-time"
    if isinstance(value, date):
        return "a date"
    return f"a {type(value).__name__}"


def join(prefix: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


_MISSING = object()


class Checker:
    """Collects the problems of one document.

    Each getter takes the table it reads from (``None`` when that table was itself
    missing or wrong: the getter then returns ``None`` without a second error), the
    dotted path of that table, and the key. A getter returns ``None`` when the value
    is absent and not required, or wrong (the problem is recorded).
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[RuleFileError] = []

    def error(self, path: str, problem: str) -> None:
        self.errors.append(RuleFileError(self.source, path, problem))

    def raise_if_any(self) -> None:
        if self.errors:
            raise InvalidRuleFiles(self.errors)

    def _get(
        self, table: Mapping[str, Any] | None, prefix: str, key: str, required: bool, hint: str
    ) -> Any:
        if table is None:
            return _MISSING
        value = table.get(key, _MISSING)
        if value is _MISSING and required:
            self.error(join(prefix, key), f"missing ({hint})")
        return value

    def unknown(self, table: Mapping[str, Any] | None, prefix: str, allowed: Iterable[str]) -> None:
        """Reports every key of ``table`` not in ``allowed``, with the closest known key."""
        if table is None:
            return
        known = sorted(allowed)
        for name in table:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(known)})"
                self.error(join(prefix, name), f"unknown key{hint}")

    def table(
        self,
        table: Mapping[str, Any] | None,
        prefix: str,
        key: str,
        allowed: Sequence[str] | None = None,
        *,
        required: bool = True,
    ) -> dict[str, Any] | None:
        """A sub-table; with ``allowed``, its unknown keys are reported."""
        value = self._get(table, prefix, key, required, "a table")
        if value is _MISSING:
            return None
        if not isinstance(value, dict):
            self.error(join(prefix, key), f"must be a table, not {type_name(value)}")
            return None
        if allowed is not None:
            self.unknown(value, join(prefix, key), allowed)
        return value

    def tables(
        self,
        table: Mapping[str, Any] | None,
        prefix: str,
        key: str,
        *,
        required: bool = True,
        min_items: int = 0,
    ) -> list[tuple[str, dict[str, Any]]] | None:
        """An array of tables (``[[key]]``), as (path, table) pairs."""
        value = self._get(table, prefix, key, required, "an array of tables")
        if value is _MISSING:
            return None
        path = join(prefix, key)
        if not isinstance(value, list):
            self.error(path, f"must be an array of tables, not {type_name(value)}")
            return None
        out: list[tuple[str, dict[str, Any]]] = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                self.error(join(path, index), f"must be a table, not {type_name(item)}")
            else:
                out.append((join(path, index), item))
        if len(value) < min_items:
            self.error(path, f"must have at least {min_items} item{'s' if min_items > 1 else ''}")
            return None
        return out

    def string(
        self,
        table: Mapping[str, Any] | None,
        prefix: str,
        key: str,
        *,
        required: bool = True,
        max_length: int = 200,
    ) -> str | None:
        value = self._get(table, prefix, key, required, "a string")
        if value is _MISSING:
            return None
        path = join(prefix, key)
        if not isinstance(value, str):
            self.error(path, f"must be a string, not {type_name(value)}")
            return None
        if not value.strip():
            self.error(path, "must not be empty")
            return None
        if value != value.strip():
            self.error(path, "must not start or end with spaces")
            return None
        if len(value) > max_length:
            self.error(path, f"must be at most {max_length} characters, not {len(value)}")
            return None
        return value

    def strings(
        self,
        table: Mapping[str, Any] | None,
        prefix: str,
        key: str,
        *,
        required: bool = True,
        min_items: int = 0,
        choices: Sequence[str] | None = None,
    ) -> tuple[str, ...] | None:
        value = self._get(table, prefix, key, required, "an array of strings")
        if value is _MISSING:
            return None
        path = join(prefix, key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.error(path, "must be an array of non-empty strings")
            return None
        if len(value) < min_items:
            self.error(path, f"must have at least {min_items} item{'s' if min_items > 1 else ''}")
            return None
        if len(set(value)) != len(value):
            self.error(path, "must not repeat an item")
            return None
        if choices is not None:
            wrong = [v for v in value if v not in choices]
            if wrong:
                self.error(path, f"unknown {', '.join(wrong)} (one of {', '.join(choices)})")
                return None
        return tuple(value)

    def choice(
        self,
        table: Mapping[str, Any] | None,
        prefix: str,
        key: str,
        choices: Sequence[str],
        *,
        required: bool = True,
    ) -> str | None:
        value = self._get(table, prefix, key, required, f"one of {', '.join(choices)}")
        if value is _MISSING:
            return None
        if not isinstance(value, str) or value not in choices:
            shown = repr(value) if isinstance(value, str) else type_name(value)
            self.error(join(prefix, key), f"must be one of {', '.join(choices)}, not {shown}")
            return None
        return value

    def boolean(
        self, table: Mapping[str, Any] | None, prefix: str, key: str, *, required: bool = True
    ) -> bool | None:
        value = self._get(table, prefix, key, required, "true or false")
        if value is _MISSING:
            return None
        if not isinstance(value, bool):
            self.error(join(prefix, key), f"must be true or false, not {type_name(value)}")
            return None
        return value

    def integer(
        self,
        table: Mapping[str, Any] | None,
        prefix: str,
        key: str,
        *,
        required: bool = True,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        value = self._get(table, prefix, key, required, "an integer")
        if value is _MISSING:
            return None
        path = join(prefix, key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"must be an integer, not {type_name(value)}")
            return None
        if minimum is not None and value < minimum:
            self.error(path, f"must be at least {minimum}, not {value}")
            return None
        if maximum is not None and value > maximum:
            self.error(path, f"must be at most {maximum}, not {value}")
            return None
        return value

    def decimal(
        self,
        table: Mapping[str, Any] | None,
        prefix: str,
        key: str,
        *,
        required: bool = True,
        minimum: Decimal | None = None,
        maximum: Decimal | None = None,
        places: int | None = None,
    ) -> Decimal | None:
        """An exact number written as a string (``"0.05"``) or an integer; never a float."""
        value = self._get(table, prefix, key, required, 'a number written as a string, e.g. "0.05"')
        if value is _MISSING:
            return None
        path = join(prefix, key)
        number = self.decimal_value(path, value)
        if number is None:
            return None
        if minimum is not None and number < minimum:
            self.error(path, f"must be at least {minimum}, not {number}")
            return None
        if maximum is not None and number > maximum:
            self.error(path, f"must be at most {maximum}, not {number}")
            return None
        if places is not None and number != number.quantize(Decimal(1).scaleb(-places)):
            self.error(path, f"must have at most {places} decimal places")
            return None
        return number

    def decimal_value(self, path: str, value: object) -> Decimal | None:
        if isinstance(value, float):
            self.error(path, f'must be written as a string, not a float: write "{value}"')
            return None
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            self.error(path, f"must be a number written as a string, not {type_name(value)}")
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            self.error(path, f"is not a number: {value!r}")
            return None
        if not number.is_finite():
            self.error(path, f"must be a finite number, not {value!r}")
            return None
        return number

    def date(
        self, table: Mapping[str, Any] | None, prefix: str, key: str, *, required: bool = True
    ) -> dt.date | None:
        """A local date written as a TOML date (``2026-02-15``) or an ISO string."""
        value = self._get(table, prefix, key, required, "a date, e.g. 2026-02-15")
        if value is _MISSING:
            return None
        return self.date_value(join(prefix, key), value)

    def date_value(self, path: str, value: object) -> dt.date | None:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.error(path, f"must be a date such as 2026-02-15, not {value!r}")
        return None

    def dates(
        self, table: Mapping[str, Any] | None, prefix: str, key: str, *, required: bool = True
    ) -> tuple[dt.date, ...] | None:
        value = self._get(table, prefix, key, required, "an array of dates")
        if value is _MISSING:
            return None
        path = join(prefix, key)
        if not isinstance(value, list):
            self.error(path, f"must be an array of dates, not {type_name(value)}")
            return None
        out = [self.date_value(join(path, i), item) for i, item in enumerate(value)]
        if any(d is None for d in out):
            return None
        return tuple(d for d in out if d is not None)
