"""The unit of work: one database transaction per action.

Every action of the platform runs inside exactly one :class:`UnitOfWork`. It

* opens the transaction (``BEGIN IMMEDIATE`` on SQLite so that a writer never
  has to upgrade its lock; a pooled connection on PostgreSQL), and gives the
  connection back if even that fails;
* sets the tenant of the transaction first thing on PostgreSQL
  (``set_config('app.tenant_id', …, true)``) for row-level security;
* collects the jobs the action causes as outbox rows in the same transaction;
* runs after-commit hooks (publishing the outbox) only once the commit has
  succeeded. A failed commit rolls back and releases the connection.

A unit of work opened inside another is a savepoint: if its block fails, its
writes (and its after-commit hooks) are undone and the outer one carries on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any
from uuid import UUID

import structlog
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import TransactionType
from piccolo.querystring import QueryString

if TYPE_CHECKING:
    from arbitral.db.engine import Database

log = structlog.get_logger(__name__)

_current: ContextVar[UnitOfWork | None] = ContextVar("arbitral_uow", default=None)


class UnitOfWork:
    def __init__(
        self,
        database: Database,
        *,
        tenant_id: UUID | None = None,
        outbox_relay: bool = False,
        readonly: bool = False,
    ) -> None:
        self.database = database
        self.tenant_id = tenant_id
        self.outbox_relay = outbox_relay
        self.readonly = readonly
        self.enqueued: list[UUID] = []
        self._after_commit: list[Callable[[], None]] = []
        self._tx: Any = None
        self._parent: UnitOfWork | None = None
        self._savepoint: Any = None
        self._token: Token[UnitOfWork | None] | None = None

    @staticmethod
    def current() -> UnitOfWork | None:
        """The unit of work of the running task, if any."""
        return _current.get()

    @property
    def is_postgres(self) -> bool:
        return self.database.is_postgres

    def now(self) -> datetime:
        """The time to stamp rows with: the runtime's clock (see :attr:`Database.now`)."""
        return self.database.now()

    @property
    def _root(self) -> UnitOfWork:
        return self._parent._root if self._parent is not None else self

    async def __aenter__(self) -> UnitOfWork:
        parent = _current.get()
        if parent is not None:
            if self.readonly is False and parent.readonly:
                raise RuntimeError("a writing unit of work cannot nest in a read-only one")
            if parent.database is not self.database:
                raise RuntimeError("a nested unit of work must use the database of the outer one")
            if parent.tenant_id != self.tenant_id:
                raise RuntimeError("a nested unit of work must keep the tenant of the outer one")
            self._parent = parent
            self._savepoint = await parent._root._tx.savepoint()
            self._token = _current.set(self)
            return self
        engine = self.database.engine
        if isinstance(engine, PostgresEngine):
            tx = engine.transaction()
        else:
            kind = TransactionType.deferred if self.readonly else TransactionType.immediate
            tx = engine.transaction(transaction_type=kind)
        try:
            await tx.__aenter__()
        except BaseException:
            # Piccolo took a connection, then BEGIN failed (lock timeout, cancellation):
            # give the connection back, or the pool (or a SQLite thread) leaks.
            await _release(engine, getattr(tx, "connection", None))
            raise
        self._tx = tx
        self._token = _current.set(self)
        try:
            if isinstance(engine, PostgresEngine):
                await tx.connection.execute(
                    "SELECT set_config('app.tenant_id', $1, true), "
                    "set_config('app.outbox_relay', $2, true), "
                    "set_config('transaction_read_only', $3, true)",
                    "" if self.tenant_id is None else str(self.tenant_id),
                    "on" if self.outbox_relay else "",
                    "on" if self.readonly else "off",
                )
        except BaseException as exc:
            await self._finish(exc)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._parent is not None:
            await self._leave_savepoint(exc)
            return
        await self._finish(exc)
        if exc is None:
            for hook in self._after_commit:
                try:
                    hook()
                except Exception:  # the action committed: a hook must not undo that
                    log.exception("uow.after_commit_failed", hook=getattr(hook, "__name__", hook))
            self.database.notify_committed(self)

    async def _leave_savepoint(self, exc: BaseException | None) -> None:
        assert self._parent is not None
        try:
            if exc is None:
                await self._savepoint.release()
                self._parent._after_commit.extend(self._after_commit)
                self._parent.enqueued.extend(self.enqueued)
            else:
                with contextlib.suppress(Exception):  # the outer rollback will clean up
                    await self._savepoint.rollback_to()
        finally:
            if self._token is not None:
                _current.reset(self._token)
                self._token = None

    async def _finish(self, exc: BaseException | None) -> None:
        tx = self._tx
        try:
            if exc is None:
                try:
                    await tx.commit()
                except BaseException as commit_error:
                    await self._abandon(tx, commit_error)
                    raise
                await tx.__aexit__(None, None, None)
            else:
                await self._abandon(tx, exc)
        finally:
            if self._token is not None:
                _current.reset(self._token)
                self._token = None

    @staticmethod
    async def _abandon(tx: Any, exc: BaseException) -> None:
        """Roll back (if the connection still can) and always release the connection."""
        if not tx._rolled_back:
            with contextlib.suppress(Exception):
                await tx.rollback()
            tx._rolled_back = True
        await tx.__aexit__(type(exc), exc, None)

    # -- inside the transaction ------------------------------------------------

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` once the outermost transaction has committed (not if it rolls back)."""
        self._after_commit.append(hook)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """A raw query in this transaction; ``{}`` marks each argument."""
        rows = await self.database.engine.run_querystring(QueryString(sql, *args))
        return [dict(row) for row in rows or []]

    async def execute(self, sql: str, *args: Any) -> None:
        await self.fetch(sql, *args)

    @property
    def connection(self) -> Any:
        """The driver connection (asyncpg or aiosqlite) of this transaction."""
        return self._root._tx.connection

    async def enqueue(
        self,
        job: str,
        payload: Mapping[str, Any] | None = None,
        *,
        tenant_id: UUID | None = None,
        delay: timedelta | None = None,
    ) -> UUID:
        """Write a job to the outbox; it is published only after commit."""
        from arbitral.jobs.outbox import add_to_outbox

        message_id = await add_to_outbox(
            self,
            job,
            dict(payload or {}),
            tenant_id=tenant_id if tenant_id is not None else self.tenant_id,
            delay=delay,
        )
        self.enqueued.append(message_id)
        return message_id


async def _release(engine: Any, connection: Any) -> None:
    if connection is None:
        return
    with contextlib.suppress(Exception):
        if isinstance(engine, PostgresEngine) and engine.pool is not None:
            await engine.pool.release(connection)
        else:
            await connection.close()
