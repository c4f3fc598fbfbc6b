"""Readiness checks of the three backends, shared by ``/health/ready`` and ``arbitral check``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio.to_thread

from arbitral.db.migrate import migration_state
from arbitral.errors import first_line
from arbitral.settings import BrokerConfig, ConfigError
from arbitral.storage.errors import StorageError

if TYPE_CHECKING:
    from dramatiq import Broker

    from arbitral.db.engine import Database
    from arbitral.runtime import Runtime
    from arbitral.storage.interfaces import ObjectStore

CHECK_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    variable: str

    def line(self) -> str:
        status = "OK" if self.ok else "FAIL"
        return f"{self.name:<9} {status:<5} {self.detail}"


async def check_database(db: Database) -> CheckResult:
    variable = db.config.variable
    try:
        await db.open()
        state = await migration_state(db)
        migrations = f"migrations {len(state.applied)}/{state.total}"
        if db.is_postgres:
            rows = await db.fetch(
                "SELECT current_setting('server_version') AS version, current_user AS role, "
                "current_database() AS db, r.rolsuper AS superuser, "
                "r.rolbypassrls AS bypassrls, "
                "(SELECT count(*) FROM pg_tables t WHERE t.tableowner = current_user "
                " AND t.schemaname NOT IN ('pg_catalog', 'information_schema')) AS owned "
                "FROM pg_roles r WHERE r.rolname = current_user"
            )
            info = rows[0]
            where = f"postgresql {info['version']}, database {info['db']} as role {info['role']}"
            privileged = []
            if info["superuser"]:
                privileged.append("is a superuser")
            if info["bypassrls"]:
                privileged.append("has BYPASSRLS")
            if int(info["owned"]):
                privileged.append(f"owns {info['owned']} tables")
            if privileged:
                return CheckResult(
                    "database",
                    False,
                    f"{variable}: role {info['role']} {', '.join(privileged)}, so row-level "
                    "security would not bind it; connect as the application role "
                    "(see 'arbitral db provision')",
                    variable,
                )
            where += " (not owner, no BYPASSRLS)"
        else:
            rows = await db.fetch("SELECT sqlite_version() AS version")
            where = f"sqlite {rows[0]['version']} at {db.config.sqlite_path}"
        if state.pending:
            return CheckResult(
                "database",
                False,
                f"{variable}: {where}: {len(state.pending)} migration(s) pending; "
                "run 'arbitral migrate'",
                variable,
            )
        if state.unknown:
            # A newer release has migrated (a rolling deploy): migrations are safe for the
            # running version, so this one keeps serving until it is replaced.
            migrations += f" (+{len(state.unknown)} from a newer release)"
        return CheckResult("database", True, f"{where}, {migrations}", variable)
    except ConfigError as exc:
        return CheckResult("database", False, str(exc), variable)
    except Exception as exc:
        return CheckResult(
            "database", False, f"{variable}: {db.config.display}: {first_line(exc)}", variable
        )


async def check_storage(store: ObjectStore, variable: str) -> CheckResult:
    try:
        detail = await store.check()
    except StorageError as exc:
        return CheckResult("storage", False, f"{variable}: {exc}", variable)
    return CheckResult("storage", True, detail, variable)


async def check_broker(
    config: BrokerConfig, broker: Broker, *, worker_running: bool | None = None
) -> CheckResult:
    variable = config.variable
    try:
        detail = await anyio.to_thread.run_sync(probe_broker, config, broker)
    except Exception as exc:
        return CheckResult(
            "broker", False, f"{variable}: {config.display}: {first_line(exc)}", variable
        )
    if config.kind == "inprocess" and worker_running is False:
        return CheckResult("broker", False, f"{detail}: the worker is not running", variable)
    return CheckResult("broker", True, detail, variable)


def probe_broker(config: BrokerConfig, broker: Broker) -> str:
    if config.kind == "inprocess":
        return f"in-process broker, {len(broker.actors)} jobs declared"
    parts = urlsplit(config.client_url)
    where = f"{parts.hostname}:{parts.port or (6379 if config.kind == 'redis' else 5672)}"
    if config.kind == "redis":
        client: Any = broker.client  # type: ignore[attr-defined]
        client.ping()
        version = client.info("server").get("redis_version", "?")
        db = parts.path.lstrip("/") or "0"
        return f"redis {version} at {where}/{db}, namespace {config.namespace}"
    import pika

    params = pika.URLParameters(config.client_url)
    params.socket_timeout = 5
    params.blocked_connection_timeout = 5
    connection = pika.BlockingConnection(params)
    try:
        props = connection._impl.server_properties
        product = props.get("product", b"AMQP")
        version = props.get("version", b"?")
        if isinstance(product, bytes):
            product = product.decode()
        if isinstance(version, bytes):
            version = version.decode()
        return f"{product} {version} at {where}, vhost {params.virtual_host}"
    finally:
        connection.close()


async def check_all(runtime: Runtime, *, worker_running: bool | None = None) -> list[CheckResult]:
    settings = runtime.settings

    async def bounded(name: str, variable: str, coro: Any) -> CheckResult:
        try:
            result: CheckResult = await asyncio.wait_for(coro, CHECK_TIMEOUT_S)
            return result
        except TimeoutError:
            return CheckResult(
                name, False, f"{variable}: no answer within {CHECK_TIMEOUT_S:.0f} s", variable
            )

    return list(
        await asyncio.gather(
            bounded("database", settings.database.variable, check_database(runtime.db)),
            bounded(
                "storage",
                settings.storage.variable,
                check_storage(runtime.store, settings.storage.variable),
            ),
            bounded(
                "broker",
                settings.broker.variable,
                check_broker(settings.broker, runtime.broker, worker_running=worker_running),
            ),
        )
    )
