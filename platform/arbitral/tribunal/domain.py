"""The tribunal of a case: the panel, conflicts, appointment, constitution, challenge (pure).

Who may sit on a case is decided here, the same way for every path to a seat:
a nomination by a party, an agreement of both, the commission's automatic
appointment, a secretary's pick, a replacement after a challenge. An
arbitrator is *eligible* for a case when they accept new cases, are below
their own limit of concurrent cases, have no conflict with the case, have not
sat on too many recent cases of the same repeat claimant (the cap the rules
set), and have not been removed from this case before. The commission's
automatic appointment (:func:`choose_arbitrator`) takes the eligible
arbitrator with the lowest load, preferring one whose specialities include
the case type, with a tie-break that is deterministic per case but does not
favour any one arbitrator across cases.

A *conflict* is a link between the arbitrator and someone on the case, found
across all of the arbitrator's cases: the arbitrator is a party or an agent
on this case; the arbitrator is a party or acts as an agent on another case
where a party of this case (by identity number), an agent of this case, or
the lender that filed this case takes part; or the arbitrator disclosed a
relation (on any case) naming one of them. Sitting as an arbitrator on other
cases of the same claimant is not a conflict: that is what the repeat-claimant
cap limits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Final
from uuid import UUID

SOLE = "sole"
PRESIDING = "presiding"
MEMBER = "member"
ROLES: Final = (SOLE, PRESIDING, MEMBER)


class Refusal(StrEnum):
    """Why an arbitrator may not take a seat on a case."""

    NOT_ON_PANEL = "not_on_panel"
    NOT_ACCEPTING = "not_accepting"
    AT_CAPACITY = "at_capacity"
    REPEAT_CLAIMANT_CAP = "repeat_claimant_cap"
    CONFLICT = "conflict"
    ALREADY_SITTING = "already_sitting"
    REMOVED_FROM_CASE = "removed_from_case"
    LANGUAGE = "language"


REFUSAL_TEXT: Final[Mapping[Refusal, str]] = {
    Refusal.NOT_ON_PANEL: "not an arbitrator on the commission's panel",
    Refusal.NOT_ACCEPTING: "not accepting new cases",
    Refusal.AT_CAPACITY: "already sits on as many cases as they take at once",
    Refusal.REPEAT_CLAIMANT_CAP: "has sat on the rules' maximum of recent cases of this claimant",
    Refusal.CONFLICT: "has a conflict with someone on this case",
    Refusal.ALREADY_SITTING: "already sits on this case",
    Refusal.REMOVED_FROM_CASE: "was removed from this case (challenge or withdrawal)",
    Refusal.LANGUAGE: "does not work in the language of the case",
}


class ConflictKind(StrEnum):
    ON_THIS_CASE = "on_this_case"  # the arbitrator is a party or an agent of this case
    PARTY_ELSEWHERE = "party_elsewhere"  # party on another case with someone of this one
    AGENT_ELSEWHERE = "agent_elsewhere"  # agent on another case with someone of this one
    DISCLOSED = "disclosed"  # a relation the arbitrator disclosed names someone of this case


@dataclass(frozen=True)
class Conflict:
    kind: ConflictKind
    detail: str
    other_case: UUID | None = None


# -- facts -------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFacts:
    """Who is on the case, as the conflict check and the cap see them."""

    case_id: UUID
    case_type: str
    party_users: frozenset[UUID]
    party_ids: frozenset[str]  # identity numbers / credit codes of all parties
    claimant_ids: frozenset[str]  # those of the claimant side
    agents: frozenset[UUID]
    lender_client: str | None
    language: str = "zh"


@dataclass(frozen=True)
class Involvement:
    """One other case where the arbitrator is a party or acts as an agent."""

    case_id: UUID
    as_party: bool
    party_ids: frozenset[str]
    agents: frozenset[UUID]
    lender_client: str | None


@dataclass(frozen=True)
class Relation:
    """A relation an arbitrator disclosed (with a party, an agent or a lender)."""

    kind: str  # party | agent | lender | other
    description: str
    id_number: str | None = None
    user_id: UUID | None = None
    client_id: str | None = None
    case_id: UUID | None = None  # the case whose disclosure stated it


@dataclass(frozen=True)
class Candidate:
    """An arbitrator of the panel, with what the rules need to know for one case."""

    user_id: UUID
    accepting: bool
    max_concurrent: int
    load: int  # cases where they sit that are not closed
    repeat_count: int  # recent cases (within the window) of this case's claimant
    specialities: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset({"zh"})
    id_number: str | None = None
    involvements: tuple[Involvement, ...] = ()
    relations: tuple[Relation, ...] = ()


@dataclass(frozen=True)
class Assessment:
    candidate: Candidate
    refusals: tuple[Refusal, ...]
    conflicts: tuple[Conflict, ...]

    @property
    def eligible(self) -> bool:
        return not self.refusals


def conflicts_of(candidate: Candidate, case: CaseFacts) -> tuple[Conflict, ...]:
    """Every link between ``candidate`` and someone on ``case`` (see the module docstring)."""
    found: list[Conflict] = []
    me = candidate.user_id
    if me in case.party_users:
        found.append(Conflict(ConflictKind.ON_THIS_CASE, "is a party to this case"))
    if me in case.agents:
        found.append(Conflict(ConflictKind.ON_THIS_CASE, "acts as an agent on this case"))
    if candidate.id_number and candidate.id_number in case.party_ids:
        found.append(
            Conflict(ConflictKind.ON_THIS_CASE, "has the identity number of a party to this case")
        )
    for other in candidate.involvements:
        if other.case_id == case.case_id:
            continue
        shared: list[str] = []
        if other.party_ids & case.party_ids:
            shared.append("a party of this case")
        if other.agents & case.agents:
            shared.append("an agent of this case")
        if case.lender_client and other.lender_client == case.lender_client:
            shared.append("the lender of this case")
        if shared:
            kind = ConflictKind.PARTY_ELSEWHERE if other.as_party else ConflictKind.AGENT_ELSEWHERE
            role = "a party" if other.as_party else "an agent"
            found.append(
                Conflict(
                    kind,
                    f"is {role} on another case with {', '.join(shared)}",
                    other_case=other.case_id,
                )
            )
    for relation in candidate.relations:
        named = (
            (relation.id_number is not None and relation.id_number in case.party_ids)
            or (relation.user_id is not None and relation.user_id in case.party_users | case.agents)
            or (relation.client_id is not None and relation.client_id == case.lender_client)
        )
        if named:
            found.append(
                Conflict(
                    ConflictKind.DISCLOSED,
                    f"disclosed a relation ({relation.kind}): {relation.description}",
                    other_case=relation.case_id,
                )
            )
    return tuple(found)


def assess(
    candidate: Candidate,
    case: CaseFacts,
    *,
    cap: int,
    sitting: Iterable[UUID] = (),
    removed: Iterable[UUID] = (),
) -> Assessment:
    """Whether ``candidate`` may take a seat on ``case``; every reason when not."""
    refusals: list[Refusal] = []
    if candidate.user_id in set(sitting):
        refusals.append(Refusal.ALREADY_SITTING)
    if candidate.user_id in set(removed):
        refusals.append(Refusal.REMOVED_FROM_CASE)
    if not candidate.accepting:
        refusals.append(Refusal.NOT_ACCEPTING)
    if candidate.load >= candidate.max_concurrent:
        refusals.append(Refusal.AT_CAPACITY)
    if candidate.repeat_count >= cap:
        refusals.append(Refusal.REPEAT_CLAIMANT_CAP)
    if case.language not in candidate.languages:
        refusals.append(Refusal.LANGUAGE)
    conflicts = conflicts_of(candidate, case)
    if conflicts:
        refusals.append(Refusal.CONFLICT)
    return Assessment(candidate, tuple(refusals), conflicts)


def tie_break(case_id: UUID, user_id: UUID) -> str:
    """Deterministic for a case, spread across arbitrators over many cases."""
    return hashlib.sha256(case_id.bytes + user_id.bytes).hexdigest()


def rank_key(candidate: Candidate, case: CaseFacts) -> tuple[int, int, int, str]:
    return (
        candidate.load,
        0 if case.case_type in candidate.specialities else 1,
        candidate.repeat_count,
        tie_break(case.case_id, candidate.user_id),
    )


def choose_arbitrator(
    candidates: Sequence[Candidate],
    case: CaseFacts,
    *,
    cap: int,
    sitting: Iterable[UUID] = (),
    removed: Iterable[UUID] = (),
) -> Candidate | None:
    """The commission's automatic appointment: the eligible arbitrator with the lowest load.

    Ties go to a specialist in the case type, then to the one with fewer recent
    cases of this claimant, then to :func:`tie_break`. None when nobody is eligible.
    """
    sitting_set = frozenset(sitting)
    removed_set = frozenset(removed)
    eligible = [
        c
        for c in candidates
        if assess(c, case, cap=cap, sitting=sitting_set, removed=removed_set).eligible
    ]
    if not eligible:
        return None
    return min(eligible, key=lambda c: rank_key(c, case))


# -- seats, nominations, agreement ---------------------------------------------------


def seats(tribunal_size: int) -> tuple[str, ...]:
    """The seats of a tribunal: one sole arbitrator, or a presiding one and two members."""
    return (SOLE,) if tribunal_size == 1 else (PRESIDING, MEMBER, MEMBER)


@dataclass(frozen=True)
class Seat:
    user_id: UUID
    role: str
    chosen_by: str = "commission"  # claimant | respondent | agreement | commission


def vacant_seats(tribunal_size: int, sitting: Iterable[Seat]) -> list[str]:
    """The roles still to fill, in order (a three-member tribunal: presiding first)."""
    needed = list(seats(tribunal_size))
    for seat in sitting:
        if seat.role in needed:
            needed.remove(seat.role)
    return needed


@dataclass(frozen=True)
class Nomination:
    side: str  # claimant | respondent
    role: str
    user_id: UUID


def nomination_problem(
    *, selection: str, tribunal_size: int, role: str, side: str, sitting: Iterable[Seat]
) -> str | None:
    """Why ``side`` may not nominate for ``role`` now (None: it may).

    A sole or presiding arbitrator is appointed when both sides name the same one;
    on a tribunal of three each side names one member itself.
    """
    if selection == "commission_appoints":
        return "under these rules the commission appoints the arbitrator; the parties do not"
    if role not in seats(tribunal_size):
        return f"a tribunal of {tribunal_size} has no {role} seat"
    seated = list(sitting)
    if role not in vacant_seats(tribunal_size, seated):
        return f"the {role} seat is taken"
    if role == MEMBER and any(s.role == MEMBER and s.chosen_by == side for s in seated):
        return "your side has named its member of the tribunal"
    return None


def agreed(nominations: Iterable[Nomination], role: str) -> UUID | None:
    """The arbitrator both sides named for ``role`` (their latest nominations), if any."""
    latest: dict[str, UUID] = {}
    for n in nominations:  # in order: later ones replace earlier ones
        if n.role == role:
            latest[n.side] = n.user_id
    claimant, respondent = latest.get("claimant"), latest.get("respondent")
    if claimant is not None and claimant == respondent:
        return claimant
    return None


# -- constitution and challenge ------------------------------------------------------


@dataclass(frozen=True)
class TribunalFacts:
    tribunal_size: int
    sitting: tuple[Seat, ...]
    disclosed: frozenset[UUID]  # sitting members who filed a disclosure
    pending_challenges: int
    hard_conflicts: frozenset[UUID] = field(default_factory=frozenset)


def constitution_problems(facts: TribunalFacts) -> list[tuple[str, str]]:
    """(rule, message) for every reason the tribunal cannot be constituted now."""
    problems: list[tuple[str, str]] = []
    vacant = vacant_seats(facts.tribunal_size, facts.sitting)
    if vacant or len(facts.sitting) != facts.tribunal_size:
        problems.append(
            (
                "tribunal_size",
                f"the rules want {facts.tribunal_size} arbitrator(s); "
                f"{len(facts.sitting)} sit, vacant: {', '.join(vacant) or 'none'}",
            )
        )
    missing = [s.user_id for s in facts.sitting if s.user_id not in facts.disclosed]
    if missing:
        problems.append(
            ("disclosure", f"{len(missing)} arbitrator(s) have not filed their disclosure")
        )
    if facts.pending_challenges:
        problems.append(("challenge", "a challenge of an arbitrator awaits the decision"))
    if facts.hard_conflicts & {s.user_id for s in facts.sitting}:
        problems.append(
            ("conflict", "an arbitrator has a conflict with someone on the case: replace them")
        )
    return problems


def challenge_is_late(now: datetime, challenge_ends_at: datetime | None) -> bool:
    """A challenge after the challenge period ran out is late (no period yet: in time)."""
    return challenge_ends_at is not None and now >= challenge_ends_at


class Timing(StrEnum):
    IN_TIME = "in_time"  # within the challenger's challenge period (or before it started)
    NEW_FACTS = "new_facts"  # late, but on grounds learned later, within their own period
    LATE = "late"


def challenge_timing(
    now: datetime,
    period_ends_at: datetime | None,
    *,
    served_on: date | None,
    known_on: date | None,
    new_facts_ends_at: datetime | None,
) -> tuple[Timing, str]:
    """Whether a challenge comes in time, and if not, why it is refused.

    ``period_ends_at``: the end of the challenger's own challenge period (None: not
    started, since the notice of constitution has not been served on its side yet).
    A late challenge stands on new facts only when their grounds became known after
    the side was served with the notice (``known_on`` later than ``served_on``), no
    later than today, and it is brought before ``new_facts_ends_at`` (counted from
    ``known_on``).
    """
    if not challenge_is_late(now, period_ends_at):
        return Timing.IN_TIME, ""
    assert period_ends_at is not None
    ended = f"the challenge period ended at {period_ends_at.isoformat()}"
    if known_on is None:
        return Timing.LATE, ended
    if served_on is not None and known_on <= served_on:
        return (
            Timing.LATE,
            f"{ended}; grounds known on {known_on.isoformat()} were known when the notice of "
            f"constitution was served ({served_on.isoformat()}): not new",
        )
    if new_facts_ends_at is None or now >= new_facts_ends_at:
        until = new_facts_ends_at.isoformat() if new_facts_ends_at else "unknown"
        return (
            Timing.LATE,
            f"{ended}; a challenge on grounds learned on {known_on.isoformat()} could be "
            f"brought until {until}",
        )
    return Timing.NEW_FACTS, ""


HARD_CONFLICTS: Final = frozenset(
    {ConflictKind.ON_THIS_CASE, ConflictKind.PARTY_ELSEWHERE, ConflictKind.AGENT_ELSEWHERE}
)
