"""``arbitral keys``, run as a user runs it: a separate process."""

from __future__ import annotations

import getpass
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from arbitral.db.engine import Database
from arbitral.db.migrate import migrate
from arbitral.keys.services import list_keys
from arbitral.settings import parse_database_url
from tests.conftest import REPO_ROOT, PgDatabase, make_env, make_settings, run_async
from tests.keys.conftest import insert_tenant


def keys(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARBITRAL_")}
    return subprocess.run(
        [sys.executable, "-m", "arbitral", "keys", *args],
        env={**base, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def _prepare(url: str, slug: str, *, migrated: bool) -> uuid.UUID:
    db = Database(parse_database_url("ARBITRAL_DATABASE_URL", url))
    await db.open()
    try:
        if not migrated:
            await migrate(db)
        return await insert_tenant(db, slug)
    finally:
        await db.close()


async def _kids(url: str, tenant_id: uuid.UUID) -> list[tuple[str, str, bool]]:
    db = Database(parse_database_url("ARBITRAL_DATABASE_URL", url))
    await db.open()
    try:
        return [(i.kid, i.purpose, i.active) for i in await list_keys(db, tenant_id)]
    finally:
        await db.close()


def test_rotate_and_list_on_the_embedded_default(tmp_path: Path) -> None:
    env = make_env(tmp_path, key_encryption_key="")  # so the data directory gets one
    url = make_settings(tmp_path).database.url
    tenant_id = run_async(_prepare(url, "gz", migrated=False))

    listed = keys("list", "--tenant", "gz", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "tenant gz has no keys yet" in listed.stdout

    first = keys("rotate", "--tenant", "gz", "--purpose", "jws", env=env)
    assert first.returncode == 0, first.stderr
    [(kid1, _, _)] = run_async(_kids(url, tenant_id))
    assert f"rotated the jws key of gz: (none) -> {kid1}" in first.stdout
    second = keys("rotate", "--tenant", "gz", "--purpose", "jws", env=env)
    assert second.returncode == 0, second.stderr
    listed_kids = run_async(_kids(url, tenant_id))
    kid2 = listed_kids[0][0]
    assert listed_kids == [(kid2, "jws", True), (kid1, "jws", False)]
    assert f"{kid1} -> {kid2}" in second.stdout
    assert (tmp_path / "var" / "key_encryption_key").is_file()

    listed = keys("list", "--tenant", "gz", env=env)
    assert listed.returncode == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    assert header.split() == ["KID", "PURPOSE", "ALGORITHM", "CREATED", "RETIRED"]
    assert [line.split()[:3] for line in lines] == [
        [kid2, "jws", "Ed25519"],
        [kid1, "jws", "Ed25519"],
    ]
    assert lines[0].endswith("-")
    assert not lines[1].endswith("-")
    assert lines[1].count("+08:00") == 2  # created and retired, in the tenant's time zone

    async def rotated_by() -> list[str | None]:
        db = Database(parse_database_url("ARBITRAL_DATABASE_URL", url))
        await db.open()
        try:
            async with db.transaction(tenant_id=tenant_id) as uow:
                rows = await uow.fetch(
                    "SELECT actor_kind, actor_id FROM audit_event WHERE action = 'key.rotated'"
                )
            return [f"{r['actor_kind']}:{r['actor_id']}" for r in rows]
        finally:
            await db.close()

    assert run_async(rotated_by()) == [f"operator:{getpass.getuser()}"] * 2


def test_unknown_tenants_and_purposes_are_one_line_errors(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    run_async(_prepare(make_settings(tmp_path).database.url, "gz", migrated=False))
    for args in (("list", "--tenant", "nope"), ("rotate", "--tenant", "nope", "--purpose", "jws")):
        result = keys(*args, env=env)
        assert result.returncode == 2
        assert result.stderr == "error: --tenant: no tenant with slug 'nope'\n"
    wrong = keys("rotate", "--tenant", "gz", "--purpose", "pdf", env=env)
    assert wrong.returncode == 2
    assert "'pdf' is not one of 'jws', 'ledger'" in wrong.stderr


def test_an_unmigrated_database_is_a_one_line_error(tmp_path: Path) -> None:
    result = keys("list", "--tenant", "gz", env=make_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ARBITRAL_DATABASE_URL: ")
    assert "arbitral migrate" in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.postgres
def test_rotate_on_postgresql_needs_the_kek(tmp_path: Path, pg: PgDatabase) -> None:
    slug = f"t{uuid.uuid4().hex[:8]}"
    tenant_id = run_async(_prepare(pg.app_url, slug, migrated=True))
    env = make_env(tmp_path, database_url=pg.app_url, key_encryption_key="")
    refused = keys("rotate", "--tenant", slug, "--purpose", "ledger", env=env)
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        "error: ARBITRAL_KEY_ENCRYPTION_KEY: must be set when the database is PostgreSQL"
    )
    assert not (tmp_path / "var" / "key_encryption_key").exists()
    env["ARBITRAL_KEY_ENCRYPTION_KEY"] = secrets.token_hex(32)
    done = keys("rotate", "--tenant", slug, "--purpose", "ledger", env=env)
    assert done.returncode == 0, done.stderr
    [(kid, purpose, active)] = run_async(_kids(pg.app_url, tenant_id))
    assert (purpose, active) == ("ledger", True)
    assert kid in done.stdout
    # Listing shows public facts only and needs no key-encryption key.
    del env["ARBITRAL_KEY_ENCRYPTION_KEY"]
    listed = keys("list", "--tenant", slug, env=env)
    assert listed.returncode == 0, listed.stderr
    assert kid in listed.stdout
