"""Use cases of the cases context: filing, the acceptance review, commands, the tribunal.

Every action is one transaction that changes the case, appends its history
event (and, for milestones, a leaf of the tenant's transparency log) and
writes the audit event. Cases are reached only through :func:`access_case`:
unknown and forbidden both answer 404.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

import msgspec
import structlog

from arbitral.audit.services import Actor as AuditActor
from arbitral.audit.services import record
from arbitral.auth.domain import (
    CaseParticipation,
    ClientKind,
    Permission,
    Principal,
    PrincipalKind,
    Role,
    may_access_case,
)
from arbitral.cases import deadlines, domain, due_process, hooks
from arbitral.cases.domain import Actor, CaseState, Side, TransitionRefused
from arbitral.cases.schemas import (
    Amendment,
    CaseFiling,
    CaseOut,
    CasePage,
    CaseSummary,
    CommandIn,
    DeadlineOut,
    EventOut,
    PartyOut,
    TribunalMemberOut,
)
from arbitral.db.values import as_datetime, as_uuid
from arbitral.errors import (
    FieldProblem,
    Forbidden,
    NotFound,
    ProblemError,
    ValidationFailed,
)
from arbitral.identity.services import actor_of, ensure_party_account, tenant_of
from arbitral.ledger import services as ledger
from arbitral.rules.claims import ClaimInvalid, validate_claim
from arbitral.rules.model import UnknownRule

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

log = structlog.get_logger(__name__)

MAX_PAGE: Final = 100
MAX_REASON: Final = 5000
# Commands a person issues through the API now. The others of the state machine
# (payment, service, tribunal constitution, hearing) are issued by the parts of
# the lifecycle that check their conditions, never bare.
MANUAL_COMMANDS: Final = frozenset(
    {"accept", "return_for_correction", "reject", "withdraw", "suspend", "resume"}
)
# Transitions logged in the transparency log (besides every closing one): the steps a
# court checks in the due-process record.
MILESTONES: Final = frozenset(
    {"accept", "record_payment", "complete_service", "constitute_tribunal", "close_hearing"}
)


class TransitionNotAllowed(ProblemError):
    status = 409
    slug = "transition-not-allowed"
    title = "Transition not allowed"


class StaleCase(ProblemError):
    status = 409
    slug = "stale-case"
    title = "The case has changed"


# -- loading and access --------------------------------------------------------------


@dataclass(frozen=True)
class LoadedCase:
    row: Mapping[str, Any]
    parties: list[dict[str, Any]]
    tribunal: list[dict[str, Any]]
    participation: CaseParticipation
    deadlines: list[deadlines.Deadline]

    @property
    def id(self) -> UUID:
        return as_uuid(self.row["id"])

    @property
    def state(self) -> CaseState:
        return CaseState(str(self.row["state"]))

    @property
    def version(self) -> int:
        return int(self.row["version"])


async def _load(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> LoadedCase | None:
    rows = await uow.fetch(
        "SELECT * FROM arb_case WHERE tenant_id = {} AND id = {}", tenant_id, case_id
    )
    if not rows:
        return None
    parties = await uow.fetch(
        "SELECT * FROM case_party WHERE tenant_id = {} AND case_id = {} ORDER BY side, position",
        tenant_id,
        case_id,
    )
    tribunal = await uow.fetch(
        "SELECT m.user_id, m.role, m.appointed_at, u.display_name FROM tribunal_member m "
        "JOIN tenant_user u ON u.tenant_id = m.tenant_id AND u.id = m.user_id "
        "WHERE m.tenant_id = {} AND m.case_id = {} AND m.released_at IS NULL "
        "ORDER BY m.appointed_at, m.id",
        tenant_id,
        case_id,
    )
    accounts = {
        side: [as_uuid(p["user_id"]) for p in parties if p["side"] == side and p["user_id"]]
        for side in ("claimant", "respondent")
    }
    agents = await _agents(uow, tenant_id, case_id, accounts["claimant"] + accounts["respondent"])
    row = rows[0]
    return LoadedCase(
        row=row,
        parties=parties,
        tribunal=tribunal,
        deadlines=await deadlines.pending(uow, tenant_id, case_id),
        participation=domain.participation(
            claimants=accounts["claimant"],
            respondents=accounts["respondent"],
            arbitrators=[as_uuid(m["user_id"]) for m in tribunal],
            agents=agents,
            filed_by_client=row["filed_by_client"],
        ),
    )


async def _agents(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID, party_users: list[UUID]
) -> dict[UUID, set[UUID]]:
    """Agent -> the parties it acts for on this case, by powers of attorney in force."""
    if not party_users:
        return {}
    now = uow.now()
    marks = ", ".join("{}" for _ in party_users)
    rows = await uow.fetch(
        "SELECT agent_user_id, principal_user_id, scope FROM power_of_attorney "  # noqa: S608 (placeholders only)
        f"WHERE tenant_id = {{}} AND principal_user_id IN ({marks}) "
        "AND revoked_at IS NULL AND valid_from <= {} AND (valid_until IS NULL OR valid_until > {})",
        tenant_id,
        *party_users,
        now,
        now,
    )
    found: dict[UUID, set[UUID]] = {}
    for row in rows:
        scope = str(row["scope"])
        if scope == "all" or scope == f"case:{case_id}":
            found.setdefault(as_uuid(row["agent_user_id"]), set()).add(
                as_uuid(row["principal_user_id"])
            )
    return found


async def load_case(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> LoadedCase:
    """The case, with no access check: for the platform's own use (hooks, timers)."""
    case = await _load(uow, tenant_id, case_id)
    if case is None:
        raise NotFound("no such case")
    return case


