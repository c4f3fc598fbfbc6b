"""Reading a lender's claims file: JSON Lines or CSV, one claim per row, streamed from disk.

Both formats give the same row: a JSON object with the respondent, the loan (its
``contract_number`` inside), the agreed address for service, the arbitration clause,
the amounts and claims, and the evidence as ``{kind: sha256}``::

    {"respondent": {"kind": "person", "name": "王五", "id_number": "…", "phone": "+86…"},
     "loan": {"contract_number": "XF-2023-061501", "lender_kind": "licensed", …},
     "agreed_service_address": "…", "arbitration_clause": "…因本合同引起的争议提交广州仲裁委员会…",
     "amount_claimed": "19474.75", "claims": "…",
     "evidence": {"loan_contract": "<sha256>", "disbursement_proof": "<sha256>", …}}

* **JSON Lines** is UTF-8 (RFC 8259). Each non-blank line is a row; a line that is
  not UTF-8, not JSON, not an object or longer than :data:`MAX_ROW_BYTES` is a row
  with one problem, reported by its line number, and the next line is read.
* **CSV** has a header row naming each column by its dotted path in the row above
  (``respondent.name``, ``loan.claimed.interest``, ``evidence.loan_contract``). The
  flows ``loan.disbursements`` and ``loan.repayments`` are ``date:amount`` pairs
  separated by ``;`` (or a JSON array), ``loan.fees`` a JSON array. An empty cell is
  a value left out. Chinese lenders' exports are often GBK: the file is read as
  UTF-8 (a byte-order mark allowed) when it decodes as UTF-8 throughout, otherwise
  as GB 18030 (a superset of GBK), and the encoding found is reported with the batch.
  A header with an unknown or repeated column refuses the file as a whole.

Rows are numbered from 1 in the order read (the CSV header is not a row); ``line_no``
is the line where the row starts. Nothing is held whole in memory: rows are produced
one at a time from a file on disk.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from arbitral.errors import FieldProblem

MAX_ROW_BYTES: Final = 256 * 1024
_BLOCK: Final = 1 << 20
_FLOW = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*:\s*([0-9][0-9.]*)\s*$", re.ASCII)

# The columns a CSV file may have (dotted paths into the row).
PARTY_COLUMNS: Final = ("kind", "name", "id_number", "phone", "email", "address")
LOAN_COLUMNS: Final = (
    "contract_number",
    "lender_kind",
    "contract_date",
    "contract_principal",
    "annual_interest_rate",
    "maturity_date",
    "default_annual_rate",
    "disbursements",
    "repayments",
    "fees",
    "penalty.amount",
    "penalty.date",
    "claimed.principal",
    "claimed.interest",
    "claimed.default_interest",
    "claimed.fees",
    "claimed.penalty",
    "assessed_on",
)
ROW_COLUMNS: Final = (
    "agreed_service_address",
    "arbitration_clause",
    "amount_claimed",
    "claims",
    "facts_and_reasons",
)
_FLOW_COLUMNS: Final = frozenset({"loan.disbursements", "loan.repayments"})
_JSON_COLUMNS: Final = frozenset({"loan.fees"})


class FileFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


class FileRefused(ValueError):
    """The file as a whole cannot be read: nothing of it is processed."""

    def __init__(self, problem: FieldProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class RawRow:
    """One row as read: its data, or the one problem that kept it from being read."""

    row_no: int
    line_no: int
    data: dict[str, Any] | None
    problem: FieldProblem | None = None
    # A JSON line not decoded yet (read_rows gives them so): see decode().
    raw: bytes | None = None


@dataclass(frozen=True)
class FileSurvey:
    """What a first pass over the file found: its encoding and how many rows it has."""

    format: FileFormat
    encoding: str
    rows: int


def csv_columns(evidence_kinds: tuple[str, ...]) -> tuple[str, ...]:
    """Every column a CSV claims file may have, for a rule set's evidence kinds."""
    return (
        *(f"respondent.{key}" for key in PARTY_COLUMNS),
        *(f"loan.{key}" for key in LOAN_COLUMNS),
        *ROW_COLUMNS,
        *(f"evidence.{kind}" for kind in evidence_kinds),
    )


