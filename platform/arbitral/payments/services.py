"""Use cases of the payments context: invoices, checkout, notifications, refunds, timers.

- When a case is accepted (:func:`issue_invoice`, a hook of ``accept``), its fees are
  assessed from the rule-set version the case pinned, invoiced, and the ``fee_payment``
  deadline is scheduled: the rule set's limit counted from acceptance in the tenant's
  calendar and zone.
- The claimant side starts a checkout (:func:`checkout`): the provider's cashier URL for
  the invoice's one merchant order number, so repeating it opens the same order.
- The provider's signed notification (:func:`take_notification`) is verified, kept once
  (``payment_event`` is unique per tenant, provider and notification id) and applied
  once: the invoice paid, the deadline cancelled, the case moved by ``record_payment``.
  Forged ones are refused and audited; a wrong amount or currency is an anomaly.
- A respondent's counterclaim has its own invoice (:func:`issue_counterclaim_invoice`,
  kind ``counterclaim``, payer the respondent), assessed with the rule set's counterclaim
  plan and due within the same fee time limit; the respondent side pays it through the
  same checkout and notifications. Once paid, the ``counterclaim_fee_paid`` hooks run
  (the pleadings context owns what a paid or unpaid counterclaim means).
- When the deadline expires unpaid (:func:`fee_deadline_expired`) the case is deemed
  withdrawn; a withdrawal after payment refunds what the rule set says
  (:func:`refund_on_withdrawal`) through the ``payments.refund`` job
  (:func:`execute_refund`), which calls the provider with the refund's idempotency key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

import structlog

from arbitral.audit.services import Actor as AuditActor
from arbitral.audit.services import record
from arbitral.auth.domain import Principal
from arbitral.cases import deadlines, hooks
from arbitral.cases import domain as cases_domain
from arbitral.cases.domain import CaseState, Side
from arbitral.cases.services import TransitionNotAllowed, access_case, system_command
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
from arbitral.payments import batch, domain
from arbitral.payments.domain import Effect, InvoiceLine, InvoiceStatus, RefundStatus
from arbitral.payments.provider import (
    NotifyRejected,
    PaymentProvider,
    ProviderUnavailable,
    provider_for,
)
from arbitral.payments.schemas import (
    CheckoutOut,
    InvoiceLineOut,
    InvoiceOut,
    PaymentEventOut,
    RefundIn,
    RefundOut,
)
from arbitral.rules.calendar import CalendarError
from arbitral.rules.model import UnknownRule

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

log = structlog.get_logger(__name__)

FEE_DEADLINE: Final = "fee_payment"
# The subjects of an invoice (its ``kind``) and the side that pays each.
CLAIM: Final = "claim"
COUNTERCLAIM: Final = "counterclaim"
PAYERS: Final = {CLAIM: Side.CLAIMANT, COUNTERCLAIM: Side.RESPONDENT}
COUNTERCLAIM_PAID: Final = "counterclaim_fee_paid"
REFUND_JOB: Final = "payments.refund"
SYSTEM: Final = "payments"
MAX_REASON: Final = 2000


def provider_of(runtime: Runtime) -> PaymentProvider | None:
    return provider_for(runtime.settings.payment)


# -- invoices ----------------------------------------------------------------------------


async def _invoice_of_case(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID, kind: str = CLAIM
) -> dict[str, Any] | None:
    rows = await uow.fetch(
        "SELECT * FROM payment_invoice WHERE tenant_id = {} AND case_id = {} AND kind = {}",
        tenant_id,
        case_id,
        kind,
    )
    return rows[0] if rows else None


def _subject(subject: str) -> str:
    if subject not in PAYERS:
        raise ValidationFailed(
            "unknown subject of an invoice",
            errors=[FieldProblem("query:subject", "choice", "claim or counterclaim")],
        )
    return subject


def _lines(row: Mapping[str, Any]) -> list[InvoiceLine]:
    raw = row["lines"]
    data = json.loads(raw) if isinstance(raw, str) else raw
    return [InvoiceLine.from_json(item) for item in data]


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(domain.CENT)


@dataclass(frozen=True)
class Issued:
    invoice_id: UUID
    total: Decimal
    currency: str
    due_at: datetime


async def issue_invoice(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID
) -> UUID:
    """Assess and invoice the fees of a case just accepted; start its fee deadline."""
    case = (
        await uow.fetch(
            "SELECT amount_claimed FROM arb_case WHERE tenant_id = {} AND id = {}",
            tenant.id,
            case_id,
        )
    )[0]
    issued = await _issue(
        uow,
        runtime,
        tenant,
        case_id,
        _dec(case["amount_claimed"]),
        kind=CLAIM,
        counterclaim_id=None,
        refused="the case stays filed",
        batch_id=await batch.line_of(uow, tenant.id, case_id, runtime.clock.now()),
    )
    await deadlines.schedule(
        uow,
        tenant.id,
        case_id,
        FEE_DEADLINE,
        issued.due_at,
        now=runtime.clock.now(),
        payload={"invoice_id": str(issued.invoice_id)},
    )
    return issued.invoice_id


async def issue_counterclaim_invoice(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    case_id: UUID,
    counterclaim_id: UUID,
    amount: Decimal,
) -> Issued:
    """Assess (as a counterclaim) and invoice the fee of a counterclaim just filed.

    Due within the rule set's fee time limit, counted from now; the caller (the
    pleadings context) schedules what happens when it runs out unpaid.
    """
    return await _issue(
        uow,
        runtime,
        tenant,
        case_id,
        amount,
        kind=COUNTERCLAIM,
        counterclaim_id=counterclaim_id,
        refused="the counterclaim is not filed",
    )


async def _issue(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    case_id: UUID,
    amount: Decimal,
    *,
    kind: str,
    counterclaim_id: UUID | None,
    refused: str,
    batch_id: UUID | None = None,
) -> Issued:
    case = (
        await uow.fetch(
            "SELECT case_type, rule_set, rule_set_version FROM arb_case "
            "WHERE tenant_id = {} AND id = {}",
            tenant.id,
            case_id,
        )
    )[0]
    now = runtime.clock.now()
    try:
        rules = runtime.rules.get(str(case["rule_set"]), str(case["rule_set_version"]))
        case_type = str(case["case_type"])
        assessment = rules.assess_fee(case_type, amount, counterclaim=kind == COUNTERCLAIM)
        # The fee notice goes out with the notice of acceptance: the period runs from it.
        due = rules.deadline(
            case_type,
            FEE_DEADLINE,
            now,
            zone=tenant.zone,
            calendar=runtime.rules.calendars[rules.calendar],
        ).ends_at
    except (UnknownRule, CalendarError, KeyError) as exc:
        # Never a guessed fee or deadline: the acceptance waits until the rules are there.
        log.error("payments.rules_unavailable", case_id=str(case_id), problem=str(exc))
        raise ServiceUnavailable(
            f"the fees cannot be assessed now ({first_line(exc)}); {refused}"
        ) from None
    invoice_id = uuid4()
    lines = domain.lines_of(assessment)
    await uow.execute(
        "INSERT INTO payment_invoice (id, tenant_id, case_id, kind, payer, counterclaim_id, "
        "rule_set, rule_set_version, currency, total, lines, assessment, status, issued_at, "
        "due_at, provider, out_trade_no, refunded_amount, batch_id) VALUES ({}, {}, {}, {}, {}, "
        "{}, {}, {}, {}, {}, {}, {}, 'open', {}, {}, {}, {}, {}, {})",
        invoice_id,
        tenant.id,
        case_id,
        kind,
        PAYERS[kind].value,
        counterclaim_id,
        rules.id,
        rules.version,
        assessment.currency,
        assessment.total,
        json.dumps([line.as_json() for line in lines], ensure_ascii=False),
        json.dumps(assessment.as_json(), ensure_ascii=False),
        now,
        due,
        None,
        domain.out_trade_no(invoice_id),
        domain.ZERO,
        batch_id,
    )
    await record(
        uow,
        tenant_id=tenant.id,
        actor=AuditActor.system(SYSTEM),
        action="payment.invoice_issued",
        target_kind="case",
        target_id=case_id,
        detail={
            "invoice_id": str(invoice_id),
            "kind": kind,
            "payer": PAYERS[kind].value,
            "total": domain.money(assessment.total),
            "currency": assessment.currency,
            "due_at": due.isoformat(),
            "rule_set": rules.ref,
            **({"batch_id": str(batch_id)} if batch_id else {}),
        },
    )
    return Issued(invoice_id, assessment.total, assessment.currency, due)


async def payment_recorded(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID
) -> None:
    """After ``record_payment`` (by us, or by the staff for money paid outside the provider)."""
    now = runtime.clock.now()
    await deadlines.cancel(uow, tenant.id, case_id, FEE_DEADLINE, now=now)
    invoice = await _invoice_of_case(uow, tenant.id, case_id)
    if invoice is not None and invoice["status"] == InvoiceStatus.OPEN:
        await uow.execute(
            "UPDATE payment_invoice SET status = 'paid', paid_at = {}, paid_amount = total, "
            "paid_via = 'recorded', settled_at = {} WHERE tenant_id = {} AND id = {} "
            "AND status = 'open'",
            now,
            now,
            tenant.id,
            invoice["id"],
        )


async def case_closed(uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID) -> bool:
    """The case closed (withdrawn, deemed withdrawn, settled): an unpaid invoice is void.

    True when the invoice was paid (then refunds are for the caller to decide).
    """
    now = runtime.clock.now()
    await deadlines.cancel(uow, tenant.id, case_id, FEE_DEADLINE, now=now)
    # A counterclaim's fee still unpaid is void with the case (paid later: given back).
    await void_invoice(uow, runtime, tenant, case_id, COUNTERCLAIM)
    invoice = await _invoice_of_case(uow, tenant.id, case_id)
    if invoice is None:
        return False
    if await void_invoice(uow, runtime, tenant, case_id, CLAIM):
        if invoice["batch_id"] is not None:
            await batch.line_closed(uow, runtime, tenant.id, as_uuid(invoice["batch_id"]))
        return False
    return str(invoice["status"]) == InvoiceStatus.PAID


async def void_invoice(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, kind: str
) -> bool:
    """Cancel the case's open invoice of ``kind``; False when none was open."""
    invoice = await _invoice_of_case(uow, tenant.id, case_id, kind)
    if invoice is None or invoice["status"] != InvoiceStatus.OPEN:
        return False
    updated = await uow.fetch(
        "UPDATE payment_invoice SET status = 'cancelled', settled_at = {} "
        "WHERE tenant_id = {} AND id = {} AND status = 'open' RETURNING id",
        runtime.clock.now(),
        tenant.id,
        invoice["id"],
    )
    if not updated:
        return False
    await record(
        uow,
        tenant_id=tenant.id,
        actor=AuditActor.system(SYSTEM),
        action="payment.invoice_cancelled",
        target_kind="case",
        target_id=case_id,
        detail={"invoice_id": str(invoice["id"]), "kind": kind},
    )
    return True


