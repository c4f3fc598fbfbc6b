"""Use cases of the pleadings context: the answer, default, and the periods running out.

The answer and counterclaim periods are scheduled by service of process when
service completes; the evidence period by service too, or here when the rule
set has it run from the close of the pleadings. What happens when each period
runs out is decided here (:mod:`arbitral.pleadings.hooks` registers the
handlers), in the expiry job's transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

import structlog

from arbitral.audit.services import Actor as AuditActor
from arbitral.audit.services import record
from arbitral.auth.domain import Principal
from arbitral.cases import deadlines
from arbitral.cases import services as cases
from arbitral.cases.domain import CLOSED, CaseState, Side, side_of
from arbitral.db.values import as_datetime, as_optional_datetime, as_uuid
from arbitral.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
    first_line,
)
from arbitral.identity.services import actor_of, tenant_of
from arbitral.ledger import services as ledger
from arbitral.payments import services as payments
from arbitral.pleadings import domain
from arbitral.pleadings.schemas import (
    AnswerIn,
    AnswerOut,
    CounterclaimAnswerIn,
    CounterclaimAnswerOut,
    CounterclaimFeeOut,
    CounterclaimIn,
    CounterclaimOut,
)
from arbitral.rules.claims import ClaimInvalid, validate_claim
from arbitral.rules.model import UnknownRule

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

log = structlog.get_logger(__name__)

SYSTEM: Final = "deadlines"
DEFAULT_EVENT: Final = "respondent_in_default"


def _answer_out(row: Mapping[str, Any]) -> AnswerOut:
    ids = row["exhibit_ids"]
    return AnswerOut(
        id=as_uuid(row["id"]),
        case_id=as_uuid(row["case_id"]),
        text=str(row["text"]),
        sha256=str(row["sha256"]),
        exhibit_ids=[UUID(str(i)) for i in (json.loads(ids) if isinstance(ids, str) else ids)],
        submitted_by=str(row["submitted_by"]),
        submitted_at=as_datetime(row["submitted_at"]),
    )


async def _answer_row(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> dict[str, Any] | None:
    rows = await uow.fetch(
        "SELECT * FROM case_answer WHERE tenant_id = {} AND case_id = {}", tenant_id, case_id
    )
    return rows[0] if rows else None


async def _check_exhibits(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID, exhibit_ids: list[UUID]
) -> None:
    """Each exhibit cited must be a submitted exhibit of the respondent's side of this case."""
    problems: list[FieldProblem] = []
    for i, exhibit_id in enumerate(exhibit_ids):
        rows = await uow.fetch(
            "SELECT side, submitted_at FROM exhibit WHERE tenant_id = {} AND case_id = {} "
            "AND id = {}",
            tenant_id,
            case_id,
            exhibit_id,
        )
        field = f"$.exhibit_ids[{i}]"
        if not rows or rows[0]["side"] != Side.RESPONDENT.value:
            problems.append(FieldProblem(field, "exhibit", "not an exhibit of your side here"))
        elif rows[0]["submitted_at"] is None:
            problems.append(FieldProblem(field, "submitted", "submit the exhibit first"))
    if problems:
        raise ValidationFailed("the answer cites exhibits it cannot", errors=problems)


