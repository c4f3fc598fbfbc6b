"""The ``arbitral`` command (also ``python -m arbitral``)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import importlib
import socket
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from arbitral import __version__
from arbitral.errors import first_line
from arbitral.settings import ConfigError, Settings

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CONFIG = 2


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_CONFIG)


def reports_config_errors(fn: F) -> F:
    """Turn a :class:`ConfigError` into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def load_settings() -> Settings:
    """The settings, with logging set up from them (records go to stderr, never stdout)."""
    from arbitral.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    return settings


class LazyGroup(click.Group):
    """A group whose subcommands named in ``lazy`` are imported only when used."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command


@click.group(
    cls=LazyGroup,
    lazy={
        "tenants": "arbitral.tenancy.cli:command",
        "keys": "arbitral.keys.cli:command",
        "users": "arbitral.identity.cli:command",
        "platform-admins": "arbitral.auth.cli:command",
        "rules": "arbitral.rules.cli:command",
        "ledger": "arbitral.ledger.cli:command",
        "evidence": "arbitral.custody.cli:command",
        "payments": "arbitral.payments.cli:command",
        "service": "arbitral.service.cli:command",
        "document": "arbitral.documents.cli:command",
        "fairness": "arbitral.fairness.cli:command",
        "webhooks": "arbitral.webhooks.cli:command",
        "batch": "arbitral.batches.cli:command",
    },
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="arbitral")
def main() -> None:
    """Arbitral: the online arbitration platform.

    Configuration comes from ARBITRAL_* environment variables (see the README).
    With none set, everything runs embedded: SQLite and local object storage
    under ./var, and jobs in-process.
    """


# -- serving -------------------------------------------------------------------


@main.command()
@click.option("--host", help="Interface to listen on (default: ARBITRAL_HTTP_HOST or 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: ARBITRAL_HTTP_PORT or 8000).")
@reports_config_errors
def demo(host: str | None, port: int | None) -> None:
    """Run the demo: migrate, load the example data and serve with an in-process worker.

    Uses the embedded default unless ARBITRAL_* variables say otherwise. Data
    persists under ARBITRAL_DATA_DIR (./var), so a second run reuses it.
    Stop with Ctrl-C.
    """
    settings = _with_address(load_settings(), host, port)
    _check_port_free(settings)
    applied = asyncio.run(_migrate(settings))
    if applied:
        click.echo(f"Applied {len(applied)} migration(s) to {settings.database.display}")
    accounts = asyncio.run(_prepare_demo(settings))
    from arbitral.demo import banner_lines
    from arbitral.payments import sandbox

    with sandbox.demo_sandbox(settings) as settings:  # the fees are paid on the sandbox
        banner = banner_lines(accounts, settings.public_url) + sandbox.banner_lines(settings)
        _serve(settings, banner=banner)


async def _prepare_demo(settings: Settings) -> Any:
    from arbitral.demo import prepare_demo
    from arbitral.runtime import build_runtime

    runtime = build_runtime(settings)
    await runtime.open()
    try:
        return await prepare_demo(runtime)
    finally:
        await runtime.close()


@main.command()
@click.option("--host", help="Interface to listen on (default: ARBITRAL_HTTP_HOST or 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: ARBITRAL_HTTP_PORT or 8000).")
@reports_config_errors
def serve(host: str | None, port: int | None) -> None:
    """Serve the web app and API (with in-process jobs when the broker is in-process).

    Refuses to start when a backend is unusable or migrations are pending.
    """
    settings = _with_address(load_settings(), host, port)
    _check_port_free(settings)
    results = asyncio.run(_preflight(settings))
    failed = [r for r in results if not r.ok]
    if failed:
        _fail(failed[0].detail)
    _serve(settings, banner=None)


def _with_address(settings: Settings, host: str | None, port: int | None) -> Settings:
    changes: dict[str, Any] = {}
    if host:
        changes["http_host"] = host
    if port:
        if not 1 <= port <= 65535:
            raise ConfigError("--port", "must be between 1 and 65535")
        changes["http_port"] = port
    if changes and settings.public_url == f"http://{settings.http_host}:{settings.http_port}":
        changes["public_url"] = (
            f"http://{changes.get('http_host', settings.http_host)}:"
            f"{changes.get('http_port', settings.http_port)}"
        )
    return settings.with_overrides(**changes) if changes else settings


def _check_port_free(settings: Settings) -> None:
    with socket.socket(socket.AF_INET6 if ":" in settings.http_host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((settings.http_host, settings.http_port))
        except OSError as exc:
            reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used: {exc}"
            raise ConfigError(
                "ARBITRAL_HTTP_PORT",
                f"{settings.http_host}:{settings.http_port} {reason}",
            ) from None


def _serve(settings: Settings, *, banner: list[str] | None) -> None:
    import uvicorn

    from arbitral.app import create_app

    app = create_app(settings)
    if banner is not None:
        url = settings.public_url
        click.echo(
            "\n".join(
                [
                    "",
                    f"  Arbitral {__version__} demo",
                    f"  URL:       {url}/",
                    f"  API docs:  {url}/schema  (OpenAPI: {url}/schema/openapi.json)",
                    f"  Health:    {url}/health/ready",
                    f"  Data:      {settings.data_dir}",
                    *banner,
                    "  Stop:      Ctrl-C",
                    "",
                ]
            )
        )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=False,
            lifespan="on",
            # X-Forwarded-For is believed from these peers only: the client address is what
            # per-address login limits and the audit trail record.
            proxy_headers=True,
            forwarded_allow_ips=list(settings.trusted_proxies),
            server_header=False,
        )
    )
    # uvicorn shuts down gracefully on Ctrl-C, then re-raises it: that is a clean stop.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        _fail("the web server did not start; see the log above")


# -- jobs ----------------------------------------------------------------------


@main.command()
@click.option("--threads", type=click.IntRange(1, 256), help="Worker threads (default: 4).")
@click.option("--queue", "queues", multiple=True, help="Consume only this queue (repeatable).")
@click.option(
    "--module",
    "modules",
    multiple=True,
    help="Also import this module's jobs (plugins; repeatable).",
)
@reports_config_errors
def worker(threads: int | None, queues: tuple[str, ...], modules: tuple[str, ...]) -> None:
    """Run a Dramatiq worker process against the Redis or RabbitMQ broker.

    Run as many as the load needs, on as many machines; stop with SIGTERM
    (jobs in progress finish, unstarted ones go back to the broker).
    """
    from arbitral.jobs.worker import run_worker_process

    settings = load_settings()
    run_worker_process(settings, job_modules=modules, threads=threads, queues=set(queues) or None)


# -- database ------------------------------------------------------------------


@main.command()
@click.option("--check", "check_only", is_flag=True, help="Only report; exit 1 if any are pending.")
@reports_config_errors
def migrate(check_only: bool) -> None:
    """Apply pending database migrations (as ARBITRAL_MIGRATION_DATABASE_URL's role)."""
    settings = load_settings()
    if check_only:
        pending = asyncio.run(_pending(settings))
        if pending:
            click.echo(f"{len(pending)} migration(s) pending: {', '.join(pending)}")
            sys.exit(1)
        click.echo("no migrations pending")
        return
    applied = asyncio.run(_migrate(settings))
    if applied:
        for migration_id in applied:
            click.echo(f"applied {migration_id}")
    else:
        click.echo("no migrations pending")


async def _migrate(settings: Settings) -> list[str]:
    from arbitral.db.engine import Database
    from arbitral.db.migrate import migrate as run_migrations

    db = Database(settings.migration_database)
    await db.open()
    try:
        return await run_migrations(db)
    except Exception as exc:
        if type(exc).__module__.startswith(("asyncpg", "sqlite3")):
            variable = settings.migration_database.variable
            hint = (
                "; migrations run as the owner role (ARBITRAL_MIGRATION_DATABASE_URL)"
                if "permission denied" in str(exc) or "must be owner" in str(exc)
                else ""
            )
            raise ConfigError(
                variable, f"{settings.migration_database.display}: {first_line(exc)}{hint}"
            ) from None
        raise
    finally:
        await db.close()


async def _pending(settings: Settings) -> list[str]:
    from arbitral.db.engine import Database
    from arbitral.db.migrate import migration_state

    db = Database(settings.migration_database)
    await db.open()
    try:
        return (await migration_state(db)).pending
    finally:
        await db.close()


@main.group()
def db() -> None:
    """Database administration."""


@db.command("provision")
@click.option(
    "--superuser-url",
    required=True,
    help="A superuser connection, e.g. postgresql://postgres@127.0.0.1:5432/postgres.",
)
@click.option("--database", default="arbitral", show_default=True)
@click.option("--owner", default="arbitral_owner", show_default=True, help="Owner role.")
@click.option("--app-role", default="arbitral_app", show_default=True, help="Application role.")
@click.option("--owner-password", envvar="PGOWNER_PASSWORD", help="Or $PGOWNER_PASSWORD.")
@click.option("--app-password", envvar="PGAPP_PASSWORD", help="Or $PGAPP_PASSWORD.")
def db_provision(
    superuser_url: str,
    database: str,
    owner: str,
    app_role: str,
    owner_password: str | None,
    app_password: str | None,
) -> None:
    """Create the PostgreSQL database with an owner role and a non-owner application role.

    Safe to run again. Prints the two URLs to set as ARBITRAL_MIGRATION_DATABASE_URL
    (owner) and ARBITRAL_DATABASE_URL (application).
    """
    from arbitral.db.provision import provision_postgres

    try:
        result = asyncio.run(
            provision_postgres(
                superuser_url,
                database=database,
                owner=owner,
                app_role=app_role,
                owner_password=owner_password,
                app_password=app_password,
            )
        )
    except ValueError as exc:
        _fail(str(exc))
    except (OSError, Exception) as exc:  # asyncpg errors carry the server's message
        _fail(f"--superuser-url: {str(exc).strip().splitlines()[0] if str(exc) else exc!r}")
    if result.created_roles:
        click.echo(f"created roles: {', '.join(result.created_roles)}")
    click.echo(f"{'created' if result.created_database else 'kept'} database {database}")
    click.echo(f"ARBITRAL_MIGRATION_DATABASE_URL={result.owner_url}")
    click.echo(f"ARBITRAL_DATABASE_URL={result.app_url}")


# -- operations ----------------------------------------------------------------


@main.command()
@reports_config_errors
def check() -> None:
    """Connect to the database, object store and broker; print one line for each.

    Exits 2 if any of them fails.
    """
    settings = load_settings()
    results = asyncio.run(_preflight(settings))
    for result in results:
        click.echo(result.line())
    if not all(r.ok for r in results):
        sys.exit(EXIT_CONFIG)


async def _preflight(settings: Settings) -> list[Any]:
    from arbitral.health.services import check_all
    from arbitral.runtime import build_runtime

    runtime = build_runtime(settings)
    try:
        return await check_all(runtime)
    finally:
        await runtime.close()


# Each benchmark is a click command in arbitral.bench, imported only when asked for.
BENCHMARKS = {
    "storage": "arbitral.bench.storage:command",
    "auth": "arbitral.bench.auth:command",
    "custody": "arbitral.bench.custody:command",
    "filing": "arbitral.bench.filing:command",
    "documents": "arbitral.bench.documents:command",
    "awards": "arbitral.bench.awards:command",
    "batch": "arbitral.bench.batch:command",
}


@main.group(cls=LazyGroup, lazy=BENCHMARKS)
def bench() -> None:
    """Benchmarks: each prints its figures beside a baseline measured in the same run."""


if __name__ == "__main__":  # pragma: no cover
    main()
