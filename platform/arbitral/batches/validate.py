"""Checking the rows of a batch: what needs no database, in one pure function.

:func:`check_rows` takes rows as read and answers, per row, either the claim ready
to be a case or every problem found (field, rule, message):

* the rule set's claim form for the case type (the batch's claimant added to each
  row), so identity numbers, amounts, dates and the loan's terms are checked exactly
  as for a claim filed one by one;
* the loan-claim assessment: the interest claimed against the ceiling the rules set
  (a claim above it is filed, with what the assessment supports recorded for the
  tribunal and the fairness watch; a loan the assessment cannot read is refused);
* the arbitration clause: present, and naming this commission (an agreement that
  names no commission is invalid, Arbitration Law art. 18);
* the agreed address for service: present (the form requires it);
* the evidence: every kind the rule set requires, referenced by a SHA-256.

What needs the database (the evidence in custody, a contract already claimed) is
checked by the caller on the results. The function runs in worker processes for
large batches, so its inputs and outputs are plain picklable data.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import msgspec

from arbitral.batches.parse import RawRow, decode
from arbitral.errors import FieldProblem
from arbitral.rules import loans
from arbitral.rules.claims import ClaimInvalid, validate_claim
from arbitral.rules.loader import RuleBook, load_rule_book
from arbitral.rules.model import CaseTypeRules

BATCH_FIELDS: Final = frozenset({"arbitration_clause", "evidence"})
MAX_CLAUSE: Final = 2000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class BatchRules:
    """What checking a batch's rows needs (picklable: it goes to worker processes)."""

    rules_dir: Path
    rule_set: str
    version: str
    case_type: str
    filed_on: date
    claimant: Mapping[str, Any]
    commission_names: tuple[str, ...]


@dataclass(slots=True)
class CheckedRow:
    row_no: int
    line_no: int
    contract_number: str | None
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    # The claim as a case keeps it (JSON-ready), when the row is valid.
    claim: dict[str, Any] | None = None
    # ``claim`` as the case stores it and its SHA-256 (made in the checking worker: the
    # writer's process is the busier one).
    claim_json: str = ""
    claim_sha256: str = ""
    evidence: dict[str, str] = field(default_factory=dict)
    amount_claimed: Decimal = Decimal(0)
    interest_claimed: Decimal = Decimal(0)
    interest_supported: Decimal = Decimal(0)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def over_cap(self) -> bool:
        return self.interest_claimed > self.interest_supported


@functools.cache
def _book(rules_dir: Path) -> RuleBook:
    return load_rule_book(rules_dir)


def _case_type(ctx: BatchRules) -> CaseTypeRules:
    return _book(ctx.rules_dir).get(ctx.rule_set, ctx.version).case_type(ctx.case_type)


def required_evidence(case_type: CaseTypeRules) -> tuple[str, ...]:
    return tuple(e.kind for e in case_type.evidence if e.required)


def evidence_kinds(case_type: CaseTypeRules) -> tuple[str, ...]:
    return tuple(e.kind for e in case_type.evidence)


def check_rows(ctx: BatchRules, rows: Iterable[RawRow]) -> list[CheckedRow]:
    """Every row checked (see the module docstring); pure, no I/O once the rules are read."""
    book = _book(ctx.rules_dir)
    case_type = _case_type(ctx)
    lpr = book.lpr_history() if case_type.loan_assessment is not None else None
    kinds = evidence_kinds(case_type)
    required = required_evidence(case_type)
    return [_check(ctx, case_type, lpr, kinds, required, decode(row)) for row in rows]


def _contract_number(data: Mapping[str, Any]) -> str | None:
    loan = data.get("loan")
    if isinstance(loan, Mapping):
        number = loan.get("contract_number")
        if isinstance(number, str) and number.strip():
            return number.strip()[:100]
    return None


