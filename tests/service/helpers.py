"""Service objects in the tests' world."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from arbitral.auth.domain import Role

if TYPE_CHECKING:
    from arbitral.runtime import Runtime
    from tests.support.world import Tenant


async def inbox_item_of(runtime: Runtime, tenant: Tenant, case_id: str) -> str:
    """A notice in the portal inbox of ``tenant``'s respondent (no HTTP)."""
    item_id = uuid.uuid4()
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await uow.execute(
            "INSERT INTO inbox_item (id, tenant_id, case_id, user_id, notice, title, body, "
            "created_at) VALUES ({}, {}, {}, {}, 'notice-of-arbitration', '仲裁通知书', "
            "'通知', {})",
            item_id,
            tenant.id,
            uuid.UUID(case_id),
            tenant.users[Role.RESPONDENT],
            datetime.now(UTC),
        )
    return str(item_id)
