"""Fixtures of the tenancy tests: tenant files written to a temporary directory.

``pg`` is overridden here: a sync deactivates every tenant that has no file,
so these tests get a PostgreSQL database of their own instead of sharing the
suite's with tests that create tenants directly.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from arbitral.db.provision import drop_database
from tests.conftest import PG_SUPERUSER_URL, PgDatabase, _create_test_database, run_async


@pytest.fixture(scope="session")
def pg() -> Iterator[PgDatabase]:
    database = run_async(_create_test_database(f"arbitral_test_tenancy_{secrets.token_hex(4)}"))
    yield database
    run_async(drop_database(PG_SUPERUSER_URL, database.name))


def new_slug() -> str:
    """A slug no other test uses (the PostgreSQL database lives for the whole run)."""
    return f"t{secrets.token_hex(5)}"


def tenant_toml(
    slug: str,
    *,
    hosts: list[str] | None = None,
    name_zh: str = "测试仲裁委员会",
    name_en: str = "Test Arbitration Commission",
    colour: str = "#a61b29",
    prefix: str = "测",
    extra: str = "",
) -> str:
    """A valid tenant file for ``slug`` (``extra`` is appended: more tables)."""
    host_list = hosts if hosts is not None else [f"{slug}.arbitral.localhost"]
    hosts_toml = ", ".join(f'"{host}"' for host in host_list)
    return f"""\
# A test commission.
slug = "{slug}"
hosts = [{hosts_toml}]
time_zone = "Asia/Shanghai"
locale = "zh-CN"

[names]
zh = "{name_zh}"
en = "{name_en}"

[rule_set]
id = "gba-alliance/online-arbitration"
version = "1.0"

[case_number]
format = "({{year}}){prefix}仲网字第{{seq:06d}}号"

[branding]
display_name = "{name_zh}网络仲裁平台"
primary_colour = "{colour}"

[retention]
years = 30

[keys]
ledger = "generated"
jws = "kms:alias/{slug}-jws"
{extra}"""


@dataclass
class TenantFiles:
    """A tenants directory that tests write files into."""

    root: Path
    slugs: list[str] = field(default_factory=list)

    def write(self, slug: str | None = None, text: str | None = None, **kwargs: object) -> str:
        slug = slug or new_slug()
        content = text if text is not None else tenant_toml(slug, **kwargs)  # type: ignore[arg-type]
        (self.root / f"{slug}.toml").write_text(content, encoding="utf-8")
        if slug not in self.slugs:
            self.slugs.append(slug)
        return slug

    def remove(self, slug: str) -> None:
        (self.root / f"{slug}.toml").unlink()


@pytest.fixture
def tenant_files(tmp_path: Path) -> TenantFiles:
    root = tmp_path / "tenants"
    root.mkdir()
    return TenantFiles(root)
