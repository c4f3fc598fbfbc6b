"""One invoice per lender batch: its cases' fees, checked out once and paid once.

Each accepted case of a batch is assessed and invoiced as any case (its own
``payment_invoice``: fee lines, fee deadline, refunds), but that invoice is not checked
out on its own: it carries ``batch_id`` and is a line of the batch's ``batch_invoice``.

- The batch invoice is opened when the batch's acceptance starts, or when its first case
  is accepted (:func:`line_of`, from the ``accept`` hook); its total is the sum of its
  lines, refreshed as the acceptance job goes (:func:`refresh`), and it is closed for
  additions when the job has gone through the batch. A case of the batch accepted after
  that (returned, corrected, accepted by a secretary) is invoiced on its own, as today.
- The lender that submitted the batch checks it out (:func:`checkout_batch`): one
  merchant order (``ARBB`` + the invoice id) for the total, through the same provider.
- The provider's verified notification (:func:`take_batch_notice`, from
  :func:`arbitral.payments.services.take_notification`) marks it paid once, marks every
  open line paid and stops their fee deadlines in the same transaction (set-based: a
  deadline sweep that runs a second later finds nothing to expire), and enqueues
  :data:`BATCH_PAID_JOB`, which moves each case by ``record_payment`` in chunks (so the
  service hooks serve each respondent) and gives back the share of any case that had
  closed before the money came.
- Unpaid at the deadline, each case is deemed withdrawn as today; once no line is open
  the batch invoice is ``cancelled`` (paid after that, all of it is given back).
- The total is fixed when the invoice closes: a case withdrawn before the lender pays
  is still in the order, and its share is refunded once paid (a ``late_payment`` refund
  of that case's invoice, against the batch's trade), as a lone case paid after it
  closed is refunded in full. A paid case withdrawn later is refunded by the rule set,
  from its own lines, against the batch's trade (:func:`order_of_refund`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

import structlog

from arbitral.audit.services import Actor as AuditActor
from arbitral.audit.services import record
from arbitral.auth.domain import Principal, PrincipalKind
from arbitral.cases import domain as cases_domain
from arbitral.cases.services import TransitionNotAllowed, system_command
from arbitral.db.values import as_datetime, as_optional_datetime, as_uuid
from arbitral.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from arbitral.identity.services import actor_of, tenant_of
from arbitral.payments import domain
from arbitral.payments.domain import Effect, InvoiceStatus
from arbitral.payments.schemas import BatchInvoiceOut, CheckoutOut, PaymentEventOut

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.payments.provider import PaymentProvider
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

log = structlog.get_logger(__name__)

BATCH_PAID_JOB: Final = "payments.batch_paid"
# Cases moved (or shares given back) per transaction of the job.
CHUNK: Final = 200
SYSTEM: Final = "payments"


def batch_order_no(batch_invoice_id: UUID) -> str:
    """The batch invoice's merchant order number (never one of a case invoice: ``ARB``+hex)."""
    return f"ARBB{batch_invoice_id.hex}"


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(domain.CENT)


async def _lock(uow: UnitOfWork, tenant_id: UUID, batch_id: UUID) -> dict[str, Any] | None:
    """The batch invoice, locked for this transaction (SQLite: one writer already)."""
    lock = " FOR UPDATE" if uow.is_postgres else ""
    rows = await uow.fetch(
        "SELECT * FROM batch_invoice WHERE tenant_id = {} AND batch_id = {}" + lock,  # noqa: S608
        tenant_id,
        batch_id,
    )
    return rows[0] if rows else None


