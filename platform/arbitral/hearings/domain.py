"""Hearings as rules (pure Python, no I/O): modes, asynchronous rounds, who may post when.

Three ways to hear a case, as the rule set allows for its case type:

* **documents only** (书面审理): the tribunal opens the hearing and closes it on the file;
* **asynchronous** (异步审理), as the Hangzhou Internet Court runs it: rounds one
  after another (questioning, answering, debating, closing statements), each open
  for the clock hours the rule set gives (time limit ``hearing_<round>``); a round
  closes when its time runs out or when the tribunal closes it, and the next one
  opens at once. Who may post:

  - *questioning*: the tribunal and the parties ask (a party asks the other side);
  - *answering*: the side that was asked answers the questions put to it;
  - *debating*: both sides argue;
  - *closing*: each side once, saying whether it accepts mediation;
  - the tribunal may put a question at any time; a tribunal question put in a
    later round is answered in that round.

* **video** (视频庭审): sessions scheduled with a slot and a link on an external video
  system; the tribunal records each session's outcome.

Posts are append-only and seen by everyone on the case.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final
from uuid import UUID


class Mode(StrEnum):
    DOCUMENTS = "documents"
    ASYNCHRONOUS = "asynchronous"
    VIDEO = "video"


class Round(StrEnum):
    QUESTIONING = "questioning"
    ANSWERING = "answering"
    DEBATING = "debating"
    CLOSING = "closing"


class Speaker(StrEnum):
    CLAIMANT = "claimant"
    RESPONDENT = "respondent"
    TRIBUNAL = "tribunal"

    @property
    def other(self) -> Speaker:
        if self is Speaker.CLAIMANT:
            return Speaker.RESPONDENT
        if self is Speaker.RESPONDENT:
            return Speaker.CLAIMANT
        raise ValueError("the tribunal has no other side")


class Kind(StrEnum):
    QUESTION = "question"
    ANSWER = "answer"
    ARGUMENT = "argument"
    CLOSING = "closing"


class Addressee(StrEnum):
    CLAIMANT = "claimant"
    RESPONDENT = "respondent"
    BOTH = "both"

    def includes(self, speaker: Speaker) -> bool:
        return self is Addressee.BOTH or self.value == speaker.value


class Outcome(StrEnum):
    """What became of a scheduled video session."""

    HELD = "held"
    HELD_IN_ABSENCE = "held_in_absence"  # a party did not appear (缺席审理)
    ADJOURNED = "adjourned"


PARTIES: Final = (Speaker.CLAIMANT, Speaker.RESPONDENT)
HEARD: Final = frozenset({Outcome.HELD, Outcome.HELD_IN_ABSENCE})
MAX_TEXT: Final = 20_000


def deadline_name(round_name: str) -> str:
    """The time limit (and case deadline) of a round: ``hearing_questioning`` …"""
    return f"hearing_{round_name}"


def rounds_problem(rounds: Sequence[str]) -> str | None:
    """Why an asynchronous hearing cannot run these rounds (None: it can)."""
    if not rounds:
        return "the rule set gives no asynchronous rounds"
    known = {r.value for r in Round}
    unknown = [r for r in rounds if r not in known]
    if unknown:
        return f"rounds the platform does not know how to run: {', '.join(unknown)}"
    if len(set(rounds)) != len(rounds):
        return "a round is named twice"
    return None


def next_round(rounds: Sequence[str], current: str) -> str | None:
    """The round after ``current`` (None after the last)."""
    at = list(rounds).index(current)
    return rounds[at + 1] if at + 1 < len(rounds) else None


@dataclass(frozen=True)
class PostFacts:
    """What the rules need to know of a post already made."""

    id: UUID
    speaker: Speaker
    kind: Kind
    round: str | None
    addressed_to: Addressee | None


@dataclass(frozen=True)
class Refusal:
    """A post or a step refused: ``conflict`` (not now, not you: 409) or ``invalid`` (422)."""

    status: str
    field: str
    rule: str
    message: str


def _conflict(field: str, rule: str, message: str) -> Refusal:
    return Refusal("conflict", field, rule, message)


def _invalid(field: str, rule: str, message: str) -> Refusal:
    return Refusal("invalid", field, rule, message)


def post_refusal(
    *,
    speaker: Speaker,
    kind: Kind,
    current_round: str | None,
    addressed_to: Addressee | None,
    reply_to: PostFacts | None,
    accepts_mediation: bool | None,
    earlier: Iterable[PostFacts],
) -> Refusal | None:
    """Why ``speaker`` may not post ``kind`` now (None: it may)."""
    if kind is Kind.QUESTION and addressed_to is None:
        return _invalid("$.addressed_to", "required", "say whom the question is put to")
    if kind is not Kind.QUESTION and addressed_to is not None:
        return _invalid("$.addressed_to", "questions_only", "only a question is addressed")
    if kind is not Kind.ANSWER and reply_to is not None:
        return _invalid("$.reply_to", "answers_only", "only an answer replies to a question")
    if kind is Kind.CLOSING and accepts_mediation is None:
        return _invalid(
            "$.accepts_mediation",
            "required",
            "a closing statement says whether you accept mediation",
        )
    if kind is not Kind.CLOSING and accepts_mediation is not None:
        return _invalid("$.accepts_mediation", "closing_only", "only closing statements say it")
    if speaker is Speaker.TRIBUNAL:
        if kind is not Kind.QUESTION:
            return _invalid("$.kind", "tribunal_asks", "the tribunal puts questions")
        return None  # at any time while the hearing is open
    if current_round is None:
        return _conflict("$.kind", "no_round_open", "no round of the hearing is open")
    if kind is Kind.QUESTION:
        if current_round != Round.QUESTIONING:
            return _conflict("$.kind", "turn", "the parties ask only in the questioning round")
        assert addressed_to is not None
        if addressed_to.value != speaker.other.value:
            return _invalid("$.addressed_to", "other_side", "a party asks the other side")
        return None
    if kind is Kind.ANSWER:
        if reply_to is None:
            return _invalid("$.reply_to", "required", "name the question you answer")
        if reply_to.kind is not Kind.QUESTION:
            return _invalid("$.reply_to", "question", "answer a question")
        if reply_to.addressed_to is None or not reply_to.addressed_to.includes(speaker):
            return _conflict("$.reply_to", "asked_side", "that question was not put to your side")
        if current_round == Round.ANSWERING:
            return None
        if (
            reply_to.speaker is Speaker.TRIBUNAL
            and reply_to.round == current_round
            and current_round != Round.QUESTIONING
        ):
            return None  # the tribunal's question of this round is answered in it
        return _conflict("$.kind", "turn", "questions are answered in the answering round")
    if kind is Kind.ARGUMENT:
        if current_round != Round.DEBATING:
            return _conflict("$.kind", "turn", "the parties argue in the debating round")
        return None
    # closing statements
    if current_round != Round.CLOSING:
        return _conflict("$.kind", "turn", "closing statements come in the closing round")
    if any(p.speaker is speaker and p.kind is Kind.CLOSING for p in earlier):
        return _conflict("$.kind", "once", "your side made its closing statement already")
    return None


def asked_sides(posts: Iterable[PostFacts]) -> set[Speaker]:
    """The sides some question was put to."""
    found: set[Speaker] = set()
    for p in posts:
        if p.kind is Kind.QUESTION and p.addressed_to is not None:
            found |= {s for s in PARTIES if p.addressed_to.includes(s)}
    return found


def early_close_refusal(round_name: str, posts: Sequence[PostFacts]) -> Refusal | None:
    """Why the tribunal may not close ``round_name`` before its time (None: it may).

    Closing a round early never takes a side's turn from it: the answering round
    waits for every side that was asked, the closing round for both closing
    statements. Questioning and debating the tribunal may cut when it has heard enough.
    """
    in_round = [p for p in posts if p.round == round_name]
    if round_name == Round.ANSWERING:
        missing = sorted(
            s.value
            for s in asked_sides(posts)
            if not any(p.speaker is s and p.kind is Kind.ANSWER for p in in_round)
        )
        if missing:
            return _conflict(
                "$.round", "turn_pending", f"{', '.join(missing)} has not answered yet"
            )
    if round_name == Round.CLOSING:
        missing = sorted(
            s.value
            for s in PARTIES
            if not any(p.speaker is s and p.kind is Kind.CLOSING for p in in_round)
        )
        if missing:
            return _conflict(
                "$.round",
                "turn_pending",
                f"{', '.join(missing)} has not made its closing statement yet",
            )
    return None


@dataclass(frozen=True)
class RoundFacts:
    name: str
    closed_at: datetime | None


@dataclass(frozen=True)
class SessionFacts:
    outcome: Outcome | None


def close_refusal(
    mode: Mode,
    rounds: Sequence[str],
    opened: Sequence[RoundFacts],
    sessions: Sequence[SessionFacts],
) -> str | None:
    """Why the hearing cannot close yet (None: it can)."""
    if mode is Mode.ASYNCHRONOUS:
        done = {r.name for r in opened if r.closed_at is not None}
        pending = [r for r in rounds if r not in done]
        if pending:
            return f"the {pending[0]} round has not run yet"
    if mode is Mode.VIDEO:
        if not sessions:
            return "no video session has been held"
        if any(s.outcome is None for s in sessions):
            return "a scheduled video session has no recorded outcome"
        if sessions[-1].outcome not in HEARD:
            return "the last video session was adjourned: schedule another"
    return None


def mediation_wishes(posts: Iterable[tuple[Speaker, bool | None, Kind]]) -> dict[str, bool]:
    """Each side's answer in its closing statement: does it accept mediation?"""
    return {s.value: bool(m) for s, m, k in posts if k is Kind.CLOSING and s in PARTIES}