async def invoice_summary(
    uow: UnitOfWork, tenant_id: UUID, case_id: UUID, kind: str
) -> dict[str, Any] | None:
    """The case's invoice of ``kind`` as stored (None: none issued), for other contexts."""
    return await _invoice_of_case(uow, tenant_id, case_id, kind)


async def refund_on_withdrawal(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    case_id: UUID,
    reached: CaseState,
    by: str,
) -> UUID | None:
    """A paid case withdrawn at ``reached``: the refund its rule set gives, if any."""
    invoice = await _invoice_of_case(uow, tenant.id, case_id)
    if invoice is None or invoice["status"] != InvoiceStatus.PAID:
        return None
    rules = runtime.rules.get(str(invoice["rule_set"]), str(invoice["rule_set_version"]))
    plan = domain.withdrawal_refund(rules.refunds, reached.value, _lines(invoice))
    if plan is None:
        # Rule sets before 1.2 say nothing: the staff decide (POST .../invoice/refunds).
        await record(
            uow,
            tenant_id=tenant.id,
            actor=AuditActor.system(SYSTEM),
            action="payment.refund_for_staff",
            target_kind="case",
            target_id=case_id,
            detail={"invoice_id": str(invoice["id"]), "rule_set": rules.ref},
        )
        return None
    amount = sum(plan.values(), domain.ZERO)
    if amount <= 0:
        return None
    return await _request_refund(
        uow,
        tenant.id,
        invoice,
        amount,
        {name: domain.money(value) for name, value in plan.items()},
        kind="withdrawal",
        reason=f"withdrawn at {reached.value} ({rules.ref} [refunds])",
        by=by,
        now=runtime.clock.now(),
    )