async def submit_answer(
    runtime: Runtime, principal: Principal, case_id: UUID, data: AnswerIn
) -> AnswerOut:
    """The respondent side answers within the answer period, which is thereby met."""
    problems = domain.answer_problems(data.text, data.exhibit_ids)
    if problems:
        raise ValidationFailed(
            "the answer cannot be taken as given",
            errors=[FieldProblem(f, r, m) for f, r, m in problems],
        )
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await cases.lock_case(uow, tenant_id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        if side_of(principal, case.participation) is not Side.RESPONDENT:
            raise Forbidden(
                "only the respondent (or its agent) answers the claim",
                errors=[FieldProblem("$", "respondent_side", "log in as the respondent")],
            )
        due = next((d.due_at for d in case.deadlines if d.name == domain.ANSWER), None)
        refusal = domain.answer_refusal(now, due)
        if refusal is None and await _answer_row(uow, tenant_id, case_id) is not None:
            refusal = "the claim has been answered already"
        if refusal is not None:
            raise Conflict(
                refusal,
                errors=[FieldProblem("$", "answer_period", refusal)],
                extensions={"state": case.state.value},
            )
        await _check_exhibits(uow, tenant_id, case_id, data.exhibit_ids)
        await cases.touch(uow, case)
        answer_id = uuid4()
        digest = hashlib.sha256(data.text.encode()).hexdigest()
        exhibits = [str(e) for e in data.exhibit_ids]
        await uow.execute(
            "INSERT INTO case_answer (id, tenant_id, case_id, text, sha256, exhibit_ids, "
            "submitted_by, submitted_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
            answer_id,
            tenant_id,
            case_id,
            data.text,
            digest,
            json.dumps(exhibits),
            principal.actor_id,
            now,
        )
        await deadlines.cancel(uow, tenant_id, case_id, domain.ANSWER, now=now, status="cancelled")
        detail = {"answer": str(answer_id), "sha256": digest, "exhibits": exhibits}
        await cases.append_event(
            uow,
            tenant_id,
            case_id,
            principal,
            command="answer",
            from_state=case.state,
            to_state=case.state,
            data=detail,
        )
        await ledger.append(
            uow,
            tenant_id,
            "case.answer",
            {"case_id": str(case_id), "at": now.isoformat(), "by": principal.actor_id, **detail},
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="case.answered",
            target_kind="case",
            target_id=case_id,
            detail=detail,
        )
        # The counterclaim period may have ended already: then the pleadings close now.
        await close_pleadings_if_over(uow, runtime, tenant, case_id, by="pleadings")
        row = await _answer_row(uow, tenant_id, case_id)
        assert row is not None
        return _answer_out(row)


async def get_answer(runtime: Runtime, principal: Principal, case_id: UUID) -> AnswerOut:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        await cases.access_case(uow, principal, case_id)
        row = await _answer_row(uow, tenant_id, case_id)
    if row is None:
        raise NotFound("the claim has not been answered")
    return _answer_out(row)


# -- the periods running out -----------------------------------------------------------


async def close_pleadings_if_over(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, *, by: str
) -> bool:
    """Move the case to the evidence exchange once the answer and counterclaim periods ended."""
    case = await cases.load_case(uow, tenant.id, case_id)
    if case.state is not CaseState.ANSWER_PERIOD:
        return False
    if not domain.pleadings_over(d.name for d in case.deadlines):
        return False
    # The answer period may have run out with its own job not yet run (both periods fired
    # by one sweep, the counterclaim's job first): the default is recorded before the close.
    await _record_default_if_unanswered(uow, runtime, tenant, case)
    await cases.system_command(
        uow,
        runtime,
        tenant,
        case_id,
        "close_pleadings",
        by=by,
        data={"respondent_in_default": await in_default(uow, tenant.id, case_id)},
    )
    return True


async def in_default(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> bool:
    rows = await uow.fetch(
        "SELECT 1 AS found FROM case_event WHERE tenant_id = {} AND case_id = {} AND command = {}",
        tenant_id,
        case_id,
        DEFAULT_EVENT,
    )
    return bool(rows)


async def answer_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID
) -> None:
    """The answer period ran out: without an answer, the respondent is in default."""
    await cases.lock_case(uow, tenant.id, case_id)
    case = await cases.load_case(uow, tenant.id, case_id)
    if case.state in CLOSED:
        return
    await _record_default(uow, runtime, tenant, case)
    await close_pleadings_if_over(uow, runtime, tenant, case_id, by=SYSTEM)


async def _record_default(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case: cases.LoadedCase
) -> None:
    """The answer period ended unanswered: the default, recorded once."""
    case_id = case.id
    answered = await _answer_row(uow, tenant.id, case_id) is not None
    if not answered and not await in_default(uow, tenant.id, case_id):
        now = runtime.clock.now()
        await cases.append_event(
            uow,
            tenant.id,
            case_id,
            None,
            command=DEFAULT_EVENT,
            from_state=case.state,
            to_state=case.state,
            reason="the answer period ran out without an answer: the case proceeds in default",
            system=SYSTEM,
        )
        await ledger.append(
            uow,
            tenant.id,
            f"case.{DEFAULT_EVENT}",
            {"case_id": str(case_id), "at": now.isoformat(), "by": SYSTEM},
        )
        await record(
            uow,
            tenant_id=tenant.id,
            actor=AuditActor.system(SYSTEM),
            action=f"case.{DEFAULT_EVENT}",
            target_kind="case",
            target_id=case_id,
        )


async def _record_default_if_unanswered(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case: cases.LoadedCase
) -> None:
    """The default, if the answer period ran its course (fired) and no answer came."""
    rows = await uow.fetch(
        "SELECT status FROM case_deadline WHERE tenant_id = {} AND case_id = {} AND name = {} "
        "AND status <> 'replaced' ORDER BY created_at DESC LIMIT 1",
        tenant.id,
        case.id,
        domain.ANSWER,
    )
    if rows and rows[0]["status"] == "fired":
        await _record_default(uow, runtime, tenant, case)


async def counterclaim_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID
) -> None:
    """The counterclaim period ran out (no counterclaim can come now)."""
    await cases.lock_case(uow, tenant.id, case_id)
    case = await cases.load_case(uow, tenant.id, case_id)
    if case.state in CLOSED:
        return
    await _period_ended(uow, case, domain.COUNTERCLAIM)
    await close_pleadings_if_over(uow, runtime, tenant, case_id, by=SYSTEM)


