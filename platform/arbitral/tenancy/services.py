"""Tenancy use cases: load the tenant files, sync them into the database, resolve tenants.

* :func:`load_tenant_files` reads every ``<slug>.toml`` of a directory and
  validates all of them (syntax, each file, the rules across files), raising
  one :class:`~arbitral.tenancy.domain.InvalidTenantFiles` with every problem.
* :func:`sync_tenants` writes them: a new file makes a tenant (revision 1), a
  changed one a new revision, an unchanged one nothing; a tenant whose file is
  gone is deactivated, never deleted. Each tenant is one transaction, scoped to
  that tenant, holding its row, its revision history and its audit events.
* :class:`TenantDirectory` resolves a request's tenant by host or slug from a
  small in-memory snapshot of the active tenants.
"""

from __future__ import annotations

import json
import re
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from arbitral.audit.services import Actor, record, record_platform
from arbitral.db.engine import Database
from arbitral.db.uow import UnitOfWork
from arbitral.rules.loader import RuleBook
from arbitral.rules.model import UnknownRule
from arbitral.tenancy.domain import (
    InvalidTenantFiles,
    Names,
    TenantFileError,
    TenantSpec,
    document_sha256,
    format_case_number,
    normalise_host,
    parse_tenant,
    validate_all,
)

# -- loading the files ---------------------------------------------------------------


class TenantFile(NamedTuple):
    """One validated tenant file: the spec, the document it came from and where."""

    spec: TenantSpec
    document: dict[str, Any]
    source: str


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, else absolute."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def tenant_file_paths(directory: Path | str) -> list[Path]:
    """The tenant files of ``directory`` (``*.toml``, hidden files ignored), sorted.

    A dangling link is listed (reading it fails loudly); directories are not.
    """
    root = Path(directory)
    return sorted(
        path for path in root.glob("*.toml") if not path.is_dir() and not path.name.startswith(".")
    )


_TOML_POSITION = re.compile(r"\s*\(at (line \d+, column \d+|end of document)\)\s*$")