async def refund_counterclaim_on_withdrawal(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, by: str
) -> UUID | None:
    """The claimant withdrew: a counterclaim fee already paid is given back whole.

    The case ends with the claim, and the counterclaim with it, unheard, through no act
    of the respondent's; the rule sets' withdrawal refunds are for the one who withdraws.
    """
    invoice = await _invoice_of_case(uow, tenant.id, case_id, COUNTERCLAIM)
    if invoice is None or invoice["status"] != InvoiceStatus.PAID:
        return None
    lines = _lines(invoice)
    amount = sum((line.due for line in lines), domain.ZERO)
    if amount <= 0:
        return None
    return await _request_refund(
        uow,
        tenant.id,
        invoice,
        amount,
        {line.name: domain.money(line.due) for line in lines},
        kind="withdrawal",
        reason="the claimant withdrew: the counterclaim ends unheard, its fee is given back",
        by=by,
        now=runtime.clock.now(),
    )


async def _request_refund(
    uow: UnitOfWork,
    tenant_id: UUID,
    invoice: Mapping[str, Any],
    amount: Decimal,
    lines: Mapping[str, str],
    *,
    kind: str,
    reason: str,
    by: str,
    now: datetime,
    actor: AuditActor | None = None,
) -> UUID:
    refund_id = uuid4()
    await uow.execute(
        "INSERT INTO payment_refund (id, tenant_id, invoice_id, case_id, kind, amount, lines, "
        "reason, requested_by, out_request_no, status, attempts, result, created_at) "
        "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 'pending', 0, {}, {})",
        refund_id,
        tenant_id,
        invoice["id"],
        invoice["case_id"],
        kind,
        amount,
        json.dumps(dict(lines)),
        reason,
        by,
        domain.refund_request_no(refund_id),
        "{}",
        now,
    )
    await uow.enqueue(REFUND_JOB, {"refund_id": str(refund_id)})
    await record(
        uow,
        tenant_id=tenant_id,
        actor=actor or AuditActor.system(SYSTEM),
        action="payment.refund_requested",
        target_kind="case",
        target_id=as_uuid(invoice["case_id"]),
        detail={
            "refund_id": str(refund_id),
            "invoice_id": str(invoice["id"]),
            "kind": kind,
            "amount": domain.money(amount),
            "lines": dict(lines),
        },
    )
    return refund_id