async def evidence_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID
) -> None:
    """The evidence period ran out: recorded with what each side put in by then."""
    await cases.lock_case(uow, tenant.id, case_id)
    case = await cases.load_case(uow, tenant.id, case_id)
    if case.state in CLOSED:
        return
    rows = await uow.fetch(
        "SELECT side, count(*) AS n FROM exhibit WHERE tenant_id = {} AND case_id = {} "
        "AND submitted_at IS NOT NULL GROUP BY side",
        tenant.id,
        case_id,
    )
    counts = {str(r["side"]): int(r["n"]) for r in rows}
    await _period_ended(
        uow,
        case,
        domain.EVIDENCE,
        {"exhibits": {s.value: counts.get(s.value, 0) for s in Side}},
    )


async def _period_ended(
    uow: UnitOfWork,
    case: cases.LoadedCase,
    period: str,
    data: Mapping[str, Any] | None = None,
) -> None:
    tenant_id = as_uuid(case.row["tenant_id"])
    await cases.append_event(
        uow,
        tenant_id,
        case.id,
        None,
        command=f"{period}_period_ended",
        from_state=case.state,
        to_state=case.state,
        data={"period": period, **(data or {})},
        system=SYSTEM,
    )
    await record(
        uow,
        tenant_id=tenant_id,
        actor=AuditActor.system(SYSTEM),
        action="case.period_ended",
        target_kind="case",
        target_id=case.id,
        detail={"period": period, **(data or {})},
    )


async def start_periods_after_pleadings(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID
) -> list[str]:
    """Schedule the periods the rule set runs from the close of the pleadings (the evidence
    period, in some rule sets); their names."""
    case = await cases.load_case(uow, tenant.id, case_id)
    row = case.row
    rules = runtime.rules.get(str(row["rule_set"]), str(row["rule_set_version"]))
    limits = rules.case_type(str(row["case_type"])).time_limits
    names = domain.limits_starting_at(
        {n: t.starts_from for n, t in limits.items()}, domain.PLEADINGS_CLOSED
    )
    now = runtime.clock.now()
    for name in names:
        due = rules.deadline(
            str(row["case_type"]),
            name,
            now,
            zone=tenant.zone,
            calendar=runtime.rules.calendar(rules.calendar),
        ).ends_at
        await deadlines.schedule(uow, tenant.id, case_id, name, due, now=now)
    return names