def _read_document(path: Path, source: str) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidTenantFiles(
            [TenantFileError(source, "(file)", f"cannot read: {exc.strerror}")]
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidTenantFiles(
            [TenantFileError(source, "(file)", f"not UTF-8 text (byte {exc.start})")]
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_POSITION.search(message)
        where = found.group(1) if found else "(file)"
        problem = message[: found.start()] if found else message
        raise InvalidTenantFiles(
            [TenantFileError(source, where, f"TOML syntax: {problem}")]
        ) from None


def load_tenant_files(directory: Path | str) -> list[TenantFile]:
    """Read and validate every tenant file of ``directory``.

    Raises :class:`InvalidTenantFiles` with every problem of every file (TOML
    syntax with its line, each invalid key, clashes between files, missing
    logo files), so one run shows everything to fix. ``FileNotFoundError``
    or ``NotADirectoryError`` if ``directory`` is not a directory.
    """
    root = Path(directory)
    if not root.is_dir():
        if root.exists():
            raise NotADirectoryError(str(root))
        raise FileNotFoundError(str(root))
    errors: list[TenantFileError] = []
    files: list[TenantFile] = []
    for path in tenant_file_paths(root):
        source = display_path(path)
        try:
            document = _read_document(path, source)
            spec = parse_tenant(document, source=source)
        except InvalidTenantFiles as exc:
            errors.extend(exc.errors)
            continue
        if spec.branding.logo is not None:
            logo = root / spec.slug / spec.branding.logo
            if not logo.is_file():
                errors.append(
                    TenantFileError(source, "branding.logo", f"{display_path(logo)} does not exist")
                )
                continue
        files.append(TenantFile(spec, document, source))
    try:
        validate_all([file.spec for file in files])
    except InvalidTenantFiles as exc:
        errors.extend(exc.errors)
    if errors:
        raise InvalidTenantFiles(errors)
    return files


# -- records -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """A tenant row as stored."""

    id: UUID
    slug: str
    names: Names
    hosts: tuple[str, ...]
    time_zone: str
    locale: str
    rule_set: str
    rule_set_version: str
    case_number_format: str
    branding: Mapping[str, Any]
    retention_years: int
    key_refs: Mapping[str, str]
    oidc: Mapping[str, Any] | None
    revision: int
    document_sha256: str
    active: bool
    created_at: datetime
    updated_at: datetime
    batch_automatic_acceptance: bool = False


@dataclass(frozen=True, slots=True)
class TenantRevisionRecord:
    """One synced version of a tenant's definition."""

    tenant_id: UUID
    revision: int
    document: Mapping[str, Any]
    document_sha256: str
    source: str
    synced_at: datetime
    synced_by: str


_TENANT_COLUMNS = (
    "id, slug, name_zh, name_en, hosts, time_zone, locale, rule_set, rule_set_version, "
    "case_number_format, branding, retention_years, key_refs, oidc, revision, "
    "document_sha256, active, created_at, updated_at, batch_automatic_acceptance"
)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _record(row: Mapping[str, Any]) -> TenantRecord:
    oidc = _json(row["oidc"])
    return TenantRecord(
        id=_uuid(row["id"]),
        slug=row["slug"],
        names=Names(zh=row["name_zh"], en=row["name_en"]),
        hosts=tuple(_json(row["hosts"])),
        time_zone=row["time_zone"],
        locale=row["locale"],
        rule_set=row["rule_set"],
        rule_set_version=row["rule_set_version"],
        case_number_format=row["case_number_format"],
        branding=_frozen(_json(row["branding"])),
        retention_years=int(row["retention_years"]),
        key_refs=_frozen(_json(row["key_refs"])),
        oidc=None if oidc is None else _frozen(oidc),
        revision=int(row["revision"]),
        document_sha256=row["document_sha256"],
        active=bool(row["active"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        batch_automatic_acceptance=bool(row["batch_automatic_acceptance"]),
    )


async def _fetch(db: Database, sql: str, *args: Any) -> list[dict[str, Any]]:
    """A read in the running unit of work of ``db`` if there is one, else on its own."""
    uow = UnitOfWork.current()
    if uow is not None and uow.database is db:
        return await uow.fetch(sql, *args)
    return await db.fetch(sql, *args)


async def list_tenants(db: Database, *, active_only: bool = False) -> list[TenantRecord]:
    """Every tenant (or only the active ones), by slug."""
    where = " WHERE active = {}" if active_only else ""
    args: tuple[Any, ...] = (True,) if active_only else ()
    rows = await _fetch(db, f"SELECT {_TENANT_COLUMNS} FROM tenant{where} ORDER BY slug", *args)  # noqa: S608
    return [_record(row) for row in rows]


async def get_tenant(db: Database, slug: str) -> TenantRecord | None:
    """The tenant ``slug`` (active or not), or None."""
    rows = await _fetch(db, f"SELECT {_TENANT_COLUMNS} FROM tenant WHERE slug = {{}}", slug)  # noqa: S608
    return _record(rows[0]) if rows else None


async def tenant_revisions(db: Database, tenant_id: UUID) -> list[TenantRevisionRecord]:
    """The revision history of a tenant, oldest first (read as that tenant)."""
    async with db.transaction(tenant_id=tenant_id) as uow:
        rows = await uow.fetch(
            "SELECT tenant_id, revision, document, document_sha256, source, synced_at, synced_by "
            "FROM tenant_revision WHERE tenant_id = {} ORDER BY revision",
            tenant_id,
        )
    return [
        TenantRevisionRecord(
            tenant_id=_uuid(row["tenant_id"]),
            revision=int(row["revision"]),
            document=_frozen(_json(row["document"])),
            document_sha256=row["document_sha256"],
            source=row["source"],
            synced_at=row["synced_at"],
            synced_by=row["synced_by"],
        )
        for row in rows
    ]


# -- syncing -------------------------------------------------------------------------

SyncStatus = Literal["created", "updated", "unchanged", "reactivated", "deactivated", "inactive"]


@dataclass(frozen=True, slots=True)
class SyncResult:
    slug: str
    status: SyncStatus
    tenant_id: UUID
    revision: int
    source: str | None  # None for a tenant without a file


@dataclass(frozen=True, slots=True)
class SyncReport:
    directory: str
    results: tuple[SyncResult, ...]

    def slugs(self, status: SyncStatus) -> list[str]:
        return [r.slug for r in self.results if r.status == status]

    def status_of(self, slug: str) -> SyncStatus | None:
        return next((r.status for r in self.results if r.slug == slug), None)

    @property
    def changed(self) -> bool:
        return any(r.status not in ("unchanged", "inactive") for r in self.results)


class SyncConflict(RuntimeError):
    """Another sync changed the same tenant at the same time; run the sync again."""


def _actor_name(actor: Actor) -> str:
    return f"{actor.kind}:{actor.id}" if actor.id else actor.kind


def _tenant_values(spec: TenantSpec) -> dict[str, Any]:
    return {
        "name_zh": spec.names.zh,
        "name_en": spec.names.en,
        "hosts": json.dumps(list(spec.hosts), ensure_ascii=False),
        "time_zone": spec.time_zone,
        "locale": spec.locale,
        "rule_set": spec.rule_set.id,
        "rule_set_version": spec.rule_set.version,
        "case_number_format": spec.case_number_format,
        "branding": json.dumps(
            {
                "display_name": spec.branding.display_name,
                "primary_colour": spec.branding.primary_colour,
                "logo": spec.branding.logo,
            },
            ensure_ascii=False,
            sort_keys=True,
        ),
        "retention_years": spec.retention_years,
        "key_refs": json.dumps(dict(spec.key_refs), sort_keys=True),
        "oidc": None if spec.oidc is None else json.dumps(spec.oidc.as_dict(), sort_keys=True),
        "batch_automatic_acceptance": spec.batch_automatic_acceptance,
    }


async def sync_tenants(
    db: Database,
    files: Sequence[TenantFile],
    *,
    actor: Actor,
    directory: Path | str,
    rules: RuleBook,
    cache: TenantDirectory | None = None,
) -> SyncReport:
    """Make the database's tenants match ``files`` (as :func:`load_tenant_files` returns them).

    Per tenant, in one transaction scoped to it: a new slug is created
    (revision 1); a changed document gets the next revision; an unchanged one
    is left alone; an inactive tenant whose file is back is reactivated. Every
    active tenant without a file is deactivated (never deleted). Each change
    writes the tenant row, a ``tenant_revision`` row with the whole document
    (when the document changed), a platform audit event
    (``tenant.created|updated|reactivated|deactivated``) and an event in the
    tenant's own trail (``tenant.synced`` or ``tenant.deactivated``).

    ``files`` must not be empty: an empty directory would deactivate every tenant.
    ``cache`` (a :class:`TenantDirectory`) is refreshed when anything changed.
    Each tenant must adopt a rule set version that exists in ``rules`` and is
    published (not a draft).
    """
    if not files:
        raise ValueError("no tenant files given; refusing to deactivate every tenant")
    validate_all([file.spec for file in files])
    check_rule_sets(files, rules)
    where = str(directory)
    results: list[SyncResult] = []
    for file in sorted(files, key=lambda f: f.spec.slug):
        results.append(await _sync_retrying(db, file, actor=actor, directory=where))
    present = {file.spec.slug for file in files}
    for tenant in await list_tenants(db):
        if tenant.slug in present:
            continue
        if not tenant.active:
            results.append(SyncResult(tenant.slug, "inactive", tenant.id, tenant.revision, None))
            continue
        results.append(await _deactivate(db, tenant, actor=actor, directory=where))
    report = SyncReport(directory=where, results=tuple(results))
    if cache is not None and report.changed:
        await cache.refresh()
    return report


def check_rule_sets(files: Sequence[TenantFile], rules: RuleBook) -> None:
    """Raise :class:`InvalidTenantFiles` unless every file adopts a published rule set version."""
    problems = []
    for file in files:
        ref = file.spec.rule_set
        try:
            rules.check_adoptable(ref.id, ref.version)
        except UnknownRule as exc:
            problems.append(TenantFileError(file.source, "rule_set", str(exc)))
    if problems:
        raise InvalidTenantFiles(problems)


class _Stale(Exception):
    """The tenant changed between the first look and the locked read."""


SYNC_ATTEMPTS = 3


def _is_unique_violation(exc: BaseException) -> bool:
    """A concurrent sync inserted the same slug first (PostgreSQL 23505, SQLite UNIQUE)."""
    if getattr(exc, "sqlstate", None) == "23505":
        return True
    return type(exc).__module__.startswith("sqlite3") and "UNIQUE constraint" in str(exc)


async def _sync_retrying(
    db: Database, file: TenantFile, *, actor: Actor, directory: str
) -> SyncResult:
    """:func:`_sync_one`, run again when a concurrent sync got to the same tenant first."""
    for _attempt in range(SYNC_ATTEMPTS):
        try:
            return await _sync_one(db, file, actor=actor, directory=directory)
        except _Stale:
            continue
        except Exception as exc:
            if not _is_unique_violation(exc):
                raise
    raise SyncConflict(f"tenant {file.spec.slug!r} kept changing during the sync; run it again")


async def _locked_row(uow: UnitOfWork, slug: str) -> TenantRecord | None:
    lock = " FOR UPDATE" if uow.is_postgres else ""  # SQLite: BEGIN IMMEDIATE already serialises
    rows = await uow.fetch(
        f"SELECT {_TENANT_COLUMNS} FROM tenant WHERE slug = {{}}{lock}",  # noqa: S608
        slug,
    )
    return _record(rows[0]) if rows else None


async def _sync_one(db: Database, file: TenantFile, *, actor: Actor, directory: str) -> SyncResult:
    spec, document = file.spec, file.document
    digest = document_sha256(document)
    known = await get_tenant(db, spec.slug)
    if known is not None and known.active and known.document_sha256 == digest:
        return SyncResult(spec.slug, "unchanged", known.id, known.revision, file.source)
    tenant_id = known.id if known is not None else uuid4()
    async with db.transaction(tenant_id=tenant_id) as uow:
        row = await _locked_row(uow, spec.slug)
        if (row is None) != (known is None) or (row is not None and row.id != tenant_id):
            raise _Stale(spec.slug)
        now = datetime.now(UTC)
        values = _tenant_values(spec)
        if row is None:
            columns = ", ".join(values)
            await uow.execute(
                f"INSERT INTO tenant (id, slug, {columns}, revision, document_sha256, active, "  # noqa: S608
                f"created_at, updated_at) VALUES ({', '.join(['{}'] * (len(values) + 7))})",
                tenant_id,
                spec.slug,
                *values.values(),
                1,
                digest,
                True,
                now,
                now,
            )
            status: SyncStatus = "created"
            revision = 1
        elif row.document_sha256 == digest and row.active:
            return SyncResult(spec.slug, "unchanged", tenant_id, row.revision, file.source)
        else:
            status = "reactivated" if not row.active else "updated"
            revision = row.revision + (1 if row.document_sha256 != digest else 0)
            assignments = ", ".join(f"{column} = {{}}" for column in values)
            await uow.execute(
                f"UPDATE tenant SET {assignments}, revision = {{}}, document_sha256 = {{}}, "  # noqa: S608
                "active = {}, updated_at = {} WHERE id = {}",
                *values.values(),
                revision,
                digest,
                True,
                now,
                tenant_id,
            )
        if row is None or row.document_sha256 != digest:
            await uow.execute(
                "INSERT INTO tenant_revision (id, tenant_id, revision, document, document_sha256, "
                "source, synced_at, synced_by) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
                uuid4(),
                tenant_id,
                revision,
                json.dumps(document, ensure_ascii=False, sort_keys=True),
                digest,
                file.source[:500],
                now,
                _actor_name(actor)[:200],
            )
        detail = {
            "slug": spec.slug,
            "revision": revision,
            "document_sha256": digest,
            "source": file.source,
            "directory": directory,
        }
        if row is not None:
            detail["previous_revision"] = row.revision
            detail["previous_document_sha256"] = row.document_sha256
        await record_platform(
            uow,
            actor=actor,
            action=f"tenant.{status}",
            target_kind="tenant",
            target_id=tenant_id,
            detail=detail,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor,
            action="tenant.synced",
            target_kind="tenant",
            target_id=tenant_id,
            detail={**detail, "status": status},
        )
    return SyncResult(spec.slug, status, tenant_id, revision, file.source)


async def _deactivate(
    db: Database, tenant: TenantRecord, *, actor: Actor, directory: str
) -> SyncResult:
    async with db.transaction(tenant_id=tenant.id) as uow:
        row = await _locked_row(uow, tenant.slug)
        if row is None or row.id != tenant.id:
            raise SyncConflict(f"tenant {tenant.slug!r} changed during the sync; run it again")
        if not row.active:
            return SyncResult(tenant.slug, "inactive", tenant.id, row.revision, None)
        await uow.execute(
            "UPDATE tenant SET active = {}, updated_at = {} WHERE id = {}",
            False,
            datetime.now(UTC),
            tenant.id,
        )
        detail = {
            "slug": tenant.slug,
            "revision": row.revision,
            "reason": f"no {tenant.slug}.toml in {directory}",
            "directory": directory,
        }
        await record_platform(
            uow,
            actor=actor,
            action="tenant.deactivated",
            target_kind="tenant",
            target_id=tenant.id,
            detail=detail,
        )
        await record(
            uow,
            tenant_id=tenant.id,
            actor=actor,
            action="tenant.deactivated",
            target_kind="tenant",
            target_id=tenant.id,
            detail=detail,
        )
    return SyncResult(tenant.slug, "deactivated", tenant.id, row.revision, None)


# -- resolving a request's tenant ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TenantInfo:
    """What a request needs to know about its tenant (an active one)."""

    id: UUID
    slug: str
    names: Names
    hosts: tuple[str, ...]
    time_zone: str
    locale: str
    oidc: Mapping[str, Any] | None
    case_number_format: str
    rule_set: str
    rule_set_version: str
    revision: int
    active: bool
    retention_years: int = 30
    # [batches] automatic_acceptance of the tenant file (see TenantSpec).
    batch_automatic_acceptance: bool = False

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def format_case_number(self, year: int, seq: int) -> str:
        return format_case_number(self.case_number_format, year, seq)

    def format_case_numbers(self, year: int, first: int, count: int) -> list[str]:
        """Case numbers ``first`` … ``first + count - 1`` of ``year`` (the format checked once)."""
        if count <= 0:
            return []
        fmt = self.case_number_format
        head = format_case_number(fmt, year, first)
        return [head, *(fmt.format(year=year, seq=seq) for seq in range(first + 1, first + count))]

    @classmethod
    def from_record(cls, record: TenantRecord) -> TenantInfo:
        return cls(
            id=record.id,
            slug=record.slug,
            names=record.names,
            hosts=record.hosts,
            time_zone=record.time_zone,
            locale=record.locale,
            oidc=record.oidc,
            case_number_format=record.case_number_format,
            rule_set=record.rule_set,
            rule_set_version=record.rule_set_version,
            revision=record.revision,
            active=record.active,
            retention_years=record.retention_years,
            batch_automatic_acceptance=record.batch_automatic_acceptance,
        )


@dataclass(frozen=True, slots=True)
class _Snapshot:
    by_slug: Mapping[str, TenantInfo]
    by_host: Mapping[str, TenantInfo]
    by_id: Mapping[UUID, TenantInfo]
    loaded_at: float


class TenantDirectory:
    """Resolves active tenants by host, slug or id from an in-memory snapshot.

    The snapshot holds every active tenant (a platform has dozens, not
    millions) and is reloaded when older than ``ttl_s`` seconds, or at once
    by :meth:`refresh` (after a sync). An unknown or inactive tenant is None,
    and an unknown host costs no query until the snapshot expires.
    """

    def __init__(
        self,
        db: Database,
        *,
        ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s < 0:
            raise ValueError("ttl_s must not be negative")
        self.db = db
        self.ttl_s = ttl_s
        self._clock = clock
        self._snapshot: _Snapshot | None = None
        self.loads = 0  # how many times the snapshot was read from the database

    async def refresh(self) -> None:
        """Reload the snapshot from the database now."""
        infos = [TenantInfo.from_record(t) for t in await list_tenants(self.db, active_only=True)]
        by_host: dict[str, TenantInfo] = {}
        for info in infos:
            for host in info.hosts:
                by_host.setdefault(host, info)
        self._snapshot = _Snapshot(
            by_slug=MappingProxyType({info.slug: info for info in infos}),
            by_host=MappingProxyType(by_host),
            by_id=MappingProxyType({info.id: info for info in infos}),
            loaded_at=self._clock(),
        )
        self.loads += 1

    def invalidate(self) -> None:
        """Forget the snapshot: the next lookup reloads it."""
        self._snapshot = None

    async def _current(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is None or self._clock() - snapshot.loaded_at >= self.ttl_s:
            await self.refresh()
            snapshot = self._snapshot
            assert snapshot is not None
        return snapshot

    async def by_host(self, host: str) -> TenantInfo | None:
        """The tenant serving ``host`` (a ``Host`` header: any case, with or without port)."""
        return (await self._current()).by_host.get(normalise_host(host))

    async def by_slug(self, slug: str) -> TenantInfo | None:
        return (await self._current()).by_slug.get(slug)

    async def by_id(self, tenant_id: UUID) -> TenantInfo | None:
        return (await self._current()).by_id.get(tenant_id)

    async def all(self) -> list[TenantInfo]:
        """Every active tenant, by slug."""
        snapshot = await self._current()
        return [snapshot.by_slug[slug] for slug in sorted(snapshot.by_slug)]
