"""The case as a state machine, its sides, and its exhibits (pure Python, no I/O).

A case moves only by explicit commands. Each command names the states it may
start from, the state it leads to, and who may issue it; anything else is
refused with the commands that *are* allowed now (a 409 at the API). The
history of a case is the append-only list of the commands it received.

Exhibits belong to one side of a case. A side sees its own exhibits from the
moment it drafts them; everyone else on the case (the other side, the
tribunal, the commission's staff) once they are submitted. Each side records
its view of every exhibit of the other side (authenticity, legality,
relevance: the three properties of evidence in Chinese procedure, 真实性、合法性、
关联性); the tribunal admits an exhibit or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from uuid import UUID

from arbitral.auth.domain import (
    CaseParticipation,
    ClientKind,
    Principal,
    PrincipalKind,
    Role,
)


class CaseState(StrEnum):
    FILED = "filed"  # awaiting the acceptance review
    RETURNED = "returned"  # returned to the claimant for correction
    REJECTED = "rejected"  # not accepted (closed)
    ACCEPTED = "accepted"  # accepted; the fees are due
    FEE_PAID = "fee_paid"  # paid; the respondent is to be served
    ANSWER_PERIOD = "answer_period"  # served; answer and counterclaim periods run
    EVIDENCE_EXCHANGE = "evidence_exchange"
    TRIBUNAL_CONSTITUTED = "tribunal_constituted"
    HEARING = "hearing"
    DELIBERATION = "deliberation"
    READY_FOR_AWARD = "ready_for_award"
    AWARDED = "awarded"  # closed by the award, issued (signed, logged, served)
    SETTLED = "settled"  # closed by settlement (negotiation or mediation)
    WITHDRAWN = "withdrawn"  # closed by the claimant's withdrawal
    SUSPENDED = "suspended"  # resumes to the state it was suspended in


CLOSED: Final = frozenset(
    {CaseState.REJECTED, CaseState.AWARDED, CaseState.SETTLED, CaseState.WITHDRAWN}
)
BEFORE_ACCEPTANCE: Final = frozenset({CaseState.FILED, CaseState.RETURNED})
PROCEEDINGS: Final = (
    CaseState.ACCEPTED,
    CaseState.FEE_PAID,
    CaseState.ANSWER_PERIOD,
    CaseState.EVIDENCE_EXCHANGE,
    CaseState.TRIBUNAL_CONSTITUTED,
    CaseState.HEARING,
    CaseState.DELIBERATION,
    CaseState.READY_FOR_AWARD,
)
# Where the parties may still put evidence in (the tribunal closes it with the hearing).
EVIDENCE_OPEN: Final = frozenset(
    {
        CaseState.FILED,
        CaseState.RETURNED,
        CaseState.ACCEPTED,
        CaseState.FEE_PAID,
        CaseState.ANSWER_PERIOD,
        CaseState.EVIDENCE_EXCHANGE,
        CaseState.TRIBUNAL_CONSTITUTED,
        CaseState.HEARING,
    }
)
# Where the tribunal rules on evidence.
RULING_OPEN: Final = frozenset(
    {
        CaseState.ACCEPTED,
        CaseState.FEE_PAID,
        CaseState.ANSWER_PERIOD,
        CaseState.EVIDENCE_EXCHANGE,
        CaseState.TRIBUNAL_CONSTITUTED,
        CaseState.HEARING,
        CaseState.DELIBERATION,
    }
)


class Side(StrEnum):
    CLAIMANT = "claimant"
    RESPONDENT = "respondent"

    @property
    def other(self) -> Side:
        return Side.RESPONDENT if self is Side.CLAIMANT else Side.CLAIMANT

    @property
    def prefix(self) -> str:
        """Exhibit numbers: 申1, 申2 … for the claimant, 被1, 被2 … for the respondent."""
        return "申" if self is Side.CLAIMANT else "被"


class Actor(StrEnum):
    """Who may issue a command, as the case sees them."""

    FILER = "filer"  # the claimant side (a claimant, its agent, or the lender that filed)
    RESPONDENT_SIDE = "respondent_side"
    STAFF = "staff"  # the commission's secretaries and admins (and the operator)
    TRIBUNAL = "tribunal"  # an arbitrator sitting on the case
    SYSTEM = "system"  # timers and callbacks (payment, service), never a person


@dataclass(frozen=True)
class Command:
    name: str
    sources: frozenset[CaseState]
    target: CaseState | None  # None: back to the state before (resume)
    actors: frozenset[Actor]
    needs_reason: bool = False
    label_zh: str = ""


def _cmd(
    name: str,
    sources: Iterable[CaseState],
    target: CaseState | None,
    actors: Iterable[Actor],
    *,
    needs_reason: bool = False,
    label_zh: str = "",
) -> Command:
    return Command(name, frozenset(sources), target, frozenset(actors), needs_reason, label_zh)


_OPEN = frozenset(CaseState) - CLOSED - {CaseState.SUSPENDED}
_BEFORE_AWARD = _OPEN - {CaseState.READY_FOR_AWARD}

COMMANDS: Final[Mapping[str, Command]] = {
    c.name: c
    for c in (
        # SYSTEM: a lender batch's cases, where the commission accepts them automatically
        # ([batches] automatic_acceptance) or a secretary accepted the batch as a whole.
        _cmd(
            "accept",
            {CaseState.FILED},
            CaseState.ACCEPTED,
            {Actor.STAFF, Actor.SYSTEM},
            label_zh="受理",
        ),
        _cmd(
            "return_for_correction",
            {CaseState.FILED},
            CaseState.RETURNED,
            {Actor.STAFF},
            needs_reason=True,
            label_zh="退回补正",
        ),
        _cmd(
            "reject",
            {CaseState.FILED, CaseState.RETURNED},
            CaseState.REJECTED,
            {Actor.STAFF},
            needs_reason=True,
            label_zh="不予受理",
        ),
        _cmd("amend", {CaseState.RETURNED}, CaseState.FILED, {Actor.FILER}, label_zh="补正"),
        _cmd(
            "deem_withdrawn",
            {CaseState.ACCEPTED},
            CaseState.WITHDRAWN,
            {Actor.SYSTEM},
            label_zh="逾期未缴费按撤回处理",
        ),
        _cmd(
            "record_payment",
            {CaseState.ACCEPTED},
            CaseState.FEE_PAID,
            {Actor.SYSTEM, Actor.STAFF},
            label_zh="仲裁费已缴纳",
        ),
        _cmd(
            "complete_service",
            {CaseState.FEE_PAID},
            CaseState.ANSWER_PERIOD,
            {Actor.SYSTEM, Actor.STAFF},
            label_zh="送达完成",
        ),
        _cmd(
            "close_pleadings",
            {CaseState.ANSWER_PERIOD},
            CaseState.EVIDENCE_EXCHANGE,
            {Actor.SYSTEM, Actor.STAFF},
            label_zh="答辩期届满",
        ),
        _cmd(
            "constitute_tribunal",
            {CaseState.ANSWER_PERIOD, CaseState.EVIDENCE_EXCHANGE},
            CaseState.TRIBUNAL_CONSTITUTED,
            {Actor.STAFF},
            label_zh="组成仲裁庭",
        ),
        _cmd(
            "vacate_tribunal",
            {CaseState.TRIBUNAL_CONSTITUTED},
            CaseState.EVIDENCE_EXCHANGE,
            {Actor.STAFF, Actor.SYSTEM},
            needs_reason=True,
            label_zh="仲裁员回避，重新组庭",
        ),
        _cmd(
            "open_hearing",
            {CaseState.TRIBUNAL_CONSTITUTED},
            CaseState.HEARING,
            {Actor.TRIBUNAL},
            label_zh="开庭审理",
        ),
        _cmd(
            "close_hearing",
            {CaseState.HEARING},
            CaseState.DELIBERATION,
            {Actor.TRIBUNAL},
            label_zh="审理终结",
        ),
        _cmd(
            "conclude_deliberation",
            {CaseState.DELIBERATION},
            CaseState.READY_FOR_AWARD,
            {Actor.TRIBUNAL},
            label_zh="合议完毕",
        ),
        _cmd(
            "issue_award",
            {CaseState.READY_FOR_AWARD},
            CaseState.AWARDED,
            {Actor.SYSTEM},
            label_zh="作出裁决",
        ),
        _cmd(
            "withdraw",
            _BEFORE_AWARD,
            CaseState.WITHDRAWN,
            {Actor.FILER},
            needs_reason=False,
            label_zh="撤回仲裁申请",
        ),
        _cmd(
            "record_settlement",
            _BEFORE_AWARD - BEFORE_ACCEPTANCE,
            CaseState.SETTLED,
            {Actor.STAFF, Actor.TRIBUNAL},
            needs_reason=True,
            label_zh="和解结案",
        ),
        _cmd(
            "suspend",
            _OPEN - BEFORE_ACCEPTANCE,
            CaseState.SUSPENDED,
            {Actor.STAFF, Actor.TRIBUNAL},
            needs_reason=True,
            label_zh="中止",
        ),
        _cmd(
            "resume",
            {CaseState.SUSPENDED},
            None,
            {Actor.STAFF, Actor.TRIBUNAL},
            label_zh="恢复",
        ),
    )
}


class TransitionRefused(Exception):
    """A command that is not allowed now; ``allowed`` lists those that are."""

    def __init__(self, message: str, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allowed = allowed


def allowed_commands(state: CaseState, actors: frozenset[Actor]) -> tuple[str, ...]:
    """The commands these actors may issue in ``state``, in a stable order."""
    return tuple(name for name, c in COMMANDS.items() if state in c.sources and c.actors & actors)


def transition(
    state: CaseState,
    command: str,
    actors: frozenset[Actor],
    *,
    resumes_to: CaseState | None = None,
) -> CaseState:
    """The state ``command`` leads to from ``state``; refused when the machine says no."""
    spec = COMMANDS.get(command)
    allowed = allowed_commands(state, actors)
    if spec is None:
        raise TransitionRefused(f"there is no command {command!r}", allowed)
    if state not in spec.sources:
        raise TransitionRefused(f"a case that is {state.value} cannot be {command}", allowed)
    if not spec.actors & actors:
        raise TransitionRefused(f"you may not {command} this case", allowed)
    if spec.target is None:
        if resumes_to is None or resumes_to in CLOSED or resumes_to is CaseState.SUSPENDED:
            raise TransitionRefused("the case has no state to resume to", allowed)
        return resumes_to
    return spec.target


# -- who is who on a case --------------------------------------------------------------


@dataclass(frozen=True)
class CaseView:
    """What the rules about a case need to know of it."""

    participation: CaseParticipation
    state: CaseState


STAFF_ROLES: Final = frozenset({Role.COMMISSION_ADMIN, Role.SECRETARY})


def is_staff(principal: Principal) -> bool:
    return principal.kind is PrincipalKind.OPERATOR or (
        principal.kind is PrincipalKind.USER and bool(principal.roles & STAFF_ROLES)
    )


def side_of(principal: Principal, case: CaseParticipation) -> Side | None:
    """The side this principal acts for on the case, if any.

    A claimant or respondent by their own account; an agent by a power of
    attorney from a party of that side; a lender by having filed the case.
    """
    if principal.kind is PrincipalKind.API_CLIENT:
        if principal.client_kind is ClientKind.LENDER and principal.client_id == (
            case.filed_by_client
        ):
            return Side.CLAIMANT
        return None
    if principal.kind is not PrincipalKind.USER:
        return None
    me = principal.subject_id
    if me in case.claimants and principal.roles & {Role.CLAIMANT, Role.RESPONDENT}:
        return Side.CLAIMANT
    if me in case.respondents and principal.roles & {Role.CLAIMANT, Role.RESPONDENT}:
        return Side.RESPONDENT
    if Role.AGENT in principal.roles:
        parties = case.agents.get(me, frozenset())
        if parties & case.claimants:
            return Side.CLAIMANT
        if parties & case.respondents:
            return Side.RESPONDENT
    return None


def actors_of(principal: Principal, case: CaseParticipation) -> frozenset[Actor]:
    """The actors this principal is on the case (for the command table)."""
    found: set[Actor] = set()
    if is_staff(principal):
        found.add(Actor.STAFF)
    if (
        principal.kind is PrincipalKind.USER
        and Role.ARBITRATOR in principal.roles
        and principal.subject_id in case.arbitrators
    ):
        found.add(Actor.TRIBUNAL)
    side = side_of(principal, case)
    if side is Side.CLAIMANT:
        found.add(Actor.FILER)
    elif side is Side.RESPONDENT:
        found.add(Actor.RESPONDENT_SIDE)
    return frozenset(found)


# -- exhibits ------------------------------------------------------------------------


class Opinion(StrEnum):
    """A side's view of one property of an exhibit (认可 / 不认可)."""

    ADMITS = "admits"
    DISPUTES = "disputes"