async def access_case(uow: UnitOfWork, principal: Principal, case_id: UUID) -> LoadedCase:
    """The case, if this principal may see it; 404 otherwise (unknown and forbidden alike)."""
    case = await _load(uow, tenant_of(principal), case_id)
    if case is None or not (
        principal.kind is PrincipalKind.OPERATOR or may_access_case(principal, case.participation)
    ):
        raise NotFound("no such case")
    return case


def allowed_for(principal: Principal, case: LoadedCase) -> list[str]:
    actors = domain.actors_of(principal, case.participation)
    return [
        c for c in domain.allowed_commands(case.state, actors) if c in MANUAL_COMMANDS | {"amend"}
    ]


def case_out(principal: Principal, case: LoadedCase) -> CaseOut:
    row = case.row
    claim = row["claim"]
    side = domain.side_of(principal, case.participation)
    return CaseOut(
        id=case.id,
        number=row["number"],
        case_type=str(row["case_type"]),
        rule_set=str(row["rule_set"]),
        rule_set_version=str(row["rule_set_version"]),
        state=case.state.value,
        claim=json.loads(claim) if isinstance(claim, str) else dict(claim),
        amount_claimed=_money(row["amount_claimed"]),
        filed_by=str(row["filed_by"]),
        filed_at=as_datetime(row["filed_at"]),
        updated_at=as_datetime(row["updated_at"]),
        version=case.version,
        parties=[_party_out(p) for p in case.parties],
        tribunal=[
            TribunalMemberOut(
                user_id=as_uuid(m["user_id"]),
                display_name=str(m["display_name"]),
                role=str(m["role"]),
                appointed_at=as_datetime(m["appointed_at"]),
            )
            for m in case.tribunal
        ],
        allowed_commands=allowed_for(principal, case),
        my_side=side.value if side else None,
        deadlines=[DeadlineOut(name=d.name, due_at=d.due_at) for d in case.deadlines],
    )


def _money(value: Any) -> str:
    return f"{Decimal(str(value)).quantize(Decimal('0.01'))}"


def _party_out(row: Mapping[str, Any]) -> PartyOut:
    return PartyOut(
        id=as_uuid(row["id"]),
        side=str(row["side"]),
        position=int(row["position"]),
        kind=str(row["kind"]),
        name=str(row["name"]),
        id_number=str(row["id_number"]),
        phone=row["phone"],
        email=row["email"],
        address=row["address"],
        has_account=row["user_id"] is not None,
    )


# -- history -------------------------------------------------------------------------


async def append_event(
    uow: UnitOfWork,
    tenant_id: UUID,
    case_id: UUID,
    principal: Principal | None,
    *,
    command: str,
    from_state: CaseState | None,
    to_state: CaseState,
    reason: str = "",
    data: Mapping[str, Any] | None = None,
    system: str = "arbitral",
) -> int:
    """Append one event to the case's history; its sequence number.

    ``principal`` None: the platform itself acted (a job, a timer), named ``system``.
    """
    rows = await uow.fetch(
        "SELECT COALESCE(MAX(seq), 0) AS n FROM case_event WHERE tenant_id = {} AND case_id = {}",
        tenant_id,
        case_id,
    )
    seq = int(rows[0]["n"]) + 1
    await uow.execute(
        "INSERT INTO case_event (id, tenant_id, case_id, seq, command, from_state, to_state, "
        "actor, actor_kind, at, reason, data) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, "
        "{}, {})",
        uuid4(),
        tenant_id,
        case_id,
        seq,
        command,
        from_state.value if from_state else None,
        to_state.value,
        principal.actor_id if principal else system,
        principal.kind.value if principal else "system",
        uow.now(),
        reason,
        json.dumps(dict(data or {}), ensure_ascii=False, sort_keys=True, default=str),
    )
    return seq


