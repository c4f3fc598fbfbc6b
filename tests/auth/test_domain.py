"""Roles, scopes and the per-case rule (pure, no database)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbitral.auth.domain import (
    CLIENT_SCOPES,
    CaseParticipation,
    ClientKind,
    Permission,
    Principal,
    PrincipalKind,
    Role,
    grantable_scopes,
    may_access_case,
    permissions_of_roles,
)

TENANT = uuid4()


def person(*roles: Role, subject: UUID | None = None) -> Principal:
    return Principal(
        kind=PrincipalKind.USER,
        subject_id=subject or uuid4(),
        tenant_id=TENANT,
        roles=frozenset(roles),
        permissions=permissions_of_roles(roles),
    )


def client(kind: ClientKind, client_id: str) -> Principal:
    return Principal(
        kind=PrincipalKind.API_CLIENT,
        subject_id=uuid4(),
        tenant_id=TENANT,
        permissions=CLIENT_SCOPES[kind],
        client_id=client_id,
        client_kind=kind,
    )


def test_only_administrators_manage_the_commission() -> None:
    for role in Role:
        granted = permissions_of_roles([role])
        assert (Permission.USERS_MANAGE in granted) is (role is Role.COMMISSION_ADMIN)
        assert (Permission.KEYS_MANAGE in granted) is (role is Role.COMMISSION_ADMIN)
        assert Permission.TENANT_READ in granted
        assert Permission.PLATFORM_TENANTS_READ not in granted
    assert Permission.CASES_DECIDE in permissions_of_roles([Role.ARBITRATOR])
    assert Permission.CASES_DECIDE not in permissions_of_roles([Role.SECRETARY, Role.CLAIMANT])


def test_client_scopes_are_checked_against_the_kind() -> None:
    assert grantable_scopes(ClientKind.LENDER, ["batches:submit"]) == {Permission.BATCHES_SUBMIT}
    with pytest.raises(ValueError, match="not available to court clients"):
        grantable_scopes(ClientKind.COURT, ["batches:submit"])
    with pytest.raises(ValueError, match="unknown scope 'cases:delete'"):
        grantable_scopes(ClientKind.LENDER, ["cases:delete"])


def test_the_per_case_rule() -> None:
    claimant, respondent, arbitrator, agent, stranger = (uuid4() for _ in range(5))
    case = CaseParticipation(
        claimants=frozenset({claimant}),
        respondents=frozenset({respondent}),
        arbitrators=frozenset({arbitrator}),
        agents={agent: frozenset({respondent})},
        filed_by_client="cli_lender",
        court_clients=frozenset({"cli_court"}),
    )
    assert may_access_case(person(Role.CLAIMANT, subject=claimant), case)
    assert may_access_case(person(Role.RESPONDENT, subject=respondent), case)
    assert may_access_case(person(Role.ARBITRATOR, subject=arbitrator), case)
    assert may_access_case(person(Role.AGENT, subject=agent), case)
    assert may_access_case(person(Role.SECRETARY), case)
    assert may_access_case(person(Role.COMMISSION_ADMIN), case)
    assert not may_access_case(person(Role.ARBITRATOR, subject=stranger), case)
    assert not may_access_case(person(Role.CLAIMANT, subject=stranger), case)
    assert not may_access_case(person(Role.AGENT, subject=stranger), case)
    # An agent whose power of attorney is for someone outside the case sees nothing.
    other = CaseParticipation(
        claimants=frozenset({stranger}), agents={agent: frozenset({claimant})}
    )
    assert not may_access_case(person(Role.AGENT, subject=agent), other)
    # A user who is a party elsewhere does not become one here by holding the role.
    assert not may_access_case(person(Role.RESPONDENT, subject=claimant), other)
    assert may_access_case(client(ClientKind.LENDER, "cli_lender"), case)
    assert not may_access_case(client(ClientKind.LENDER, "cli_other"), case)
    assert may_access_case(client(ClientKind.COURT, "cli_court"), case)
    assert not may_access_case(client(ClientKind.TRADING_PLATFORM, "cli_court"), case)


@given(
    roles=st.sets(st.sampled_from([Role.CLAIMANT, Role.RESPONDENT, Role.AGENT, Role.ARBITRATOR])),
    participants=st.integers(min_value=0, max_value=6),
)
def test_outsiders_never_see_a_case(roles: set[Role], participants: int) -> None:
    """Whatever the case holds, a non-staff person named nowhere in it is refused."""
    people = [uuid4() for _ in range(participants)]
    case = CaseParticipation(
        claimants=frozenset(people[:2]),
        respondents=frozenset(people[2:4]),
        arbitrators=frozenset(people[4:]),
        agents={p: frozenset(people) for p in people},
    )
    assert not may_access_case(person(*roles), case)