async def fee_deadline_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID
) -> None:
    """The fee deadline ran out: unpaid, the case is deemed withdrawn; paid, nothing."""
    invoice = await _invoice_of_case(uow, tenant.id, case_id)
    if invoice is None or invoice["status"] != InvoiceStatus.OPEN:
        return
    state = (
        await uow.fetch(
            "SELECT state FROM arb_case WHERE tenant_id = {} AND id = {}", tenant.id, case_id
        )
    )[0]["state"]
    if state != CaseState.ACCEPTED:
        log.info("payments.fee_deadline_not_applicable", case_id=str(case_id), state=state)
        return
    await system_command(
        uow,
        runtime,
        tenant,
        case_id,
        "deem_withdrawn",
        by=SYSTEM,
        reason="the fees were not paid within the time limit (按撤回处理)",
        data={"invoice_id": str(invoice["id"]), "due_at": str(invoice["due_at"])},
    )


# -- reading -----------------------------------------------------------------------------


def _refund_out(row: Mapping[str, Any]) -> RefundOut:
    lines = row["lines"]
    result = row["result"]
    result_data = json.loads(result) if isinstance(result, str) else dict(result or {})
    return RefundOut(
        id=as_uuid(row["id"]),
        kind=str(row["kind"]),
        amount=domain.money(_dec(row["amount"])),
        lines=json.loads(lines) if isinstance(lines, str) else dict(lines),
        reason=str(row["reason"]),
        status=str(row["status"]),
        requested_by=str(row["requested_by"]),
        created_at=as_datetime(row["created_at"]),
        completed_at=as_optional_datetime(row["completed_at"]),
        detail=str(result_data.get("detail", "")),
    )


async def _invoice_out(
    uow: UnitOfWork, tenant_id: UUID, invoice: Mapping[str, Any], *, staff: bool
) -> InvoiceOut:
    refunds = await uow.fetch(
        "SELECT * FROM payment_refund WHERE tenant_id = {} AND invoice_id = {} "
        "ORDER BY created_at, id",
        tenant_id,
        invoice["id"],
    )
    events = (
        await uow.fetch(
            "SELECT * FROM payment_event WHERE tenant_id = {} AND invoice_id = {} "
            "ORDER BY received_at, id",
            tenant_id,
            invoice["id"],
        )
        if staff
        else []
    )
    paid = invoice["paid_amount"]
    return InvoiceOut(
        id=as_uuid(invoice["id"]),
        case_id=as_uuid(invoice["case_id"]),
        kind=str(invoice["kind"]),
        payer=str(invoice["payer"]),
        status=str(invoice["status"]),
        currency=str(invoice["currency"]),
        total=domain.money(_dec(invoice["total"])),
        lines=[InvoiceLineOut(**line.as_json()) for line in _lines(invoice)],
        rule_set=str(invoice["rule_set"]),
        rule_set_version=str(invoice["rule_set_version"]),
        issued_at=as_datetime(invoice["issued_at"]),
        due_at=as_datetime(invoice["due_at"]),
        out_trade_no=str(invoice["out_trade_no"]),
        paid_at=as_optional_datetime(invoice["paid_at"]),
        paid_amount=None if paid is None else domain.money(_dec(paid)),
        paid_via=invoice["paid_via"],
        trade_no=invoice["trade_no"],
        refunded_amount=domain.money(_dec(invoice["refunded_amount"])),
        batch_id=None if invoice["batch_id"] is None else as_uuid(invoice["batch_id"]),
        refunds=[_refund_out(r) for r in refunds],
        events=[
            PaymentEventOut(
                event_id=str(e["event_id"]),
                trade_no=str(e["trade_no"]),
                trade_status=str(e["trade_status"]),
                amount=None if e["amount"] is None else domain.money(_dec(e["amount"])),
                effect=str(e["effect"]),
                reason=str(e["reason"]),
                received_at=as_datetime(e["received_at"]),
            )
            for e in events
        ],
    )