async def touch(uow: UnitOfWork, case: LoadedCase, *, if_version: int | None = None) -> int:
    """Claim the case for this transaction (its version bumped); the new version.

    Two actions on one case serialise here: the second waits for the first
    (PostgreSQL row lock; SQLite has one writer) and then sees its change.
    """
    expected = case.version if if_version is None else if_version
    rows = await uow.fetch(
        "UPDATE arb_case SET version = version + 1, updated_at = {} "
        "WHERE tenant_id = {} AND id = {} AND version = {} RETURNING version",
        uow.now(),
        case.row["tenant_id"],
        case.id,
        expected,
    )
    if not rows:
        raise StaleCase(
            "the case changed since you read it; read it again",
            errors=[FieldProblem("$.if_version", "stale", "the case has a newer version")],
        )
    return int(rows[0]["version"])


async def lock_case(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> None:
    """Wait for any other transaction on the case, so that what is read next is current
    (a PostgreSQL row lock; SQLite has one writer at a time)."""
    if uow.is_postgres:
        await uow.fetch(
            "SELECT id FROM arb_case WHERE tenant_id = {} AND id = {} FOR UPDATE",
            tenant_id,
            case_id,
        )


async def tenant_or_404(runtime: Runtime, principal: Principal) -> TenantInfo:
    """The principal's commission (404 when it is gone)."""
    tenant = await runtime.tenants.by_id(tenant_of(principal))
    if tenant is None:
        raise NotFound("no such commission")
    return tenant


async def note_event(
    uow: UnitOfWork,
    case: LoadedCase,
    principal: Principal | None,
    command: str,
    data: Mapping[str, Any],
    *,
    context: str,
    reason: str = "",
    system: str = "arbitral",
) -> None:
    """A step that does not move the case: its history event and its audit event
    (``context.command``). ``principal`` None: the platform acted, named ``system``."""
    tenant_id = as_uuid(case.row["tenant_id"])
    await append_event(
        uow,
        tenant_id,
        case.id,
        principal,
        command=command,
        from_state=case.state,
        to_state=case.state,
        reason=reason,
        data=data,
        system=system,
    )
    await record(
        uow,
        tenant_id=tenant_id,
        actor=actor_of(principal) if principal else AuditActor.system(system),
        action=f"{context}.{command}",
        target_kind="case",
        target_id=case.id,
        detail=dict(data),
    )


# Events of the tribunal's deliberation (drafts, votes): the staff and the tribunal see
# them in the history, the parties do not (other contexts add theirs at import).
TRIBUNAL_ONLY_EVENTS: set[str] = set()


def tribunal_only(*commands: str) -> None:
    """History events that only the staff and the case's tribunal may read."""
    TRIBUNAL_ONLY_EVENTS.update(commands)


async def history(runtime: Runtime, principal: Principal, case_id: UUID) -> list[EventOut]:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        case = await access_case(uow, principal, case_id)
        rows = await uow.fetch(
            "SELECT * FROM case_event WHERE tenant_id = {} AND case_id = {} ORDER BY seq",
            tenant_id,
            case_id,
        )
    actors = domain.actors_of(principal, case.participation)
    if not actors & {domain.Actor.STAFF, domain.Actor.TRIBUNAL}:
        rows = [r for r in rows if str(r["command"]) not in TRIBUNAL_ONLY_EVENTS]
    return [
        EventOut(
            seq=int(r["seq"]),
            command=str(r["command"]),
            from_state=r["from_state"],
            to_state=str(r["to_state"]),
            actor=str(r["actor"]),
            actor_kind=str(r["actor_kind"]),
            at=as_datetime(r["at"]),
            reason=str(r["reason"]),
            data=json.loads(r["data"]) if isinstance(r["data"], str) else dict(r["data"]),
        )
        for r in rows
    ]


# -- filing --------------------------------------------------------------------------


def _check_reason(reason: str, *, required: bool) -> str:
    text = reason.strip()
    if required and not text:
        raise ValidationFailed(
            "a reason is required", errors=[FieldProblem("$.reason", "required", "give a reason")]
        )
    if len(text) > MAX_REASON:
        raise ValidationFailed(
            "the reason is too long",
            errors=[FieldProblem("$.reason", "max_length", f"at most {MAX_REASON} characters")],
        )
    return text


def _validated(
    runtime: Runtime, tenant: TenantInfo, case_type: str, claim: object, today: date
) -> dict[str, Any]:
    try:
        rules = runtime.rules.get(tenant.rule_set, tenant.rule_set_version)
    except UnknownRule:
        log.error("cases.rules_missing", rule_set=tenant.rule_set, version=tenant.rule_set_version)
        raise ValidationFailed("the commission's rules are not available") from None
    if case_type not in rules.case_types:
        raise ValidationFailed(
            "unknown case type",
            errors=[
                FieldProblem(
                    "$.case_type", "choice", f"one of {', '.join(sorted(rules.case_types))}"
                )
            ],
        )
    form = rules.case_types[case_type].claim_form
    try:
        valid = validate_claim(form, claim, filed_on=today)
    except ClaimInvalid as exc:
        raise ValidationFailed(
            "the claim is not valid",
            errors=[FieldProblem(f"$.claim{p.field[1:]}", p.rule, p.message) for p in exc.problems],
        ) from None
    values: dict[str, Any] = msgspec.to_builtins(dict(valid.values))
    for side in ("claimant", "respondent"):
        if not isinstance(values.get(side), dict):
            raise ValidationFailed(
                f"the claim form of {case_type} names no {side}",
                errors=[FieldProblem(f"$.claim.{side}", "required", f"the {side} is required")],
            )
    if "amount_claimed" not in values:
        raise ValidationFailed(
            "the amount claimed is required",
            errors=[FieldProblem("$.claim.amount_claimed", "required", "give the amount")],
        )
    return values


def _check_filer(principal: Principal, values: Mapping[str, Any]) -> None:
    """A claimant files its own claim; a lender its own; staff never file."""
    if principal.kind is PrincipalKind.API_CLIENT:
        if principal.client_kind is not ClientKind.LENDER:
            raise Forbidden(
                "only a lender's system files cases as a claimant",
                errors=[FieldProblem("$", "filer", "this client is not a lender")],
            )
        return
    if principal.kind is PrincipalKind.USER and Role.CLAIMANT in principal.roles:
        return
    raise Forbidden(
        "only a claimant (or its lender system) files a claim",
        errors=[FieldProblem("$", "filer", "log in as the claimant to file")],
    )


async def _write_parties(
    uow: UnitOfWork,
    principal: Principal,
    tenant_id: UUID,
    case_id: UUID,
    values: Mapping[str, Any],
) -> None:
    await uow.execute(
        "DELETE FROM case_party WHERE tenant_id = {} AND case_id = {}", tenant_id, case_id
    )
    for side in (Side.CLAIMANT, Side.RESPONDENT):
        party = values[side.value]
        user_id: UUID | None
        if side is Side.CLAIMANT and principal.kind is PrincipalKind.USER:
            user_id = principal.subject_id
        else:
            user_id = await ensure_party_account(
                uow,
                principal,
                tenant_id,
                name=str(party["name"]),
                email=party.get("email"),
                phone=party.get("phone"),
                role=Role.CLAIMANT if side is Side.CLAIMANT else Role.RESPONDENT,
            )
        await uow.execute(
            "INSERT INTO case_party (id, tenant_id, case_id, side, position, kind, name, "
            "id_number, phone, email, address, user_id) VALUES ({}, {}, {}, {}, 1, {}, {}, {}, "
            "{}, {}, {}, {})",
            uuid4(),
            tenant_id,
            case_id,
            side.value,
            party["kind"],
            party["name"],
            party["id_number"],
            party.get("phone"),
            party.get("email"),
            party.get("address"),
            user_id,
        )


async def file_case(runtime: Runtime, principal: Principal, filing: CaseFiling) -> CaseOut:
    """A new case, state ``filed``, its rule-set version pinned; whole or nothing."""
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    now = runtime.clock.now()
    values = _validated(
        runtime, tenant, filing.case_type, filing.claim, now.astimezone(tenant.zone).date()
    )
    _check_filer(principal, values)
    case_id = uuid4()
    year = now.astimezone(tenant.zone).year
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        seq, number = await _next_number(uow, tenant, year)
        await uow.execute(
            "INSERT INTO arb_case (id, tenant_id, case_type, rule_set, rule_set_version, state, "
            "claim, amount_claimed, filed_by, filer_kind, filer_user_id, filed_by_client, "
            "filed_at, updated_at, version, number, number_year, number_seq) VALUES ({}, {}, {}, "
            "{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 1, {}, {}, {})",
            case_id,
            tenant_id,
            filing.case_type,
            tenant.rule_set,
            tenant.rule_set_version,
            CaseState.FILED.value,
            json.dumps(values, ensure_ascii=False, sort_keys=True),
            Decimal(str(values["amount_claimed"])),
            principal.actor_id,
            principal.kind.value,
            principal.subject_id if principal.kind is PrincipalKind.USER else None,
            principal.client_id if principal.kind is PrincipalKind.API_CLIENT else None,
            now,
            now,
            number,
            year,
            seq,
        )
        await _write_parties(uow, principal, tenant_id, case_id, values)
        await append_event(
            uow,
            tenant_id,
            case_id,
            principal,
            command="file",
            from_state=None,
            to_state=CaseState.FILED,
            data={
                "case_type": filing.case_type,
                "rule_set_version": tenant.rule_set_version,
                "number": number,
            },
        )
        # Other contexts register what a new claim means to them (a loan contract is
        # claimed once: arbitral.batches.hooks); a refusal there undoes the filing.
        await hooks.run_hooks(
            uow,
            runtime,
            hooks.Transitioned(
                tenant=tenant,
                case_id=case_id,
                command="file",
                from_state=CaseState.FILED,
                to_state=CaseState.FILED,
                actor=principal.actor_id,
                data={"case_type": filing.case_type, "claim": values, "filed_by": principal},
            ),
        )
        await ledger.append(
            uow,
            tenant_id,
            "case.filed",
            {
                "case_id": str(case_id),
                "number": number,
                "case_type": filing.case_type,
                "rule_set": tenant.rule_set,
                "rule_set_version": tenant.rule_set_version,
                "filed_at": now.isoformat(),
                "filed_by": principal.actor_id,
            },
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="case.filed",
            target_kind="case",
            target_id=case_id,
            detail={"case_type": filing.case_type, "amount_claimed": values["amount_claimed"]},
        )
        case = await access_case(uow, principal, case_id)
        return case_out(principal, case)


async def get_case(runtime: Runtime, principal: Principal, case_id: UUID) -> CaseOut:
    async with runtime.db.transaction(tenant_id=tenant_of(principal), readonly=True) as uow:
        case = await access_case(uow, principal, case_id)
    await due_process.note_respondent_opened(runtime, principal, case)
    return case_out(principal, case)


# -- commands ------------------------------------------------------------------------


async def _next_number(uow: UnitOfWork, tenant: TenantInfo, year: int) -> tuple[int, str]:
    """The next case number of ``year``: gapless, never given twice (row-locked counter)."""
    seq = await reserve_numbers(uow, tenant, year, 1)
    return seq, tenant.format_case_number(year, seq)


async def reserve_numbers(uow: UnitOfWork, tenant: TenantInfo, year: int, count: int) -> int:
    """Reserve ``count`` consecutive case numbers of ``year``; the first sequence number.

    The counter row stays locked until the transaction ends, so numbers are gapless
    (a rolled-back filing gives its numbers back) and never given twice.
    """
    if uow.is_postgres:
        await uow.execute(
            "INSERT INTO case_number_counter (id, tenant_id, year, last_seq) "
            "VALUES ({}, {}, {}, 0) ON CONFLICT (tenant_id, year) DO NOTHING",
            uuid4(),
            tenant.id,
            year,
        )
    else:
        await uow.execute(
            "INSERT OR IGNORE INTO case_number_counter (id, tenant_id, year, last_seq) "
            "VALUES ({}, {}, {}, 0)",
            uuid4(),
            tenant.id,
            year,
        )
    rows = await uow.fetch(
        "UPDATE case_number_counter SET last_seq = last_seq + {} "
        "WHERE tenant_id = {} AND year = {} RETURNING last_seq",
        count,
        tenant.id,
        year,
    )
    return int(rows[0]["last_seq"]) - count + 1


async def command(
    runtime: Runtime, principal: Principal, case_id: UUID, data: CommandIn
) -> CaseOut:
    """Issue one command of the state machine; 409 with what is allowed when it is not."""
    if data.command not in MANUAL_COMMANDS:
        raise ValidationFailed(
            "not a command that can be issued here",
            errors=[
                FieldProblem("$.command", "choice", f"one of {', '.join(sorted(MANUAL_COMMANDS))}")
            ],
        )
    spec = domain.COMMANDS[data.command]
    reason = _check_reason(data.reason, required=spec.needs_reason)
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case = await access_case(uow, principal, case_id)
        await _apply(
            uow,
            runtime,
            tenant,
            case,
            data.command,
            domain.actors_of(principal, case.participation),
            principal=principal,
            reason=reason,
            if_version=data.if_version,
        )
        return case_out(principal, await access_case(uow, principal, case_id))


async def system_command(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    case_id: UUID,
    command: str,
    *,
    by: str,
    reason: str = "",
    data: Mapping[str, Any] | None = None,
) -> CaseState:
    """The platform moves a case (a payment confirmed, service complete, a deadline run out).

    In the caller's transaction; refused like any command when the state machine
    says no (:class:`TransitionNotAllowed`). ``by`` names the part of the
    platform that acted (``payments``, ``service``, ``deadlines``).
    """
    case = await _load(uow, tenant.id, case_id)
    if case is None:
        raise NotFound("no such case")
    return await _apply(
        uow,
        runtime,
        tenant,
        case,
        command,
        frozenset({Actor.SYSTEM}),
        principal=None,
        system=by,
        reason=reason,
        extra=data,
    )


async def issue_command(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    principal: Principal,
    case_id: UUID,
    command: str,
    *,
    reason: str = "",
    data: Mapping[str, Any] | None = None,
) -> CaseState:
    """A person's command that another context's use case checked first (in its transaction).

    The tribunal context constitutes a tribunal this way once its own guard holds;
    refused like any command when the state machine says no.
    """
    case = await access_case(uow, principal, case_id)
    return await _apply(
        uow,
        runtime,
        tenant,
        case,
        command,
        domain.actors_of(principal, case.participation),
        principal=principal,
        reason=reason,
        extra=data,
    )


async def _apply(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    case: LoadedCase,
    command: str,
    actors: frozenset[Actor],
    *,
    principal: Principal | None,
    system: str = "arbitral",
    reason: str = "",
    if_version: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> CaseState:
    """Move ``case`` by ``command``: state, history, ledger milestone, audit, hooks."""
    resumes = case.row["resumes_to"]
    try:
        target = domain.transition(
            case.state,
            command,
            actors,
            resumes_to=CaseState(str(resumes)) if resumes else None,
        )
    except TransitionRefused as exc:
        allowed = [c for c in exc.allowed if c in MANUAL_COMMANDS | {"amend"}]
        raise TransitionNotAllowed(
            str(exc), extensions={"state": case.state.value, "allowed_commands": allowed}
        ) from None
    await due_process.check(uow, case, command)
    await touch(uow, case, if_version=if_version)
    tenant_id = tenant.id
    event_data: dict[str, Any] = dict(extra or {})
    sets = ["state = {}"]
    args: list[Any] = [target.value]
    if command == "suspend":
        sets.append("resumes_to = {}")
        args.append(case.state.value)
    elif command == "resume":
        sets.append("resumes_to = NULL")
    await uow.execute(
        f"UPDATE arb_case SET {', '.join(sets)} "  # noqa: S608 (constant fragments)
        "WHERE tenant_id = {} AND id = {}",
        *args,
        tenant_id,
        case.id,
    )
    actor_name = principal.actor_id if principal else system
    await append_event(
        uow,
        tenant_id,
        case.id,
        principal,
        command=command,
        from_state=case.state,
        to_state=target,
        reason=reason,
        data=event_data,
        system=system,
    )
    if target in domain.CLOSED or command in MILESTONES:
        await ledger.append(
            uow,
            tenant_id,
            f"case.{command}",
            {
                "case_id": str(case.id),
                "state": target.value,
                "at": uow.now().isoformat(),
                "by": actor_name,
                **event_data,
            },
        )
    await record(
        uow,
        tenant_id=tenant_id,
        actor=actor_of(principal) if principal else AuditActor.system(system),
        action=f"case.{command}",
        target_kind="case",
        target_id=case.id,
        detail={"from": case.state.value, "to": target.value, **event_data},
    )
    await hooks.run_hooks(
        uow,
        runtime,
        hooks.Transitioned(
            tenant=tenant,
            case_id=case.id,
            command=command,
            from_state=case.state,
            to_state=target,
            actor=actor_name,
            data=event_data,
        ),
    )
    return target


async def amend(runtime: Runtime, principal: Principal, case_id: UUID, data: Amendment) -> CaseOut:
    """The claimant's corrected claim for a case returned for correction; back to review."""
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    reason = _check_reason(data.reason, required=False)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case = await access_case(uow, principal, case_id)
        actors = domain.actors_of(principal, case.participation)
        try:
            target = domain.transition(case.state, "amend", actors)
        except TransitionRefused as exc:
            allowed = [c for c in exc.allowed if c in MANUAL_COMMANDS | {"amend"}]
            raise TransitionNotAllowed(
                str(exc), extensions={"state": case.state.value, "allowed_commands": allowed}
            ) from None
        today = uow.now().astimezone(tenant.zone).date()
        values = _validated(runtime, tenant, str(case.row["case_type"]), data.claim, today)
        await touch(uow, case)
        await uow.execute(
            "UPDATE arb_case SET state = {}, claim = {}, amount_claimed = {} "
            "WHERE tenant_id = {} AND id = {}",
            target.value,
            json.dumps(values, ensure_ascii=False, sort_keys=True),
            Decimal(str(values["amount_claimed"])),
            tenant_id,
            case_id,
        )
        filer = principal
        if principal.kind is PrincipalKind.USER and case.row["filer_user_id"] is not None:
            # An agent amends for the claimant: the claimant's account stays on the case.
            filer = Principal(
                kind=PrincipalKind.USER,
                subject_id=as_uuid(case.row["filer_user_id"]),
                tenant_id=tenant_id,
                permissions=frozenset({Permission.CASES_FILE}),
                roles=frozenset({Role.CLAIMANT}),
            )
        await _write_parties(uow, filer, tenant_id, case_id, values)
        await append_event(
            uow,
            tenant_id,
            case_id,
            principal,
            command="amend",
            from_state=case.state,
            to_state=target,
            reason=reason,
        )
        # As for a filing: other contexts follow the new claim (a loan contract's
        # registration moves with it, arbitral.batches.hooks); a refusal undoes the amendment.
        await hooks.run_hooks(
            uow,
            runtime,
            hooks.Transitioned(
                tenant=tenant,
                case_id=case_id,
                command="amend",
                from_state=case.state,
                to_state=target,
                actor=principal.actor_id,
                data={
                    "case_type": str(case.row["case_type"]),
                    "claim": values,
                    "filed_by": filer,
                },
            ),
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="case.amended",
            target_kind="case",
            target_id=case_id,
        )
        return case_out(principal, await access_case(uow, principal, case_id))


# -- lists ---------------------------------------------------------------------------


def page_cursor(at: datetime, row_id: UUID) -> str:
    """An opaque keyset cursor for pages ordered by (a time, an id), newest first."""
    raw = f"{at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_page_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        return as_datetime(at), UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed(
            "the cursor is not one this API gave out",
            errors=[FieldProblem("query:cursor", "format", "pass next_cursor back unchanged")],
        ) from None


def _visible_clause(principal: Principal) -> tuple[str, list[Any]]:
    """SQL that limits arb_case ``c`` to the cases this principal may see."""
    if domain.is_staff(principal):
        return "TRUE", []
    if principal.kind is PrincipalKind.API_CLIENT:
        return "c.filed_by_client = {}", [principal.client_id]
    if principal.kind is not PrincipalKind.USER:
        return "FALSE", []
    me = principal.subject_id
    clauses: list[str] = []
    args: list[Any] = []
    if principal.roles & {Role.CLAIMANT, Role.RESPONDENT}:
        clauses.append(
            "EXISTS (SELECT 1 FROM case_party p WHERE p.tenant_id = c.tenant_id "
            "AND p.case_id = c.id AND p.user_id = {})"
        )
        args.append(me)
    if Role.ARBITRATOR in principal.roles:
        clauses.append(
            "EXISTS (SELECT 1 FROM tribunal_member m WHERE m.tenant_id = c.tenant_id "
            "AND m.case_id = c.id AND m.user_id = {} AND m.released_at IS NULL)"
        )
        args.append(me)
    if Role.AGENT in principal.roles:
        clauses.append(
            "EXISTS (SELECT 1 FROM case_party p JOIN power_of_attorney a "
            "ON a.tenant_id = p.tenant_id AND a.principal_user_id = p.user_id "
            "WHERE p.tenant_id = c.tenant_id AND p.case_id = c.id AND a.agent_user_id = {} "
            "AND a.revoked_at IS NULL AND a.valid_from <= {} "
            "AND (a.valid_until IS NULL OR a.valid_until > {}) "
            "AND (a.scope = 'all' OR a.scope = {} || CAST(c.id AS TEXT)))"
        )
        now = datetime.now(UTC)
        args += [me, now, now, "case:"]
    return ("(" + " OR ".join(clauses) + ")", args) if clauses else ("FALSE", [])


async def list_cases(
    runtime: Runtime,
    principal: Principal,
    *,
    state: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> CasePage:
    """The cases this principal may see, newest first, by cursor."""
    tenant_id = tenant_of(principal)
    limit = max(1, min(limit, MAX_PAGE))
    where, args = _visible_clause(principal)
    sql = "SELECT c.* FROM arb_case c WHERE c.tenant_id = {} AND " + where  # noqa: S608 (placeholders only)
    params: list[Any] = [tenant_id, *args]
    if state is not None:
        try:
            CaseState(state)
        except ValueError:
            raise ValidationFailed(
                "unknown state",
                errors=[FieldProblem("query:state", "choice", "a state of the case lifecycle")],
            ) from None
        sql += " AND c.state = {}"
        params.append(state)
    if cursor:
        at, ident = parse_page_cursor(cursor)
        sql += " AND (c.filed_at < {} OR (c.filed_at = {} AND c.id < {}))"
        params += [at, at, ident]
    sql += " ORDER BY c.filed_at DESC, c.id DESC LIMIT {}"
    params.append(limit + 1)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        rows = await uow.fetch(sql, *params)
        more = len(rows) > limit
        rows = rows[:limit]
        names = await _party_names(uow, tenant_id, [as_uuid(r["id"]) for r in rows])
    items = [
        CaseSummary(
            id=as_uuid(r["id"]),
            number=r["number"],
            case_type=str(r["case_type"]),
            state=str(r["state"]),
            amount_claimed=_money(r["amount_claimed"]),
            claimants=names.get((str(r["id"]), "claimant"), []),
            respondents=names.get((str(r["id"]), "respondent"), []),
            filed_at=as_datetime(r["filed_at"]),
        )
        for r in rows
    ]
    last = items[-1] if items and more else None
    return CasePage(items=items, next_cursor=page_cursor(last.filed_at, last.id) if last else None)


async def _party_names(
    uow: UnitOfWork, tenant_id: UUID, case_ids: Iterable[UUID]
) -> dict[tuple[str, str], list[str]]:
    ids = list(case_ids)
    if not ids:
        return {}
    marks = ", ".join("{}" for _ in ids)
    rows = await uow.fetch(
        "SELECT case_id, side, name FROM case_party "  # noqa: S608 (placeholders only)
        f"WHERE tenant_id = {{}} AND case_id IN ({marks}) ORDER BY position",
        tenant_id,
        *ids,
    )
    found: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        found.setdefault((str(r["case_id"]), str(r["side"])), []).append(str(r["name"]))
    return found


# -- integrity alerts ----------------------------------------------------------------


async def flag_altered_evidence(
    uow: UnitOfWork, tenant_id: UUID, object_keys: Iterable[str], *, by: str = "scrub"
) -> int:
    """Flag every exhibit whose cited bytes (a file or a record's JWS) are altered or gone.

    Each exhibit is flagged once (``altered_at``), with an event in its case's
    history naming the exhibit and the object, and an audit event; nothing is
    repaired. The number of exhibits newly flagged.
    """
    keys = sorted(set(object_keys))
    if not keys:
        return 0
    marks = ", ".join("{}" for _ in keys)
    rows = await uow.fetch(
        "SELECT e.id, e.case_id, e.number, c.state, "  # noqa: S608 (placeholders only)
        "COALESCE(o.object_key, r.object_key) AS object_key FROM exhibit e "
        "JOIN arb_case c ON c.tenant_id = e.tenant_id AND c.id = e.case_id "
        "LEFT JOIN custody_object o ON o.tenant_id = e.tenant_id AND o.id = e.custody_object_id "
        "LEFT JOIN custody_record r ON r.tenant_id = e.tenant_id AND r.id = e.custody_record_id "
        f"WHERE e.tenant_id = {{}} AND e.altered_at IS NULL "
        f"AND (o.object_key IN ({marks}) OR r.object_key IN ({marks}))",
        tenant_id,
        *keys,
        *keys,
    )
    now = uow.now()
    for row in rows:
        exhibit_id = as_uuid(row["id"])
        case_id = as_uuid(row["case_id"])
        state = CaseState(str(row["state"]))
        await uow.execute(
            "UPDATE exhibit SET altered_at = {} WHERE tenant_id = {} AND id = {}",
            now,
            tenant_id,
            exhibit_id,
        )
        await append_event(
            uow,
            tenant_id,
            case_id,
            None,
            command="flag_evidence_altered",
            from_state=state,
            to_state=state,
            reason="the stored bytes of this exhibit no longer match their logged SHA-256",
            data={
                "exhibit": str(exhibit_id),
                "number": row["number"],
                "object_key": str(row["object_key"]),
            },
            system=by,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=AuditActor.system(by),
            action="exhibit.altered",
            outcome="failure",
            target_kind="exhibit",
            target_id=exhibit_id,
            detail={"case": str(case_id), "object_key": str(row["object_key"])},
        )
    return len(rows)