# -- the counterclaim ------------------------------------------------------------------


def _counterclaim_out(
    row: Mapping[str, Any],
    invoice: Mapping[str, Any] | None,
    answer_due: datetime | None,
) -> CounterclaimOut:
    fee = None
    if invoice is not None:
        fee = CounterclaimFeeOut(
            invoice_id=as_uuid(invoice["id"]),
            status=str(invoice["status"]),
            currency=str(invoice["currency"]),
            total=_money(invoice["total"]),
            due_at=as_datetime(invoice["due_at"]),
            paid_at=as_optional_datetime(invoice["paid_at"]),
        )
    return CounterclaimOut(
        id=as_uuid(row["id"]),
        case_id=as_uuid(row["case_id"]),
        status=str(row["status"]),
        claims=str(row["claims"]),
        amount=_money(row["amount"]),
        facts_and_reasons=str(row["facts_and_reasons"]),
        sha256=str(row["sha256"]),
        filed_by=str(row["filed_by"]),
        filed_at=as_datetime(row["filed_at"]),
        paid_at=as_optional_datetime(row["paid_at"]),
        withdrawn_at=as_optional_datetime(row["withdrawn_at"]),
        fee=fee,
        answer_due_at=answer_due,
        answer=None
        if row["answered_at"] is None
        else CounterclaimAnswerOut(
            text=str(row["answer_text"]),
            sha256=str(row["answer_sha256"]),
            answered_by=str(row["answered_by"]),
            answered_at=as_datetime(row["answered_at"]),
        ),
    )


def _money(value: Any) -> str:
    return f"{Decimal(str(value)).quantize(Decimal('0.01'))}"


async def _counterclaim_row(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID
) -> dict[str, Any] | None:
    rows = await uow.fetch(
        "SELECT * FROM case_counterclaim WHERE tenant_id = {} AND case_id = {}",
        tenant_id,
        case_id,
    )
    return rows[0] if rows else None


async def _answer_due(uow: UnitOfWork, tenant_id: UUID, case_id: UUID) -> datetime | None:
    """When the claimant's period to answer the counterclaim ends (given, not replaced)."""
    rows = await uow.fetch(
        "SELECT due_at FROM case_deadline WHERE tenant_id = {} AND case_id = {} AND name = {} "
        "AND status <> 'replaced' ORDER BY created_at DESC LIMIT 1",
        tenant_id,
        case_id,
        domain.COUNTERCLAIM_ANSWER,
    )
    return as_datetime(rows[0]["due_at"]) if rows else None


async def _counterclaim_view(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID
) -> CounterclaimOut | None:
    row = await _counterclaim_row(uow, tenant_id, case_id)
    if row is None:
        return None
    invoice = await payments.invoice_summary(uow, tenant_id, case_id, payments.COUNTERCLAIM)
    return _counterclaim_out(row, invoice, await _answer_due(uow, tenant_id, case_id))


def _validated_counterclaim(
    runtime: Runtime, case: cases.LoadedCase, data: CounterclaimIn, today: date
) -> dict[str, Any]:
    """The counterclaim's fields checked by the case type's claim form (the pinned version)."""
    row = case.row
    try:
        rules = runtime.rules.get(str(row["rule_set"]), str(row["rule_set_version"]))
        form = rules.case_type(str(row["case_type"])).claim_form
    except UnknownRule as exc:
        raise ServiceUnavailable(
            f"the case's rules are not available ({first_line(exc)})"
        ) from None
    submitted = {
        form_name: getattr(data, field)
        for field, form_name in domain.COUNTERCLAIM_FIELDS.items()
        if getattr(data, field) is not None
    }
    try:
        valid = validate_claim(domain.counterclaim_form(form), submitted, filed_on=today)
    except ClaimInvalid as exc:
        raise ValidationFailed(
            "the counterclaim is not valid",
            errors=[
                FieldProblem(domain.counterclaim_field(p.field), p.rule, p.message)
                for p in exc.problems
            ],
        ) from None
    return dict(valid.values)