async def get_invoice(
    runtime: Runtime, principal: Principal, case_id: UUID, subject: str = CLAIM
) -> InvoiceOut:
    kind = _subject(subject)
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        await access_case(uow, principal, case_id)
        invoice = await _invoice_of_case(uow, tenant_id, case_id, kind)
        if invoice is None:
            raise NotFound(
                "the case has no invoice (fees are assessed when it is accepted)"
                if kind == CLAIM
                else "no counterclaim has been filed on this case"
            )
        return await _invoice_out(uow, tenant_id, invoice, staff=cases_domain.is_staff(principal))


# -- checkout ----------------------------------------------------------------------------


def notify_url(runtime: Runtime, tenant: TenantInfo, provider: PaymentProvider) -> str:
    return f"{runtime.settings.public_url}/t/{tenant.slug}/payments/{provider.name}/notify"


async def checkout(
    runtime: Runtime, principal: Principal, case_id: UUID, subject: str = CLAIM
) -> CheckoutOut:
    """The provider's cashier URL for one of the case's invoices (its payer's side only).

    The claim's fees are paid by the claimant side, a counterclaim's by the respondent
    side. Idempotent per invoice: every checkout names the invoice's one merchant order
    number and amount, so the provider opens the same order again, never a second one.
    """
    kind = _subject(subject)
    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        case = await access_case(uow, principal, case_id)
        if cases_domain.side_of(principal, case.participation) is not PAYERS[kind]:
            raise Forbidden(f"only the {PAYERS[kind].value} side pays the fees of a {kind}")
        invoice = await _invoice_of_case(uow, tenant_id, case_id, kind)
        if invoice is None:
            raise Conflict(
                "the case has no invoice yet (it is not accepted)"
                if kind == CLAIM
                else "no counterclaim has been filed on this case"
            )
        if invoice["status"] != InvoiceStatus.OPEN:
            raise Conflict(
                f"the invoice is {invoice['status']}", extensions={"status": invoice["status"]}
            )
        if invoice["batch_id"] is not None:
            raise Conflict(
                "the fees of this case are a line of its batch's invoice: the lender pays them "
                f"with the batch (/api/v1/batches/{invoice['batch_id']}/invoice)",
                extensions={"batch_id": str(invoice["batch_id"])},
            )
        if kind == CLAIM and case.state is not CaseState.ACCEPTED:
            raise Conflict(f"the case is {case.state.value}, not awaiting the fees")
        if kind == COUNTERCLAIM and case.state in cases_domain.CLOSED:
            raise Conflict(f"the case is {case.state.value}")
        now = runtime.clock.now()
        due = as_datetime(invoice["due_at"])
        if now >= due:
            raise Conflict("the time limit to pay the fees has run out")
        provider = provider_of(runtime)
        if provider is None:
            raise ServiceUnavailable(
                "no payment provider is configured; pay the commission directly"
            )
        total = _dec(invoice["total"])
        url = provider.checkout_url(
            out_trade_no=str(invoice["out_trade_no"]),
            amount=total,
            subject=(
                f"{tenant.names.zh} {'仲裁费' if kind == CLAIM else '反请求仲裁费'} "
                f"{case.row['number'] or ''}"
            ).strip(),
            notify_url=notify_url(runtime, tenant, provider),
            expires_at=due,
            now=now,
        )
        await uow.execute(
            "UPDATE payment_invoice SET provider = {}, "
            "checkout_started_at = COALESCE(checkout_started_at, {}) "
            "WHERE tenant_id = {} AND id = {}",
            provider.name,
            now,
            tenant_id,
            invoice["id"],
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="payment.checkout",
            target_kind="case",
            target_id=case_id,
            detail={"invoice_id": str(invoice["id"]), "kind": kind, "provider": provider.name},
        )
    return CheckoutOut(
        invoice_id=as_uuid(invoice["id"]),
        provider=provider.name,
        out_trade_no=str(invoice["out_trade_no"]),
        amount=domain.money(total),
        currency=str(invoice["currency"]),
        expires_at=due,
        url=url,
    )