async def open_batch_invoice(
    uow: UnitOfWork, tenant_id: UUID, batch_id: UUID, now: datetime
) -> dict[str, Any]:
    """The batch's invoice, opened if it has none yet (one per batch: a unique key), locked."""
    found = await _lock(uow, tenant_id, batch_id)
    if found is not None:
        return found
    batch = await uow.fetch(
        "SELECT client_id FROM claim_batch WHERE tenant_id = {} AND id = {}", tenant_id, batch_id
    )
    if not batch:
        raise NotFound("no such batch")
    invoice_id = uuid4()
    await uow.execute(
        "INSERT INTO batch_invoice (id, tenant_id, batch_id, client_id, currency, total, cases, "
        "status, issued_at, acceptance_reason, accepted_cases, out_trade_no) "
        "VALUES ({}, {}, {}, {}, 'CNY', {}, 0, 'open', {}, '', 0, {}) "
        "ON CONFLICT (tenant_id, batch_id) DO NOTHING",
        invoice_id,
        tenant_id,
        batch_id,
        batch[0]["client_id"],
        domain.ZERO,
        now,
        batch_order_no(invoice_id),
    )
    opened = await _lock(uow, tenant_id, batch_id)
    assert opened is not None
    return opened


async def line_of(uow: UnitOfWork, tenant_id: UUID, case_id: UUID, now: datetime) -> UUID | None:
    """The batch whose invoice the case's fees are a line of (None: invoiced on its own).

    A case of a batch whose invoice is still open for additions; the invoice is opened
    (and locked, so the acceptance job cannot close it under this case) if need be.
    """
    rows = await uow.fetch(
        "SELECT batch_id FROM loan_contract WHERE tenant_id = {} AND case_id = {} "
        "AND batch_id IS NOT NULL",
        tenant_id,
        case_id,
    )
    if not rows:
        return None
    batch_id = as_uuid(rows[0]["batch_id"])
    invoice = await open_batch_invoice(uow, tenant_id, batch_id, now)
    if invoice["closed_at"] is not None or invoice["status"] != InvoiceStatus.OPEN:
        return None
    return batch_id


async def refresh(
    uow: UnitOfWork, tenant_id: UUID, batch_id: UUID, *, now: datetime, close: bool
) -> dict[str, Any]:
    """Recompute the total from the lines (and close the invoice for additions)."""
    sums = (
        await uow.fetch(
            "SELECT COUNT(*) AS n, COALESCE(SUM(total), 0) AS total, MIN(due_at) AS due_at, "
            "MIN(currency) AS currency, COUNT(DISTINCT currency) AS currencies "
            "FROM payment_invoice WHERE tenant_id = {} AND batch_id = {} AND kind = 'claim' "
            "AND status = 'open'",
            tenant_id,
            batch_id,
        )
    )[0]
    if int(sums["currencies"] or 0) > 1:  # one rule set per batch: never seen
        raise ServiceUnavailable("the cases of this batch are invoiced in several currencies")
    count = int(sums["n"])
    sets = "total = {}, cases = {}, due_at = {}, currency = {}"
    args: list[Any] = [
        _dec(sums["total"]),
        count,
        None if sums["due_at"] is None else as_datetime(sums["due_at"]),
        str(sums["currency"] or "CNY"),
    ]
    if close:
        sets += ", closed_at = {}"
        args.append(now)
        if count == 0:
            sets += ", status = 'cancelled', settled_at = {}"
            args.append(now)
    await uow.execute(
        f"UPDATE batch_invoice SET {sets} "  # noqa: S608 (constant fragments)
        "WHERE tenant_id = {} AND batch_id = {} AND status = 'open' AND closed_at IS NULL",
        *args,
        tenant_id,
        batch_id,
    )
    refreshed = await _lock(uow, tenant_id, batch_id)
    assert refreshed is not None
    return refreshed


async def line_closed(uow: UnitOfWork, runtime: Runtime, tenant_id: UUID, batch_id: UUID) -> None:
    """A case of the batch closed unpaid: with no line left open, the batch invoice is void."""
    invoice = await _lock(uow, tenant_id, batch_id)
    if invoice is None or invoice["status"] != InvoiceStatus.OPEN or invoice["closed_at"] is None:
        return
    left = await uow.fetch(
        "SELECT id FROM payment_invoice WHERE tenant_id = {} AND batch_id = {} "
        "AND kind = 'claim' AND status = 'open' LIMIT 1",
        tenant_id,
        batch_id,
    )
    if left:
        return
    now = runtime.clock.now()
    await uow.execute(
        "UPDATE batch_invoice SET status = 'cancelled', settled_at = {} "
        "WHERE tenant_id = {} AND id = {} AND status = 'open'",
        now,
        tenant_id,
        invoice["id"],
    )
    await record(
        uow,
        tenant_id=tenant_id,
        actor=AuditActor.system(SYSTEM),
        action="payment.batch_invoice_cancelled",
        target_kind="batch",
        target_id=batch_id,
        detail={"batch_invoice_id": str(invoice["id"]), "reason": "every case closed unpaid"},
    )


