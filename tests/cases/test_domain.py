"""The case state machine and the exhibit rules, as pure functions (no database)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbitral.auth.domain import ClientKind, Permission, Principal, PrincipalKind, Role
from arbitral.cases import domain
from arbitral.cases.domain import (
    COMMANDS,
    Actor,
    CaseState,
    ExhibitFacts,
    Side,
    TransitionRefused,
)

CLAIMANT, RESPONDENT, AGENT, ARBITRATOR, SECRETARY = (uuid.uuid4() for _ in range(5))
TENANT = uuid.uuid4()


def person(user: uuid.UUID, role: Role) -> Principal:
    return Principal(
        kind=PrincipalKind.USER,
        subject_id=user,
        tenant_id=TENANT,
        permissions=frozenset({Permission.CASES_READ}),
        roles=frozenset({role}),
    )


CASE = domain.participation(
    claimants=[CLAIMANT],
    respondents=[RESPONDENT],
    arbitrators=[ARBITRATOR],
    agents={AGENT: [RESPONDENT]},
    filed_by_client="lender-1",
)


def test_the_acceptance_review() -> None:
    staff = frozenset({Actor.STAFF})
    assert domain.transition(CaseState.FILED, "accept", staff) is CaseState.ACCEPTED
    assert domain.transition(CaseState.FILED, "reject", staff) is CaseState.REJECTED
    assert domain.transition(CaseState.FILED, "return_for_correction", staff) is (
        CaseState.RETURNED
    )
    filer = frozenset({Actor.FILER})
    assert domain.transition(CaseState.RETURNED, "amend", filer) is CaseState.FILED


def test_a_refusal_lists_what_is_allowed() -> None:
    with pytest.raises(TransitionRefused) as caught:
        domain.transition(CaseState.ACCEPTED, "accept", frozenset({Actor.STAFF}))
    assert "accept" not in caught.value.allowed
    assert "suspend" in caught.value.allowed
    # The claimant cannot accept its own case, whatever the state.
    with pytest.raises(TransitionRefused) as caught:
        domain.transition(CaseState.FILED, "accept", frozenset({Actor.FILER}))
    assert caught.value.allowed == ("withdraw",)


def test_suspension_resumes_where_it_stopped() -> None:
    staff = frozenset({Actor.STAFF})
    state = domain.transition(CaseState.HEARING, "suspend", staff)
    assert state is CaseState.SUSPENDED
    assert domain.transition(state, "resume", staff, resumes_to=CaseState.HEARING) is (
        CaseState.HEARING
    )
    with pytest.raises(TransitionRefused):
        domain.transition(state, "resume", staff, resumes_to=None)


@given(st.sampled_from(sorted(CaseState)), st.sampled_from(sorted(COMMANDS)))
def test_no_command_leaves_a_closed_case(state: CaseState, command: str) -> None:
    every = frozenset(Actor)
    if state in domain.CLOSED:
        with pytest.raises(TransitionRefused):
            domain.transition(state, command, every)


@given(st.sampled_from(sorted(CaseState)), st.sampled_from(sorted(COMMANDS)))
def test_the_respondent_side_cannot_move_the_case(state: CaseState, command: str) -> None:
    with pytest.raises(TransitionRefused):
        domain.transition(state, command, frozenset({Actor.RESPONDENT_SIDE}))


def test_sides() -> None:
    assert domain.side_of(person(CLAIMANT, Role.CLAIMANT), CASE) is Side.CLAIMANT
    assert domain.side_of(person(RESPONDENT, Role.RESPONDENT), CASE) is Side.RESPONDENT
    assert domain.side_of(person(AGENT, Role.AGENT), CASE) is Side.RESPONDENT
    assert domain.side_of(person(ARBITRATOR, Role.ARBITRATOR), CASE) is None
    assert domain.side_of(person(SECRETARY, Role.SECRETARY), CASE) is None
    # A claimant account that is not on this case is no side of it.
    assert domain.side_of(person(uuid.uuid4(), Role.CLAIMANT), CASE) is None
    lender = Principal(
        kind=PrincipalKind.API_CLIENT,
        subject_id=uuid.uuid4(),
        tenant_id=TENANT,
        permissions=frozenset(),
        client_id="lender-1",
        client_kind=ClientKind.LENDER,
    )
    assert domain.side_of(lender, CASE) is Side.CLAIMANT
    assert domain.actors_of(person(ARBITRATOR, Role.ARBITRATOR), CASE) == {Actor.TRIBUNAL}
    assert domain.actors_of(person(uuid.uuid4(), Role.ARBITRATOR), CASE) == frozenset()
    assert domain.actors_of(person(SECRETARY, Role.SECRETARY), CASE) == {Actor.STAFF}


def test_exhibits_are_seen_by_the_other_side_only_once_submitted() -> None:
    draft = ExhibitFacts(side=Side.CLAIMANT, submitted=False)
    submitted = ExhibitFacts(side=Side.CLAIMANT, submitted=True)
    claimant, respondent = person(CLAIMANT, Role.CLAIMANT), person(RESPONDENT, Role.RESPONDENT)
    arbitrator = person(ARBITRATOR, Role.ARBITRATOR)
    assert domain.may_see_exhibit(claimant, CASE, draft)
    assert not domain.may_see_exhibit(respondent, CASE, draft)
    assert not domain.may_see_exhibit(arbitrator, CASE, draft)
    assert domain.may_see_exhibit(respondent, CASE, submitted)
    assert domain.may_see_exhibit(arbitrator, CASE, submitted)


def test_exhibit_numbers_and_views() -> None:
    assert domain.exhibit_number(Side.CLAIMANT, 3) == "申3"
    assert domain.exhibit_number(Side.RESPONDENT, 1) == "被1"
    assert domain.view_problems("admits", "admits", "admits", "") == []
    assert domain.view_problems("disputes", "admits", "admits", " ") == [
        ("$.comment", "required", "say why, when any property of the exhibit is disputed")
    ]
    assert [p[0] for p in domain.view_problems("maybe", "admits", "yes", "x")] == [
        "$.authenticity",
        "$.relevance",
    ]
