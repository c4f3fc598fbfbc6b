"""Due process by construction: the guards no command can pass early, and the record.

In 2018 the Supreme People's Court told courts to refuse enforcement of awards
where the respondent's rights to be served, to challenge an arbitrator, to
submit evidence and to defend were not actually guaranteed. So:

* a case cannot leave the answer period, or reach "ready for award", while a
  period given to the respondent is still running, unless the respondent
  *personally* (not an agent, not the claimant) waived it;
* nothing reaches "ready for award" unless service on the respondent was
  completed (or deemed complete under the rules), as its history shows;
* :func:`record` assembles the due-process record every award and court
  package carries: filing, service, the periods given (with how each ended:
  ran, met, waived), when the respondent first opened the file, the evidence
  each side put in, the transitions and who made them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

import msgspec

from arbitral.audit.services import record as audit
from arbitral.auth.domain import Principal, PrincipalKind, Role
from arbitral.cases import deadlines, hooks
from arbitral.cases.domain import CaseState
from arbitral.db.values import as_datetime, as_optional_datetime
from arbitral.errors import FieldProblem, Forbidden, ProblemError, ValidationFailed
from arbitral.identity.services import actor_of, tenant_of

if TYPE_CHECKING:
    from arbitral.cases.services import LoadedCase
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime

# The periods the rules give the respondent (deadline names): none may be cut short.
RESPONDENT_PERIODS: Final = frozenset(
    {"answer", "counterclaim", "evidence", "arbitrator_selection", "challenge"}
)
# The periods the rules give the claimant: its time to answer the respondent's counterclaim.
CLAIMANT_PERIODS: Final = frozenset({"counterclaim_answer"})
# A counterclaim's fee awaiting payment (not a party's period: nobody waives it).
COUNTERCLAIM_PENDING: Final = frozenset({"counterclaim_fee"})
# The periods that must have run (or been waived) before each command.
PERIODS_BEFORE: Final[Mapping[str, frozenset[str]]] = {
    "close_pleadings": frozenset({"answer", "counterclaim"})
    | CLAIMANT_PERIODS
    | COUNTERCLAIM_PENDING,
    "close_hearing": frozenset({"evidence"}),
    "conclude_deliberation": RESPONDENT_PERIODS | CLAIMANT_PERIODS | COUNTERCLAIM_PENDING,
}
# The history events of service on the record: each notice served (with its certificate,
# by the ladder or recorded by staff) and the service completed; ``service_*`` besides.
SERVICE_EVENTS: Final = frozenset({"notice_served", "complete_service"})
NEEDS_SERVICE: Final = frozenset(
    {"close_pleadings", "constitute_tribunal", "open_hearing", "conclude_deliberation"}
)
# Commands refused while the notice of the tribunal's constitution is still being served on
# a party (or referred to the staff): each party's challenge period runs from its service,
# so until then the challenge deadline is not even known.
NEEDS_TRIBUNAL_NOTICE: Final = frozenset({"conclude_deliberation"})


class DueProcessRefused(ProblemError):
    status = 409
    slug = "due-process"
    title = "Due process not yet given"


class DeadlineOut(msgspec.Struct):
    name: str
    due_at: datetime
    status: str  # pending, fired (ran its course), cancelled (met), waived, replaced
    settled_at: datetime | None


class EventRef(msgspec.Struct):
    command: str
    at: datetime
    actor: str
    actor_kind: str
    data: dict[str, Any]


class HearingRoundRef(msgspec.Struct):
    round: str
    opened_at: datetime
    closes_at: str | None
    closed_at: datetime | None
    closed_by: str | None  # "deadline" (its hours ran out) or "tribunal"


class HearingRecord(msgspec.Struct):
    """The hearing opportunities given and used, from the case's history."""

    mode: str | None
    opened_at: datetime | None
    closed_at: datetime | None
    rounds: list[HearingRoundRef]
    # Posts of the asynchronous hearing per speaker (claimant, respondent, tribunal).
    posts: dict[str, int]
    # Each side's closing statement: does it accept mediation?
    accepts_mediation: dict[str, bool]
    video_sessions: list[EventRef]


class DueProcessRecord(msgspec.Struct):
    case_id: UUID
    number: str | None
    rule_set: str
    rule_set_version: str
    state: str
    filed_at: datetime
    service: list[EventRef]
    respondent_first_opened_at: datetime | None
    periods: list[DeadlineOut]
    waivers: list[EventRef]
    exhibits: dict[str, int]
    views: dict[str, int]
    transitions: list[EventRef]
    # The answer period ran out without an answer: the case proceeded in default.
    respondent_in_default: bool = False
    answered_at: datetime | None = None
    hearing: HearingRecord | None = None
    # The respondent's counterclaim, step by step: filed, its fee invoiced, paid or deemed
    # withdrawn, the claimant's answer period given and how it ended (or was waived).
    counterclaim: list[EventRef] = msgspec.field(default_factory=list)


