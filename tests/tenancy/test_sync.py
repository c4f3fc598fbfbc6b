"""Syncing tenant files into the database, on SQLite and PostgreSQL, and resolving tenants."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from arbitral.audit import services as audit
from arbitral.audit.services import Actor
from arbitral.db.engine import Database
from arbitral.rules.loader import load_rule_book
from arbitral.tenancy import services
from arbitral.tenancy.domain import InvalidTenantFiles
from arbitral.tenancy.services import (
    TenantDirectory,
    TenantFile,
    get_tenant,
    list_tenants,
    load_tenant_files,
    sync_tenants,
    tenant_revisions,
)
from tests.conftest import make_settings
from tests.tenancy.conftest import TenantFiles, new_slug, tenant_toml

OPERATOR = Actor("operator", "li.ming")
RULES = load_rule_book(Path(__file__).parents[2] / "rules")


async def _sync(db: Database, files: TenantFiles, **kwargs: Any) -> services.SyncReport:
    settings = make_settings(files.root.parent, tenants_dir=str(files.root))
    loaded = load_tenant_files(settings.tenants_dir)
    return await sync_tenants(
        db, loaded, actor=OPERATOR, directory=settings.tenants_dir, rules=RULES, **kwargs
    )


async def _tenant_events(db: Database, tenant_id: UUID) -> list[dict[str, Any]]:
    async with db.transaction(tenant_id=tenant_id) as uow:
        rows = await uow.fetch(
            "SELECT tenant_id, actor_kind, actor_id, action, target_kind, target_id, detail "
            "FROM audit_event WHERE tenant_id = {} ORDER BY at",
            tenant_id,
        )
    return [{**row, "detail": json.loads(row["detail"])} for row in rows]


async def _platform_events(db: Database, tenant_id: UUID) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT actor_kind, actor_id, action, detail FROM platform_audit_event "
        "WHERE target_kind = 'tenant' AND target_id = {} ORDER BY at",
        str(tenant_id),
    )
    return [{**row, "detail": json.loads(row["detail"])} for row in rows]


async def test_a_new_file_creates_its_tenant_with_revision_1(
    database: Database, tenant_files: TenantFiles
) -> None:
    gz = tenant_files.write(
        name_zh="广州仲裁委员会", name_en="Guangzhou Arbitration Commission", prefix="穗"
    )
    sz = tenant_files.write(prefix="深", hosts=["sz.example", "127.0.0.1"])
    report = await _sync(database, tenant_files)
    assert report.status_of(gz) == "created"
    assert report.status_of(sz) == "created"
    assert report.changed

    tenant = await get_tenant(database, gz)
    assert tenant is not None
    assert tenant.names.zh == "广州仲裁委员会"
    assert tenant.names.en == "Guangzhou Arbitration Commission"
    assert tenant.hosts == (f"{gz}.arbitral.localhost",)
    assert tenant.time_zone == "Asia/Shanghai"
    assert tenant.locale == "zh-CN"
    assert (tenant.rule_set, tenant.rule_set_version) == ("gba-alliance/online-arbitration", "1.0")
    assert tenant.case_number_format == "({year})穗仲网字第{seq:06d}号"
    assert dict(tenant.branding) == {
        "display_name": "广州仲裁委员会网络仲裁平台",
        "primary_colour": "#a61b29",
        "logo": None,
    }
    assert tenant.retention_years == 30
    assert dict(tenant.key_refs) == {
        "ledger": "generated",
        "jws": f"kms:alias/{gz}-jws",
        "awards": "generated",
        "court": "generated",
    }
    assert tenant.oidc is None
    assert tenant.revision == 1
    assert tenant.active
    assert tenant.created_at == tenant.updated_at

    [revision] = await tenant_revisions(database, tenant.id)
    [file] = [f for f in load_tenant_files(tenant_files.root) if f.spec.slug == gz]
    assert revision.revision == 1
    assert dict(revision.document)["names"] == file.document["names"]
    assert json.loads(json.dumps(_thaw(revision.document))) == file.document
    assert revision.document_sha256 == tenant.document_sha256
    assert revision.source == file.source
    assert revision.synced_by == "operator:li.ming"
    assert {t.slug for t in await list_tenants(database)} >= {gz, sz}


def _thaw(value: Any) -> Any:
    if hasattr(value, "items"):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


async def test_an_unchanged_file_changes_nothing(
    database: Database, tenant_files: TenantFiles
) -> None:
    slug = tenant_files.write()
    await _sync(database, tenant_files)
    before = await get_tenant(database, slug)
    assert before is not None
    events = await _tenant_events(database, before.id)
    platform_events = await _platform_events(database, before.id)

    # Same content, different comments and layout: still the same document.
    path = tenant_files.root / f"{slug}.toml"
    path.write_text("# edited by hand\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    report = await _sync(database, tenant_files)
    assert report.status_of(slug) == "unchanged"
    assert not report.changed
    assert await get_tenant(database, slug) == before
    assert len(await tenant_revisions(database, before.id)) == 1
    assert await _tenant_events(database, before.id) == events
    assert await _platform_events(database, before.id) == platform_events


async def test_a_changed_file_makes_revision_2_and_keeps_the_history(
    database: Database, tenant_files: TenantFiles
) -> None:
    slug = tenant_files.write(name_en="Old Name Commission")
    await _sync(database, tenant_files)
    first = await get_tenant(database, slug)
    assert first is not None

    tenant_files.write(
        slug,
        name_en="New Name Commission",
        colour="#1f4e8c",
        extra='\n[oidc]\nissuer = "https://sso.example.cn"\nclient_id = "arbitral"\n'
        'client_secret_ref = "env:SSO_SECRET"\n',
    )
    report = await _sync(database, tenant_files)
    assert report.status_of(slug) == "updated"
    second = await get_tenant(database, slug)
    assert second is not None
    assert second.id == first.id
    assert second.revision == 2
    assert second.names.en == "New Name Commission"
    assert second.branding["primary_colour"] == "#1f4e8c"
    assert second.oidc is not None
    assert dict(second.oidc) == {
        "issuer": "https://sso.example.cn",
        "client_id": "arbitral",
        "client_secret_ref": "env:SSO_SECRET",
        "scopes": ("openid", "email", "profile"),
    }
    assert second.document_sha256 != first.document_sha256
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at

    history = await tenant_revisions(database, first.id)
    assert [r.revision for r in history] == [1, 2]
    assert history[0].document["names"]["en"] == "Old Name Commission"
    assert history[1].document["names"]["en"] == "New Name Commission"
    assert [r.document_sha256 for r in history] == [
        first.document_sha256,
        second.document_sha256,
    ]


async def test_a_removed_file_deactivates_and_a_returning_one_reactivates(
    database: Database, tenant_files: TenantFiles
) -> None:
    keep = tenant_files.write()
    gone = tenant_files.write()
    await _sync(database, tenant_files)
    tenant_files.remove(gone)

    report = await _sync(database, tenant_files)
    assert report.status_of(gone) == "deactivated"
    assert report.status_of(keep) == "unchanged"
    deactivated = await get_tenant(database, gone)
    assert deactivated is not None  # never deleted
    assert not deactivated.active
    assert deactivated.revision == 1
    assert gone not in {t.slug for t in await list_tenants(database, active_only=True)}

    again = await _sync(database, tenant_files)
    assert again.status_of(gone) == "inactive"  # reported, not deactivated twice

    tenant_files.write(gone)  # the same document comes back
    back = await _sync(database, tenant_files)
    assert back.status_of(gone) == "reactivated"
    restored = await get_tenant(database, gone)
    assert restored is not None
    assert restored.active
    assert restored.revision == 1
    assert len(await tenant_revisions(database, restored.id)) == 1

    tenant_files.remove(gone)
    await _sync(database, tenant_files)
    tenant_files.write(gone, name_en="Renamed Commission")  # back, and changed
    changed = await _sync(database, tenant_files)
    assert changed.status_of(gone) == "reactivated"
    latest = await get_tenant(database, gone)
    assert latest is not None
    assert (latest.active, latest.revision, latest.names.en) == (True, 2, "Renamed Commission")

    events = await _platform_events(database, restored.id)
    assert [e["action"] for e in events] == [
        "tenant.created",
        "tenant.deactivated",
        "tenant.reactivated",
        "tenant.deactivated",
        "tenant.reactivated",
    ]
    tenant_actions = [e["action"] for e in await _tenant_events(database, restored.id)]
    assert tenant_actions == [
        "tenant.synced",
        "tenant.deactivated",
        "tenant.synced",
        "tenant.deactivated",
        "tenant.synced",
    ]


async def test_audit_events_go_to_the_platform_and_to_the_tenants_own_trail(
    database: Database, tenant_files: TenantFiles
) -> None:
    slug = tenant_files.write()
    other = tenant_files.write()
    await _sync(database, tenant_files)
    tenant_files.write(slug, name_en="Changed Commission")
    await _sync(database, tenant_files)
    tenant = await get_tenant(database, slug)
    neighbour = await get_tenant(database, other)
    assert tenant is not None
    assert neighbour is not None

    platform = await _platform_events(database, tenant.id)
    assert [e["action"] for e in platform] == ["tenant.created", "tenant.updated"]
    assert {(e["actor_kind"], e["actor_id"]) for e in platform} == {("operator", "li.ming")}
    assert platform[1]["detail"]["revision"] == 2
    assert platform[1]["detail"]["previous_revision"] == 1
    assert platform[1]["detail"]["document_sha256"] == tenant.document_sha256

    own = await _tenant_events(database, tenant.id)
    assert [(e["action"], e["detail"]["status"]) for e in own] == [
        ("tenant.synced", "created"),
        ("tenant.synced", "updated"),
    ]
    assert {e["tenant_id"] for e in own} == {tenant.id}
    assert {e["target_id"] for e in own} == {str(tenant.id)}

    if database.is_postgres:
        # Row-level security: the tenant's rows are invisible without it, or as a neighbour.
        for scope in (None, neighbour.id):
            async with database.transaction(tenant_id=scope) as uow:
                for table in ("audit_event", "tenant_revision"):
                    rows = await uow.fetch(
                        f"SELECT count(*) AS n FROM {table} WHERE tenant_id = {{}}",
                        tenant.id,
                    )
                    assert rows[0]["n"] == 0, (table, scope)


async def test_each_tenant_is_one_transaction(
    database: Database, tenant_files: TenantFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = sorted([tenant_files.write(), tenant_files.write()])
    real_record = audit.record
    calls = 0

    async def failing_record(*args: Any, **kwargs: Any) -> UUID:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("audit trail unavailable")
        return await real_record(*args, **kwargs)

    monkeypatch.setattr("arbitral.tenancy.services.record", failing_record)
    with pytest.raises(RuntimeError, match="audit trail unavailable"):
        await _sync(database, tenant_files)
    monkeypatch.undo()

    created = await get_tenant(database, first)
    assert created is not None
    assert len(await tenant_revisions(database, created.id)) == 1
    assert await get_tenant(database, second) is None  # nothing of it: row, revision, events
    rows = await database.fetch(
        "SELECT count(*) AS n FROM platform_audit_event WHERE CAST(detail AS TEXT) LIKE {}",
        f'%"{second}"%',
    )
    assert rows[0]["n"] == 0

    report = await _sync(database, tenant_files)  # the next run finishes the job
    assert (report.status_of(first), report.status_of(second)) == ("unchanged", "created")


async def test_concurrent_syncs_make_one_tenant(
    database: Database, tenant_files: TenantFiles
) -> None:
    slug = tenant_files.write()
    reports = await asyncio.gather(*(_sync(database, tenant_files) for _ in range(3)))
    statuses = sorted(str(report.status_of(slug)) for report in reports)
    assert statuses == ["created", "unchanged", "unchanged"]
    tenant = await get_tenant(database, slug)
    assert tenant is not None
    assert len(await tenant_revisions(database, tenant.id)) == 1
    assert len(await _platform_events(database, tenant.id)) == 1


async def test_no_files_and_clashing_files_write_nothing(
    database: Database, tenant_files: TenantFiles
) -> None:
    with pytest.raises(ValueError, match="refusing to deactivate every tenant"):
        await sync_tenants(database, [], actor=OPERATOR, directory=tenant_files.root, rules=RULES)
    a = tenant_files.write(hosts=["shared.example"])
    b = tenant_files.write(hosts=["other.example"])
    loaded = load_tenant_files(tenant_files.root)
    # Files validated one by one, then combined: the rules across files hold in sync too.
    spec_b = next(f.spec for f in loaded if f.spec.slug == b)
    clash = TenantFile(
        spec=dataclasses.replace(spec_b, hosts=("shared.example",)),
        document=next(f.document for f in loaded if f.spec.slug == b),
        source="elsewhere",
    )
    with pytest.raises(InvalidTenantFiles, match="also a host of"):
        await sync_tenants(
            database,
            [f for f in loaded if f.spec.slug == a] + [clash],
            actor=OPERATOR,
            directory=tenant_files.root,
            rules=RULES,
        )
    assert await get_tenant(database, a) is None
    assert await get_tenant(database, b) is None


# -- the tenant directory -------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_directory_resolves_by_host_slug_and_id(
    database: Database, tenant_files: TenantFiles
) -> None:
    gz = tenant_files.write(hosts=[f"{new_slug()}.arbitral.localhost", f"{new_slug()}.example"])
    sz = tenant_files.write(
        extra='\n[oidc]\nissuer = "http://127.0.0.1:9000/sz"\nclient_id = "arbitral"\n'
        'client_secret_ref = "file:/run/secrets/sz-oidc"\nscopes = ["openid", "email"]\n'
    )
    await _sync(database, tenant_files)
    directory = TenantDirectory(database)
    gz_record = await get_tenant(database, gz)
    assert gz_record is not None
    host = gz_record.hosts[1]

    info = await directory.by_host(host)
    assert info is not None
    assert info.slug == gz
    assert info.id == gz_record.id
    assert info.hosts == gz_record.hosts
    assert info.names == gz_record.names
    assert info.time_zone == "Asia/Shanghai"
    assert str(info.zone) == "Asia/Shanghai"
    assert info.locale == "zh-CN"
    assert info.oidc is None
    assert info.active
    assert info.format_case_number(2026, 7) == "(2026)测仲网字第000007号"
    for variant in (host.upper(), f"{host}:8443", f"{host}.", f" {host} "):
        assert await directory.by_host(variant) == info
    assert await directory.by_slug(gz) == info
    assert await directory.by_id(info.id) == info

    sz_info = await directory.by_slug(sz)
    assert sz_info is not None
    assert sz_info.oidc is not None
    assert dict(sz_info.oidc) == {
        "issuer": "http://127.0.0.1:9000/sz",
        "client_id": "arbitral",
        "client_secret_ref": "file:/run/secrets/sz-oidc",
        "scopes": ("openid", "email"),
    }
    assert await directory.by_host(f"{sz}.arbitral.localhost") == sz_info
    assert [t.slug for t in await directory.all() if t.slug in (gz, sz)] == sorted([gz, sz])

    assert await directory.by_host("unknown.example") is None
    assert await directory.by_slug("unknown") is None
    assert await directory.by_id(UUID(int=0)) is None


async def test_the_directory_caches_until_the_ttl_or_a_refresh(
    database: Database, tenant_files: TenantFiles
) -> None:
    slug = tenant_files.write(name_en="Before Commission")
    await _sync(database, tenant_files)
    clock = FakeClock()
    directory = TenantDirectory(database, ttl_s=30, clock=clock)
    before = await directory.by_slug(slug)
    assert before is not None
    assert before.names.en == "Before Commission"
    assert directory.loads == 1

    # Misses (a scan of random hosts) cost no query while the snapshot is fresh.
    for n in range(20):
        assert await directory.by_host(f"probe{n}.example") is None
    assert directory.loads == 1

    tenant_files.write(slug, name_en="After Commission")
    await _sync(database, tenant_files)  # another process's sync: this cache does not know
    stale = await directory.by_slug(slug)
    assert stale is not None
    assert stale.names.en == "Before Commission"
    clock.now += 30
    fresh = await directory.by_slug(slug)
    assert fresh is not None
    assert fresh.names.en == "After Commission"
    assert directory.loads == 2

    # A sync given the directory refreshes it at once; a deactivated tenant resolves to None.
    tenant_files.remove(slug)
    tenant_files.write()
    await _sync(database, tenant_files, cache=directory)
    assert directory.loads == 3
    assert await directory.by_slug(slug) is None
    assert await directory.by_host(f"{slug}.arbitral.localhost") is None
    assert await directory.by_id(fresh.id) is None

    directory.invalidate()
    await directory.by_slug(slug)
    assert directory.loads == 4


def test_the_directory_refuses_a_negative_ttl(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        TenantDirectory(Database(make_settings(tmp_path).database), ttl_s=-1)


# -- rule sets ------------------------------------------------------------------------


async def test_a_case_filed_under_1_0_keeps_1_0_after_the_commission_adopts_1_1(
    database: Database, tenant_files: TenantFiles
) -> None:
    slug = tenant_files.write()
    await _sync(database, tenant_files)
    tenant = await get_tenant(database, slug)
    assert tenant is not None
    # Filing pins the version the commission adopts at that moment.
    pinned = RULES.check_adoptable(tenant.rule_set, tenant.rule_set_version).ref
    assert pinned == "gba-alliance/online-arbitration@1.0"

    tenant_files.write(slug, text=tenant_toml(slug).replace('version = "1.0"', 'version = "1.1"'))
    assert (await _sync(database, tenant_files)).status_of(slug) == "updated"
    tenant = await get_tenant(database, slug)
    assert tenant is not None
    adopted = RULES.check_adoptable(tenant.rule_set, tenant.rule_set_version)
    assert adopted.version == "1.1"

    # The running case still computes with 1.0: its fee band and its answer period
    # (10 days from 2 March: Thursday 12 March; 1.1's 15 days: Tuesday 17 March).
    served = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    calendar = RULES.calendar("cn")
    zone = ZoneInfo(tenant.time_zone)
    running = RULES.resolve(pinned)
    # 1.0: 100 + 49,000 x 5% + 30,000 x 4% = 3,750 acceptance, + 1% handling 800 = 4,550.
    assert running.assess_fee("online-loan", Decimal("80000")).total == Decimal("4550.00")
    # 1.1: the band above 50,000 at 3.5%: 100 + 2,450 + 1,050 = 3,600, + 800 = 4,400.
    assert adopted.assess_fee("online-loan", Decimal("80000")).total == Decimal("4400.00")
    assert running.deadline(
        "online-loan", "answer", served, zone=zone, calendar=calendar
    ).last_day == date(2026, 3, 12)
    assert adopted.deadline(
        "online-loan", "answer", served, zone=zone, calendar=calendar
    ).last_day == date(2026, 3, 17)


async def test_a_commission_cannot_adopt_a_missing_or_draft_rule_set(
    database: Database, tenant_files: TenantFiles, tmp_path: Path
) -> None:
    slug = tenant_files.write()
    unknown = tenant_toml(slug).replace('version = "1.0"', 'version = "9.9"')
    tenant_files.write(slug, text=unknown)
    with pytest.raises(InvalidTenantFiles, match=r"has no version '9.9' \(known: 1.0, 1.1, 1.2\)"):
        await _sync(database, tenant_files)
    assert await get_tenant(database, slug) is None

    # A version without a digest in published.toml is a draft: not adoptable.
    drafts = tmp_path / "rules"
    shutil.copytree(Path(__file__).parents[2] / "rules", drafts)
    (drafts / "published.toml").unlink()
    tenant_files.write(slug)
    settings = make_settings(tenant_files.root.parent, tenants_dir=str(tenant_files.root))
    with pytest.raises(InvalidTenantFiles, match=r"@1.0 is a draft: publish it"):
        await sync_tenants(
            database,
            load_tenant_files(settings.tenants_dir),
            actor=OPERATOR,
            directory=settings.tenants_dir,
            rules=load_rule_book(drafts),
        )
    assert await get_tenant(database, slug) is None
