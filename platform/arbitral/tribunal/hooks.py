"""What the tribunal context does when a case moves or one of its periods runs out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from arbitral.cases import hooks
from arbitral.service import services as service
from arbitral.service.domain import Notice
from arbitral.tribunal import services

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo


@hooks.after("complete_service")
async def respondent_served(uow: UnitOfWork, runtime: Runtime, event: hooks.Transitioned) -> None:
    """The parties' time to choose the arbitrator opens (or the commission appoints)."""
    await services.on_served(uow, runtime, event.tenant, event.case_id)


@hooks.after("waive_period")
async def selection_waived(uow: UnitOfWork, runtime: Runtime, event: hooks.Transitioned) -> None:
    """The respondent gave up its time to choose: the commission appoints now."""
    if event.data.get("period") == services.SELECTION:
        await services.on_selection_expired(uow, runtime, event.tenant, event.case_id)


@hooks.on_expiry(services.SELECTION)
async def selection_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, payload: dict[str, Any]
) -> None:
    await services.on_selection_expired(uow, runtime, tenant, case_id)


@hooks.on_expiry(services.CHALLENGE)
async def challenge_period_ended(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, payload: dict[str, Any]
) -> None:
    await services.on_challenge_period_ended(uow, runtime, tenant, case_id)


@service.when_served(Notice.TRIBUNAL)
async def constitution_notice_served(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, served: service.Served
) -> None:
    """A party was served the notice of constitution: its challenge period runs."""
    await services.on_constitution_served(uow, runtime, tenant, served)
