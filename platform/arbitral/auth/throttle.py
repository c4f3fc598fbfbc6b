"""Rate limits and lockouts kept in the database (the same on SQLite and PostgreSQL).

A *scope* names what is limited: ``password:<email>``, ``otp-dest:<phone>``,
``otp-ip:<address>``. Each scope has a window with counts of requests and
failures; past a limit the scope is locked until a time, and every attempt
while locked is refused without looking further.

Counters are read and written under a row lock (``FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so concurrent attempts are
counted one by one. :func:`take_attempt` counts an attempt *before* it is
judged and refuses the one past the limit, so a burst of parallel guesses
cannot slip through between a check and a count.

``tenant_id=None`` means the platform's own scopes (alliance administrators),
kept in ``platform_login_throttle``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
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


@dataclass(frozen=True, slots=True)
class _Sql:
    select: str
    update: str
    reset: str


_TENANT = _Sql(
    select="SELECT window_start, requests, failures, locked_until FROM login_throttle "
    "WHERE tenant_id = {} AND scope = {}",
    update="UPDATE login_throttle SET window_start = {}, requests = {}, failures = {}, "
    "locked_until = {} WHERE tenant_id = {} AND scope = {}",
    reset="UPDATE login_throttle SET failures = 0, locked_until = NULL "
    "WHERE tenant_id = {} AND scope = {}",
)
_PLATFORM = _Sql(
    select="SELECT window_start, requests, failures, locked_until FROM platform_login_throttle "
    "WHERE scope = {}",
    update="UPDATE platform_login_throttle SET window_start = {}, requests = {}, failures = {}, "
    "locked_until = {} WHERE scope = {}",
    reset="UPDATE platform_login_throttle SET failures = 0, locked_until = NULL WHERE scope = {}",
)


def _where(tenant_id: UUID | None) -> tuple[_Sql, list[Any]]:
    """The statements and leading arguments for a scope of ``tenant_id`` (or the platform)."""
    return (_PLATFORM, []) if tenant_id is None else (_TENANT, [tenant_id])


async def _row(uow: UnitOfWork, tenant_id: UUID | None, scope: str) -> dict[str, Any]:
    sql, args = _where(tenant_id)
    now = datetime.now(UTC)
    if tenant_id is None:
        await uow.execute(
            "INSERT INTO platform_login_throttle (id, scope, window_start, requests, failures) "
            "VALUES ({}, {}, {}, 0, 0) ON CONFLICT (scope) DO NOTHING",
            uuid4(),
            scope,
            now,
        )
    else:
        await uow.execute(
            "INSERT INTO login_throttle (id, tenant_id, scope, window_start, requests, failures) "
            "VALUES ({}, {}, {}, {}, 0, 0) ON CONFLICT (tenant_id, scope) DO NOTHING",
            uuid4(),
            tenant_id,
            scope,
            now,
        )
    lock = " FOR UPDATE" if uow.is_postgres else ""
    rows = await uow.fetch(sql.select + lock, *args, scope)
    return rows[0]


async def ensure_not_locked(uow: UnitOfWork, tenant_id: UUID | None, scope: str) -> None:
    sql, args = _where(tenant_id)
    rows = await uow.fetch(sql.select, *args, scope)
    if rows:
        until = as_optional_datetime(rows[0]["locked_until"])
        if until is not None and until > datetime.now(UTC):
            raise Throttled(scope, until)


async def count_request(uow: UnitOfWork, tenant_id: UUID | None, scope: str, limit: Limit) -> None:
    """Count one request against ``limit`` in the caller's transaction; Throttled past it."""
    over = await _count(uow, tenant_id, scope, limit, column="requests")
    if over is not None:
        raise over


async def take_attempt(db: Database, tenant_id: UUID | None, scope: str, limit: Limit) -> None:
    """Count an attempt before judging it (its own transaction, committed whatever happens).

    Up to ``limit.max_count`` attempts pass in a window; the next is refused and
    locks the scope for ``limit.lockout``. A success calls :func:`reset`.
    """
    async with db.transaction(tenant_id=tenant_id) as uow:
        over = await _count(uow, tenant_id, scope, limit, column="failures")
    if over is not None:
        raise over


async def count_failure(
    db: Database, tenant_id: UUID | None, scope: str, limit: Limit
) -> datetime | None:
    """Count one failure in a transaction of its own (the caller's is failing).

    Returns the lock's end when this failure locked the scope.
    """
    async with db.transaction(tenant_id=tenant_id) as uow:
        over = await _count(uow, tenant_id, scope, limit, column="failures", lock_at_limit=True)
    return over.until if over is not None else None


async def _count(
    uow: UnitOfWork,
    tenant_id: UUID | None,
    scope: str,
    limit: Limit,
    *,
    column: str,
    lock_at_limit: bool = False,
) -> Throttled | None:
    """Count one, persist the counters and any lock; the Throttled to raise, if any."""
    row = await _row(uow, tenant_id, scope)
    now = datetime.now(UTC)
    locked = as_optional_datetime(row["locked_until"])
    if locked is not None and locked > now:
        return Throttled(scope, locked)
    window_start = as_datetime(row["window_start"])
    requests, failures = int(row["requests"]), int(row["failures"])
    if now - window_start > limit.window:
        window_start, requests, failures = now, 0, 0
    if column == "requests":
        requests += 1
        count = requests
    else:
        failures += 1
        count = failures
    over = count >= limit.max_count if lock_at_limit else count > limit.max_count
    locked_until = now + limit.lockout if over else None
    sql, args = _where(tenant_id)
    await uow.execute(
        sql.update,
        window_start,
        requests,
        failures,
        locked_until,
        *args,
        scope,
    )
    return Throttled(scope, locked_until) if locked_until is not None else None


async def reset(uow: UnitOfWork, tenant_id: UUID | None, scope: str) -> None:
    sql, args = _where(tenant_id)
    await uow.execute(sql.reset, *args, scope)