# -- the notice of hearing -----------------------------------------------------------

# What each asynchronous round is, and who may post in it, as the notice of hearing says.
ROUND_TEXT: Final = {
    "zh": {
        Round.QUESTIONING: (
            "本环节由仲裁庭和双方当事人发问，一方可以就案件事实向对方提问。",
            "仲裁庭、申请人、被申请人",
        ),
        Round.ANSWERING: (
            "本环节由被提问的一方回答向其提出的问题。",
            "被提问的一方当事人（仲裁庭可随时发问）",
        ),
        Round.DEBATING: (
            "本环节由双方当事人就争议焦点发表辩论意见。",
            "申请人、被申请人（仲裁庭可随时发问）",
        ),
        Round.CLOSING: (
            "本环节由双方当事人各作一次最后陈述，并表明是否同意调解。",
            "申请人、被申请人，各一次",
        ),
    },
    "en": {
        Round.QUESTIONING: (
            "In this round the tribunal and the parties ask questions; a party may question "
            "the other side on the facts.",
            "the tribunal, the claimant and the respondent",
        ),
        Round.ANSWERING: (
            "In this round each side answers the questions put to it.",
            "the side that was asked (the tribunal may ask at any time)",
        ),
        Round.DEBATING: (
            "In this round both sides argue the issues in dispute.",
            "the claimant and the respondent (the tribunal may ask at any time)",
        ),
        Round.CLOSING: (
            "In this round each side makes one closing statement and says whether it "
            "accepts mediation.",
            "the claimant and the respondent, once each",
        ),
    },
}


def session_subject(session_id: UUID, starts_at: datetime, ends_at: datetime, link: str) -> str:
    """The subject of the notice of a video session's slot: a new slot is a new notice."""
    slot = f"{starts_at.isoformat()}|{ends_at.isoformat()}|{link}".encode()
    return f"session:{session_id.hex}:{hashlib.sha256(slot).hexdigest()[:16]}"


def round_subject(round_id: UUID) -> str:
    return f"round:{round_id.hex}"


def notice_refusal(
    starts_at: datetime, notice_days: int, served: Sequence[datetime | None]
) -> str | None:
    """Why a video session cannot be held as scheduled (None: every party had its notice).

    ``served``: when each party was served with the notice of this slot (None: not yet).
    """
    latest = starts_at - timedelta(days=notice_days)
    if not served or any(at is None for at in served):
        return "the notice of hearing of this slot is not yet served on every party"
    last = max(at for at in served if at is not None)
    if last > latest:
        return (
            f"the notice of hearing was served on {last.isoformat()}, less than {notice_days} "
            f"days before the session ({starts_at.isoformat()})"
        )
    return None