# -- notifications -----------------------------------------------------------------------


@dataclass(frozen=True)
class NotifyAnswer:
    status: int
    body: str


async def take_notification(
    runtime: Runtime, tenant: TenantInfo, provider_name: str, params: Mapping[str, str]
) -> NotifyAnswer:
    """A provider's asynchronous notification: verified, kept once, applied once."""
    provider = provider_of(runtime)
    if provider is None or provider.name != provider_name:
        raise NotFound("this platform takes no notifications from that provider")
    try:
        notice = provider.verify_notify(params)
    except NotifyRejected as exc:
        log.warning("payments.notify_rejected", tenant=tenant.slug, problem=str(exc))
        async with runtime.db.transaction(tenant_id=tenant.id) as uow:
            await record(
                uow,
                tenant_id=tenant.id,
                actor=AuditActor.anonymous(),
                action="payment.notify_rejected",
                outcome="failure",
                target_kind="payment_order",
                target_id=str(params.get("out_trade_no", ""))[:64] or None,
                detail={
                    "provider": provider.name,
                    "problem": str(exc),
                    "notify_id": str(params.get("notify_id", ""))[:128],
                },
            )
        return NotifyAnswer(400, "failure")
    now = runtime.clock.now()
    stored = {k: v for k, v in params.items() if k != "sign"}
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        rows = await uow.fetch(
            "SELECT * FROM payment_invoice WHERE tenant_id = {} AND out_trade_no = {}",
            tenant.id,
            notice.out_trade_no,
        )
        invoice = rows[0] if rows else None
        if invoice is None:
            order = await batch.find_order(uow, tenant.id, notice.out_trade_no)
            if order is not None:
                taken = await batch.take_batch_notice(
                    uow, runtime, tenant, provider, order, notice, stored, now
                )
                if taken is None:
                    log.info("payments.notify_duplicate", notify_id=notice.event_id)
                return NotifyAnswer(200, provider.notify_answer)
            verdict = domain.Verdict(Effect.ANOMALY, "unknown_order")
        else:
            verdict = domain.judge(
                notice,
                status=InvoiceStatus(str(invoice["status"])),
                total=_dec(invoice["total"]),
                currency=str(invoice["currency"]),
                trade_no=invoice["trade_no"],
            )
        event_id = uuid4()
        kept = await uow.fetch(
            "INSERT INTO payment_event (id, tenant_id, invoice_id, provider, event_id, "
            "out_trade_no, trade_no, trade_status, amount, effect, reason, params, received_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) "
            "ON CONFLICT (tenant_id, provider, event_id) DO NOTHING RETURNING id",
            event_id,
            tenant.id,
            None if invoice is None else invoice["id"],
            provider.name,
            notice.event_id,
            notice.out_trade_no,
            notice.trade_no,
            notice.trade_status,
            notice.amount,
            verdict.effect.value,
            verdict.reason,
            json.dumps(stored, ensure_ascii=False, sort_keys=True),
            now,
        )
        if not kept:  # delivered again: it had its effect the first time
            log.info("payments.notify_duplicate", notify_id=notice.event_id)
            return NotifyAnswer(200, provider.notify_answer)
        effect = verdict.effect
        if invoice is not None and effect in (Effect.PAID, Effect.REFUND):
            effect = await _apply_payment(
                uow, runtime, tenant, invoice, notice, effect, now, provider.name
            )
            if effect is not verdict.effect:
                await uow.execute(
                    "UPDATE payment_event SET effect = {}, reason = {} "
                    "WHERE tenant_id = {} AND id = {}",
                    effect.value,
                    "case_not_awaiting_payment" if effect is Effect.ANOMALY else "already_paid",
                    tenant.id,
                    event_id,
                )
        await record(
            uow,
            tenant_id=tenant.id,
            actor=AuditActor.system(provider.name),
            action="payment.anomaly" if effect is Effect.ANOMALY else "payment.notified",
            outcome="failure" if effect is Effect.ANOMALY else "success",
            target_kind="case" if invoice is not None else "payment_order",
            target_id=invoice["case_id"] if invoice is not None else notice.out_trade_no,
            detail={
                "provider": provider.name,
                "notify_id": notice.event_id,
                "trade_no": notice.trade_no,
                "trade_status": notice.trade_status,
                "amount": None if notice.amount is None else domain.money(notice.amount),
                "effect": effect.value,
                "reason": verdict.reason,
            },
        )
        if effect is Effect.ANOMALY:
            log.warning("payments.anomaly", notify_id=notice.event_id, reason=verdict.reason)
    return NotifyAnswer(200, provider.notify_answer)


