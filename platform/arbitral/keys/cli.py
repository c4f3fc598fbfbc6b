"""``arbitral keys``: list and rotate a tenant's signing keys."""

from __future__ import annotations

import asyncio
import functools
import getpass
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, tzinfo
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from arbitral.audit.services import Actor
from arbitral.db.engine import Database
from arbitral.errors import first_line
from arbitral.keys.domain import PURPOSES
from arbitral.keys.services import KeyInfo, KeyRing, list_keys, resolve_key_encryption_key
from arbitral.settings import ConfigError, Settings

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _reports_config_errors(fn: F) -> F:
    """:func:`arbitral.cli.reports_config_errors`, looked up when the command runs.

    ``arbitral.cli`` imports this module to add the group, so this module
    does not import it at import time.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from arbitral.cli import reports_config_errors

        return reports_config_errors(fn)(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _load_settings() -> Settings:
    from arbitral.cli import load_settings

    return load_settings()


def operator() -> Actor:
    """The operator running the command, by their login name on this machine."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        name = f"uid:{os.getuid()}"
    return Actor("operator", name)


@click.group("keys")
def command() -> None:
    """Tenants' signing keys (Ed25519, sealed under ARBITRAL_KEY_ENCRYPTION_KEY).

    Keys are made on first use; rotation retires the signing key of a purpose
    (it stays published for verification) and makes a new one.
    """


@command.command("list")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@_reports_config_errors
def list_command(slug: str) -> None:
    """List a tenant's keys: kid, purpose, algorithm, created, retired."""
    settings = _load_settings()
    zone, infos = asyncio.run(_list(settings, slug))
    if not infos:
        click.echo(f"tenant {slug} has no keys yet (each purpose gets one on first use)")
        return
    click.echo(f"{'KID':<43}  {'PURPOSE':<7}  {'ALGORITHM':<9}  {'CREATED':<25}  RETIRED")
    for info in infos:
        retired = _when(info.retired_at, zone) if info.retired_at else "-"
        click.echo(
            f"{info.kid:<43}  {info.purpose:<7}  {info.algorithm:<9}  "
            f"{_when(info.created_at, zone):<25}  {retired}"
        )


@command.command("rotate")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@click.option("--purpose", required=True, type=click.Choice(PURPOSES), help="Which key to rotate.")
@_reports_config_errors
def rotate_command(slug: str, purpose: str) -> None:
    """Make a new signing key for PURPOSE and retire the old one (audited).

    The retired key stays in the tenant's JWKS so that what it signed still
    verifies.
    """
    settings = _load_settings()
    kek = resolve_key_encryption_key(settings)
    old, new = asyncio.run(_rotate(settings, kek, slug, purpose, operator()))
    click.echo(
        f"rotated the {purpose} key of {slug}: {old or '(none)'} -> {new} "
        "(the old key stays published for verification)"
    )


def _when(moment: datetime, zone: tzinfo) -> str:
    """An instant in the tenant's time zone, with its offset."""
    return moment.astimezone(zone).isoformat(sep=" ", timespec="seconds")


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


async def _list(settings: Settings, slug: str) -> tuple[tzinfo, list[KeyInfo]]:
    db = Database(settings.database)
    await db.open()
    try:
        tenant_id, zone = await _tenant(db, slug)
        return zone, await _database_errors(db, list_keys(db, tenant_id))
    finally:
        await db.close()


async def _rotate(
    settings: Settings, kek: bytes, slug: str, purpose: str, actor: Actor
) -> tuple[str | None, str]:
    db = Database(settings.database)
    await db.open()
    try:
        tenant_id, _ = await _tenant(db, slug)
        ring = KeyRing(db, kek)
        rotation = await _database_errors(db, ring.rotate_detailed(tenant_id, purpose, actor=actor))
        return rotation.retired_kid, rotation.new.kid
    finally:
        await db.close()


async def _tenant(db: Database, slug: str) -> tuple[UUID, tzinfo]:
    """The id and time zone of the tenant ``slug`` (a platform table: no tenant needed)."""
    rows = await _database_errors(
        db, db.fetch("SELECT id, time_zone FROM tenant WHERE slug = {}", slug)
    )
    if not rows:
        raise ConfigError("--tenant", f"no tenant with slug {slug!r}")
    return UUID(str(rows[0]["id"])), _zone(str(rows[0]["time_zone"]))


async def _database_errors(db: Database, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable``; a database error becomes a one-line :class:`ConfigError`."""
    try:
        return await awaitable
    except Exception as exc:
        if type(exc).__module__.startswith(("asyncpg", "sqlite3", "aiosqlite")):
            missing = "no such table" in str(exc) or "does not exist" in str(exc)
            hint = "; is the database migrated (arbitral migrate)?" if missing else ""
            raise ConfigError(
                db.config.variable, f"{db.config.display}: {first_line(exc)}{hint}"
            ) from None
        raise
