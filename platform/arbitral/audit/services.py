"""Writing the audit trail, always inside the transaction of the action it records.

An action and its audit event commit together or not at all. A refusal
(a failed login, a denied request) has no action to ride on: it is recorded
in a transaction of its own with :func:`record_alone`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID, uuid4

import structlog

from arbitral.db.values import as_datetime, as_uuid

if TYPE_CHECKING:
    from arbitral.db.engine import Database
    from arbitral.db.uow import UnitOfWork

ActorKind = Literal["user", "api_client", "platform_admin", "system", "anonymous", "operator"]
Outcome = Literal["success", "failure", "denied"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: a user, an API client, an alliance admin, the system or nobody known."""

    kind: ActorKind
    id: str | None = None

    @classmethod
    def system(cls, name: str = "arbitral") -> Actor:
        return cls("system", name)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls("anonymous", None)


def _context() -> tuple[str | None, str | None]:
    bound = structlog.contextvars.get_contextvars()
    ip, request_id = bound.get("client_ip"), bound.get("request_id")
    return (
        ip if isinstance(ip, str) else None,
        request_id if isinstance(request_id, str) else None,
    )


async def record(
    uow: UnitOfWork,
    *,
    tenant_id: UUID,
    actor: Actor,
    action: str,
    outcome: Outcome = "success",
    target_kind: str | None = None,
    target_id: str | UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> UUID:
    """Append an event to ``tenant_id``'s audit trail in ``uow``'s transaction."""
    ip, request_id = _context()
    event_id = uuid4()
    await uow.execute(
        "INSERT INTO audit_event (id, tenant_id, at, actor_kind, actor_id, action, target_kind, "
        "target_id, outcome, ip, request_id, detail) "
        "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        event_id,
        tenant_id,
        datetime.now(UTC),
        actor.kind,
        actor.id,
        action,
        target_kind,
        None if target_id is None else str(target_id),
        outcome,
        ip,
        request_id,
        json.dumps(detail or {}, sort_keys=True, default=str),
    )
    return event_id


async def record_platform(
    uow: UnitOfWork,
    *,
    actor: Actor,
    action: str,
    outcome: Outcome = "success",
    target_kind: str | None = None,
    target_id: str | UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> UUID:
    """Append an event to the platform's audit trail (above the tenants)."""
    ip, request_id = _context()
    event_id = uuid4()
    await uow.execute(
        "INSERT INTO platform_audit_event (id, at, actor_kind, actor_id, action, target_kind, "
        "target_id, outcome, ip, request_id, detail) "
        "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        event_id,
        datetime.now(UTC),
        actor.kind,
        actor.id,
        action,
        target_kind,
        None if target_id is None else str(target_id),
        outcome,
        ip,
        request_id,
        json.dumps(detail or {}, sort_keys=True, default=str),
    )
    return event_id


async def record_alone(
    database: Database,
    *,
    tenant_id: UUID,
    actor: Actor,
    action: str,
    outcome: Outcome,
    target_kind: str | None = None,
    target_id: str | UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record an event that has no transaction of its own (a refusal) in a new one."""
    async with database.transaction(tenant_id=tenant_id) as uow:
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor,
            action=action,
            outcome=outcome,
            target_kind=target_kind,
            target_id=target_id,
            detail=detail,
        )


async def list_events(
    db: Database,
    tenant_id: UUID,
    *,
    limit: int = 50,
    cursor: tuple[datetime, UUID] | None = None,
    action: str | None = None,
) -> tuple[list[dict[str, Any]], tuple[datetime, UUID] | None]:
    """The tenant's events, newest first, and the cursor of the next (older) page.

    Pages are keyed on (time, id), so events sharing a timestamp are never skipped.
    """
    limit = max(1, min(limit, 200))
    conditions = ["tenant_id = {}"]
    args: list[Any] = [tenant_id]
    if cursor is not None:
        conditions.append("(at < {} OR (at = {} AND id < {}))")
        args += [cursor[0], cursor[0], cursor[1]]
    if action is not None:
        conditions.append("action = {}")
        args.append(action)
    async with db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT * FROM audit_event WHERE "  # noqa: S608 (fixed conditions, placeholders)
            + " AND ".join(conditions)
            + " ORDER BY at DESC, id DESC LIMIT {}",
            *args,
            limit + 1,
        )
    page = rows[:limit]
    for row in page:
        if isinstance(row["detail"], str):
            row["detail"] = json.loads(row["detail"])
    last = page[-1] if len(rows) > limit else None
    return page, (as_datetime(last["at"]), as_uuid(last["id"])) if last else None
