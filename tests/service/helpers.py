"""Service objects in the tests' world."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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


async def serve_by_staff(
    w: Any,
    case_id: str,
    secretary: dict[str, str],
    notice: str,
    *,
    recipients: set[str] | None = None,
    served_at: datetime | None = None,
    subject_prefix: str = "",
) -> list[dict[str, Any]]:
    """A secretary records ``notice`` served by post on each party still being served
    (only ``recipients``, by name, when given); the requests as they now stand."""
    url = f"/api/v1/cases/{case_id}/service"
    found = (await w.client.get(url, headers=secretary)).json()["requests"]
    done = []
    for request in found:
        if request["notice"] != notice or request["status"] not in ("serving", "referred"):
            continue
        if not request["subject"].startswith(subject_prefix):
            continue
        if recipients is not None and request["recipient"] not in recipients:
            continue
        body: dict[str, Any] = {
            "request_id": request["id"],
            "method": "post",
            "reason": "EMS 1100000000001 签收",
        }
        if served_at is not None:
            body["served_at"] = served_at.isoformat()
        recorded = await w.client.post(f"{url}/record", json=body, headers=secretary)
        assert recorded.status_code == 200, recorded.text
        done.append(request["id"])
    after = (await w.client.get(url, headers=secretary)).json()["requests"]
    return [r for r in after if r["id"] in done]


async def case_document_of(runtime: Runtime, tenant: Tenant, case_id: str) -> str:
    """A signed document of the case on record (no bytes: for the route matrix)."""
    document_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        await uow.execute(
            "INSERT INTO case_document (id, tenant_id, case_id, kind, verification_code, sha256, "
            "size, pages, signed_at, issued_at) VALUES ({}, {}, {}, 'award', {}, {}, 1, 1, {}, {})",
            document_id,
            tenant.id,
            uuid.UUID(case_id),
            document_id.hex[:16].upper(),
            "0" * 64,
            now,
            now,
        )
    return str(document_id)