async def order_of_refund(uow: UnitOfWork, tenant_id: UUID, invoice: Mapping[str, Any]) -> str:
    """The provider's order a case invoice's money came through (the batch's, if so)."""
    if invoice.get("paid_via") != "batch" or invoice.get("batch_id") is None:
        return str(invoice["out_trade_no"])
    rows = await uow.fetch(
        "SELECT out_trade_no FROM batch_invoice WHERE tenant_id = {} AND batch_id = {}",
        tenant_id,
        invoice["batch_id"],
    )
    return str(rows[0]["out_trade_no"])


# -- reading and checkout ------------------------------------------------------------------


async def _batch_for(uow: UnitOfWork, principal: Principal, batch_id: UUID) -> dict[str, Any]:
    """The batch, if the principal is its submitting lender client or the staff; else 404."""
    rows = await uow.fetch(
        "SELECT id, client_id, state FROM claim_batch WHERE tenant_id = {} AND id = {}",
        tenant_of(principal),
        batch_id,
    )
    if not rows:
        raise NotFound("no such batch")
    batch = rows[0]
    if cases_domain.is_staff(principal):
        return batch
    if (
        principal.kind is PrincipalKind.API_CLIENT
        and principal.client_id is not None
        and principal.client_id == batch["client_id"]
    ):
        return batch
    raise NotFound("no such batch")


