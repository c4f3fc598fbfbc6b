"""The tribunal rules without a database: eligibility, conflicts, the automatic choice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from arbitral.tribunal import domain
from arbitral.tribunal.domain import (
    Candidate,
    CaseFacts,
    ConflictKind,
    Involvement,
    Refusal,
    Relation,
    Seat,
    choose_arbitrator,
)

CLAIMANT_ID = "11010519491231002X"
RESPONDENT_ID = "91350100M000100Y43"
CASE = CaseFacts(
    case_id=uuid.UUID(int=1),
    case_type="online-purchase",
    party_users=frozenset({uuid.UUID(int=101), uuid.UUID(int=102)}),
    party_ids=frozenset({CLAIMANT_ID, RESPONDENT_ID}),
    claimant_ids=frozenset({CLAIMANT_ID}),
    agents=frozenset({uuid.UUID(int=201)}),
    lender_client="lender-1",
)


def arbitrator(n: int, **facts: object) -> Candidate:
    values: dict[str, object] = {
        "user_id": uuid.UUID(int=1000 + n),
        "accepting": True,
        "max_concurrent": 10,
        "load": 0,
        "repeat_count": 0,
    }
    values.update(facts)
    return Candidate(**values)  # type: ignore[arg-type]


def test_the_lowest_load_is_chosen() -> None:
    panel = [arbitrator(1, load=5), arbitrator(2, load=2), arbitrator(3, load=7)]
    assert choose_arbitrator(panel, CASE, cap=30) == panel[1]


def test_unavailable_arbitrators_are_never_chosen() -> None:
    panel = [
        arbitrator(1, load=0, accepting=False),
        arbitrator(2, load=10, max_concurrent=10),
        arbitrator(3, load=0, languages=frozenset({"en"})),
        arbitrator(4, load=9),
    ]
    assert choose_arbitrator(panel, CASE, cap=30) == panel[3]
    refusals = [domain.assess(a, CASE, cap=30).refusals for a in panel]
    assert refusals == [
        (Refusal.NOT_ACCEPTING,),
        (Refusal.AT_CAPACITY,),
        (Refusal.LANGUAGE,),
        (),
    ]


def test_the_repeat_claimant_cap() -> None:
    tired = arbitrator(1, load=0, repeat_count=3)
    fresh = arbitrator(2, load=4, repeat_count=2)
    assert choose_arbitrator([tired, fresh], CASE, cap=3) == fresh
    assert domain.assess(tired, CASE, cap=3).refusals == (Refusal.REPEAT_CLAIMANT_CAP,)
    assert choose_arbitrator([tired], CASE, cap=3) is None
    assert choose_arbitrator([tired], CASE, cap=4) == tired


def test_a_specialist_wins_a_tie_of_load() -> None:
    general = arbitrator(1, load=1)
    specialist = arbitrator(2, load=1, specialities=frozenset({"online-purchase"}))
    assert choose_arbitrator([general, specialist], CASE, cap=30) == specialist
    busier_specialist = arbitrator(3, load=2, specialities=frozenset({"online-purchase"}))
    assert choose_arbitrator([general, busier_specialist], CASE, cap=30) == general


def test_sitting_and_removed_arbitrators_are_not_chosen_again() -> None:
    a, b, c = arbitrator(1), arbitrator(2), arbitrator(3, load=3)
    chosen = choose_arbitrator([a, b, c], CASE, cap=30, sitting=[a.user_id], removed=[b.user_id])
    assert chosen == c


def test_conflicts_found_across_the_arbitrators_cases() -> None:
    other = uuid.UUID(int=2)
    cases = {
        "party here": arbitrator(1, user_id=uuid.UUID(int=101)),
        "agent here": arbitrator(2, user_id=uuid.UUID(int=201)),
        "same id number": arbitrator(3, id_number=RESPONDENT_ID),
        "agent elsewhere for the claimant": arbitrator(
            4,
            involvements=(Involvement(other, False, frozenset({CLAIMANT_ID}), frozenset(), None),),
        ),
        "party elsewhere against the lender": arbitrator(
            5,
            involvements=(Involvement(other, True, frozenset({"X"}), frozenset(), "lender-1"),),
        ),
        "disclosed on another case": arbitrator(
            6, relations=(Relation("party", "former employer", id_number=RESPONDENT_ID),)
        ),
    }
    kinds = {name: [c.kind for c in domain.conflicts_of(a, CASE)] for name, a in cases.items()}
    assert kinds == {
        "party here": [ConflictKind.ON_THIS_CASE],
        "agent here": [ConflictKind.ON_THIS_CASE],
        "same id number": [ConflictKind.ON_THIS_CASE],
        "agent elsewhere for the claimant": [ConflictKind.AGENT_ELSEWHERE],
        "party elsewhere against the lender": [ConflictKind.PARTY_ELSEWHERE],
        "disclosed on another case": [ConflictKind.DISCLOSED],
    }
    assert choose_arbitrator(list(cases.values()), CASE, cap=30) is None
    # Sitting on other cases of the same people is no conflict: the cap limits that.
    clean = arbitrator(
        7,
        involvements=(
            Involvement(other, False, frozenset({"someone else"}), frozenset(), "lender-2"),
        ),
    )
    assert domain.conflicts_of(clean, CASE) == ()
    assert choose_arbitrator([*cases.values(), clean], CASE, cap=30) == clean


def test_nominations_agree_on_the_latest_of_each_side() -> None:
    a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    N = domain.Nomination
    assert domain.agreed([N("claimant", "sole", a), N("respondent", "sole", b)], "sole") is None
    assert (
        domain.agreed(
            [N("claimant", "sole", a), N("respondent", "sole", b), N("respondent", "sole", a)],
            "sole",
        )
        == a
    )
    assert (
        domain.agreed(
            [N("claimant", "sole", a), N("respondent", "sole", a), N("claimant", "sole", b)],
            "sole",
        )
        is None
    )


def test_nomination_problems() -> None:
    a = uuid.UUID(int=1)
    problem = domain.nomination_problem
    assert problem(
        selection="commission_appoints", tribunal_size=1, role="sole", side="claimant", sitting=[]
    )
    kwargs = {"selection": "parties_agree_else_commission", "tribunal_size": 1}
    assert problem(**kwargs, role="sole", side="claimant", sitting=[]) is None  # type: ignore[arg-type]
    assert problem(**kwargs, role="member", side="claimant", sitting=[])  # type: ignore[arg-type]
    assert problem(**kwargs, role="sole", side="claimant", sitting=[Seat(a, "sole")])  # type: ignore[arg-type]
    three = {"selection": "each_party_one_presiding_by_agreement_else_commission"}
    named = [Seat(a, "member", "claimant")]
    assert problem(**three, tribunal_size=3, role="member", side="claimant", sitting=named)  # type: ignore[arg-type]
    assert (
        problem(**three, tribunal_size=3, role="member", side="respondent", sitting=named) is None
    )  # type: ignore[arg-type]


def test_constitution_problems() -> None:
    a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    facts = domain.TribunalFacts(1, (), frozenset(), 0)
    assert [r for r, _ in domain.constitution_problems(facts)] == ["tribunal_size"]
    facts = domain.TribunalFacts(1, (Seat(a, "sole"),), frozenset(), 1, frozenset({a}))
    assert [r for r, _ in domain.constitution_problems(facts)] == [
        "disclosure",
        "challenge",
        "conflict",
    ]
    facts = domain.TribunalFacts(1, (Seat(a, "sole"),), frozenset({a}), 0)
    assert domain.constitution_problems(facts) == []
    three = domain.TribunalFacts(3, (Seat(a, "member"), Seat(b, "member")), frozenset({a, b}), 0)
    [(rule, message)] = domain.constitution_problems(three)
    assert rule == "tribunal_size"
    assert "presiding" in message


def test_a_challenge_is_late_once_the_period_ran_out() -> None:
    ends = datetime(2026, 3, 1, 16, tzinfo=UTC)
    assert not domain.challenge_is_late(ends - timedelta(seconds=1), ends)
    assert domain.challenge_is_late(ends, ends)
    assert not domain.challenge_is_late(ends, None)  # no period opened yet


# -- properties ------------------------------------------------------------------------

candidates = st.lists(
    st.builds(
        Candidate,
        user_id=st.uuids(),
        accepting=st.booleans(),
        max_concurrent=st.integers(0, 20),
        load=st.integers(0, 25),
        repeat_count=st.integers(0, 10),
        specialities=st.frozensets(st.sampled_from(["online-purchase", "online-loan"])),
        languages=st.sampled_from([frozenset({"zh"}), frozenset({"en"}), frozenset({"zh", "en"})]),
        id_number=st.one_of(st.none(), st.sampled_from([CLAIMANT_ID, "other"])),
    ),
    max_size=12,
    unique_by=lambda c: c.user_id,
)


@settings(max_examples=300, deadline=None)
@given(panel=candidates, cap=st.integers(1, 8), case_id=st.uuids())
def test_the_choice_is_eligible_least_loaded_and_independent_of_order(
    panel: list[Candidate], cap: int, case_id: uuid.UUID
) -> None:
    case = CaseFacts(
        case_id=case_id,
        case_type="online-purchase",
        party_users=CASE.party_users,
        party_ids=CASE.party_ids,
        claimant_ids=CASE.claimant_ids,
        agents=CASE.agents,
        lender_client=None,
    )
    chosen = choose_arbitrator(panel, case, cap=cap)
    eligible = [c for c in panel if domain.assess(c, case, cap=cap).eligible]
    if not eligible:
        assert chosen is None
        return
    assert chosen in eligible
    assert chosen is not None
    # Never above the cap, never at capacity, never in conflict.
    assert chosen.repeat_count < cap
    assert chosen.load < chosen.max_concurrent
    assert domain.conflicts_of(chosen, case) == ()
    assert chosen.load == min(c.load for c in eligible)
    # Deterministic: the same panel in any order gives the same arbitrator.
    assert choose_arbitrator(list(reversed(panel)), case, cap=cap) == chosen


@settings(max_examples=50, deadline=None)
@given(st.lists(st.uuids(), min_size=2, max_size=2, unique=True), st.integers(60, 80))
def test_ties_are_spread_across_arbitrators(users: list[uuid.UUID], cases: int) -> None:
    """Equal arbitrators: the tie-break gives cases to both, not always the same one."""
    panel = [arbitrator(0, user_id=u) for u in users]
    winners = set()
    for n in range(cases):
        case = CaseFacts(
            uuid.UUID(int=n + 7), "online-loan", frozenset(), frozenset(), frozenset(),
            frozenset(), None,
        )  # fmt: skip
        chosen = choose_arbitrator(panel, case, cap=30)
        assert chosen is not None
        winners.add(chosen.user_id)
    assert winners == set(users)
