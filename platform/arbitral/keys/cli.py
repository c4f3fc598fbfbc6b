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
from arbitral.keys.documents import DocumentKeys, DocumentSignerInfo, trust_anchors
from arbitral.keys.domain import PURPOSES
from arbitral.keys.services import KeyInfo, KeyRing, list_keys, resolve_key_encryption_key
from arbitral.keys.x509 import DOCUMENTS, DocumentSignerError, to_pem
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
    click.echo(f"{'KID':<43}  {'PURPOSE':<11}  {'ALGORITHM':<9}  {'CREATED':<25}  RETIRED")
    for info in infos:
        retired = _when(info.retired_at, zone) if info.retired_at else "-"
        click.echo(
            f"{info.kid:<43}  {info.purpose:<11}  {info.algorithm:<9}  "
            f"{_when(info.created_at, zone):<25}  {retired}"
        )


@command.command("rotate")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@click.option(
    "--purpose",
    required=True,
    type=click.Choice([*PURPOSES, DOCUMENTS]),
    help="Which key to rotate (documents: a new certificate from the development CA).",
)
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
        if purpose == DOCUMENTS:
            info = await _document_errors(
                _database_errors(db, DocumentKeys(db, kek).rotate(tenant_id, actor=actor))
            )
            return info.retired_kid, info.kid
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


# -- document signers ----------------------------------------------------------------

PASSPHRASE_VARIABLE = "PKCS12_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)


@command.command("issue-document-signer")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@_reports_config_errors
def issue_document_signer(slug: str) -> None:
    """Issue the commission's document-signing certificate from its development CA.

    Makes the CA (ECDSA P-256, its key sealed like the others) the first
    time; each run issues a new signing key and certificate and retires the
    previous one (audited). For production, import a real chain instead.
    """
    settings = _load_settings()
    kek = resolve_key_encryption_key(settings)
    info = asyncio.run(_issue(settings, kek, slug, operator()))
    _echo_signer(slug, info)


@command.command("import-document-signer")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@click.option(
    "--pkcs12",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, readable=True),
    help="A PKCS#12 (.p12/.pfx) file: the signing key, its certificate and the chain to the root.",
)
@click.option(
    "--passphrase-env",
    default=PASSPHRASE_VARIABLE,
    show_default=True,
    help="The environment variable holding the file's passphrase (asked for if unset).",
)
@_reports_config_errors
def import_document_signer(slug: str, path: str, passphrase_env: str) -> None:
    """Install a real document-signing key and chain from a PKCS#12 file (audited).

    The key is sealed under ARBITRAL_KEY_ENCRYPTION_KEY, the chain stored;
    the previous signer is retired (what it signed still verifies).
    """
    settings = _load_settings()
    kek = resolve_key_encryption_key(settings)
    data = _read(path)
    passphrase = os.environ.get(passphrase_env)
    if passphrase is None:
        passphrase = click.prompt(
            f"passphrase of {path} (empty if none)",
            hide_input=True,
            default="",
            show_default=False,
            err=True,
        )
    info = asyncio.run(_import(settings, kek, slug, data, passphrase.encode("utf-8"), operator()))
    _echo_signer(slug, info)


@command.command("document-ca")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@_reports_config_errors
def document_ca(slug: str) -> None:
    """Print the commission's document CA certificates (PEM), to verify its PDFs offline.

    Every root the commission has signed under, current and retired:
    `arbitral document verify FILE.pdf --trust ca.pem`.
    """
    settings = _load_settings()
    anchors = asyncio.run(_anchors(settings, slug))
    if not anchors:
        raise ConfigError(
            "--tenant",
            f"tenant {slug} has no document signer yet "
            f"(arbitral keys issue-document-signer --tenant {slug})",
        )
    click.echo(to_pem(anchors), nl=False)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ConfigError("--pkcs12", f"cannot read {path}: {exc.strerror}") from None


def _echo_signer(slug: str, info: DocumentSignerInfo) -> None:
    retired = f" (retired {info.retired_kid})" if info.retired_kid else ""
    click.echo(f"document signer of {slug}: {info.kid}{retired}")
    click.echo(f"  origin       {info.origin}")
    click.echo(f"  algorithm    {info.algorithm}")
    click.echo(f"  subject      {info.subject}")
    click.echo(f"  issuer       {info.issuer}")
    click.echo(f"  sha-256      {info.fingerprint_sha256}")
    click.echo(f"  valid until  {info.not_after.isoformat()}")


async def _document_errors(awaitable: Awaitable[T]) -> T:
    try:
        return await awaitable
    except DocumentSignerError as exc:
        raise ConfigError("document signer", str(exc)) from None


async def _issue(settings: Settings, kek: bytes, slug: str, actor: Actor) -> DocumentSignerInfo:
    db = Database(settings.database)
    await db.open()
    try:
        tenant_id, _ = await _tenant(db, slug)
        keys = DocumentKeys(db, kek)
        return await _document_errors(
            _database_errors(db, keys.issue_development(tenant_id, actor=actor))
        )
    finally:
        await db.close()


async def _import(
    settings: Settings, kek: bytes, slug: str, data: bytes, passphrase: bytes, actor: Actor
) -> DocumentSignerInfo:
    db = Database(settings.database)
    await db.open()
    try:
        tenant_id, _ = await _tenant(db, slug)
        keys = DocumentKeys(db, kek)
        return await _document_errors(
            _database_errors(db, keys.import_pkcs12(tenant_id, data, passphrase, actor=actor))
        )
    finally:
        await db.close()


async def _anchors(settings: Settings, slug: str) -> list[Any]:
    db = Database(settings.database)
    await db.open()
    try:
        tenant_id, _ = await _tenant(db, slug)
        return await _database_errors(db, trust_anchors(db, tenant_id))
    finally:
        await db.close()