async def _out(uow: UnitOfWork, tenant_id: UUID, row: Mapping[str, Any]) -> BatchInvoiceOut:
    counts = await uow.fetch(
        "SELECT status, COUNT(*) AS n FROM payment_invoice WHERE tenant_id = {} "
        "AND batch_id = {} AND kind = 'claim' GROUP BY status",
        tenant_id,
        row["batch_id"],
    )
    events = await uow.fetch(
        "SELECT * FROM payment_event WHERE tenant_id = {} AND batch_invoice_id = {} "
        "ORDER BY received_at, id",
        tenant_id,
        row["id"],
    )
    paid = row["paid_amount"]
    return BatchInvoiceOut(
        id=as_uuid(row["id"]),
        batch_id=as_uuid(row["batch_id"]),
        status=str(row["status"]),
        currency=str(row["currency"]),
        total=domain.money(_dec(row["total"])),
        cases=int(row["cases"]),
        lines={str(c["status"]): int(c["n"]) for c in counts},
        open_for_additions=row["closed_at"] is None,
        issued_at=as_datetime(row["issued_at"]),
        due_at=as_optional_datetime(row["due_at"]),
        closed_at=as_optional_datetime(row["closed_at"]),
        acceptance_mode=row["acceptance_mode"],
        acceptance_by=row["acceptance_by"],
        acceptance_started_at=as_optional_datetime(row["acceptance_started_at"]),
        accepted_cases=int(row["accepted_cases"]),
        out_trade_no=str(row["out_trade_no"]),
        trade_no=row["trade_no"],
        paid_at=as_optional_datetime(row["paid_at"]),
        paid_amount=None if paid is None else domain.money(_dec(paid)),
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


async def get_batch_invoice(
    runtime: Runtime, principal: Principal, batch_id: UUID
) -> BatchInvoiceOut:
    """The batch's invoice: for the lender client that submitted it and the staff."""
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        await _batch_for(uow, principal, batch_id)
        rows = await uow.fetch(
            "SELECT * FROM batch_invoice WHERE tenant_id = {} AND batch_id = {}",
            tenant_id,
            batch_id,
        )
        if not rows:
            raise NotFound("the batch has no invoice (its cases are not accepted yet)")
        return await _out(uow, tenant_id, rows[0])


async def checkout_batch(runtime: Runtime, principal: Principal, batch_id: UUID) -> CheckoutOut:
    """The provider's cashier URL for the batch's one order (the submitting lender only).

    Idempotent: every checkout names the invoice's one merchant order and its total,
    fixed since the invoice closed for additions.
    """
    from arbitral.payments.services import notify_url, provider_of

    tenant_id = tenant_of(principal)
    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("no such commission")
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await _batch_for(uow, principal, batch_id)
        if principal.kind is not PrincipalKind.API_CLIENT:
            raise Forbidden("the lender that submitted the batch pays its invoice")
        invoice = await _lock(uow, tenant_id, batch_id)
        if invoice is None:
            raise Conflict("the batch has no invoice yet (its cases are not accepted)")
        if invoice["status"] != InvoiceStatus.OPEN:
            raise Conflict(
                f"the invoice is {invoice['status']}", extensions={"status": invoice["status"]}
            )
        if invoice["closed_at"] is None:
            raise Conflict("the batch's cases are still being accepted: its total is not final")
        total = _dec(invoice["total"])
        now = runtime.clock.now()
        due = as_optional_datetime(invoice["due_at"])
        if due is None or total <= 0:
            raise Conflict("the invoice has nothing left to pay")
        if now >= due:
            raise Conflict("the time limit to pay the fees has run out")
        provider = provider_of(runtime)
        if provider is None:
            raise ServiceUnavailable(
                "no payment provider is configured; pay the commission directly"
            )
        url = provider.checkout_url(
            out_trade_no=str(invoice["out_trade_no"]),
            amount=total,
            subject=f"{tenant.names.zh} 仲裁费 批量申请 {int(invoice['cases'])} 件",
            notify_url=notify_url(runtime, tenant, provider),
            expires_at=due,
            now=now,
        )
        await uow.execute(
            "UPDATE batch_invoice SET provider = {}, "
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
            action="payment.batch_checkout",
            target_kind="batch",
            target_id=batch_id,
            detail={"batch_invoice_id": str(invoice["id"]), "provider": provider.name},
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


# -- the provider's notification -------------------------------------------------------------


async def find_order(uow: UnitOfWork, tenant_id: UUID, out_trade_no: str) -> dict[str, Any] | None:
    rows = await uow.fetch(
        "SELECT * FROM batch_invoice WHERE tenant_id = {} AND out_trade_no = {}",
        tenant_id,
        out_trade_no,
    )
    return rows[0] if rows else None


def judge(notice: domain.Notice, invoice: Mapping[str, Any]) -> domain.Verdict:
    """As :func:`arbitral.payments.domain.judge`; an invoice still open for additions
    cannot have been checked out, so money for it is an anomaly for the staff."""
    if (
        invoice["status"] == InvoiceStatus.OPEN
        and invoice["closed_at"] is None
        and notice.trade_status in domain.PAID_STATUSES
    ):
        return domain.Verdict(Effect.ANOMALY, "batch_still_open: its total is not final")
    return domain.judge(
        notice,
        status=InvoiceStatus(str(invoice["status"])),
        total=_dec(invoice["total"]),
        currency=str(invoice["currency"]),
        trade_no=invoice["trade_no"],
    )


async def take_batch_notice(
    uow: UnitOfWork,
    runtime: Runtime,
    tenant: TenantInfo,
    provider: PaymentProvider,
    invoice: Mapping[str, Any],
    notice: domain.Notice,
    stored: Mapping[str, str],
    now: datetime,
) -> Effect | None:
    """Keep the notification once and apply it once; None when it was kept before."""
    verdict = judge(notice, invoice)
    event_id = uuid4()
    kept = await uow.fetch(
        "INSERT INTO payment_event (id, tenant_id, invoice_id, batch_invoice_id, provider, "
        "event_id, out_trade_no, trade_no, trade_status, amount, effect, reason, params, "
        "received_at) VALUES ({}, {}, NULL, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) "
        "ON CONFLICT (tenant_id, provider, event_id) DO NOTHING RETURNING id",
        event_id,
        tenant.id,
        invoice["id"],
        provider.name,
        notice.event_id,
        notice.out_trade_no,
        notice.trade_no,
        notice.trade_status,
        notice.amount,
        verdict.effect.value,
        verdict.reason,
        json.dumps(dict(stored), ensure_ascii=False, sort_keys=True),
        now,
    )
    if not kept:
        return None
    effect = verdict.effect
    if effect in (Effect.PAID, Effect.REFUND):
        applied = await _apply(uow, tenant, invoice, notice, effect, now, provider.name)
        if applied is not effect:
            await uow.execute(
                "UPDATE payment_event SET effect = {}, reason = 'already_paid' "
                "WHERE tenant_id = {} AND id = {}",
                applied.value,
                tenant.id,
                event_id,
            )
            effect = applied
    batch_id = as_uuid(invoice["batch_id"])
    await record(
        uow,
        tenant_id=tenant.id,
        actor=AuditActor.system(provider.name),
        action="payment.anomaly" if effect is Effect.ANOMALY else "payment.notified",
        outcome="failure" if effect is Effect.ANOMALY else "success",
        target_kind="batch",
        target_id=batch_id,
        detail={
            "provider": provider.name,
            "batch_invoice_id": str(invoice["id"]),
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
    return effect


async def _apply(
    uow: UnitOfWork,
    tenant: TenantInfo,
    invoice: Mapping[str, Any],
    notice: domain.Notice,
    effect: Effect,
    now: datetime,
    provider_name: str,
) -> Effect:
    """The batch invoice paid once; its lines with it (set-based), the rest in a job.

    Paid: every open line is paid and its case's fee deadline stops, here, so that no
    case is deemed withdrawn while the job moves the cases. Paid after every case had
    closed (``REFUND``): the money is recorded on each line, and the job gives each
    share back.
    """
    from arbitral.payments.services import FEE_DEADLINE

    expected = "open" if effect is Effect.PAID else "cancelled"
    updated = await uow.fetch(
        "UPDATE batch_invoice SET status = {}, paid_at = {}, paid_amount = {}, trade_no = {}, "
        "provider = {}, settled_at = {} WHERE tenant_id = {} AND id = {} AND status = {} "
        "AND trade_no IS NULL RETURNING id",
        "paid" if effect is Effect.PAID else "cancelled",
        now,
        notice.amount,
        notice.trade_no,
        provider_name,
        now,
        tenant.id,
        invoice["id"],
        expected,
    )
    if not updated:  # another notification of this trade got here first
        return Effect.IGNORED
    batch_id = invoice["batch_id"]
    # Open lines: paid with the batch. Lines of cases closed before the money came: the
    # money is recorded on them too (the job gives each share back).
    await uow.execute(
        "UPDATE payment_invoice SET status = 'paid', paid_at = {}, paid_amount = total, "
        "paid_via = 'batch', trade_no = {}, provider = {}, settled_at = {} "
        "WHERE tenant_id = {} AND batch_id = {} AND kind = 'claim' AND status = 'open'",
        now,
        notice.trade_no,
        provider_name,
        now,
        tenant.id,
        batch_id,
    )
    await uow.execute(
        "UPDATE payment_invoice SET paid_at = {}, paid_amount = total, paid_via = 'batch', "
        "trade_no = {}, provider = {} WHERE tenant_id = {} AND batch_id = {} AND kind = 'claim' "
        "AND status = 'cancelled' AND paid_via IS NULL",
        now,
        notice.trade_no,
        provider_name,
        tenant.id,
        batch_id,
    )
    await uow.execute(
        "UPDATE case_deadline SET status = 'cancelled', settled_at = {} "
        "WHERE tenant_id = {} AND name = {} AND status = 'pending' AND case_id IN "
        "(SELECT case_id FROM payment_invoice WHERE tenant_id = {} AND batch_id = {} "
        "AND kind = 'claim')",
        now,
        tenant.id,
        FEE_DEADLINE,
        tenant.id,
        batch_id,
    )
    await uow.enqueue(BATCH_PAID_JOB, {"batch_id": str(batch_id)})
    return effect


# -- the job: each case moved, each late share given back --------------------------------------


async def run_paid_chunk(
    runtime: Runtime, tenant_id: UUID, batch_id: UUID, transaction: Any
) -> None:
    """One chunk of a paid batch: ``record_payment`` on each case still awaiting its fees
    (in the job's transaction; the next chunk is its own job, enqueued here), and the
    refund of each share paid for a case that had closed. Safe to run again: a moved case
    is no longer ``accepted``, a share given back has its refund row."""
    from arbitral.payments.services import _request_refund

    tenant = await runtime.tenants.by_id(tenant_id)
    if tenant is None:
        log.warning("payments.batch_paid_no_tenant", tenant_id=str(tenant_id))
        return
    async with transaction() as uow:
        invoice = await _lock(uow, tenant_id, batch_id)
        if invoice is None or invoice["trade_no"] is None:
            return
        waiting = await uow.fetch(
            "SELECT i.id, i.case_id, i.total FROM payment_invoice i JOIN arb_case c "
            "ON c.tenant_id = i.tenant_id AND c.id = i.case_id "
            "WHERE i.tenant_id = {} AND i.batch_id = {} AND i.kind = 'claim' "
            "AND i.status = 'paid' AND i.paid_via = 'batch' AND c.state = 'accepted' "
            "ORDER BY i.case_id LIMIT {}",
            tenant_id,
            batch_id,
            CHUNK,
        )
        for line in waiting:
            case_id = as_uuid(line["case_id"])
            try:
                async with runtime.db.transaction(tenant_id=tenant_id) as savepoint:
                    await system_command(
                        savepoint,
                        runtime,
                        tenant,
                        case_id,
                        "record_payment",
                        by=SYSTEM,
                        reason="the fees were paid with the batch's invoice",
                        data={
                            "invoice_id": str(line["id"]),
                            "batch_invoice_id": str(invoice["id"]),
                            "trade_no": str(invoice["trade_no"]),
                            "amount": domain.money(_dec(line["total"])),
                        },
                    )
            except TransitionNotAllowed:  # moved meanwhile (a secretary recorded it)
                log.info("payments.batch_case_not_awaiting", case_id=str(case_id))
        room = CHUNK - len(waiting)
        late = (
            await uow.fetch(
                "SELECT * FROM payment_invoice i WHERE i.tenant_id = {} AND i.batch_id = {} "
                "AND i.kind = 'claim' AND i.status = 'cancelled' AND i.paid_via = 'batch' "
                "AND NOT EXISTS (SELECT 1 FROM payment_refund r WHERE r.tenant_id = i.tenant_id "
                "AND r.invoice_id = i.id AND r.kind = 'late_payment') ORDER BY i.case_id LIMIT {}",
                tenant_id,
                batch_id,
                room,
            )
            if room > 0
            else []
        )
        now = runtime.clock.now()
        for line in late:
            await _request_refund(
                uow,
                tenant_id,
                line,
                _dec(line["total"]),
                {
                    str(item["name"]): str(item["due"])
                    for item in (
                        json.loads(line["lines"])
                        if isinstance(line["lines"], str)
                        else line["lines"]
                    )
                },
                kind="late_payment",
                reason="paid with the batch after the case had closed: its share is given back",
                by=SYSTEM,
                now=now,
            )
        if len(waiting) + len(late) >= CHUNK:
            await uow.enqueue(BATCH_PAID_JOB, {"batch_id": str(batch_id)})
        else:
            await record(
                uow,
                tenant_id=tenant_id,
                actor=AuditActor.system(SYSTEM),
                action="payment.batch_settled",
                target_kind="batch",
                target_id=batch_id,
                detail={"batch_invoice_id": str(invoice["id"])},
            )
