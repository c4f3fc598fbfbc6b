"""What the hearings context does when a round's hours run out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from arbitral.cases import hooks
from arbitral.hearings import domain, services

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo


async def round_expired(
    uow: UnitOfWork, runtime: Runtime, tenant: TenantInfo, case_id: UUID, payload: dict[str, Any]
) -> None:
    await services.round_expired(uow, runtime, tenant, case_id, payload)


for _round in domain.Round:
    hooks.on_expiry(domain.deadline_name(_round.value))(round_expired)
