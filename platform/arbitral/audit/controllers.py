"""The audit trail, for the commission's administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromQuery

from arbitral.audit.schemas import AuditEventOut, AuditPage
from arbitral.audit.services import list_events
from arbitral.auth.domain import Permission
from arbitral.auth.guards import principal_of, require
from arbitral.db.values import as_datetime, as_uuid
from arbitral.identity.services import tenant_of


class AuditController(Controller):
    path = "/api/v1/audit-events"
    tags = ("audit",)

    @get("/", opt=require(Permission.AUDIT_READ), summary="The commission's audit trail")
    async def list_events(
        self,
        request: Request[Any, Any, Any],
        limit: FromQuery[int] = 50,
        before: FromQuery[datetime | None] = None,
        action: FromQuery[str | None] = None,
    ) -> AuditPage:
        principal = principal_of(request)
        assert principal is not None
        rows, next_before = await list_events(
            request.app.state.runtime.db,
            tenant_of(principal),
            limit=limit,
            before=before,
            action=action,
        )
        return AuditPage(
            items=[
                AuditEventOut(
                    id=as_uuid(row["id"]),
                    at=as_datetime(row["at"]),
                    actor_kind=row["actor_kind"],
                    actor_id=row["actor_id"],
                    action=row["action"],
                    target_kind=row["target_kind"],
                    target_id=row["target_id"],
                    outcome=row["outcome"],
                    ip=row["ip"],
                    request_id=row["request_id"],
                    detail=row["detail"],
                )
                for row in rows
            ],
            next_before=as_datetime(next_before) if next_before is not None else None,
        )