class Ruling(StrEnum):
    ADMITTED = "admitted"  # 采纳
    NOT_ADMITTED = "not_admitted"  # 不予采纳


@dataclass(frozen=True)
class ExhibitFacts:
    side: Side
    submitted: bool


def may_see_exhibit(principal: Principal, case: CaseParticipation, exhibit: ExhibitFacts) -> bool:
    """Its own side always; everyone else on the case once it is submitted."""
    if side_of(principal, case) is exhibit.side:
        return True
    return exhibit.submitted


def exhibit_number(side: Side, seq: int) -> str:
    return f"{side.prefix}{seq}"


def view_problems(
    authenticity: str, legality: str, relevance: str, comment: str
) -> list[tuple[str, str, str]]:
    """(field, rule, message) for a view that cannot be recorded as given."""
    problems: list[tuple[str, str, str]] = []
    opinions = {"authenticity": authenticity, "legality": legality, "relevance": relevance}
    valid = {o.value for o in Opinion}
    for name, value in opinions.items():
        if value not in valid:
            problems.append((f"$.{name}", "choice", "must be admits or disputes"))
    disputed = any(v == Opinion.DISPUTES for v in opinions.values())
    if disputed and not comment.strip():
        problems.append(
            ("$.comment", "required", "say why, when any property of the exhibit is disputed")
        )
    return problems


def participation(
    *,
    claimants: Iterable[UUID],
    respondents: Iterable[UUID],
    arbitrators: Iterable[UUID],
    agents: Mapping[UUID, Iterable[UUID]],
    filed_by_client: str | None,
) -> CaseParticipation:
    return CaseParticipation(
        claimants=frozenset(claimants),
        respondents=frozenset(respondents),
        arbitrators=frozenset(arbitrators),
        agents={agent: frozenset(parties) for agent, parties in agents.items()},
        filed_by_client=filed_by_client,
    )
