"""Use cases of the tribunal context: the panel, seats, disclosure, constitution, challenge.

Every path to a seat (the parties' agreement, a side's own member, the
commission's automatic appointment, a secretary's pick, a replacement) goes
through :func:`_assessments` and the pure rules of
:mod:`arbitral.tribunal.domain`; what the rules refuse is refused with the
reasons. Each action is one transaction that also writes the case's history
event and the audit event (and, for challenges, a leaf of the transparency
log: the due-process record shows the challenge opportunity and its use).
Cases are reached only through :func:`arbitral.cases.services.access_case`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

import msgspec
import structlog

from arbitral.audit.services import Actor as AuditActor
from arbitral.audit.services import record
from arbitral.auth.domain import Principal, PrincipalKind, Role
from arbitral.cases import deadlines
from arbitral.cases import services as cases
from arbitral.cases.domain import CLOSED, Actor, CaseState, actors_of, is_staff, side_of
from arbitral.cases.services import LoadedCase, TransitionNotAllowed, access_case, append_event
from arbitral.db.values import as_datetime, as_optional_datetime, as_uuid
from arbitral.errors import Conflict, FieldProblem, Forbidden, NotFound, ValidationFailed
from arbitral.identity.services import actor_of, tenant_of
from arbitral.ledger import services as ledger
from arbitral.notify.domain import language_of
from arbitral.rules import calendar as cal
from arbitral.rules.model import Procedure, UnknownRule
from arbitral.service import services as service
from arbitral.service.domain import Notice, RequestStatus
from arbitral.tribunal import domain
from arbitral.tribunal.schemas import (
    CandidateOut,
    ChallengeIn,
    ChallengeOut,
    ChallengePeriodOut,
    ConflictOut,
    ConstituteIn,
    DecisionIn,
    DisclosureIn,
    DisclosureOut,
    NominationIn,
    NominationOut,
    ProfileIn,
    ProfileOut,
    ProfileUpdate,
    RelationIn,
    ReleaseIn,
    SeatOut,
    TribunalOut,
)

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

log = structlog.get_logger(__name__)

SYSTEM: Final = "tribunal"
SELECTION: Final = "arbitrator_selection"
CHALLENGE: Final = "challenge"
# The days to challenge on grounds learned later, counted from learning them (an optional
# time limit of the rule set, from = "challenge_ground_known"; when the rule set states
# none, the challenge period's own length).
NEW_FACTS: Final = "challenge_new_facts"
_ROLE_TEXT: Final = {
    "zh": {"sole": "独任仲裁员", "presiding": "首席仲裁员", "member": "仲裁员"},
    "en": {"sole": "sole arbitrator", "presiding": "presiding arbitrator", "member": "arbitrator"},
}
_CHOSEN_TEXT: Final = {
    "zh": {
        "claimant": "申请人选定",
        "respondent": "被申请人选定",
        "agreement": "双方当事人共同选定",
        "commission": "仲裁委员会主任指定",
    },
    "en": {
        "claimant": "chosen by the claimant",
        "respondent": "chosen by the respondent",
        "agreement": "chosen by the parties together",
        "commission": "appointed by the chair of the commission",
    },
}
# States in which seats are filled (a vacancy after constitution is filled too).
SEATING: Final = frozenset(
    {
        CaseState.ANSWER_PERIOD,
        CaseState.EVIDENCE_EXCHANGE,
        CaseState.TRIBUNAL_CONSTITUTED,
        CaseState.HEARING,
        CaseState.DELIBERATION,
    }
)
AFTER_CONSTITUTION: Final = frozenset(
    {CaseState.TRIBUNAL_CONSTITUTED, CaseState.HEARING, CaseState.DELIBERATION}
)
_CLOSED_SQL: Final = ", ".join(f"'{s.value}'" for s in sorted(CLOSED))


class TribunalRefused(Conflict):
    slug = "tribunal-refused"
    title = "Not allowed by the tribunal rules"


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("{}" for _ in values)


def _now(runtime: Runtime) -> datetime:
    return runtime.clock.now()


# -- the panel -----------------------------------------------------------------------


def _require_staff(principal: Principal) -> None:
    if not is_staff(principal):
        raise Forbidden(
            "only the commission's staff manage the panel",
            errors=[FieldProblem("$", "staff", "log in as a commission admin or secretary")],
        )


async def _loads(uow: UnitOfWork, tenant_id: UUID, users: Sequence[UUID]) -> dict[UUID, int]:
    """Cases where each arbitrator sits now (not released, the case not closed)."""
    if not users:
        return {}
    rows = await uow.fetch(
        "SELECT m.user_id, COUNT(DISTINCT m.case_id) AS n FROM tribunal_member m "  # noqa: S608 (placeholders only)
        "JOIN arb_case c ON c.tenant_id = m.tenant_id AND c.id = m.case_id "
        f"WHERE m.tenant_id = {{}} AND m.released_at IS NULL AND c.state NOT IN ({_CLOSED_SQL}) "
        f"AND m.user_id IN ({_marks(users)}) GROUP BY m.user_id",
        tenant_id,
        *users,
    )
    return {as_uuid(r["user_id"]): int(r["n"]) for r in rows}


async def _profiles(
    uow: UnitOfWork, tenant_id: UUID, user_id: UUID | None = None
) -> list[dict[str, Any]]:
    """Panel profiles of active users holding the arbitrator role."""
    sql = (
        "SELECT p.*, u.display_name FROM arbitrator_profile p JOIN tenant_user u "
        "ON u.tenant_id = p.tenant_id AND u.id = p.user_id "
        "WHERE p.tenant_id = {} AND u.status = 'active' AND EXISTS (SELECT 1 FROM membership m "
        "WHERE m.tenant_id = p.tenant_id AND m.user_id = p.user_id AND m.role = {} "
        "AND m.revoked_at IS NULL)"
    )
    args: list[Any] = [tenant_id, Role.ARBITRATOR.value]
    if user_id is not None:
        sql += " AND p.user_id = {}"
        args.append(user_id)
    return await uow.fetch(sql + " ORDER BY u.display_name, p.user_id", *args)


def _profile_out(row: Mapping[str, Any], load: int, *, staff: bool) -> ProfileOut:
    return ProfileOut(
        user_id=as_uuid(row["user_id"]),
        display_name=str(row["display_name"]),
        specialities=list(_json(row["specialities"])),
        languages=list(_json(row["languages"])),
        accepting=bool(row["accepting"]),
        max_concurrent=int(row["max_concurrent"]),
        load=load,
        bio=str(row["bio"]),
        updated_at=as_datetime(row["updated_at"]),
        id_number=row["id_number"] if staff else None,
    )


async def list_profiles(runtime: Runtime, principal: Principal) -> list[ProfileOut]:
    """The commission's panel with each arbitrator's load (parties choose from it)."""
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        rows = await _profiles(uow, tenant_id)
        loads = await _loads(uow, tenant_id, [as_uuid(r["user_id"]) for r in rows])
    staff = is_staff(principal)
    return [_profile_out(r, loads.get(as_uuid(r["user_id"]), 0), staff=staff) for r in rows]


async def get_profile(runtime: Runtime, principal: Principal, user_id: UUID) -> ProfileOut:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        return await _one_profile(uow, principal, tenant_id, user_id)


async def _one_profile(
    uow: UnitOfWork, principal: Principal, tenant_id: UUID, user_id: UUID
) -> ProfileOut:
    rows = await _profiles(uow, tenant_id, user_id)
    if not rows:
        raise NotFound("no such arbitrator on the panel")
    loads = await _loads(uow, tenant_id, [user_id])
    return _profile_out(rows[0], loads.get(user_id, 0), staff=is_staff(principal))


async def create_profile(runtime: Runtime, principal: Principal, data: ProfileIn) -> ProfileOut:
    """Put an arbitrator (a user holding the arbitrator role) on the panel."""
    _require_staff(principal)
    tenant_id = tenant_of(principal)
    now = _now(runtime)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        holder = await uow.fetch(
            "SELECT 1 AS ok FROM membership m JOIN tenant_user u "
            "ON u.tenant_id = m.tenant_id AND u.id = m.user_id "
            "WHERE m.tenant_id = {} AND m.user_id = {} AND m.role = {} "
            "AND m.revoked_at IS NULL AND u.status = 'active'",
            tenant_id,
            data.user_id,
            Role.ARBITRATOR.value,
        )
        if not holder:
            raise ValidationFailed(
                "not an arbitrator of this commission",
                errors=[
                    FieldProblem("$.user_id", "arbitrator", "the user holds no arbitrator role")
                ],
            )
        existing = await uow.fetch(
            "SELECT 1 AS ok FROM arbitrator_profile WHERE tenant_id = {} AND user_id = {}",
            tenant_id,
            data.user_id,
        )
        if existing:
            raise Conflict(
                "already on the panel",
                errors=[FieldProblem("$.user_id", "unique", "this arbitrator has a profile")],
            )
        await uow.execute(
            "INSERT INTO arbitrator_profile (id, tenant_id, user_id, specialities, languages, "
            "accepting, max_concurrent, id_number, bio, created_at, updated_at, updated_by) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            uuid4(),
            tenant_id,
            data.user_id,
            json.dumps(sorted(set(data.specialities)), ensure_ascii=False),
            json.dumps(sorted(set(data.languages)), ensure_ascii=False),
            data.accepting,
            data.max_concurrent,
            data.id_number or None,
            data.bio,
            now,
            now,
            principal.actor_id,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="arbitrator.panel_added",
            target_kind="user",
            target_id=data.user_id,
            detail={"accepting": data.accepting, "max_concurrent": data.max_concurrent},
        )
        return await _one_profile(uow, principal, tenant_id, data.user_id)


async def update_profile(
    runtime: Runtime, principal: Principal, user_id: UUID, data: ProfileUpdate
) -> ProfileOut:
    _require_staff(principal)
    tenant_id = tenant_of(principal)
    changes: dict[str, Any] = {}
    if data.specialities is not None:
        changes["specialities"] = json.dumps(sorted(set(data.specialities)), ensure_ascii=False)
    if data.languages is not None:
        changes["languages"] = json.dumps(sorted(set(data.languages)), ensure_ascii=False)
    if data.accepting is not None:
        changes["accepting"] = data.accepting
    if data.max_concurrent is not None:
        changes["max_concurrent"] = data.max_concurrent
    if data.id_number is not None:
        changes["id_number"] = data.id_number or None
    if data.bio is not None:
        changes["bio"] = data.bio
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await _one_profile(uow, principal, tenant_id, user_id)
        sets = ", ".join(f"{k} = {{}}" for k in changes)
        await uow.execute(
            f"UPDATE arbitrator_profile SET {sets + ', ' if sets else ''}"  # noqa: S608 (constant column names)
            "updated_at = {}, updated_by = {} WHERE tenant_id = {} AND user_id = {}",
            *changes.values(),
            _now(runtime),
            principal.actor_id,
            tenant_id,
            user_id,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="arbitrator.panel_updated",
            target_kind="user",
            target_id=user_id,
            detail={k: v for k, v in msgspec.to_builtins(data).items() if v is not None},
        )
        return await _one_profile(uow, principal, tenant_id, user_id)


async def remove_profile(runtime: Runtime, principal: Principal, user_id: UUID) -> None:
    """Take an arbitrator off the panel; refused while they sit on an open case."""
    _require_staff(principal)
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await _one_profile(uow, principal, tenant_id, user_id)
        load = (await _loads(uow, tenant_id, [user_id])).get(user_id, 0)
        if load:
            raise Conflict(
                f"the arbitrator sits on {load} open case(s): stop new cases instead "
                "(accepting: false), or replace them first",
                errors=[FieldProblem("$.user_id", "sitting", f"sits on {load} open case(s)")],
            )
        await uow.execute(
            "DELETE FROM arbitrator_profile WHERE tenant_id = {} AND user_id = {}",
            tenant_id,
            user_id,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="arbitrator.panel_removed",
            target_kind="user",
            target_id=user_id,
        )


# -- the facts of a case -------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    id: UUID
    user_id: UUID
    display_name: str
    role: str
    chosen_by: str
    appointed_at: datetime
    released_at: datetime | None

    @property
    def seat(self) -> domain.Seat:
        return domain.Seat(self.user_id, self.role, self.chosen_by)


@dataclass(frozen=True)
class CaseTribunal:
    """A case with everything the tribunal rules need of it."""

    case: LoadedCase
    procedure: Procedure
    facts: domain.CaseFacts
    members: list[Member]
    nominations: list[domain.Nomination]
    nomination_rows: list[dict[str, Any]]

    @property
    def sitting(self) -> list[Member]:
        return [m for m in self.members if m.released_at is None]

    @property
    def removed(self) -> frozenset[UUID]:
        return frozenset(m.user_id for m in self.members if m.released_at is not None)


def _procedure(runtime: Runtime, case: LoadedCase) -> Procedure:
    row = case.row
    try:
        rules = runtime.rules.get(str(row["rule_set"]), str(row["rule_set_version"]))
        return rules.case_type(str(row["case_type"])).procedure
    except UnknownRule:
        log.error("tribunal.rules_missing", rule_set=row["rule_set"], case_id=str(case.id))
        raise ValidationFailed("the case's rules are not available") from None


async def _case_tribunal(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case: LoadedCase
) -> CaseTribunal:
    tenant_id = tenant.id
    members = await uow.fetch(
        "SELECT m.*, u.display_name FROM tribunal_member m JOIN tenant_user u "
        "ON u.tenant_id = m.tenant_id AND u.id = m.user_id "
        "WHERE m.tenant_id = {} AND m.case_id = {} ORDER BY m.appointed_at, m.id",
        tenant_id,
        case.id,
    )
    nominations = await uow.fetch(
        "SELECT * FROM tribunal_nomination WHERE tenant_id = {} AND case_id = {} "
        "ORDER BY nominated_at, id",
        tenant_id,
        case.id,
    )
    party_ids = frozenset(str(p["id_number"]) for p in case.parties)
    claimant_ids = frozenset(str(p["id_number"]) for p in case.parties if p["side"] == "claimant")
    participation = case.participation
    facts = domain.CaseFacts(
        case_id=case.id,
        case_type=str(case.row["case_type"]),
        party_users=participation.claimants | participation.respondents,
        party_ids=party_ids,
        claimant_ids=claimant_ids,
        agents=frozenset(participation.agents),
        lender_client=participation.filed_by_client,
        language=tenant.locale.split("-")[0].lower() or "zh",
    )
    return CaseTribunal(
        case=case,
        procedure=_procedure(runtime, case),
        facts=facts,
        members=[
            Member(
                id=as_uuid(m["id"]),
                user_id=as_uuid(m["user_id"]),
                display_name=str(m["display_name"]),
                role=str(m["role"]),
                chosen_by=str(m["chosen_by"]),
                appointed_at=as_datetime(m["appointed_at"]),
                released_at=as_optional_datetime(m["released_at"]),
            )
            for m in members
        ],
        nominations=[
            domain.Nomination(str(n["side"]), str(n["role"]), as_uuid(n["user_id"]))
            for n in nominations
        ],
        nomination_rows=nominations,
    )


async def _candidates(
    uow: UnitOfWork,
    tenant_id: UUID,
    ct: CaseTribunal,
    *,
    now: datetime,
    only: UUID | None = None,
) -> list[tuple[domain.Candidate, str]]:
    """The panel (or one arbitrator of it) as candidates for the case, with display names."""
    profiles = await _profiles(uow, tenant_id, only)
    users = [as_uuid(p["user_id"]) for p in profiles]
    if not users:
        return []
    loads = await _loads(uow, tenant_id, users)
    repeat = await _repeat_counts(uow, tenant_id, ct, users, now=now)
    id_numbers = {as_uuid(p["user_id"]): p["id_number"] for p in profiles if p["id_number"]}
    involvements = await _involvements(uow, tenant_id, users, id_numbers)
    relations = await _relations(uow, tenant_id, users)
    return [
        (
            domain.Candidate(
                user_id=user,
                accepting=bool(p["accepting"]),
                max_concurrent=int(p["max_concurrent"]),
                load=loads.get(user, 0),
                repeat_count=repeat.get(user, 0),
                specialities=frozenset(_json(p["specialities"])),
                languages=frozenset(_json(p["languages"])),
                id_number=id_numbers.get(user),
                involvements=tuple(involvements.get(user, ())),
                relations=tuple(relations.get(user, ())),
            ),
            str(p["display_name"]),
        )
        for user, p in zip(users, profiles, strict=True)
    ]


async def _repeat_counts(
    uow: UnitOfWork, tenant_id: UUID, ct: CaseTribunal, users: Sequence[UUID], *, now: datetime
) -> dict[UUID, int]:
    """Recent seats (within the rules' window) on other cases of this case's claimant.

    The same claimant is the same identity number on the claimant side, or the
    same lender having filed. Seats released after a challenge do not count.
    """
    since = now - timedelta(days=ct.procedure.repeat_claimant_window_days)
    same: list[str] = []
    args: list[Any] = []
    ids = sorted(ct.facts.claimant_ids)
    if ids:
        same.append(
            "EXISTS (SELECT 1 FROM case_party p WHERE p.tenant_id = c.tenant_id "  # noqa: S608 (placeholders only)
            f"AND p.case_id = c.id AND p.side = 'claimant' AND p.id_number IN ({_marks(ids)}))"
        )
        args += ids
    if ct.facts.lender_client:
        same.append("c.filed_by_client = {}")
        args.append(ct.facts.lender_client)
    if not same:
        return {}
    rows = await uow.fetch(
        "SELECT m.user_id, COUNT(DISTINCT m.case_id) AS n FROM tribunal_member m "  # noqa: S608 (placeholders only)
        "JOIN arb_case c ON c.tenant_id = m.tenant_id AND c.id = m.case_id "
        "WHERE m.tenant_id = {} AND m.released_at IS NULL AND m.appointed_at >= {} "
        f"AND m.case_id <> {{}} AND m.user_id IN ({_marks(users)}) "
        f"AND ({' OR '.join(same)}) GROUP BY m.user_id",
        tenant_id,
        since,
        ct.case.id,
        *users,
        *args,
    )
    return {as_uuid(r["user_id"]): int(r["n"]) for r in rows}


async def _involvements(
    uow: UnitOfWork, tenant_id: UUID, users: Sequence[UUID], id_numbers: Mapping[UUID, str]
) -> dict[UUID, list[domain.Involvement]]:
    """The cases where each arbitrator is a party (by account or identity number) or an agent.

    An agent is anyone who ever held a power of attorney from a party of the case
    (a past agency is a link too, revoked or not).
    """
    found: dict[UUID, dict[UUID, bool]] = {}  # user -> case -> as party
    numbers = sorted(set(id_numbers.values()))
    by_number: dict[str, list[UUID]] = {}
    for user, number in id_numbers.items():
        by_number.setdefault(number, []).append(user)
    clause = f"user_id IN ({_marks(users)})"
    args: list[Any] = list(users)
    if numbers:
        clause += f" OR id_number IN ({_marks(numbers)})"
        args += numbers
    rows = await uow.fetch(
        "SELECT case_id, user_id, id_number FROM case_party "  # noqa: S608 (placeholders only)
        f"WHERE tenant_id = {{}} AND ({clause})",
        tenant_id,
        *args,
    )
    wanted = set(users)
    for r in rows:
        case_id = as_uuid(r["case_id"])
        holders = set(by_number.get(str(r["id_number"]), []))
        if r["user_id"] is not None and as_uuid(r["user_id"]) in wanted:
            holders.add(as_uuid(r["user_id"]))
        for user in holders:
            found.setdefault(user, {})[case_id] = True
    rows = await uow.fetch(
        "SELECT a.agent_user_id, a.scope, p.case_id FROM power_of_attorney a "  # noqa: S608 (placeholders only)
        "JOIN case_party p ON p.tenant_id = a.tenant_id AND p.user_id = a.principal_user_id "
        f"WHERE a.tenant_id = {{}} AND a.agent_user_id IN ({_marks(users)})",
        tenant_id,
        *users,
    )
    for r in rows:
        case_id = as_uuid(r["case_id"])
        scope = str(r["scope"])
        if scope == "all" or scope == f"case:{case_id}":
            found.setdefault(as_uuid(r["agent_user_id"]), {}).setdefault(case_id, False)
    cases = sorted({c for per in found.values() for c in per}, key=str)
    if not cases:
        return {}
    people = await _people_of(uow, tenant_id, cases)
    return {
        user: [
            domain.Involvement(
                case_id=case_id,
                as_party=as_party,
                party_ids=people[case_id][0],
                agents=people[case_id][1],
                lender_client=people[case_id][2],
            )
            for case_id, as_party in per.items()
            if case_id in people
        ]
        for user, per in found.items()
    }


async def _people_of(
    uow: UnitOfWork, tenant_id: UUID, cases: Sequence[UUID]
) -> dict[UUID, tuple[frozenset[str], frozenset[UUID], str | None]]:
    """Per case: the parties' identity numbers, the agents ever appointed, the lender."""
    marks = _marks(cases)
    heads = await uow.fetch(
        f"SELECT id, filed_by_client FROM arb_case WHERE tenant_id = {{}} AND id IN ({marks})",  # noqa: S608 (placeholders only)
        tenant_id,
        *cases,
    )
    parties = await uow.fetch(
        "SELECT case_id, id_number FROM case_party "  # noqa: S608 (placeholders only)
        f"WHERE tenant_id = {{}} AND case_id IN ({marks})",
        tenant_id,
        *cases,
    )
    agents = await uow.fetch(
        "SELECT p.case_id, a.agent_user_id, a.scope FROM case_party p "  # noqa: S608 (placeholders only)
        "JOIN power_of_attorney a ON a.tenant_id = p.tenant_id AND a.principal_user_id = p.user_id "
        f"WHERE p.tenant_id = {{}} AND p.case_id IN ({marks})",
        tenant_id,
        *cases,
    )
    ids: dict[UUID, set[str]] = {}
    for r in parties:
        ids.setdefault(as_uuid(r["case_id"]), set()).add(str(r["id_number"]))
    acting: dict[UUID, set[UUID]] = {}
    for r in agents:
        case_id = as_uuid(r["case_id"])
        if str(r["scope"]) in ("all", f"case:{case_id}"):
            acting.setdefault(case_id, set()).add(as_uuid(r["agent_user_id"]))
    return {
        as_uuid(h["id"]): (
            frozenset(ids.get(as_uuid(h["id"]), set())),
            frozenset(acting.get(as_uuid(h["id"]), set())),
            h["filed_by_client"],
        )
        for h in heads
    }


async def _relations(
    uow: UnitOfWork, tenant_id: UUID, users: Sequence[UUID]
) -> dict[UUID, list[domain.Relation]]:
    """Every relation each arbitrator disclosed, on any case."""
    rows = await uow.fetch(
        "SELECT user_id, case_id, relations FROM arbitrator_disclosure "  # noqa: S608 (placeholders only)
        f"WHERE tenant_id = {{}} AND user_id IN ({_marks(users)})",
        tenant_id,
        *users,
    )
    found: dict[UUID, list[domain.Relation]] = {}
    for r in rows:
        for item in _json(r["relations"]) or []:
            found.setdefault(as_uuid(r["user_id"]), []).append(
                domain.Relation(
                    kind=str(item.get("kind", "other")),
                    description=str(item.get("description", "")),
                    id_number=item.get("id_number"),
                    user_id=UUID(item["user_id"]) if item.get("user_id") else None,
                    client_id=item.get("client_id"),
                    case_id=as_uuid(r["case_id"]),
                )
            )
    return found


def _assess(ct: CaseTribunal, candidate: domain.Candidate) -> domain.Assessment:
    return domain.assess(
        candidate,
        ct.facts,
        cap=ct.procedure.repeat_claimant_cap,
        sitting=[m.user_id for m in ct.sitting],
        removed=ct.removed,
    )


async def _assessment_of(
    uow: UnitOfWork, tenant_id: UUID, ct: CaseTribunal, user_id: UUID, *, now: datetime
) -> domain.Assessment:
    found = await _candidates(uow, tenant_id, ct, now=now, only=user_id)
    if not found:
        return domain.Assessment(
            domain.Candidate(user_id, False, 0, 0, 0), (domain.Refusal.NOT_ON_PANEL,), ()
        )
    return _assess(ct, found[0][0])


def _refused(assessment: domain.Assessment, field: str = "$.user_id") -> TribunalRefused:
    reasons = [domain.REFUSAL_TEXT[r] for r in assessment.refusals]
    reasons += [c.detail for c in assessment.conflicts]
    return TribunalRefused(
        "this arbitrator may not sit on this case: " + "; ".join(reasons),
        errors=[FieldProblem(field, r.value, domain.REFUSAL_TEXT[r]) for r in assessment.refusals],
        extensions={"conflicts": [_conflict_json(c) for c in assessment.conflicts]},
    )


def _conflict_json(c: domain.Conflict) -> dict[str, Any]:
    return {
        "kind": c.kind.value,
        "detail": c.detail,
        "other_case": str(c.other_case) if c.other_case else None,
    }


# -- seats -----------------------------------------------------------------------------


async def _seat(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant_id: UUID,
    ct: CaseTribunal,
    assessment: domain.Assessment,
    role: str,
    *,
    chosen_by: str,
    principal: Principal | None,
) -> None:
    """Put the assessed arbitrator on ``role`` (the caller has touched the case)."""
    now = _now(runtime)
    user_id = assessment.candidate.user_id
    by = principal.actor_id if principal else SYSTEM
    await uow.execute(
        "INSERT INTO tribunal_member (id, tenant_id, case_id, user_id, role, appointed_at, "
        "appointed_by, chosen_by) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
        uuid4(),
        tenant_id,
        ct.case.id,
        user_id,
        role,
        now,
        by,
        chosen_by,
    )
    data = {
        "arbitrator": str(user_id),
        "role": role,
        "chosen_by": chosen_by,
        "load": assessment.candidate.load,
        "repeat_count": assessment.candidate.repeat_count,
    }
    state = ct.case.state
    await append_event(
        uow,
        tenant_id,
        ct.case.id,
        principal,
        command="appoint_arbitrator",
        from_state=state,
        to_state=state,
        data=data,
        system=SYSTEM,
    )
    await record(
        uow,
        tenant_id=tenant_id,
        actor=actor_of(principal) if principal else AuditActor.system(SYSTEM),
        action="case.arbitrator_appointed",
        target_kind="case",
        target_id=ct.case.id,
        detail=data,
    )
    if state in AFTER_CONSTITUTION:
        # A replacement on a constituted tribunal: the parties are told of the tribunal as it
        # now is, and may challenge its members in turn, from their service of that notice.
        tenant = await runtime.tenants.by_id(tenant_id)
        if tenant is None:
            raise NotFound("no such commission")
        await _serve_constitution(uow, runtime, tenant, ct.case.id, now=now)


async def _auto_fill(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    case_id: UUID,
    *,
    principal: Principal | None = None,
) -> list[str]:
    """The commission fills every vacant seat by :func:`domain.choose_arbitrator`.

    The roles it could not fill (nobody eligible) are returned and recorded in
    the case's history for the staff to act on.
    """
    unfilled: list[str] = []
    while True:
        case = await cases.load_case(uow, tenant.id, case_id)
        ct = await _case_tribunal(uow, runtime, tenant, case)
        vacant = domain.vacant_seats(ct.procedure.tribunal_size, [m.seat for m in ct.sitting])
        vacant = [r for r in vacant if r not in unfilled]
        if not vacant:
            break
        role = vacant[0]
        found = await _candidates(uow, tenant.id, ct, now=_now(runtime))
        chosen = domain.choose_arbitrator(
            [c for c, _ in found],
            ct.facts,
            cap=ct.procedure.repeat_claimant_cap,
            sitting=[m.user_id for m in ct.sitting],
            removed=ct.removed,
        )
        if chosen is None:
            unfilled.append(role)
            continue
        await cases.touch(uow, case)
        await _seat(
            uow,
            runtime,
            tenant.id,
            ct,
            _assess(ct, chosen),
            role,
            chosen_by="commission",
            principal=principal,
        )
    if unfilled:
        case = await cases.load_case(uow, tenant.id, case_id)
        await append_event(
            uow,
            tenant.id,
            case_id,
            principal,
            command="appointment_needed",
            from_state=case.state,
            to_state=case.state,
            reason="no arbitrator of the panel is eligible: the staff must act",
            data={"roles": unfilled},
            system=SYSTEM,
        )
    return unfilled


def _may_seat(ct: CaseTribunal) -> None:
    if ct.case.state not in SEATING:
        raise TransitionNotAllowed(
            f"a case that is {ct.case.state.value} gets no arbitrator",
            extensions={"state": ct.case.state.value},
        )


async def appoint(
    runtime: Runtime, principal: Principal, case_id: UUID, user_id: UUID | None, role: str | None
) -> TribunalOut:
    """The commission appoints: a secretary's pick (checked by the rules) or automatically.

    Refused while the parties' time to choose runs (for the seats they choose).
    """
    tenant, tenant_id = await _tenant(runtime, principal)
    now = _now(runtime)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case = await _staff_case(uow, principal, case_id)
        ct = await _case_tribunal(uow, runtime, tenant, case)
        _may_seat(ct)
        selection = await _pending(uow, tenant_id, case_id, SELECTION)
        if selection is not None:
            raise TribunalRefused(
                "the parties may still choose the arbitrator, until "
                f"{selection.isoformat()}; the commission appoints after that",
                extensions={"selection_until": selection.isoformat()},
            )
        vacant = domain.vacant_seats(ct.procedure.tribunal_size, [m.seat for m in ct.sitting])
        if not vacant:
            raise TribunalRefused("the tribunal is complete: no seat is vacant")
        if role is not None and role not in vacant:
            raise ValidationFailed(
                "no such vacant seat",
                errors=[FieldProblem("$.role", "choice", f"one of {', '.join(sorted(vacant))}")],
            )
        if user_id is None:
            unfilled = await _auto_fill(uow, runtime, tenant, case_id, principal=principal)
            if unfilled:
                raise TribunalRefused(
                    "no arbitrator of the panel is eligible for this case: "
                    "add or free an arbitrator, then try again",
                    extensions={"roles": unfilled},
                )
        else:
            assessment = await _assessment_of(uow, tenant_id, ct, user_id, now=now)
            if not assessment.eligible:
                raise _refused(assessment)
            await cases.touch(uow, case)
            await _seat(
                uow,
                runtime,
                tenant_id,
                ct,
                assessment,
                role or vacant[0],
                chosen_by="commission",
                principal=principal,
            )
        return await _tribunal_out(uow, runtime, tenant, principal, case_id)


async def nominate(
    runtime: Runtime, principal: Principal, case_id: UUID, data: NominationIn
) -> TribunalOut:
    """A side names an arbitrator; both naming the same one (or a side its member) seats them."""
    tenant, tenant_id = await _tenant(runtime, principal)
    now = _now(runtime)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case = await access_case(uow, principal, case_id)
        side = side_of(principal, case.participation)
        if side is None:
            raise Forbidden(
                "only a party (or its agent) names an arbitrator",
                errors=[FieldProblem("$", "party", "you act for no side of this case")],
            )
        await cases.touch(uow, case)  # nominations of both sides serialise here
        case = await cases.load_case(uow, tenant_id, case_id)
        ct = await _case_tribunal(uow, runtime, tenant, case)
        _may_seat(ct)
        problem = domain.nomination_problem(
            selection=ct.procedure.arbitrator_selection,
            tribunal_size=ct.procedure.tribunal_size,
            role=data.role,
            side=side.value,
            sitting=[m.seat for m in ct.sitting],
        )
        if problem is not None:
            raise TribunalRefused(problem, errors=[FieldProblem("$.role", "seat", problem)])
        until = await _pending(uow, tenant_id, case_id, SELECTION)
        if until is None or now >= until:
            raise TribunalRefused(
                "the time to choose the arbitrator is not running: the commission appoints",
                errors=[FieldProblem("$", "selection_period", "no selection period runs now")],
            )
        assessment = await _assessment_of(uow, tenant_id, ct, data.user_id, now=now)
        if not assessment.eligible:
            raise _refused(assessment)
        await uow.execute(
            "INSERT INTO tribunal_nomination (id, tenant_id, case_id, side, role, user_id, "
            "nominated_by, nominated_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
            uuid4(),
            tenant_id,
            case_id,
            side.value,
            data.role,
            data.user_id,
            principal.actor_id,
            now,
        )
        detail = {"side": side.value, "role": data.role, "arbitrator": str(data.user_id)}
        await append_event(
            uow,
            tenant_id,
            case_id,
            principal,
            command="nominate_arbitrator",
            from_state=case.state,
            to_state=case.state,
            data=detail,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="case.arbitrator_nominated",
            target_kind="case",
            target_id=case_id,
            detail=detail,
        )
        nominations = [*ct.nominations, domain.Nomination(side.value, data.role, data.user_id)]
        if data.role == domain.MEMBER:
            await _seat(
                uow, runtime, tenant_id, ct, assessment, data.role, chosen_by=side.value,
                principal=principal,
            )  # fmt: skip
        elif domain.agreed(nominations, data.role) == data.user_id:
            await _seat(
                uow, runtime, tenant_id, ct, assessment, data.role, chosen_by="agreement",
                principal=principal,
            )  # fmt: skip
        case = await cases.load_case(uow, tenant_id, case_id)
        ct = await _case_tribunal(uow, runtime, tenant, case)
        if not domain.vacant_seats(ct.procedure.tribunal_size, [m.seat for m in ct.sitting]):
            await deadlines.cancel(uow, tenant_id, case_id, SELECTION, now=now)
        return await _tribunal_out(uow, runtime, tenant, principal, case_id)


# -- disclosure ----------------------------------------------------------------------


async def disclose(
    runtime: Runtime, principal: Principal, case_id: UUID, data: DisclosureIn
) -> TribunalOut:
    """The sitting arbitrator's disclosure (a later one supplements: the duty continues)."""
    tenant, tenant_id = await _tenant(runtime, principal)
    if not data.statement.strip():
        raise ValidationFailed(
            "the statement is required",
            errors=[FieldProblem("$.statement", "required", "state your independence")],
        )
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case = await access_case(uow, principal, case_id)
        if Actor.TRIBUNAL not in actors_of(principal, case.participation):
            raise Forbidden(
                "only an arbitrator sitting on the case files its disclosure",
                errors=[FieldProblem("$", "tribunal", "you do not sit on this case")],
            )
        await cases.touch(uow, case)
        relations = [msgspec.to_builtins(r) for r in data.relations]
        await uow.execute(
            "INSERT INTO arbitrator_disclosure (id, tenant_id, case_id, user_id, statement, "
            "relations, filed_at) VALUES ({}, {}, {}, {}, {}, {}, {})",
            uuid4(),
            tenant_id,
            case_id,
            principal.subject_id,
            data.statement.strip(),
            json.dumps(relations, ensure_ascii=False, sort_keys=True),
            _now(runtime),
        )
        detail = {"arbitrator": str(principal.subject_id), "relations": len(relations)}
        await append_event(
            uow,
            tenant_id,
            case_id,
            principal,
            command="file_disclosure",
            from_state=case.state,
            to_state=case.state,
            data=detail,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="case.arbitrator_disclosed",
            target_kind="case",
            target_id=case_id,
            detail=detail,
        )
        return await _tribunal_out(uow, runtime, tenant, principal, case_id)


async def _disclosures(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID
) -> dict[UUID, dict[str, Any]]:
    """The latest disclosure of each arbitrator on the case."""
    rows = await uow.fetch(
        "SELECT * FROM arbitrator_disclosure WHERE tenant_id = {} AND case_id = {} "
        "ORDER BY filed_at, id",
        tenant_id,
        case_id,
    )
    return {as_uuid(r["user_id"]): r for r in rows}


# -- constitution --------------------------------------------------------------------


async def _problems(
    uow: UnitOfWork, tenant_id: UUID, ct: CaseTribunal, *, now: datetime
) -> list[tuple[str, str]]:
    disclosed = await _disclosures(uow, tenant_id, ct.case.id)
    pending = await uow.fetch(
        "SELECT COUNT(*) AS n FROM tribunal_challenge WHERE tenant_id = {} AND case_id = {} "
        "AND status = 'pending'",
        tenant_id,
        ct.case.id,
    )
    hard: set[UUID] = set()
    found = await _candidates(uow, tenant_id, ct, now=now)
    sitting = {m.user_id for m in ct.sitting}
    for candidate, _ in found:
        if candidate.user_id in sitting and any(
            c.kind in domain.HARD_CONFLICTS for c in domain.conflicts_of(candidate, ct.facts)
        ):
            hard.add(candidate.user_id)
    return domain.constitution_problems(
        domain.TribunalFacts(
            tribunal_size=ct.procedure.tribunal_size,
            sitting=tuple(m.seat for m in ct.sitting),
            disclosed=frozenset(disclosed),
            pending_challenges=int(pending[0]["n"]),
            hard_conflicts=frozenset(hard),
        )
    )


async def constitute(
    runtime: Runtime, principal: Principal, case_id: UUID, data: ConstituteIn
) -> TribunalOut:
    """Staff constitute the complete tribunal: the case moves; the challenge period opens."""
    tenant, tenant_id = await _tenant(runtime, principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case = await _staff_case(uow, principal, case_id)
        ct = await _case_tribunal(uow, runtime, tenant, case)
        problems = await _problems(uow, tenant_id, ct, now=_now(runtime))
        if problems:
            raise TransitionNotAllowed(
                "the tribunal cannot be constituted yet: " + "; ".join(m for _, m in problems),
                errors=[FieldProblem("$", rule, message) for rule, message in problems],
                extensions={"state": case.state.value},
            )
        await cases.issue_command(
            uow,
            runtime,
            tenant,
            principal,
            case_id,
            "constitute_tribunal",
            reason=data.reason.strip(),
            data={
                "members": [
                    {"arbitrator": str(m.user_id), "role": m.role, "chosen_by": m.chosen_by}
                    for m in ct.sitting
                ]
            },
        )
        await _serve_constitution(uow, runtime, tenant, case_id, now=_now(runtime))
        return await _tribunal_out(uow, runtime, tenant, principal, case_id)


def constitution_subject(ct: CaseTribunal) -> str:
    """The subject of the notice of constitution of the sitting tribunal (its seats)."""
    seats = ",".join(sorted(str(m.id) for m in ct.sitting))
    return "tribunal:" + hashlib.sha256(seats.encode()).hexdigest()[:32]


def _challenge_end(
    runtime: Runtime, tenant: TenantInfo, row: Mapping[str, Any], served_at: datetime
) -> datetime:
    """When a party's challenge period ends: the rules' days from its service of the notice."""
    rules = runtime.rules.get(str(row["rule_set"]), str(row["rule_set_version"]))
    return rules.deadline(
        str(row["case_type"]),
        CHALLENGE,
        served_at,
        zone=tenant.zone,
        calendar=runtime.rules.calendar(rules.calendar),
    ).ends_at


def _new_facts_period(runtime: Runtime, row: Mapping[str, Any]) -> cal.Period:
    rules = runtime.rules.get(str(row["rule_set"]), str(row["rule_set_version"]))
    limits = rules.case_type(str(row["case_type"])).time_limits
    limit = limits.get(NEW_FACTS) or limits[CHALLENGE]
    return limit.period


async def _serve_constitution(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, *, now: datetime
) -> str:
    """Serve the notice of the tribunal's constitution on every party, through the ladder.

    Each party's challenge period runs from its own service of it
    (:func:`on_constitution_served`); the case's challenge deadline, the latest of them,
    is set once every party is served. A notice of a former composition still being
    served stops, and a challenge period of the former composition gives way.
    """
    case = await cases.load_case(uow, tenant.id, case_id)
    ct = await _case_tribunal(uow, runtime, tenant, case)
    row = case.row
    # The period can be counted (a calendar year not published yet refuses the action now,
    # not when the notice is served).
    _challenge_end(runtime, tenant, row, now)
    subject = constitution_subject(ct)
    await service.stop_notices(
        uow,
        runtime,
        tenant,
        case_id,
        Notice.TRIBUNAL,
        note="the tribunal changed: the notice of its new constitution is served instead",
        keep_subject=subject,
        prefix="tribunal:",
    )
    await deadlines.cancel(uow, tenant.id, case_id, CHALLENGE, now=now, status="replaced")
    lang = language_of(tenant.locale)
    rules = runtime.rules.get(str(row["rule_set"]), str(row["rule_set_version"]))
    challenge = rules.case_type(str(row["case_type"])).time_limit(CHALLENGE).period
    variables = {
        "members": [
            {
                "name": m.display_name,
                "role_text": _ROLE_TEXT[lang].get(m.role, m.role),
                "chosen_by_text": _CHOSEN_TEXT[lang].get(m.chosen_by, m.chosen_by),
            }
            for m in ct.sitting
        ],
        "challenge_period": service.period_text(challenge, lang),
        "new_facts_period": service.period_text(_new_facts_period(runtime, row), lang),
        "constituted_on": now.astimezone(tenant.zone).date().isoformat(),
    }
    await service.serve_parties(
        uow, runtime, tenant, case_id, Notice.TRIBUNAL, subject=subject, variables=variables
    )
    return subject


async def _challenge_periods(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case: LoadedCase, subject: str
) -> list[ChallengePeriodOut]:
    found = await service.parties_served(uow, tenant.id, case.id, Notice.TRIBUNAL, subject)
    return [
        ChallengePeriodOut(
            party_id=p.party_id,
            side=p.side,
            name=p.name,
            notice_status=p.status,
            served_at=p.served_at,
            until=_challenge_end(runtime, tenant, case.row, p.served_at)
            if p.status == RequestStatus.SERVED.value and p.served_at is not None
            else None,
        )
        for p in found
    ]


async def on_constitution_served(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, served: service.Served
) -> None:
    """The notice of constitution reached a party: its challenge period runs from now on;
    once every party is served, the case's challenge deadline is the latest of theirs."""
    case = await cases.load_case(uow, tenant.id, served.case_id)
    if case.state not in AFTER_CONSTITUTION:
        return  # vacated meanwhile: the next constitution is notified anew
    ct = await _case_tribunal(uow, runtime, tenant, case)
    if served.subject != constitution_subject(ct):
        return  # the notice of a former composition
    periods = await _challenge_periods(uow, runtime, tenant, case, served.subject)
    mine = next((p for p in periods if p.party_id == served.party_id), None)
    if mine is None or mine.until is None:
        return
    await append_event(
        uow,
        tenant.id,
        case.id,
        None,
        command="challenge_period_started",
        from_state=case.state,
        to_state=case.state,
        data={
            "party": str(mine.party_id),
            "side": mine.side,
            "served_at": served.served_at.isoformat(),
            "until": mine.until.isoformat(),
        },
        system=SYSTEM,
    )
    ends = [p.until for p in periods]
    if any(e is None for e in ends):
        return
    due = max(e for e in ends if e is not None)
    await deadlines.schedule(
        uow,
        tenant.id,
        case.id,
        CHALLENGE,
        due,
        now=_now(runtime),
        payload={"subject": served.subject},
    )


# -- challenge -----------------------------------------------------------------------


async def _challenge_ends(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID, member: Member
) -> datetime | None:
    """When the challenge period of ``member`` ends: the one opened since they were seated."""
    rows = await uow.fetch(
        "SELECT due_at FROM case_deadline WHERE tenant_id = {} AND case_id = {} AND name = {} "
        "AND status IN ('pending', 'fired') AND created_at >= {} ORDER BY created_at DESC",
        tenant_id,
        case_id,
        CHALLENGE,
        member.appointed_at,
    )
    return as_datetime(rows[0]["due_at"]) if rows else None


def _new_facts_end(
    runtime: Runtime, tenant: TenantInfo, row: Mapping[str, Any], known_on: date
) -> datetime:
    """The end of the time to challenge on grounds learned on ``known_on`` (days from it)."""
    rules = runtime.rules.get(str(row["rule_set"]), str(row["rule_set_version"]))
    trigger = datetime.combine(known_on, time(12), tzinfo=tenant.zone)
    return cal.compute_deadline(
        _new_facts_period(runtime, row),
        trigger,
        zone=tenant.zone,
        calendar=runtime.rules.calendar(rules.calendar),
    ).ends_at


async def _side_window(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    case: LoadedCase,
    ct: CaseTribunal,
    member: Member,
    side: str,
) -> tuple[datetime | None, date | None]:
    """When ``side``'s time to challenge ``member`` ends, and the day it was served.

    From the side's service of the notice of the sitting tribunal's constitution (the
    latest of its parties'): (None, None) while a party of the side is not yet served.
    A tribunal constituted before notices were served (no notice of it) keeps the case's
    challenge deadline opened since the member was seated.
    """
    subject = constitution_subject(ct)
    periods = [
        p for p in await _challenge_periods(uow, runtime, tenant, case, subject) if p.side == side
    ]
    if not any(p.notice_status is not None for p in periods):
        return await _challenge_ends(uow, tenant.id, case.id, member), None
    if any(p.until is None for p in periods):
        return None, None
    end = max(p.until for p in periods if p.until is not None)
    served = max(p.served_at for p in periods if p.served_at is not None)
    return end, served.astimezone(tenant.zone).date()


async def challenge(
    runtime: Runtime, principal: Principal, case_id: UUID, data: ChallengeIn
) -> ChallengeOut:
    """A party (or its agent) challenges a sitting arbitrator within the challenge period."""
    tenant, tenant_id = await _tenant(runtime, principal)
    grounds = data.grounds.strip()
    if not grounds:
        raise ValidationFailed(
            "the grounds are required",
            errors=[FieldProblem("$.grounds", "required", "say why the arbitrator should go")],
        )
    now = _now(runtime)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case = await access_case(uow, principal, case_id)
        side = side_of(principal, case.participation)
        if side is None:
            raise Forbidden(
                "only a party (or its agent) challenges an arbitrator",
                errors=[FieldProblem("$", "party", "you act for no side of this case")],
            )
        ct = await _case_tribunal(uow, runtime, tenant, case)
        if case.state not in SEATING:
            raise TransitionNotAllowed(
                f"a case that is {case.state.value} takes no challenge",
                extensions={"state": case.state.value},
            )
        member = next((m for m in ct.sitting if m.user_id == data.user_id), None)
        if member is None:
            raise ValidationFailed(
                "no such arbitrator on the tribunal",
                errors=[FieldProblem("$.user_id", "tribunal", "not sitting on this case")],
            )
        ends, served_on = await _side_window(uow, runtime, tenant, case, ct, member, side.value)
        known_on = data.grounds_known_on
        new_facts_ends: datetime | None = None
        if known_on is not None:
            if known_on > now.astimezone(tenant.zone).date():
                raise ValidationFailed(
                    "the grounds cannot be known on a day still to come",
                    errors=[FieldProblem("$.grounds_known_on", "past", "today or earlier")],
                )
            new_facts_ends = _new_facts_end(runtime, tenant, case.row, known_on)
        timing, why = domain.challenge_timing(
            now,
            ends,
            served_on=served_on,
            known_on=known_on,
            new_facts_ends_at=new_facts_ends,
        )
        if timing is domain.Timing.LATE:
            assert ends is not None
            field, rule = (
                ("$.grounds_known_on", "new_facts_period")
                if known_on is not None
                else ("$", "challenge_period")
            )
            extensions: dict[str, Any] = {"challenge_until": ends.isoformat()}
            if new_facts_ends is not None:
                extensions["new_facts_until"] = new_facts_ends.isoformat()
            raise TribunalRefused(
                why, errors=[FieldProblem(field, rule, why)], extensions=extensions
            )
        pending = await uow.fetch(
            "SELECT 1 AS ok FROM tribunal_challenge WHERE tenant_id = {} AND case_id = {} "
            "AND user_id = {} AND status = 'pending'",
            tenant_id,
            case_id,
            data.user_id,
        )
        if pending:
            raise Conflict(
                "a challenge of this arbitrator awaits the decision",
                errors=[FieldProblem("$.user_id", "pending", "already challenged")],
            )
        await cases.touch(uow, case)
        challenge_id = uuid4()
        await uow.execute(
            "INSERT INTO tribunal_challenge (id, tenant_id, case_id, user_id, side, grounds, "
            "filed_by, filed_at, status, decision_reason) VALUES ({}, {}, {}, {}, {}, {}, {}, "
            "{}, 'pending', '')",
            challenge_id,
            tenant_id,
            case_id,
            data.user_id,
            side.value,
            grounds,
            principal.actor_id,
            now,
        )
        detail = {
            "challenge": str(challenge_id),
            "arbitrator": str(data.user_id),
            "side": side.value,
            "timing": timing.value,
        }
        if known_on is not None:
            detail["grounds_known_on"] = known_on.isoformat()
        await append_event(
            uow,
            tenant_id,
            case_id,
            principal,
            command="challenge_arbitrator",
            from_state=case.state,
            to_state=case.state,
            reason=grounds,
            data=detail,
        )
        await ledger.append(
            uow,
            tenant_id,
            "case.challenge_filed",
            {**detail, "case_id": str(case_id), "at": now.isoformat(), "by": principal.actor_id},
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="case.arbitrator_challenged",
            target_kind="case",
            target_id=case_id,
            detail=detail,
        )
        return _challenge_out((await _challenges(uow, tenant_id, case_id, challenge_id))[0])


async def decide(
    runtime: Runtime, principal: Principal, case_id: UUID, challenge_id: UUID, data: DecisionIn
) -> TribunalOut:
    """The commission's chair (a commission admin) decides a challenge.

    Upheld: the arbitrator leaves the tribunal and is replaced the way the seat
    was filled (the parties choose again, or the commission appoints at once); a
    constituted tribunal is to be constituted again. Rejected: recorded with reasons.
    """
    tenant, tenant_id = await _tenant(runtime, principal)
    reason = data.reason.strip()
    if not reason:
        raise ValidationFailed(
            "the decision needs its reasons",
            errors=[FieldProblem("$.reason", "required", "give the reasons of the decision")],
        )
    now = _now(runtime)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case = await _staff_case(uow, principal, case_id)
        chair = principal.kind is PrincipalKind.OPERATOR or Role.COMMISSION_ADMIN in principal.roles
        if not chair:
            raise Forbidden(
                "the chair of the commission decides a challenge",
                errors=[FieldProblem("$", "chair", "log in as a commission admin")],
            )
        found = await _challenges(uow, tenant_id, case_id, challenge_id)
        if not found:
            raise NotFound("no such challenge")
        row = found[0]
        if row["status"] != "pending":
            raise Conflict(
                f"the challenge was decided already ({row['status']})",
                errors=[FieldProblem("$", "decided", "a challenge is decided once")],
            )
        await cases.touch(uow, case)
        await uow.execute(
            "UPDATE tribunal_challenge SET status = {}, decided_by = {}, decided_at = {}, "
            "decision_reason = {} WHERE tenant_id = {} AND id = {}",
            data.outcome,
            principal.actor_id,
            now,
            reason,
            tenant_id,
            challenge_id,
        )
        arbitrator = as_uuid(row["user_id"])
        detail = {
            "challenge": str(challenge_id),
            "arbitrator": str(arbitrator),
            "outcome": data.outcome,
        }
        await append_event(
            uow,
            tenant_id,
            case_id,
            principal,
            command="decide_challenge",
            from_state=case.state,
            to_state=case.state,
            reason=reason,
            data=detail,
        )
        await ledger.append(
            uow,
            tenant_id,
            "case.challenge_decided",
            {**detail, "case_id": str(case_id), "at": now.isoformat(), "by": principal.actor_id},
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="case.challenge_decided",
            target_kind="case",
            target_id=case_id,
            detail=detail,
        )
        if data.outcome == "upheld":
            await _release_and_replace(
                uow, runtime, tenant, principal, case_id, arbitrator, reason=reason,
                why="challenge_upheld",
            )  # fmt: skip
        return await _tribunal_out(uow, runtime, tenant, principal, case_id)


async def release(
    runtime: Runtime, principal: Principal, case_id: UUID, user_id: UUID, data: ReleaseIn
) -> TribunalOut:
    """An arbitrator leaves the tribunal (withdraws, or a conflict found): replaced likewise."""
    tenant, tenant_id = await _tenant(runtime, principal)
    reason = data.reason.strip()
    if not reason:
        raise ValidationFailed(
            "a reason is required", errors=[FieldProblem("$.reason", "required", "say why")]
        )
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case = await _staff_case(uow, principal, case_id)
        if user_id not in case.participation.arbitrators:
            raise NotFound("no such arbitrator on the tribunal")
        await cases.touch(uow, case)
        await _release_and_replace(
            uow, runtime, tenant, principal, case_id, user_id, reason=reason, why="released"
        )
        return await _tribunal_out(uow, runtime, tenant, principal, case_id)


async def _release_and_replace(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    principal: Principal,
    case_id: UUID,
    user_id: UUID,
    *,
    reason: str,
    why: str,
) -> None:
    now = _now(runtime)
    case = await cases.load_case(uow, tenant.id, case_id)
    ct = await _case_tribunal(uow, runtime, tenant, case)
    member = next((m for m in ct.sitting if m.user_id == user_id), None)
    if member is None:
        return
    await uow.execute(
        "UPDATE tribunal_member SET released_at = {}, released_by = {} "
        "WHERE tenant_id = {} AND id = {}",
        now,
        principal.actor_id,
        tenant.id,
        member.id,
    )
    detail = {"arbitrator": str(user_id), "role": member.role, "why": why}
    await append_event(
        uow,
        tenant.id,
        case_id,
        principal,
        command="release_arbitrator",
        from_state=case.state,
        to_state=case.state,
        reason=reason,
        data=detail,
    )
    await record(
        uow,
        tenant_id=tenant.id,
        actor=actor_of(principal),
        action="case.arbitrator_released",
        target_kind="case",
        target_id=case_id,
        detail=detail,
    )
    if case.state is CaseState.TRIBUNAL_CONSTITUTED:
        # Constituted again once the seat is filled (with a challenge period of its own).
        await deadlines.cancel(uow, tenant.id, case_id, CHALLENGE, now=now)
        await cases.issue_command(
            uow, runtime, tenant, principal, case_id, "vacate_tribunal", reason=reason,
            data=detail,
        )  # fmt: skip
    if member.chosen_by == "commission":
        await _auto_fill(uow, runtime, tenant, case_id, principal=principal)
    else:
        await _open_selection(uow, runtime, tenant, case_id, now=now)


async def _challenges(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID, challenge_id: UUID | None = None
) -> list[dict[str, Any]]:
    sql = "SELECT * FROM tribunal_challenge WHERE tenant_id = {} AND case_id = {}"
    args: list[Any] = [tenant_id, case_id]
    if challenge_id is not None:
        sql += " AND id = {}"
        args.append(challenge_id)
    return await uow.fetch(sql + " ORDER BY filed_at, id", *args)


def _challenge_out(row: Mapping[str, Any]) -> ChallengeOut:
    return ChallengeOut(
        id=as_uuid(row["id"]),
        user_id=as_uuid(row["user_id"]),
        side=str(row["side"]),
        grounds=str(row["grounds"]),
        filed_at=as_datetime(row["filed_at"]),
        status=str(row["status"]),
        decided_at=as_optional_datetime(row["decided_at"]),
        decision_reason=str(row["decision_reason"]),
    )


# -- the selection period (hooks and timers call these) ------------------------------


async def _open_selection(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, *, now: datetime
) -> datetime:
    """The parties' time to choose starts (from the notice served: now)."""
    case = await cases.load_case(uow, tenant.id, case_id)
    row = case.row
    rules = runtime.rules.get(str(row["rule_set"]), str(row["rule_set_version"]))
    due = rules.deadline(
        str(row["case_type"]),
        SELECTION,
        now,
        zone=tenant.zone,
        calendar=runtime.rules.calendar(rules.calendar),
    ).ends_at
    await deadlines.schedule(uow, tenant.id, case_id, SELECTION, due, now=now)
    await append_event(
        uow,
        tenant.id,
        case_id,
        None,
        command="open_arbitrator_selection",
        from_state=case.state,
        to_state=case.state,
        data={"until": due.isoformat()},
        system=SYSTEM,
    )
    return due


async def on_served(uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID) -> None:
    """The respondent was served: the parties' time to choose opens, or the commission appoints."""
    case = await cases.load_case(uow, tenant.id, case_id)
    procedure = _procedure(runtime, case)
    if procedure.arbitrator_selection == "commission_appoints":
        await _auto_fill(uow, runtime, tenant, case_id)
    else:
        await _open_selection(uow, runtime, tenant, case_id, now=_now(runtime))


async def on_selection_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID
) -> None:
    """The parties did not choose in time: the commission fills what is vacant."""
    case = await cases.load_case(uow, tenant.id, case_id)
    if case.state not in SEATING:
        return
    await _auto_fill(uow, runtime, tenant, case_id)


async def on_challenge_period_ended(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID
) -> None:
    case = await cases.load_case(uow, tenant.id, case_id)
    await append_event(
        uow,
        tenant.id,
        case_id,
        None,
        command="challenge_period_ended",
        from_state=case.state,
        to_state=case.state,
        system=SYSTEM,
    )


# -- reading -------------------------------------------------------------------------


async def _tenant(runtime: Runtime, principal: Principal) -> tuple[TenantInfo, UUID]:
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    return tenant, tenant_id


async def _staff_case(uow: UnitOfWork, principal: Principal, case_id: UUID) -> LoadedCase:
    case = await access_case(uow, principal, case_id)
    if Actor.STAFF not in actors_of(principal, case.participation):
        raise NotFound("no such case")
    return case


async def _pending(uow: UnitOfWork, tenant_id: UUID, case_id: UUID, name: str) -> datetime | None:
    for d in await deadlines.pending(uow, tenant_id, case_id):
        if d.name == name:
            return d.due_at
    return None


def _disclosure_out(row: Mapping[str, Any] | None) -> DisclosureOut | None:
    if row is None:
        return None
    return DisclosureOut(
        statement=str(row["statement"]),
        relations=[msgspec.convert(r, RelationIn) for r in _json(row["relations"]) or []],
        filed_at=as_datetime(row["filed_at"]),
    )


async def _tribunal_out(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, principal: Principal, case_id: UUID
) -> TribunalOut:
    case = await access_case(uow, principal, case_id)
    ct = await _case_tribunal(uow, runtime, tenant, case)
    staff = is_staff(principal)
    now = _now(runtime)
    disclosed = await _disclosures(uow, tenant.id, case_id)
    conflicts: dict[UUID, tuple[domain.Conflict, ...]] = {}
    if staff:
        for candidate, _ in await _candidates(uow, tenant.id, ct, now=now):
            conflicts[candidate.user_id] = domain.conflicts_of(candidate, ct.facts)

    def seat_out(m: Member) -> SeatOut:
        return SeatOut(
            user_id=m.user_id,
            display_name=m.display_name,
            role=m.role,
            chosen_by=m.chosen_by,
            appointed_at=m.appointed_at,
            released_at=m.released_at,
            disclosure=_disclosure_out(disclosed.get(m.user_id)),
            conflicts=[ConflictOut(**_conflict_json(c)) for c in conflicts.get(m.user_id, ())]
            if staff
            else None,
        )

    ends = [await _challenge_ends(uow, tenant.id, case_id, m) for m in ct.sitting]
    problems = (
        [m for _, m in await _problems(uow, tenant.id, ct, now=now)]
        if case.state in (CaseState.ANSWER_PERIOD, CaseState.EVIDENCE_EXCHANGE)
        else []
    )
    return TribunalOut(
        case_id=case_id,
        state=case.state.value,
        tribunal_size=ct.procedure.tribunal_size,
        arbitrator_selection=ct.procedure.arbitrator_selection,
        selection_until=await _pending(uow, tenant.id, case_id, SELECTION),
        challenge_until=max((e for e in ends if e is not None), default=None),
        seats=[seat_out(m) for m in ct.sitting],
        released=[seat_out(m) for m in ct.members if m.released_at is not None],
        nominations=[
            NominationOut(
                side=str(n["side"]),
                role=str(n["role"]),
                user_id=as_uuid(n["user_id"]),
                nominated_at=as_datetime(n["nominated_at"]),
            )
            for n in ct.nomination_rows
        ],
        challenges=[_challenge_out(r) for r in await _challenges(uow, tenant.id, case_id)],
        constitution_problems=problems,
        challenge_periods=await _challenge_periods(
            uow, runtime, tenant, case, constitution_subject(ct)
        )
        if ct.sitting
        else [],
    )


async def get_tribunal(runtime: Runtime, principal: Principal, case_id: UUID) -> TribunalOut:
    tenant, tenant_id = await _tenant(runtime, principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        return await _tribunal_out(uow, runtime, tenant, principal, case_id)


async def candidates(runtime: Runtime, principal: Principal, case_id: UUID) -> list[CandidateOut]:
    """The panel as the rules see it for this case (staff): eligible first, in the order
    the commission's automatic appointment would take them."""
    tenant, tenant_id = await _tenant(runtime, principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        case = await _staff_case(uow, principal, case_id)
        ct = await _case_tribunal(uow, runtime, tenant, case)
        found = await _candidates(uow, tenant_id, ct, now=_now(runtime))
    out: list[tuple[tuple[int, tuple[int, int, int, str]], CandidateOut]] = []
    for candidate, name in found:
        a = _assess(ct, candidate)
        out.append(
            (
                (0 if a.eligible else 1, domain.rank_key(candidate, ct.facts)),
                CandidateOut(
                    user_id=candidate.user_id,
                    display_name=name,
                    eligible=a.eligible,
                    refusals=[r.value for r in a.refusals],
                    reasons=[domain.REFUSAL_TEXT[r] for r in a.refusals],
                    load=candidate.load,
                    max_concurrent=candidate.max_concurrent,
                    repeat_count=candidate.repeat_count,
                    specialities=sorted(candidate.specialities),
                    conflicts=[ConflictOut(**_conflict_json(c)) for c in a.conflicts],
                ),
            )
        )
    return [c for _, c in sorted(out, key=lambda pair: pair[0])]
