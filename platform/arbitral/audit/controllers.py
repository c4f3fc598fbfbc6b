"""The audit trail, for the commission's administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Controller, Request, get
from litestar.params import FromQuery

from arbitral.audit.schemas import AuditEventOut, AuditPage
from arbitral.audit.services import list_events
from arbitral.auth.domain import Permission
from arbitral.auth.guards import principal_of, require
from arbitral.db.values import as_datetime, as_uuid
from arbitral.errors import FieldProblem, ValidationFailed
from arbitral.identity.services import tenant_of


def _parse_cursor(value: str | None) -> tuple[datetime, UUID] | None:
    if not value:
        return None
    at, _, event_id = value.partition("|")
    try:
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("no time zone")
        return moment, UUID(event_id)
    except ValueError:
        raise ValidationFailed(
            "the cursor is not valid",
            errors=[FieldProblem("cursor", "format", "pass back a next_cursor as given")],
        ) from None


class AuditController(Controller):
    path = "/api/v1/audit-events"
    tags = ("audit",)

    @get("/", opt=require(Permission.AUDIT_READ), summary="The commission's audit trail")
    async def list_events(
        self,
        request: Request[Any, Any, Any],
        limit: FromQuery[int] = 50,
        cursor: FromQuery[str | None] = None,
        action: FromQuery[str | None] = None,
    ) -> AuditPage:
        principal = principal_of(request)
        assert principal is not None
        rows, next_cursor = await list_events(
            request.app.state.runtime.db,
            tenant_of(principal),
            limit=limit,
            cursor=_parse_cursor(cursor),
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
            next_cursor=f"{next_cursor[0].isoformat()}|{next_cursor[1]}" if next_cursor else None,
        )
