"""Rate limits and lockouts kept in the database (the same on SQLite and PostgreSQL).

A *scope* names what is limited: ``password:<email>``, ``otp-dest:<phone>``,
``otp-ip:<address>``. Each scope has a window with counts of requests and
failures; past a limit the scope is locked until a time, and every attempt
while locked is refused without looking further.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from arbitral.db.values import as_datetime, as_optional_datetime

if TYPE_CHECKING:
    from arbitral.db.engine import Database
    from arbitral.db.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Limit:
    max_count: int
    window: timedelta
    lockout: timedelta


class Throttled(Exception):
    """The scope is locked (or over its limit) until ``until``."""

    def __init__(self, scope: str, until: datetime) -> None:
        super().__init__(f"{scope} is locked until {until.isoformat()}")
        self.scope = scope
        self.until = until

    @property
    def retry_after_s(self) -> int:
        return max(1, int((self.until - datetime.now(UTC)).total_seconds() + 0.999))


async def _row(uow: UnitOfWork, tenant_id: UUID, scope: str) -> dict[str, object]:
    await uow.execute(
        "INSERT INTO login_throttle (id, tenant_id, scope, window_start, requests, failures) "
        "VALUES ({}, {}, {}, {}, 0, 0) ON CONFLICT (tenant_id, scope) DO NOTHING",
        uuid4(),
        tenant_id,
        scope,
        datetime.now(UTC),
    )
    query = (
        "SELECT id, window_start, requests, failures, locked_until FROM login_throttle "
        "WHERE tenant_id = {} AND scope = {}"
    )
    rows = await uow.fetch(
        query + (" FOR UPDATE" if uow.is_postgres else ""),
        tenant_id,
        scope,
    )
    return rows[0]


async def ensure_not_locked(uow: UnitOfWork, tenant_id: UUID, scope: str) -> None:
    rows = await uow.fetch(
        "SELECT locked_until FROM login_throttle WHERE tenant_id = {} AND scope = {}",
        tenant_id,
        scope,
    )
    if rows:
        until = as_optional_datetime(rows[0]["locked_until"])
        if until is not None and until > datetime.now(UTC):
            raise Throttled(scope, until)


async def count_request(uow: UnitOfWork, tenant_id: UUID, scope: str, limit: Limit) -> None:
    """Count one request against ``limit``; raise Throttled when it is over."""
    await _count(uow, tenant_id, scope, limit, column="requests")


async def count_failure(db: Database, tenant_id: UUID, scope: str, limit: Limit) -> datetime | None:
    """Count one failure in a transaction of its own (the caller's is failing).

    Returns the lock's end when this failure locked the scope.
    """
    async with db.transaction(tenant_id=tenant_id) as uow:
        try:
            await _count(uow, tenant_id, scope, limit, column="failures")
        except Throttled as exc:
            return exc.until
    return None


async def _count(
    uow: UnitOfWork, tenant_id: UUID, scope: str, limit: Limit, *, column: str
) -> None:
    row = await _row(uow, tenant_id, scope)
    now = datetime.now(UTC)
    locked = as_optional_datetime(row["locked_until"])
    if locked is not None and locked > now:
        raise Throttled(scope, locked)
    window_start = as_datetime(row["window_start"])
    requests, failures = int(str(row["requests"])), int(str(row["failures"]))
    if now - window_start > limit.window:
        window_start, requests, failures = now, 0, 0
    if column == "requests":
        requests += 1
        count = requests
    else:
        failures += 1
        count = failures
    locked_until = now + limit.lockout if count > limit.max_count else None
    if column == "failures" and count >= limit.max_count:
        locked_until = now + limit.lockout
    await uow.execute(
        "UPDATE login_throttle SET window_start = {}, requests = {}, failures = {}, "
        "locked_until = {} WHERE tenant_id = {} AND scope = {}",
        window_start,
        requests,
        failures,
        locked_until,
        tenant_id,
        scope,
    )
    if column == "requests" and locked_until is not None:
        raise Throttled(scope, locked_until)
    if column == "failures" and locked_until is not None:
        raise Throttled(scope, locked_until)


async def reset(uow: UnitOfWork, tenant_id: UUID, scope: str) -> None:
    await uow.execute(
        "UPDATE login_throttle SET failures = 0, locked_until = NULL "
        "WHERE tenant_id = {} AND scope = {}",
        tenant_id,
        scope,
    )