def _check(
    ctx: BatchRules,
    case_type: CaseTypeRules,
    lpr: loans.LprHistory | None,
    kinds: tuple[str, ...],
    required: tuple[str, ...],
    row: RawRow,
) -> CheckedRow:
    if row.data is None:
        problem = row.problem or FieldProblem("$", "unreadable", "the row could not be read")
        return CheckedRow(
            row.row_no, row.line_no, None, [(problem.field, problem.rule, problem.message)]
        )
    data = row.data
    out = CheckedRow(row.row_no, row.line_no, _contract_number(data))
    problems = out.problems
    if "claimant" in data:
        problems.append(
            ("$.claimant", "batch", "the claimant is the batch's; leave it out of the rows")
        )
    claim = {k: v for k, v in data.items() if k not in BATCH_FIELDS and k != "claimant"}
    claim["claimant"] = dict(ctx.claimant)
    values: dict[str, Any] | None = None
    try:
        valid = validate_claim(case_type.claim_form, claim, filed_on=ctx.filed_on)
        values = dict(valid.values)
    except ClaimInvalid as exc:
        problems.extend((p.field, p.rule, p.message) for p in exc.problems)
    clause = _clause(ctx, data.get("arbitration_clause"), problems)
    out.evidence = _evidence(data.get("evidence"), kinds, required, problems)
    if values is None or problems:
        return out
    loan = values.get("loan")
    if isinstance(loan, loans.LoanClaim) and case_type.loan_assessment is not None:
        assert lpr is not None
        try:
            assessment = loans.assess_loan(loan, case_type.loan_assessment, lpr)
        except loans.LprUnknown as exc:
            problems.append(("$.loan", "lpr", str(exc)))
            return out
        except loans.LoanInputError as exc:
            problems.extend((f"$.loan.{f}" if f else "$.loan", r, m) for f, r, m in exc.problems)
            return out
        out.interest_claimed, out.interest_supported = interest_figures(assessment)
    builtins: dict[str, Any] = msgspec.to_builtins(values)
    builtins["arbitration_clause"] = clause
    out.claim = builtins
    out.claim_json = json.dumps(builtins, ensure_ascii=False, sort_keys=True)
    out.claim_sha256 = hashlib.sha256(out.claim_json.encode()).hexdigest()
    out.amount_claimed = Decimal(str(builtins["amount_claimed"]))
    return out


def interest_figures(assessment: loans.LoanAssessment) -> tuple[Decimal, Decimal]:
    """(claimed, supported) of everything but the principal: interest, default interest,
    fees and penalty, against what the ceiling supports."""
    principal = assessment.item("principal")
    return (
        assessment.total("claimed") - principal.claimed,
        assessment.total("supported") - principal.supported,
    )


def _clause(ctx: BatchRules, raw: object, problems: list[tuple[str, str, str]]) -> str:
    path = "$.arbitration_clause"
    if not isinstance(raw, str) or not raw.strip():
        problems.append((path, "required", "the loan contract's arbitration clause is required"))
        return ""
    text = raw.strip()
    if len(text) > MAX_CLAUSE:
        problems.append((path, "max_length", f"at most {MAX_CLAUSE} characters"))
    elif not any(name and name in text for name in ctx.commission_names):
        problems.append(
            (
                path,
                "commission",
                "the clause does not name this commission "
                f"({' / '.join(n for n in ctx.commission_names if n)}): "
                "an agreement naming no commission is invalid (Arbitration Law art. 18)",
            )
        )
    return text


def _evidence(
    raw: object,
    kinds: tuple[str, ...],
    required: tuple[str, ...],
    problems: list[tuple[str, str, str]],
) -> dict[str, str]:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        problems.append(("$.evidence", "type", "an object of evidence kind to SHA-256"))
        return {}
    found: dict[str, str] = {}
    for kind, value in raw.items():
        path = f"$.evidence.{kind}"
        if kind not in kinds:
            problems.append((path, "unknown", f"not an evidence kind (one of {', '.join(kinds)})"))
            continue
        if not isinstance(value, str) or not _SHA256.match(value.strip().lower()):
            problems.append((path, "sha256", "the file's SHA-256, 64 hexadecimal digits"))
            continue
        found[kind] = value.strip().lower()
    for kind in required:
        if kind not in found and not any(p[0] == f"$.evidence.{kind}" for p in problems):
            problems.append(
                (f"$.evidence.{kind}", "required", "the contract bundle lacks this evidence")
            )
    return found