async def _events(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID, commands: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    rows = await uow.fetch(
        "SELECT command, from_state, to_state, at, actor, actor_kind, data FROM case_event "
        "WHERE tenant_id = {} AND case_id = {} ORDER BY seq",
        tenant_id,
        case_id,
    )
    return [r for r in rows if commands is None or r["command"] in commands]


def _ref(row: Mapping[str, Any]) -> EventRef:
    data = row["data"]
    return EventRef(
        command=str(row["command"]),
        at=as_datetime(row["at"]),
        actor=str(row["actor"]),
        actor_kind=str(row["actor_kind"]),
        data=json.loads(data) if isinstance(data, str) else dict(data),
    )


async def check(uow: UnitOfWork, case: LoadedCase, command: str) -> None:
    """Refuse ``command`` (409, with the reason) while due process is not yet given."""
    tenant_id = as_uuid_of(case)
    if command in NEEDS_SERVICE:
        served = await _events(uow, tenant_id, case.id, frozenset({"complete_service"}))
        if not served:
            raise DueProcessRefused(
                "the respondent has not been served",
                errors=[FieldProblem("$.command", "not_served", "serve the respondent first")],
            )
    if command in NEEDS_TRIBUNAL_NOTICE:
        pending = await uow.fetch(
            "SELECT party_id FROM service_request WHERE tenant_id = {} AND case_id = {} "
            "AND notice = 'notice-of-tribunal' AND status IN ('serving', 'referred')",
            tenant_id,
            case.id,
        )
        if pending:
            raise DueProcessRefused(
                "the notice of the tribunal's constitution is not yet served on every party "
                "(the challenge period runs from its service)",
                errors=[
                    FieldProblem(
                        "$.command",
                        "tribunal_notice_unserved",
                        f"{len(pending)} part{'y' if len(pending) == 1 else 'ies'} not yet served",
                    )
                ],
            )
    names = PERIODS_BEFORE.get(command, frozenset())
    running = [d for d in case.deadlines if d.name in names]
    if running:
        first = min(running, key=lambda d: d.due_at)
        raise DueProcessRefused(
            f"the {first.name} period runs until {first.due_at.isoformat()}",
            errors=[
                FieldProblem(
                    "$.command",
                    "period_running",
                    f"{d.name} runs until {d.due_at.isoformat()}; {_who_waives(d.name)}",
                )
                for d in running
            ],
            extensions={
                "running": [{"name": d.name, "due_at": d.due_at.isoformat()} for d in running]
            },
        )


def _who_waives(period: str) -> str:
    if period in CLAIMANT_PERIODS:
        return "only the claimant can waive it"
    if period in RESPONDENT_PERIODS:
        return "only the respondent can waive it"
    return "nobody can waive it"


def as_uuid_of(case: LoadedCase) -> UUID:
    value = case.row["tenant_id"]
    return value if isinstance(value, UUID) else UUID(str(value))


async def waive(runtime: Runtime, principal: Principal, case_id: UUID, period: str) -> list[str]:
    """A party personally gives up the rest of one of its periods; what still runs.

    The respondent its periods (:data:`RESPONDENT_PERIODS`), the claimant its time to
    answer a counterclaim (:data:`CLAIMANT_PERIODS`); never an agent or the other side.
    """
    from arbitral.cases.services import access_case, append_event, touch

    waivable = RESPONDENT_PERIODS | CLAIMANT_PERIODS
    if period not in waivable:
        raise ValidationFailed(
            "not a period a party can waive",
            errors=[FieldProblem("$.period", "choice", f"one of {', '.join(sorted(waivable))}")],
        )
    tenant_id = tenant_of(principal)
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case = await access_case(uow, principal, case_id)
        side = "claimant" if period in CLAIMANT_PERIODS else "respondent"
        parties = (
            case.participation.claimants if side == "claimant" else case.participation.respondents
        )
        personally = (
            principal.kind is PrincipalKind.USER
            and principal.subject_id in parties
            and bool(principal.roles & {Role.RESPONDENT, Role.CLAIMANT})
        )
        if not personally:
            raise Forbidden(
                f"only the {side} personally waives its periods",
                errors=[FieldProblem("$", side, f"log in as the {side}")],
            )
        await touch(uow, case)
        if not await deadlines.cancel(uow, tenant_id, case_id, period, now=now, status="waived"):
            raise DueProcessRefused(
                f"no {period} period is running",
                errors=[FieldProblem("$.period", "not_running", "nothing to waive")],
            )
        state = CaseState(str(case.row["state"]))
        await append_event(
            uow,
            tenant_id,
            case_id,
            principal,
            command="waive_period",
            from_state=state,
            to_state=state,
            data={"period": period},
        )
        await audit(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="case.period_waived",
            target_kind="case",
            target_id=case_id,
            detail={"period": period},
        )
        tenant = await runtime.tenants.by_id(tenant_id)
        if tenant is not None:
            # What a period's end moves on (the pleadings closing) moves on a waiver too.
            await hooks.run_hooks(
                uow,
                runtime,
                hooks.Transitioned(
                    tenant=tenant,
                    case_id=case_id,
                    command="waive_period",
                    from_state=state,
                    to_state=state,
                    actor=principal.actor_id,
                    data={"period": period},
                ),
            )
        return [d.name for d in await deadlines.pending(uow, tenant_id, case_id)]


async def note_respondent_opened(runtime: Runtime, principal: Principal, case: LoadedCase) -> None:
    """The first time the respondent side opens the file: recorded once, in the history."""
    from arbitral.cases.domain import Side, side_of
    from arbitral.cases.services import append_event

    if case.row.get("respondent_opened_at") is not None:
        return
    if side_of(principal, case.participation) is not Side.RESPONDENT:
        return
    tenant_id = tenant_of(principal)
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        rows = await uow.fetch(
            "UPDATE arb_case SET respondent_opened_at = {} WHERE tenant_id = {} AND id = {} "
            "AND respondent_opened_at IS NULL RETURNING id",
            now,
            tenant_id,
            case.id,
        )
        if rows:
            state = CaseState(str(case.row["state"]))
            await append_event(
                uow,
                tenant_id,
                case.id,
                principal,
                command="respondent_opened_file",
                from_state=state,
                to_state=state,
            )


async def record(runtime: Runtime, principal: Principal, case_id: UUID) -> DueProcessRecord:
    from arbitral.cases.services import access_case

    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        case = await access_case(uow, principal, case_id)
        events = await _events(uow, tenant_id, case_id)
        periods = await uow.fetch(
            "SELECT name, due_at, status, settled_at FROM case_deadline "
            "WHERE tenant_id = {} AND case_id = {} ORDER BY created_at, name",
            tenant_id,
            case_id,
        )
        exhibits = await uow.fetch(
            "SELECT side, count(*) AS n FROM exhibit WHERE tenant_id = {} AND case_id = {} "
            "AND submitted_at IS NOT NULL GROUP BY side",
            tenant_id,
            case_id,
        )
        views = await uow.fetch(
            "SELECT side, count(*) AS n FROM exhibit_view WHERE tenant_id = {} AND case_id = {} "
            "GROUP BY side",
            tenant_id,
            case_id,
        )
    row = case.row
    transitions = [e for e in events if e["from_state"] != e["to_state"] or e["command"] == "file"]
    return DueProcessRecord(
        case_id=case.id,
        number=row["number"],
        rule_set=str(row["rule_set"]),
        rule_set_version=str(row["rule_set_version"]),
        state=str(row["state"]),
        filed_at=as_datetime(row["filed_at"]),
        service=[
            _ref(e)
            for e in events
            if e["command"] in SERVICE_EVENTS or str(e["command"]).startswith("service_")
        ],
        respondent_first_opened_at=as_optional_datetime(row["respondent_opened_at"]),
        periods=[
            DeadlineOut(
                name=str(p["name"]),
                due_at=as_datetime(p["due_at"]),
                status=str(p["status"]),
                settled_at=as_optional_datetime(p["settled_at"]),
            )
            for p in periods
            if p["status"] != "replaced"
        ],
        waivers=[_ref(e) for e in events if e["command"] == "waive_period"],
        exhibits={str(r["side"]): int(r["n"]) for r in exhibits},
        views={str(r["side"]): int(r["n"]) for r in views},
        transitions=[_ref(e) for e in transitions],
        respondent_in_default=any(e["command"] == "respondent_in_default" for e in events),
        answered_at=next((as_datetime(e["at"]) for e in events if e["command"] == "answer"), None),
        hearing=_hearing_record([_ref(e) for e in events]),
        counterclaim=[
            _ref(e)
            for e in events
            if str(e["command"]).startswith("counterclaim_")
            and e["command"] != "counterclaim_period_ended"
        ],
    )


def _hearing_record(events: list[EventRef]) -> HearingRecord | None:
    """The hearing section of the record, from the history events the hearing wrote."""
    opened = next((e for e in events if e.command == "open_hearing"), None)
    if opened is None:
        return None
    rounds: list[HearingRoundRef] = []
    posts: dict[str, int] = {}
    wishes: dict[str, bool] = {}
    for e in events:
        if e.command == "hearing_round_opened":
            rounds.append(
                HearingRoundRef(
                    round=str(e.data.get("round")),
                    opened_at=e.at,
                    closes_at=e.data.get("closes_at"),
                    closed_at=None,
                    closed_by=None,
                )
            )
        elif e.command == "hearing_round_closed":
            for r in rounds:
                if r.round == e.data.get("round") and r.closed_at is None:
                    r.closed_at = e.at
                    r.closed_by = str(e.data.get("by"))
        elif e.command == "hearing_post":
            speaker = str(e.data.get("speaker"))
            posts[speaker] = posts.get(speaker, 0) + 1
            if e.data.get("kind") == "closing":
                wishes[speaker] = bool(e.data.get("accepts_mediation"))
    closed = next((e for e in events if e.command == "close_hearing"), None)
    return HearingRecord(
        mode=opened.data.get("mode"),
        opened_at=opened.at,
        closed_at=closed.at if closed else None,
        rounds=rounds,
        posts=posts,
        accepts_mediation=wishes,
        video_sessions=[
            e
            for e in events
            if e.command
            in {"video_hearing_scheduled", "video_hearing_rescheduled", "video_hearing_outcome"}
        ],
    )