async def _apply_payment(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    invoice: Mapping[str, Any],
    notice: domain.Notice,
    effect: Effect,
    now: datetime,
    provider_name: str,
) -> Effect:
    """Mark the invoice paid (once) and move the case, or give back a late payment."""
    case_id = as_uuid(invoice["case_id"])
    expected = "open" if effect is Effect.PAID else "cancelled"
    updated = await uow.fetch(
        "UPDATE payment_invoice SET status = {}, paid_at = {}, paid_amount = {}, paid_via = {}, "
        "trade_no = {}, provider = {}, settled_at = {} "
        "WHERE tenant_id = {} AND id = {} AND status = {} AND trade_no IS NULL RETURNING id",
        "paid" if effect is Effect.PAID else "cancelled",
        now,
        notice.amount,
        "provider",
        notice.trade_no,
        provider_name,
        now,
        tenant.id,
        invoice["id"],
        expected,
    )
    if not updated:  # another notification of this trade got here first
        return Effect.IGNORED
    if effect is Effect.REFUND:
        assert notice.amount is not None
        invoice = {**invoice, "status": "cancelled"}
        await _request_refund(
            uow,
            tenant.id,
            invoice,
            notice.amount,
            {line.name: domain.money(line.due) for line in _lines(invoice)},
            kind="late_payment",
            reason="paid after the case had closed: given back in full",
            by=SYSTEM,
            now=now,
        )
        return Effect.REFUND
    if str(invoice["kind"]) == COUNTERCLAIM:
        await _counterclaim_paid(uow, runtime, tenant, invoice, notice)
        return Effect.PAID
    await deadlines.cancel(uow, tenant.id, case_id, FEE_DEADLINE, now=now)
    try:
        await system_command(
            uow,
            runtime,
            tenant,
            case_id,
            "record_payment",
            by=SYSTEM,
            reason="the fees were paid",
            data={
                "invoice_id": str(invoice["id"]),
                "trade_no": notice.trade_no,
                "amount": domain.money(_dec(invoice["total"])),
            },
        )
    except TransitionNotAllowed:
        # Paid, but the case is not awaiting the fees (suspended, say): the staff decide.
        return Effect.ANOMALY
    return Effect.PAID


async def _counterclaim_paid(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    invoice: Mapping[str, Any],
    notice: domain.Notice,
) -> None:
    """A counterclaim's fee paid: the case does not move; the contexts that care are told."""
    case_id = as_uuid(invoice["case_id"])
    state = CaseState(
        str(
            (
                await uow.fetch(
                    "SELECT state FROM arb_case WHERE tenant_id = {} AND id = {}",
                    tenant.id,
                    case_id,
                )
            )[0]["state"]
        )
    )
    await hooks.run_hooks(
        uow,
        runtime,
        hooks.Transitioned(
            tenant=tenant,
            case_id=case_id,
            command=COUNTERCLAIM_PAID,
            from_state=state,
            to_state=state,
            actor=SYSTEM,
            data={
                "invoice_id": str(invoice["id"]),
                "counterclaim_id": str(invoice["counterclaim_id"]),
                "trade_no": notice.trade_no,
                "amount": domain.money(_dec(invoice["total"])),
            },
        ),
    )


# -- refunds -----------------------------------------------------------------------------


