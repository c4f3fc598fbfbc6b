"""The rules of the asynchronous rounds, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from arbitral.hearings.domain import (
    Addressee,
    Kind,
    Mode,
    Outcome,
    PostFacts,
    RoundFacts,
    SessionFacts,
    Speaker,
    close_refusal,
    early_close_refusal,
    next_round,
    post_refusal,
    rounds_problem,
)

ROUNDS = ["questioning", "answering", "debating", "closing"]


def fact(speaker: Speaker, kind: Kind, round_: str, to: Addressee | None = None) -> PostFacts:
    return PostFacts(uuid.uuid4(), speaker, kind, round_, to)


def may(speaker: Speaker, kind: Kind, round_: str | None, **more: object) -> str | None:
    refusal = post_refusal(
        speaker=speaker,
        kind=kind,
        current_round=round_,
        addressed_to=more.get("to"),  # type: ignore[arg-type]
        reply_to=more.get("reply_to"),  # type: ignore[arg-type]
        accepts_mediation=more.get("mediation"),  # type: ignore[arg-type]
        earlier=more.get("earlier", []),  # type: ignore[arg-type]
    )
    return None if refusal is None else f"{refusal.status}:{refusal.rule}"


def test_who_posts_in_each_round() -> None:
    c, r, t = Speaker.CLAIMANT, Speaker.RESPONDENT, Speaker.TRIBUNAL
    # questioning: the tribunal and the parties ask; a party asks the other side
    assert may(c, Kind.QUESTION, "questioning", to=Addressee.RESPONDENT) is None
    assert may(c, Kind.QUESTION, "questioning", to=Addressee.CLAIMANT) == "invalid:other_side"
    assert may(r, Kind.ARGUMENT, "questioning") == "conflict:turn"
    # the tribunal asks at any time, even with no round open
    for round_ in [*ROUNDS, None]:
        assert may(t, Kind.QUESTION, round_, to=Addressee.BOTH) is None
    assert may(t, Kind.ARGUMENT, "debating") == "invalid:tribunal_asks"
    # answering: the asked side, to a question put to it
    q = fact(c, Kind.QUESTION, "questioning", Addressee.RESPONDENT)
    assert may(r, Kind.ANSWER, "answering", reply_to=q) is None
    assert may(c, Kind.ANSWER, "answering", reply_to=q) == "conflict:asked_side"
    assert may(r, Kind.ANSWER, "questioning", reply_to=q) == "conflict:turn"
    assert may(r, Kind.ANSWER, "debating", reply_to=q) == "conflict:turn"
    assert may(r, Kind.ANSWER, "answering") == "invalid:required"
    assert may(c, Kind.QUESTION, "answering", to=Addressee.RESPONDENT) == "conflict:turn"
    # a question of the tribunal in a later round is answered in that round
    late = fact(t, Kind.QUESTION, "debating", Addressee.BOTH)
    assert may(c, Kind.ANSWER, "debating", reply_to=late) is None
    assert may(c, Kind.ANSWER, "closing", reply_to=late) == "conflict:turn"
    # debating: both sides
    assert may(c, Kind.ARGUMENT, "debating") is None
    assert may(r, Kind.ARGUMENT, "debating") is None
    assert may(r, Kind.ARGUMENT, "closing") == "conflict:turn"
    # closing: each side once, saying whether it accepts mediation
    assert may(c, Kind.CLOSING, "closing") == "invalid:required"
    assert may(c, Kind.CLOSING, "closing", mediation=False) is None
    said = [fact(c, Kind.CLOSING, "closing")]
    assert may(c, Kind.CLOSING, "closing", mediation=True, earlier=said) == "conflict:once"
    assert may(r, Kind.CLOSING, "closing", mediation=True, earlier=said) is None
    assert may(c, Kind.CLOSING, "debating", mediation=True) == "conflict:turn"
    assert may(c, Kind.ARGUMENT, None) == "conflict:no_round_open"


def test_early_closing_never_takes_a_turn() -> None:
    c, r, t = Speaker.CLAIMANT, Speaker.RESPONDENT, Speaker.TRIBUNAL
    asked = [
        fact(c, Kind.QUESTION, "questioning", Addressee.RESPONDENT),
        fact(t, Kind.QUESTION, "questioning", Addressee.BOTH),
    ]
    assert early_close_refusal("questioning", asked) is None
    refusal = early_close_refusal("answering", asked)
    assert refusal is not None
    assert refusal.message.startswith("claimant, respondent")
    answered = [*asked, fact(r, Kind.ANSWER, "answering"), fact(c, Kind.ANSWER, "answering")]
    assert early_close_refusal("answering", answered) is None
    assert early_close_refusal("debating", []) is None
    assert early_close_refusal("closing", [fact(c, Kind.CLOSING, "closing")]) is not None
    both = [fact(c, Kind.CLOSING, "closing"), fact(r, Kind.CLOSING, "closing")]
    assert early_close_refusal("closing", both) is None


def test_rounds_and_closing_the_hearing() -> None:
    assert rounds_problem(ROUNDS) is None
    assert rounds_problem([]) is not None
    assert rounds_problem(["questioning", "singing"]) is not None
    assert rounds_problem(["questioning", "questioning"]) is not None
    assert next_round(ROUNDS, "answering") == "debating"
    assert next_round(ROUNDS, "closing") is None
    at = datetime(2026, 3, 1, tzinfo=UTC)
    ran = [RoundFacts(name, at) for name in ROUNDS]
    assert close_refusal(Mode.ASYNCHRONOUS, ROUNDS, ran, []) is None
    assert (
        close_refusal(Mode.ASYNCHRONOUS, ROUNDS, ran[:3], []) == "the closing round has not run yet"
    )
    assert close_refusal(Mode.DOCUMENTS, [], [], []) is None
    assert close_refusal(Mode.VIDEO, [], [], []) is not None
    assert close_refusal(Mode.VIDEO, [], [], [SessionFacts(None)]) is not None
    assert close_refusal(Mode.VIDEO, [], [], [SessionFacts(Outcome.ADJOURNED)]) is not None
    held = [SessionFacts(Outcome.ADJOURNED), SessionFacts(Outcome.HELD)]
    assert close_refusal(Mode.VIDEO, [], [], held) is None
