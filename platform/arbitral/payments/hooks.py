"""How the payments context reacts to cases: invoices, the fee deadline, refunds.

All of it runs in the transaction of the case's transition (or of the expiry job): an
invoice that cannot be written undoes the acceptance; a refund is requested in the
same transaction as the withdrawal and leaves for the provider through the outbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from arbitral.cases import hooks
from arbitral.cases.hooks import Transitioned
from arbitral.payments import services

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo


@hooks.after("accept")
async def invoice_on_acceptance(uow: UnitOfWork, runtime: Runtime, event: Transitioned) -> None:
    await services.issue_invoice(uow, runtime, event.tenant, event.case_id)


@hooks.after("record_payment")
async def stop_fee_deadline(uow: UnitOfWork, runtime: Runtime, event: Transitioned) -> None:
    await services.payment_recorded(uow, runtime, event.tenant, event.case_id)


@hooks.after("withdraw")
async def refund_on_withdrawal(uow: UnitOfWork, runtime: Runtime, event: Transitioned) -> None:
    if await services.case_closed(uow, runtime, event.tenant, event.case_id):
        await services.refund_on_withdrawal(
            uow, runtime, event.tenant, event.case_id, event.from_state, by=event.actor
        )
    await services.refund_counterclaim_on_withdrawal(
        uow, runtime, event.tenant, event.case_id, by=event.actor
    )


@hooks.after("deem_withdrawn")
async def void_on_deemed_withdrawal(uow: UnitOfWork, runtime: Runtime, event: Transitioned) -> None:
    await services.case_closed(uow, runtime, event.tenant, event.case_id)


@hooks.after("record_settlement")
async def void_on_settlement(uow: UnitOfWork, runtime: Runtime, event: Transitioned) -> None:
    # A settlement says who bears the fees; the platform refunds nothing by itself.
    await services.case_closed(uow, runtime, event.tenant, event.case_id)


@hooks.on_expiry(services.FEE_DEADLINE)
async def fee_deadline_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, payload: dict[str, Any]
) -> None:
    await services.fee_deadline_expired(uow, runtime, tenant, case_id)