async def staff_refund(
    runtime: Runtime, principal: Principal, case_id: UUID, data: RefundIn
) -> InvoiceOut:
    """A refund decided by the commission's staff (amount and reason), then executed."""
    tenant_id = tenant_of(principal)
    reason = data.reason.strip()
    problems: list[FieldProblem] = []
    if not reason:
        problems.append(FieldProblem("$.reason", "required", "give the reason for the refund"))
    elif len(reason) > MAX_REASON:
        problems.append(FieldProblem("$.reason", "max_length", f"at most {MAX_REASON} characters"))
    try:
        amount = Decimal(data.amount.strip())
        if not amount.is_finite() or amount != amount.quantize(domain.CENT) or amount <= 0:
            raise InvalidOperation
    except InvalidOperation:
        problems.append(
            FieldProblem("$.amount", "money", 'a positive amount in yuan, e.g. "125.50"')
        )
        amount = domain.ZERO
    if problems:
        raise ValidationFailed("the refund is not valid", errors=problems)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await access_case(uow, principal, case_id)
        if not cases_domain.is_staff(principal):
            raise Forbidden("refunds are decided by the commission's staff")
        invoice = await _invoice_of_case(uow, tenant_id, case_id)
        if invoice is None or invoice["paid_amount"] is None:
            raise Conflict("nothing was paid on this case")
        asked = await uow.fetch(
            "SELECT amount FROM payment_refund WHERE tenant_id = {} AND invoice_id = {} "
            "AND status IN ('pending', 'succeeded')",
            tenant_id,
            invoice["id"],
        )
        committed = sum((_dec(r["amount"]) for r in asked), domain.ZERO)
        if not domain.refundable(_dec(invoice["paid_amount"]), committed, amount):
            raise ValidationFailed(
                "more than what is left to refund",
                errors=[
                    FieldProblem(
                        "$.amount",
                        "maximum",
                        f"at most {domain.money(_dec(invoice['paid_amount']) - committed)}",
                    )
                ],
            )
        await _request_refund(
            uow,
            tenant_id,
            invoice,
            amount,
            {},
            kind="staff",
            reason=reason,
            by=principal.actor_id,
            now=runtime.clock.now(),
            actor=actor_of(principal),
        )
        return await _invoice_out(uow, tenant_id, invoice, staff=True)


async def execute_refund(
    runtime: Runtime, tenant_id: UUID, refund_id: UUID, ctx_transaction: Any
) -> None:
    """Call the provider for a pending refund (idempotent there), then record the result.

    ``ctx_transaction`` is the job's effect transaction (exactly once in the database);
    the provider call before it carries the refund's ``out_request_no``, so a job run
    again after a crash refunds nothing more at the provider.
    """
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT r.*, i.out_trade_no, i.paid_via, i.batch_id FROM payment_refund r "
            "JOIN payment_invoice i ON i.tenant_id = r.tenant_id AND i.id = r.invoice_id "
            "WHERE r.tenant_id = {} AND r.id = {}",
            tenant_id,
            refund_id,
        )
        if not rows or rows[0]["status"] != RefundStatus.PENDING:
            return
        # A case paid with its batch: its share goes back from the batch's trade.
        order = await batch.order_of_refund(uow, tenant_id, rows[0])
    refund = rows[0]
    amount = _dec(refund["amount"])
    provider = provider_of(runtime)
    status: RefundStatus
    detail: dict[str, Any]
    if refund["paid_via"] not in ("provider", "batch"):
        status = RefundStatus.FAILED
        detail = {"detail": "paid outside the provider: refund by bank transfer"}
    elif provider is None:
        raise ProviderUnavailable("no payment provider is configured")
    else:
        outcome = await provider.refund(
            out_trade_no=order,
            amount=amount,
            out_request_no=str(refund["out_request_no"]),
            reason=str(refund["reason"]),
            now=runtime.clock.now(),
        )
        status = RefundStatus.SUCCEEDED if outcome.succeeded else RefundStatus.FAILED
        detail = {
            "detail": "refunded" if outcome.succeeded else f"{outcome.sub_code}: {outcome.message}",
            "code": outcome.code,
            "sub_code": outcome.sub_code,
            "fund_change": outcome.fund_change,
            "refunded_total": None
            if outcome.refunded_total is None
            else domain.money(outcome.refunded_total),
        }
    now = runtime.clock.now()
    async with ctx_transaction() as uow:
        updated = await uow.fetch(
            "UPDATE payment_refund SET status = {}, result = {}, completed_at = {}, "
            "attempts = attempts + 1 WHERE tenant_id = {} AND id = {} AND status = 'pending' "
            "RETURNING id",
            status.value,
            json.dumps(detail),
            now,
            tenant_id,
            refund_id,
        )
        if not updated:
            return
        if status is RefundStatus.SUCCEEDED:
            await uow.execute(
                "UPDATE payment_invoice SET refunded_amount = refunded_amount + {} "
                "WHERE tenant_id = {} AND id = {}",
                amount,
                tenant_id,
                refund["invoice_id"],
            )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=AuditActor.system(SYSTEM),
            action="payment.refunded"
            if status is RefundStatus.SUCCEEDED
            else "payment.refund_failed",
            outcome="success" if status is RefundStatus.SUCCEEDED else "failure",
            target_kind="case",
            target_id=as_uuid(refund["case_id"]),
            detail={"refund_id": str(refund_id), "amount": domain.money(amount), **detail},
        )
