"""The pleadings stage as rules (pure Python, no I/O).

The respondent may also file one counterclaim (反请求) within the counterclaim
period. It carries its own fee: until that fee is paid (or its time limit runs
out, and the counterclaim is deemed withdrawn) the pleadings stay open; once it
is paid, the claimant gets its own period to answer the counterclaim, and the
pleadings stay open while that period runs too (unless the claimant personally
waives it).

Once the respondent is served, the answer and counterclaim periods run (and the
evidence period, from whichever event the rule set names). The respondent may
answer within the answer period; a respondent who lets it run without answering
is in default (缺席): the case proceeds without it. When both the answer and the
counterclaim periods have ended (run, met or waived) the pleadings close and the
case moves on to the exchange of evidence, by the clock, without anyone acting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Final

from arbitral.rules.claims import ClaimForm, FieldSpec

ANSWER: Final = "answer"
COUNTERCLAIM: Final = "counterclaim"
EVIDENCE: Final = "evidence"
# The counterclaim's fee awaiting payment, and the claimant's period to answer it.
COUNTERCLAIM_FEE: Final = "counterclaim_fee"
COUNTERCLAIM_ANSWER: Final = "counterclaim_answer"
PLEADING_PERIODS: Final = frozenset({ANSWER, COUNTERCLAIM, COUNTERCLAIM_FEE, COUNTERCLAIM_ANSWER})
# The event closing the pleadings, as a rule set names it in a time limit's ``from``.
PLEADINGS_CLOSED: Final = "pleadings_closed"

MAX_TEXT: Final = 50_000
MAX_EXHIBITS: Final = 200


def answer_refusal(now: datetime, answer_due: datetime | None) -> str | None:
    """Why an answer cannot be taken now (None: it can).

    ``answer_due`` is when the running answer period ends (None: none runs).
    """
    if answer_due is None:
        return "no answer period is running: it has not started, or it ended or was met"
    if now >= answer_due:
        return f"the answer period ended at {answer_due.isoformat()}"
    return None


def answer_problems(text: str, exhibit_ids: Iterable[object]) -> list[tuple[str, str, str]]:
    """(field, rule, message) for an answer that cannot be taken as given."""
    problems: list[tuple[str, str, str]] = []
    if not text.strip():
        problems.append(("$.text", "required", "state the answer to the claim"))
    elif len(text) > MAX_TEXT:
        problems.append(("$.text", "max_length", f"at most {MAX_TEXT} characters"))
    ids = list(exhibit_ids)
    if len(ids) > MAX_EXHIBITS:
        problems.append(("$.exhibit_ids", "max_items", f"at most {MAX_EXHIBITS} exhibits"))
    if len(set(ids)) != len(ids):
        problems.append(("$.exhibit_ids", "unique", "each exhibit once"))
    return problems


def pleadings_over(pending: Iterable[str]) -> bool:
    """True once neither the answer nor the counterclaim period is still running."""
    return not PLEADING_PERIODS & set(pending)


def limits_starting_at(starts_from: Mapping[str, str], event: str) -> list[str]:
    """The time limits (name -> the event it runs from) that start at ``event``."""
    return sorted(name for name, source in starts_from.items() if source == event)


# -- the counterclaim -------------------------------------------------------------------


class CounterclaimStatus(StrEnum):
    PENDING_FEE = "pending_fee"  # filed, its fee invoiced and not yet paid
    STANDING = "standing"  # its fee paid: the tribunal decides it with the claim
    DEEMED_WITHDRAWN = "deemed_withdrawn"  # its fee unpaid in time (按撤回处理)


# The counterclaim's fields (request body) and the claim form's fields they follow.
COUNTERCLAIM_FIELDS: Final[Mapping[str, str]] = {
    "claims": "claims",
    "amount": "amount_claimed",
    "facts_and_reasons": "facts_and_reasons",
}
# What a counterclaim needs when a claim form does not state the field at all.
_FALLBACK: Final[Mapping[str, FieldSpec]] = {
    "claims": FieldSpec("claims", "text", True, "反请求事项", "claims", max_length=5000),
    "amount_claimed": FieldSpec(
        "amount_claimed", "money", True, "反请求金额", "amount", minimum=Decimal("0.01")
    ),
    "facts_and_reasons": FieldSpec(
        "facts_and_reasons", "text", False, "事实与理由", "facts and reasons", max_length=20000
    ),
}


def counterclaim_form(form: ClaimForm) -> ClaimForm:
    """The part of a case type's claim form a counterclaim is checked against.

    The claim form's own ``claims``, ``amount_claimed`` and ``facts_and_reasons``
    fields (so a counterclaim meets exactly the checks a claim's do), with the
    form's checks among them; a field the form does not state gets a plain default.
    The amount of a counterclaim is always required (its fee is assessed on it).
    """
    fields: list[FieldSpec] = []
    for name in COUNTERCLAIM_FIELDS.values():
        spec = form.field(name) or _FALLBACK[name]
        if name == "amount_claimed" and not spec.required:
            spec = dataclasses.replace(spec, required=True)
        fields.append(spec)
    names = {f.name for f in fields}
    checks = tuple(k for k in form.checks if set(k.fields) <= names)
    return ClaimForm(fields=tuple(fields), checks=checks)


def counterclaim_field(form_path: str) -> str:
    """The request's JSON path of a form problem (``$.amount_claimed`` -> ``$.amount``)."""
    head, dot, rest = form_path[2:].partition(".")
    for field, form_name in COUNTERCLAIM_FIELDS.items():
        if head == form_name:
            return f"$.{field}{dot}{rest}"
    return form_path


def counterclaim_answer_refusal(
    now: datetime, status: str | None, answer_due: datetime | None, *, answered: bool
) -> str | None:
    """Why the claimant's answer to the counterclaim cannot be taken now (None: it can).

    ``status``: the counterclaim's (None: there is none); ``answer_due``: when the
    claimant's running period ends (None: none runs).
    """
    if status is None:
        return "no counterclaim has been filed on this case"
    if answered:
        return "the counterclaim has been answered already"
    if status != CounterclaimStatus.STANDING:
        return f"the counterclaim is {status}: there is nothing to answer"
    if answer_due is None:
        return "no period to answer the counterclaim is running: it ended or was waived"
    if now >= answer_due:
        return f"the period to answer the counterclaim ended at {answer_due.isoformat()}"
    return None


def counterclaim_refusal(
    now: datetime, counterclaim_due: datetime | None, *, in_pleadings: bool, filed: bool
) -> str | None:
    """Why a counterclaim cannot be filed now (None: it can).

    ``counterclaim_due``: when the running counterclaim period ends (None: none runs);
    ``in_pleadings``: the case is in its answer period (not suspended, closed, or past it).
    """
    if filed:
        return "a counterclaim has been filed on this case already (one per case, not amendable)"
    if not in_pleadings:
        return "the case is not in its answer and counterclaim period"
    if counterclaim_due is None:
        return "no counterclaim period is running: it has not started, or it ended or was waived"
    if now >= counterclaim_due:
        return f"the counterclaim period ended at {counterclaim_due.isoformat()}"
    return None
