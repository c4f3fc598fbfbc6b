"""The pleadings stage as rules (pure Python, no I/O).

Once the respondent is served, the answer and counterclaim periods run (and the
evidence period, from whichever event the rule set names). The respondent may
answer within the answer period; a respondent who lets it run without answering
is in default (缺席): the case proceeds without it. When both the answer and the
counterclaim periods have ended (run, met or waived) the pleadings close and the
case moves on to the exchange of evidence, by the clock, without anyone acting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

ANSWER: Final = "answer"
COUNTERCLAIM: Final = "counterclaim"
EVIDENCE: Final = "evidence"
PLEADING_PERIODS: Final = frozenset({ANSWER, COUNTERCLAIM})
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