async def file_counterclaim(
    runtime: Runtime, principal: Principal, case_id: UUID, data: CounterclaimIn
) -> CounterclaimOut:
    """The respondent side files its counterclaim within the counterclaim period.

    In one transaction: the counterclaim (its period thereby met), its fee invoiced to
    the respondent (assessed as a counterclaim, due within the rule set's fee limit),
    the fee's deadline, history events, ledger leaves and audit events.
    """
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await cases.lock_case(uow, tenant_id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        if side_of(principal, case.participation) is not Side.RESPONDENT:
            raise Forbidden(
                "only the respondent (or its agent) files a counterclaim",
                errors=[FieldProblem("$", "respondent_side", "log in as the respondent")],
            )
        due = next((d.due_at for d in case.deadlines if d.name == domain.COUNTERCLAIM), None)
        refusal = domain.counterclaim_refusal(
            now,
            due,
            in_pleadings=case.state is CaseState.ANSWER_PERIOD,
            filed=await _counterclaim_row(uow, tenant_id, case_id) is not None,
        )
        if refusal is not None:
            raise Conflict(
                refusal,
                errors=[FieldProblem("$", "counterclaim_period", refusal)],
                extensions={"state": case.state.value},
            )
        values = _validated_counterclaim(runtime, case, data, now.astimezone(tenant.zone).date())
        claims = str(values["claims"])
        amount = Decimal(str(values["amount_claimed"]))
        facts = str(values.get("facts_and_reasons", ""))
        digest = hashlib.sha256(
            json.dumps(
                {"claims": claims, "amount": _money(amount), "facts_and_reasons": facts},
                ensure_ascii=False,
                sort_keys=True,
                separators=(",", ":"),
            ).encode()
        ).hexdigest()
        await cases.touch(uow, case)
        counterclaim_id = uuid4()
        await uow.execute(
            "INSERT INTO case_counterclaim (id, tenant_id, case_id, claims, amount, "
            "facts_and_reasons, sha256, status, filed_by, filed_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            counterclaim_id,
            tenant_id,
            case_id,
            claims,
            amount,
            facts,
            digest,
            domain.CounterclaimStatus.PENDING_FEE.value,
            principal.actor_id,
            now,
        )
        # One counterclaim per case: its period is met.
        await deadlines.cancel(
            uow, tenant_id, case_id, domain.COUNTERCLAIM, now=now, status="cancelled"
        )
        filed = {"counterclaim": str(counterclaim_id), "sha256": digest, "amount": _money(amount)}
        await _milestone(
            uow, tenant_id, case, "counterclaim_filed", filed, principal=principal, now=now
        )
        issued = await payments.issue_counterclaim_invoice(
            uow, runtime, tenant, case_id, counterclaim_id, amount
        )
        await deadlines.schedule(
            uow,
            tenant_id,
            case_id,
            domain.COUNTERCLAIM_FEE,
            issued.due_at,
            now=now,
            payload={"invoice_id": str(issued.invoice_id), "counterclaim_id": str(counterclaim_id)},
        )
        await _milestone(
            uow,
            tenant_id,
            case,
            "counterclaim_fee_invoiced",
            {
                "counterclaim": str(counterclaim_id),
                "invoice_id": str(issued.invoice_id),
                "payer": Side.RESPONDENT.value,
                "total": _money(issued.total),
                "currency": issued.currency,
                "due_at": issued.due_at.isoformat(),
            },
            now=now,
            by=payments.SYSTEM,
        )
        view = await _counterclaim_view(uow, tenant_id, case_id)
        assert view is not None
        return view


async def answer_counterclaim(
    runtime: Runtime, principal: Principal, case_id: UUID, data: CounterclaimAnswerIn
) -> CounterclaimOut:
    """The claimant side answers the counterclaim within its period, which is thereby met."""
    problems = domain.answer_problems(data.text, [])
    if problems:
        raise ValidationFailed(
            "the answer cannot be taken as given",
            errors=[FieldProblem(f, r, m) for f, r, m in problems],
        )
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    now = runtime.clock.now()
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await cases.lock_case(uow, tenant_id, case_id)
        case = await cases.access_case(uow, principal, case_id)
        if side_of(principal, case.participation) is not Side.CLAIMANT:
            raise Forbidden(
                "only the claimant side answers the counterclaim",
                errors=[FieldProblem("$", "claimant_side", "log in as the claimant")],
            )
        row = await _counterclaim_row(uow, tenant_id, case_id)
        due = next((d.due_at for d in case.deadlines if d.name == domain.COUNTERCLAIM_ANSWER), None)
        refusal = domain.counterclaim_answer_refusal(
            now,
            None if row is None else str(row["status"]),
            due,
            answered=row is not None and row["answered_at"] is not None,
        )
        if refusal is not None or row is None:
            reason = refusal or "no counterclaim has been filed on this case"
            raise Conflict(
                reason,
                errors=[FieldProblem("$", "counterclaim_answer_period", reason)],
                extensions={"state": case.state.value},
            )
        await cases.touch(uow, case)
        digest = hashlib.sha256(data.text.encode()).hexdigest()
        await uow.execute(
            "UPDATE case_counterclaim SET answer_text = {}, answer_sha256 = {}, answered_by = {}, "
            "answered_at = {} WHERE tenant_id = {} AND id = {} AND answered_at IS NULL",
            data.text,
            digest,
            principal.actor_id,
            now,
            tenant_id,
            row["id"],
        )
        await deadlines.cancel(
            uow, tenant_id, case_id, domain.COUNTERCLAIM_ANSWER, now=now, status="cancelled"
        )
        await _milestone(
            uow,
            tenant_id,
            case,
            "counterclaim_answered",
            {"counterclaim": str(row["id"]), "sha256": digest},
            principal=principal,
            now=now,
        )
        # The respondent's periods may all have ended: then the pleadings close now.
        await close_pleadings_if_over(uow, runtime, tenant, case_id, by="pleadings")
        view = await _counterclaim_view(uow, tenant_id, case_id)
        assert view is not None
        return view


async def list_counterclaims(
    runtime: Runtime, principal: Principal, case_id: UUID
) -> list[CounterclaimOut]:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        await cases.access_case(uow, principal, case_id)
        view = await _counterclaim_view(uow, tenant_id, case_id)
    return [] if view is None else [view]


async def _milestone(
    uow: UnitOfWork,
    tenant_id: UUID,
    case: cases.LoadedCase,
    command: str,
    detail: Mapping[str, Any],
    *,
    now: datetime,
    principal: Principal | None = None,
    by: str = SYSTEM,
    reason: str = "",
) -> None:
    """One step of the counterclaim: history event, ledger leaf and audit event.

    ``principal`` None: the platform acted, as ``by`` (``payments``, ``deadlines``).
    """
    await cases.note_event(
        uow, case, principal, command, detail, context="case", reason=reason, system=by
    )
    actor = principal.actor_id if principal else by
    await ledger.append(
        uow,
        tenant_id,
        f"case.{command}",
        {"case_id": str(case.id), "at": now.isoformat(), "by": actor, **detail},
    )


async def counterclaim_fee_paid(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, paid: Mapping[str, Any]
) -> None:
    """The counterclaim's fee was paid: it stands, and the claimant's answer period starts.

    The answer period's length is the rule set's ``counterclaim_answer`` time limit when
    it states one, else its ``answer`` limit (the respondent's time to answer the claim).
    """
    await cases.lock_case(uow, tenant.id, case_id)
    case = await cases.load_case(uow, tenant.id, case_id)
    now = runtime.clock.now()
    updated = await uow.fetch(
        "UPDATE case_counterclaim SET status = {}, paid_at = {} WHERE tenant_id = {} "
        "AND case_id = {} AND status = {} RETURNING id",
        domain.CounterclaimStatus.STANDING.value,
        now,
        tenant.id,
        case_id,
        domain.CounterclaimStatus.PENDING_FEE.value,
    )
    if not updated:  # deemed withdrawn meanwhile: the payments context gives a late fee back
        log.warning("pleadings.counterclaim_paid_not_pending", case_id=str(case_id))
        return
    await deadlines.cancel(uow, tenant.id, case_id, domain.COUNTERCLAIM_FEE, now=now)
    await _milestone(
        uow, tenant.id, case, "counterclaim_fee_paid", paid, now=now, by=payments.SYSTEM
    )
    if case.state in CLOSED:
        return
    row = case.row
    rules = runtime.rules.get(str(row["rule_set"]), str(row["rule_set_version"]))
    case_type = str(row["case_type"])
    limits = rules.case_type(case_type).time_limits
    basis = domain.COUNTERCLAIM_ANSWER if domain.COUNTERCLAIM_ANSWER in limits else domain.ANSWER
    due = rules.deadline(
        case_type, basis, now, zone=tenant.zone, calendar=runtime.rules.calendar(rules.calendar)
    ).ends_at
    await deadlines.schedule(
        uow,
        tenant.id,
        case_id,
        domain.COUNTERCLAIM_ANSWER,
        due,
        now=now,
        payload={"counterclaim_id": str(updated[0]["id"])},
    )
    await _milestone(
        uow,
        tenant.id,
        case,
        "counterclaim_answer_period_given",
        {
            "counterclaim": str(updated[0]["id"]),
            "to": Side.CLAIMANT.value,
            "due_at": due.isoformat(),
            "time_limit": basis,
            "period": str(limits[basis].period),
        },
        now=now,
    )


async def counterclaim_fee_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID
) -> None:
    """The counterclaim's fee is unpaid at its time limit: the counterclaim (not the case)
    is deemed withdrawn, its invoice void; the pleadings may close now."""
    await cases.lock_case(uow, tenant.id, case_id)
    case = await cases.load_case(uow, tenant.id, case_id)
    if case.state in CLOSED:
        return
    counterclaim = await _counterclaim_row(uow, tenant.id, case_id)
    if counterclaim is None or counterclaim["status"] != domain.CounterclaimStatus.PENDING_FEE:
        return
    invoice = await payments.invoice_summary(uow, tenant.id, case_id, payments.COUNTERCLAIM)
    if invoice is not None and invoice["status"] == "paid":  # paid a moment before
        return
    now = runtime.clock.now()
    await payments.void_invoice(uow, runtime, tenant, case_id, payments.COUNTERCLAIM)
    await uow.execute(
        "UPDATE case_counterclaim SET status = {}, withdrawn_at = {} WHERE tenant_id = {} "
        "AND id = {} AND status = {}",
        domain.CounterclaimStatus.DEEMED_WITHDRAWN.value,
        now,
        tenant.id,
        counterclaim["id"],
        domain.CounterclaimStatus.PENDING_FEE.value,
    )
    await _milestone(
        uow,
        tenant.id,
        case,
        "counterclaim_deemed_withdrawn",
        {
            "counterclaim": str(counterclaim["id"]),
            "invoice_id": None if invoice is None else str(invoice["id"]),
            "due_at": None if invoice is None else as_datetime(invoice["due_at"]).isoformat(),
        },
        now=now,
        reason="the counterclaim fee was not paid within the time limit (反请求按撤回处理)",
    )
    await close_pleadings_if_over(uow, runtime, tenant, case_id, by=SYSTEM)


async def counterclaim_answer_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID
) -> None:
    """The claimant's period to answer the counterclaim ran out: recorded; pleadings may close."""
    await cases.lock_case(uow, tenant.id, case_id)
    case = await cases.load_case(uow, tenant.id, case_id)
    if case.state in CLOSED:
        return
    await _period_ended(uow, case, domain.COUNTERCLAIM_ANSWER)
    await close_pleadings_if_over(uow, runtime, tenant, case_id, by=SYSTEM)
