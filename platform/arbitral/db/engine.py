"""Piccolo engines for the two database backends and the :class:`Database` handle."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from piccolo.apps.migrations.tables import Migration
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.table import Table

from arbitral import piccolo_conf
from arbitral.errors import first_line
from arbitral.settings import ConfigError, DatabaseConfig

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork

SQLITE_BUSY_TIMEOUT_S = 30.0
PICCOLO_CONF = "arbitral.piccolo_conf"


class ArbitralPostgresEngine(PostgresEngine):
    """Piccolo's PostgreSQL engine without I/O at construction.

    Piccolo's engine connects from its constructor (in a thread, on a loop of
    its own) to read the server version and create extensions. Building the
    runtime must not touch the network, and the application role creates
    nothing: :meth:`Database.open` reads the version instead.
    """

    server_version: float = 0.0

    async def check_version(self) -> None:
        return None

    async def prep_database(self) -> None:
        return None

    def get_version_sync(self) -> float:
        return self.server_version


MIN_POSTGRES_VERSION = 13.0


def build_engine(config: DatabaseConfig) -> Engine[Any]:
    """A Piccolo engine for the configured database (no connection is made)."""
    if config.dialect == "sqlite":
        assert config.sqlite_path is not None
        return SQLiteEngine(path=str(config.sqlite_path), timeout=SQLITE_BUSY_TIMEOUT_S)
    assert config.dsn is not None
    # No extensions: the application role may not create them, and nothing needs them.
    return ArbitralPostgresEngine(config={"dsn": config.dsn}, extensions=())


def all_tables() -> list[type[Table]]:
    """Every table of the platform plus Piccolo's migration ledger."""
    from arbitral.piccolo_app import APP_CONFIG

    return [*APP_CONFIG.table_classes, Migration]


def bind(engine: Engine[Any]) -> None:
    """Point every table (and Piccolo's own tooling) at ``engine``."""
    # Piccolo's migration machinery finds its configuration module through this variable.
    os.environ["PICCOLO_CONF"] = PICCOLO_CONF
    piccolo_conf.set_engine(engine)
    for table in all_tables():
        table._meta.db = engine


class Database:
    """One database backend: its engine, its pool and its transactions.

    Build it from a :class:`DatabaseConfig`, :meth:`open` it on the event loop
    that will run queries (the pool belongs to that loop) and open a
    :class:`UnitOfWork` per action with :meth:`transaction`.
    """

    def __init__(self, config: DatabaseConfig) -> None:
        self.config = config
        self.engine: Engine[Any] = build_engine(config)
        self._commit_listeners: list[Callable[[UnitOfWork], None]] = []
        self._opened = False
        self.now: Callable[[], datetime] = _utc_now
        """The time rows are stamped with (the runtime's clock, which tests drive)."""

    @property
    def dialect(self) -> str:
        return self.config.dialect

    @property
    def is_postgres(self) -> bool:
        return self.config.dialect == "postgres"

    async def open(self) -> None:
        """Open the pool (PostgreSQL) and bind Piccolo's tables to this engine.

        Opening an open database does nothing. The platform's own statements
        go through :meth:`transaction` and :meth:`fetch`, which always use this
        engine; the global binding serves Piccolo's table API and its
        migration machinery, for the process's one database.
        """
        if self._opened:
            return
        bind(self.engine)
        try:
            if isinstance(self.engine, ArbitralPostgresEngine):
                await self.engine.start_connection_pool(
                    min_size=self.config.pool_min, max_size=self.config.pool_max
                )
                rows = await self.engine.run_ddl("SHOW server_version")
                version = self.engine._parse_raw_version_string(rows[0]["server_version"])
                self.engine.server_version = version
                if version < MIN_POSTGRES_VERSION:
                    raise ConfigError(
                        self.config.variable,
                        f"PostgreSQL {version} is too old; {MIN_POSTGRES_VERSION} or newer needed",
                    )
            else:
                assert self.config.sqlite_path is not None
                self.config.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
                # WAL lets readers run beside the one writer; the setting persists in the file.
                await self.engine.run_ddl("PRAGMA journal_mode=WAL")
        except ConfigError:
            await self._close_pool()
            raise
        except (TimeoutError, OSError) as exc:
            await self._close_pool()
            raise ConfigError(
                self.config.variable, f"cannot connect to {self.config.display}: {first_line(exc)}"
            ) from exc
        except Exception as exc:
            await self._close_pool()
            if _is_database_error(exc):
                raise ConfigError(
                    self.config.variable,
                    f"cannot use {self.config.display}: {first_line(exc)}",
                ) from exc
            raise
        self._opened = True

    async def close(self) -> None:
        await self._close_pool()
        self._opened = False

    async def _close_pool(self) -> None:
        if isinstance(self.engine, PostgresEngine) and self.engine.pool is not None:
            await self.engine.close_connection_pool()

    def transaction(
        self,
        *,
        tenant_id: UUID | None = None,
        outbox_relay: bool = False,
        readonly: bool = False,
    ) -> UnitOfWork:
        """A unit of work: one transaction, its outbox rows, its after-commit hooks.

        ``tenant_id`` scopes it to one tenant (row-level security on PostgreSQL);
        ``outbox_relay`` is for the relay alone (it sees every tenant's jobs);
        ``readonly`` for reads: on SQLite it takes no write lock (``BEGIN
        DEFERRED``), on PostgreSQL the transaction is ``READ ONLY``.
        """
        from arbitral.db.uow import UnitOfWork

        return UnitOfWork(self, tenant_id=tenant_id, outbox_relay=outbox_relay, readonly=readonly)

    def add_commit_listener(self, listener: Callable[[UnitOfWork], None]) -> None:
        """Call ``listener(uow)`` after every committed unit of work."""
        self._commit_listeners.append(listener)

    def notify_committed(self, uow: UnitOfWork) -> None:
        for listener in self._commit_listeners:
            listener(uow)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Run a raw query outside any unit of work (health checks, tooling)."""
        rows = await self.engine.run_querystring(_querystring(sql, args), in_pool=True)
        return [dict(row) for row in rows or []]


def _querystring(sql: str, args: tuple[Any, ...]) -> Any:
    from piccolo.querystring import QueryString

    return QueryString(sql, *args)


def _is_database_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("asyncpg", "sqlite3", "aiosqlite"))


def _utc_now() -> datetime:
    return datetime.now(UTC)
