"""What the pleadings context does when a case moves or one of its periods runs out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from arbitral.cases import hooks
from arbitral.payments.services import COUNTERCLAIM_PAID
from arbitral.pleadings import domain, services

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo


@hooks.on_expiry(domain.ANSWER)
async def answer_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, payload: dict[str, Any]
) -> None:
    await services.answer_expired(uow, runtime, tenant, case_id)


@hooks.on_expiry(domain.COUNTERCLAIM)
async def counterclaim_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, payload: dict[str, Any]
) -> None:
    await services.counterclaim_expired(uow, runtime, tenant, case_id)


@hooks.on_expiry(domain.EVIDENCE)
async def evidence_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, payload: dict[str, Any]
) -> None:
    await services.evidence_expired(uow, runtime, tenant, case_id)


@hooks.on_expiry(domain.COUNTERCLAIM_FEE)
async def counterclaim_fee_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, payload: dict[str, Any]
) -> None:
    await services.counterclaim_fee_expired(uow, runtime, tenant, case_id)


@hooks.on_expiry(domain.COUNTERCLAIM_ANSWER)
async def counterclaim_answer_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, payload: dict[str, Any]
) -> None:
    await services.counterclaim_answer_expired(uow, runtime, tenant, case_id)


@hooks.after(COUNTERCLAIM_PAID)
async def counterclaim_fee_paid(
    uow: UnitOfWork, runtime: Runtime, event: hooks.Transitioned
) -> None:
    """The payments context took the counterclaim's fee: it stands, the claimant may answer."""
    await services.counterclaim_fee_paid(uow, runtime, event.tenant, event.case_id, event.data)


@hooks.after("close_pleadings")
async def pleadings_closed(uow: UnitOfWork, runtime: Runtime, event: hooks.Transitioned) -> None:
    """The periods the rule set runs from the close of the pleadings start."""
    await services.start_periods_after_pleadings(uow, runtime, event.tenant, event.case_id)


@hooks.after("waive_period")
async def period_waived(uow: UnitOfWork, runtime: Runtime, event: hooks.Transitioned) -> None:
    """A party waived what was left of a period: the pleadings may be over now."""
    by = "claimant_waiver" if event.data.get("period") == domain.COUNTERCLAIM_ANSWER else None
    await services.close_pleadings_if_over(
        uow, runtime, event.tenant, event.case_id, by=by or "respondent_waiver"
    )
