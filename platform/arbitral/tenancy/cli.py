"""``arbitral tenants list|show|sync``: the commissions defined in ``tenants/*.toml``.

The group is :data:`command`. It imports :mod:`arbitral.cli` only when a
command runs, so ``arbitral.cli`` may import this module at any point.
"""

from __future__ import annotations

import asyncio
import functools
import getpass
import sys
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

import click

from arbitral.tenancy.domain import InvalidTenantFiles

if TYPE_CHECKING:
    from arbitral.db.engine import Database
    from arbitral.settings import Settings
    from arbitral.tenancy.services import SyncReport, TenantRecord, TenantRevisionRecord

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

EXIT_INVALID = 2
EXIT_NOT_FOUND = 1
EXIT_CONFLICT = 1


def _reports_config_errors(fn: F) -> F:
    """:func:`arbitral.cli.reports_config_errors`, looked up when the command runs."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from arbitral.cli import reports_config_errors

        return reports_config_errors(fn)(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    from arbitral.cli import load_settings

    return load_settings()


def _run(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Open the database, check it is migrated, run ``work`` and close it."""
    from arbitral.db.engine import Database
    from arbitral.db.migrate import migration_state
    from arbitral.settings import ConfigError

    async def main() -> T:
        db = Database(settings.database)
        await db.open()
        try:
            state = await migration_state(db)
            if state.pending:
                raise ConfigError(
                    settings.database.variable,
                    f"{settings.database.display}: {len(state.pending)} migration(s) pending; "
                    "run 'arbitral migrate' first",
                )
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(main())


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns aligned on screen, counting CJK characters as two columns wide."""
    widths = [max(_width(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(cells)]
        return "  ".join(padded).rstrip()

    return [line(headers), *(line(row) for row in rows)]


@click.group("tenants")
def command() -> None:
    """Tenants: the arbitration commissions defined in tenants/*.toml.

    The directory is ARBITRAL_TENANTS_DIR (default ./tenants). The database
    must be migrated first (arbitral migrate).
    """


@command.command("list")
@_reports_config_errors
def list_command() -> None:
    """List the tenants in the database: slug, names, hosts, revision, active."""
    from arbitral.tenancy.services import list_tenants

    tenants = _run(_settings(), list_tenants)
    if not tenants:
        click.echo("no tenants yet; load them with 'arbitral tenants sync'")
        return
    rows = [
        [
            t.slug,
            f"{t.names.zh} / {t.names.en}",
            ", ".join(t.hosts),
            str(t.revision),
            "yes" if t.active else "no",
        ]
        for t in tenants
    ]
    for text in _table(["SLUG", "NAMES", "HOSTS", "REVISION", "ACTIVE"], rows):
        click.echo(text)


@command.command("show")
@click.argument("slug")
@_reports_config_errors
def show_command(slug: str) -> None:
    """Show every field of tenant SLUG and its revision history."""
    from arbitral.tenancy.services import get_tenant, list_tenants, tenant_revisions

    async def work(
        db: Database,
    ) -> tuple[TenantRecord | None, list[TenantRevisionRecord], list[str]]:
        tenant = await get_tenant(db, slug)
        if tenant is None:
            return None, [], [t.slug for t in await list_tenants(db)]
        return tenant, await tenant_revisions(db, tenant.id), []

    tenant, revisions, known = _run(_settings(), work)
    if tenant is None:
        hint = f" (known: {', '.join(known)})" if known else " (none are loaded yet)"
        click.echo(f"error: no tenant {slug!r}{hint}", err=True)
        sys.exit(EXIT_NOT_FOUND)
    for text in _describe(tenant, revisions):
        click.echo(text)


def _describe(tenant: TenantRecord, revisions: Sequence[TenantRevisionRecord]) -> list[str]:
    def mapping(value: Any) -> str:
        if value is None:
            return "-"
        return ", ".join(
            f"{k}={', '.join(v) if isinstance(v, tuple) else v}"
            for k, v in sorted(value.items())
            if v is not None
        )

    zone = ZoneInfo(tenant.time_zone)

    def when(instant: datetime) -> str:
        return instant.astimezone(zone).isoformat(timespec="seconds")

    fields = [
        ("slug", tenant.slug),
        ("id", str(tenant.id)),
        ("name (zh)", tenant.names.zh),
        ("name (en)", tenant.names.en),
        ("hosts", ", ".join(tenant.hosts)),
        ("time zone", tenant.time_zone),
        ("locale", tenant.locale),
        ("rule set", f"{tenant.rule_set} {tenant.rule_set_version}"),
        ("case numbers", tenant.case_number_format),
        ("branding", mapping(tenant.branding)),
        ("retention", f"{tenant.retention_years} years"),
        ("keys", mapping(tenant.key_refs)),
        ("oidc", mapping(tenant.oidc)),
        ("revision", str(tenant.revision)),
        ("sha256", tenant.document_sha256),
        ("active", "yes" if tenant.active else "no"),
        ("created", when(tenant.created_at)),
        ("updated", when(tenant.updated_at)),
    ]
    label_width = max(len(label) for label, _ in fields)
    lines = [f"{label + ':':<{label_width + 1}} {value}" for label, value in fields]
    lines += ["", "revisions:"]
    lines += _table(
        ["REVISION", "SYNCED AT", "BY", "SOURCE", "SHA256"],
        [
            [
                str(r.revision),
                when(r.synced_at),
                r.synced_by,
                r.source,
                r.document_sha256[:16],
            ]
            for r in revisions
        ],
    )
    return lines


@command.command("sync")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="The tenant files' directory (default: ARBITRAL_TENANTS_DIR or ./tenants).",
)
@_reports_config_errors
def sync_command(directory: Path | None) -> None:
    """Validate every tenant file, then load them into the database.

    Any problem in any file: one line per problem (file: key: problem), exit
    code 2 and nothing written. Otherwise prints, per tenant, whether it was
    created, updated, unchanged, reactivated or deactivated (its file is gone).
    """
    from arbitral.audit.services import Actor
    from arbitral.settings import ConfigError
    from arbitral.tenancy.services import (
        SyncConflict,
        display_path,
        load_tenant_files,
        sync_tenants,
    )

    settings = _settings()
    variable = "--dir" if directory is not None else "ARBITRAL_TENANTS_DIR"
    root = directory if directory is not None else settings.tenants_dir
    shown = display_path(root)
    if not root.is_dir():
        raise ConfigError(variable, f"{shown} is not a directory")
    try:
        files = load_tenant_files(root)
    except InvalidTenantFiles as exc:
        for text in exc.lines:
            click.echo(text, err=True)
        count = len(exc.errors)
        click.echo(
            f"error: {count} problem{'s' if count != 1 else ''} in the tenant files; "
            "nothing was written",
            err=True,
        )
        sys.exit(EXIT_INVALID)
    if not files:
        raise ConfigError(
            variable, f"{shown} holds no tenant files (*.toml); refusing to deactivate every tenant"
        )
    actor = Actor("operator", _operator())
    from arbitral.runtime import load_rules
    from arbitral.tenancy.services import check_rule_sets

    rules = load_rules(settings)
    try:
        check_rule_sets(files, rules)
    except InvalidTenantFiles as exc:
        for text in exc.lines:
            click.echo(text, err=True)
        click.echo(
            "error: the tenant files adopt rule sets that cannot be adopted; nothing was written",
            err=True,
        )
        sys.exit(EXIT_INVALID)

    async def work(db: Database) -> SyncReport:
        return await sync_tenants(db, files, actor=actor, directory=shown, rules=rules)

    try:
        report = _run(settings, work)
    except SyncConflict as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFLICT)
    width = max(len(r.slug) for r in report.results)
    for result in report.results:
        where = f"  ({result.source})" if result.source else ""
        click.echo(
            f"{result.slug:<{width}}  {result.status:<11}  revision {result.revision}{where}"
        )


def _operator() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment (a container)
        return "unknown"