def detect_format(head: bytes, declared: str | None) -> FileFormat:
    """The format from the declared media type, or else from the first character."""
    if declared:
        kind = declared.split(";")[0].strip().lower()
        if kind in {"application/x-ndjson", "application/jsonl", "application/json-lines"}:
            return FileFormat.JSONL
        if kind in {"text/csv", "application/csv"}:
            return FileFormat.CSV
    text = head.lstrip(codecs.BOM_UTF8).lstrip()
    return FileFormat.JSONL if text.startswith(b"{") else FileFormat.CSV


def detect_encoding(path: Path) -> str:
    """``utf-8`` (or ``utf-8-sig`` with a byte-order mark) if the whole file decodes as
    UTF-8, else ``gb18030``; :class:`FileRefused` when it is neither."""
    offset = 0
    with path.open("rb") as handle:
        head = handle.read(3)
        encoding = "utf-8-sig" if head == codecs.BOM_UTF8 else "utf-8"
        handle.seek(0)
        decoder: codecs.IncrementalDecoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while block := handle.read(_BLOCK):
                decoder.decode(block)
                offset += len(block)
            decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            pass
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("gb18030")()
        offset = 0
        try:
            while block := handle.read(_BLOCK):
                decoder.decode(block)
                offset += len(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise FileRefused(
                FieldProblem(
                    "$.file",
                    "encoding",
                    f"the file is neither UTF-8 nor GB 18030 "
                    f"(an invalid byte near offset {offset + exc.start})",
                )
            ) from None
    return "gb18030"


def survey(path: Path, fmt: FileFormat, evidence_kinds: tuple[str, ...]) -> FileSurvey:
    """Encoding and row count, before anything is written (a wrong count stops the batch)."""
    if fmt is FileFormat.JSONL:
        count = sum(1 for _ in _jsonl_lines(path))
        return FileSurvey(fmt, "utf-8", count)
    encoding = detect_encoding(path)
    count = sum(1 for _ in read_rows(path, fmt, encoding, evidence_kinds, parse=False))
    return FileSurvey(fmt, encoding, count)


def read_rows(
    path: Path,
    fmt: FileFormat,
    encoding: str,
    evidence_kinds: tuple[str, ...],
    *,
    parse: bool = True,
) -> Iterator[RawRow]:
    """The rows of the file in order (with ``parse`` False, CSV cells are not shaped).

    JSON lines come undecoded (``raw``): :func:`decode` reads them where they are checked,
    in the checking workers (decoding was a tenth of the writer process's time).
    """
    if fmt is FileFormat.JSONL:
        yield from _jsonl_rows(path, parse=parse)
    else:
        yield from _csv_rows(path, encoding, evidence_kinds, parse=parse)


# -- JSON Lines ----------------------------------------------------------------------


def _jsonl_lines(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) of each non-blank line; bytes None when it is too long."""
    with path.open("rb") as handle:
        line_no = 0
        while True:
            line = handle.readline(MAX_ROW_BYTES + 1)
            if not line:
                return
            line_no += 1
            if len(line) > MAX_ROW_BYTES and not line.endswith(b"\n"):
                while (rest := handle.readline(_BLOCK)) and not rest.endswith(b"\n"):
                    pass
                yield line_no, None
                continue
            if line.strip():
                yield line_no, line


def _jsonl_rows(path: Path, *, parse: bool) -> Iterator[RawRow]:
    for row_no, (line_no, line) in enumerate(_jsonl_lines(path), start=1):
        if not parse:
            yield RawRow(row_no, line_no, None)
        elif line is None:
            yield _too_long(row_no, line_no)
        else:
            yield RawRow(row_no, line_no, None, raw=line)


def _too_long(row_no: int, line_no: int) -> RawRow:
    return _broken(row_no, line_no, "max_length", f"longer than {MAX_ROW_BYTES} bytes")


def decode(row: RawRow) -> RawRow:
    """A JSON line read (a row with ``raw``): its object, or the one problem with it."""
    if row.raw is None:
        return row
    row_no, line_no = row.row_no, row.line_no
    try:
        text = row.raw.decode("utf-8-sig" if row_no == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        return _broken(row_no, line_no, "encoding", f"not UTF-8 (byte {exc.start + 1})")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return _broken(row_no, line_no, "json", f"not JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(data, dict):
        return _broken(row_no, line_no, "type", "a row is a JSON object")
    return RawRow(row_no, line_no, data)


def _broken(row_no: int, line_no: int, rule: str, message: str) -> RawRow:
    return RawRow(row_no, line_no, None, FieldProblem("$", rule, f"line {line_no}: {message}"))


# -- CSV -----------------------------------------------------------------------------


def _csv_rows(
    path: Path, encoding: str, evidence_kinds: tuple[str, ...], *, parse: bool
) -> Iterator[RawRow]:
    allowed = set(csv_columns(evidence_kinds))
    with path.open("r", encoding=encoding, newline="") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileRefused(FieldProblem("$.file", "csv", f"line 1: {exc}")) from None
        columns = [name.strip() for name in header]
        _check_header(columns, allowed)
        row_no = 0
        while True:
            line_no = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                row_no += 1
                yield _broken(row_no, line_no, "csv", str(exc))
                continue
            if not any(cell.strip() for cell in cells):
                continue
            row_no += 1
            if not parse:
                yield RawRow(row_no, line_no, None)
                continue
            if len(cells) != len(columns):
                yield _broken(
                    row_no,
                    line_no,
                    "columns",
                    f"{len(cells)} cells where the header has {len(columns)} columns",
                )
                continue
            data, problems = _shape(columns, cells)
            if problems:
                yield RawRow(row_no, line_no, None, problems[0])
            else:
                yield RawRow(row_no, line_no, data)


def _check_header(columns: list[str], allowed: set[str]) -> None:
    seen: set[str] = set()
    for index, name in enumerate(columns, start=1):
        if name not in allowed:
            raise FileRefused(
                FieldProblem(
                    "$.file",
                    "column",
                    f"line 1, column {index}: unknown column {name!r} "
                    "(columns are dotted paths such as respondent.name, loan.claimed.interest)",
                )
            )
        if name in seen:
            raise FileRefused(
                FieldProblem("$.file", "column", f"line 1, column {index}: {name!r} twice")
            )
        seen.add(name)
    if "loan.contract_number" not in seen:
        raise FileRefused(
            FieldProblem("$.file", "column", "line 1: the column loan.contract_number is required")
        )


def _shape(columns: list[str], cells: list[str]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """A row object from the cells of a CSV record (dotted paths to nested objects)."""
    row: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for name, raw in zip(columns, cells, strict=True):
        cell = raw.strip()
        if not cell:
            continue
        value: Any = cell
        if name in _FLOW_COLUMNS or name in _JSON_COLUMNS:
            value = _cell_list(name, cell, problems)
            if value is None:
                continue
        target = row
        *parents, leaf = name.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return row, problems


def _cell_list(name: str, cell: str, problems: list[FieldProblem]) -> list[Any] | None:
    path = "$." + name
    if cell.startswith("["):
        try:
            value = json.loads(cell)
        except json.JSONDecodeError as exc:
            problems.append(FieldProblem(path, "json", f"not a JSON array: {exc.msg}"))
            return None
        if not isinstance(value, list):
            problems.append(FieldProblem(path, "type", "a JSON array"))
            return None
        return value
    if name in _JSON_COLUMNS:
        problems.append(FieldProblem(path, "json", "a JSON array of objects"))
        return None
    flows: list[dict[str, str]] = []
    for index, part in enumerate(cell.split(";"), start=1):
        if not part.strip():
            continue
        match = _FLOW.match(part)
        if match is None:
            problems.append(
                FieldProblem(
                    path,
                    "format",
                    f"item {index} {part.strip()!r}: write date:amount, e.g. 2024-01-15:3000.00",
                )
            )
            return None
        flows.append({"date": match.group(1), "amount": match.group(2)})
    return flows
