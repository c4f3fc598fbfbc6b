"""``arbitral tenants list|show|sync``, through the click group itself."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from arbitral.db.engine import Database
from arbitral.db.migrate import migrate
from arbitral.settings import Settings
from arbitral.tenancy.cli import command
from arbitral.tenancy.services import display_path
from tests.conftest import REPO_ROOT, PgDatabase, make_env, run_async
from tests.tenancy.conftest import TenantFiles


def _env(tmp_path: Path, **overrides: str) -> dict[str, str | None]:
    cleared: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ARBITRAL_")}
    return {**cleared, **make_env(tmp_path, **overrides)}


def _migrate(env: dict[str, str | None]) -> None:
    settings = Settings.from_env({k: v for k, v in env.items() if v is not None})

    async def work() -> None:
        db = Database(settings.migration_database)
        await db.open()
        try:
            await migrate(db)
        finally:
            await db.close()

    run_async(work())


def invoke(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(command, list(args), env=env, catch_exceptions=False)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A copy of the repository's tenants/ to change at will."""
    root = tmp_path / "tenants"
    shutil.copytree(REPO_ROOT / "tenants", root)
    return root


def test_sync_list_and_show_the_example_commissions(tmp_path: Path, examples: Path) -> None:
    env = _env(tmp_path, tenants_dir=str(examples))
    _migrate(env)
    gz, sz = display_path(examples / "gz.toml"), display_path(examples / "sz.toml")

    result = invoke(env, "sync")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"gz  created      revision 1  ({gz})",
        f"sz  created      revision 1  ({sz})",
    ]
    assert result.stderr == ""
    again = invoke(env, "sync")
    assert again.stdout.splitlines() == [
        f"gz  unchanged    revision 1  ({gz})",
        f"sz  unchanged    revision 1  ({sz})",
    ]

    listing = invoke(env, "list")
    assert listing.exit_code == 0
    lines = listing.stdout.splitlines()
    assert [re.split(r"\s{2,}", line) for line in lines] == [
        ["SLUG", "NAMES", "HOSTS", "REVISION", "ACTIVE"],
        [
            "gz",
            "广州仲裁委员会 / Guangzhou Arbitration Commission",
            "gz.arbitral.localhost, gz.arbitral.example",
            "1",
            "yes",
        ],
        [
            "sz",
            "深圳国际仲裁院 / Shenzhen Court of International Arbitration",
            "sz.arbitral.localhost, sz.arbitral.example",
            "1",
            "yes",
        ],
    ]
    # Columns line up on screen, Chinese characters being two columns wide.
    columns = {
        _width(line[: line.index("gz.") if "gz." in line else line.index("sz.")])
        for line in lines[1:]
    }
    assert len(columns) == 1
    assert _width(lines[0][: lines[0].index("HOSTS")]) in columns

    shown = invoke(env, "show", "gz")
    assert shown.exit_code == 0
    text = shown.stdout
    for expected in (
        "slug:         gz",
        "name (zh):    广州仲裁委员会",
        "name (en):    Guangzhou Arbitration Commission",
        "hosts:        gz.arbitral.localhost, gz.arbitral.example",
        "time zone:    Asia/Shanghai",
        "rule set:     gba-alliance/online-arbitration 1.2",
        "case numbers: ({year})穗仲网字第{seq:06d}号",
        "branding:     display_name=广州仲裁委员会网络仲裁平台, primary_colour=#a61b29",
        "retention:    30 years",
        "keys:         awards=generated, court=generated, jws=generated, ledger=generated",
        "oidc:         -",
        "revision:     1",
        "active:       yes",
    ):
        assert expected in text.splitlines(), expected
    # Instants are shown in the tenant's time zone.
    assert re.search(r"^created: +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$", text, re.M)
    history = text.split("revisions:\n")[1].splitlines()
    assert re.split(r"\s{2,}", history[0]) == ["REVISION", "SYNCED AT", "BY", "SOURCE", "SHA256"]
    row = re.split(r"\s{2,}", history[1])
    assert row[0] == "1"
    assert row[1].endswith("+08:00")
    assert row[2].startswith("operator:")
    assert row[3] == gz


def test_changes_and_removals_are_reported(tmp_path: Path, examples: Path) -> None:
    env = _env(tmp_path, tenants_dir=str(examples))
    _migrate(env)
    invoke(env, "sync")
    path = examples / "gz.toml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("years = 30", "years = 50"), encoding="utf-8"
    )
    (examples / "sz.toml").unlink()
    result = invoke(env, "sync")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"gz  updated      revision 2  ({display_path(path)})",
        "sz  deactivated  revision 1",
    ]
    listing = invoke(env, "list").stdout
    assert re.search(r"^gz .* 2 +yes$", listing, re.M)
    assert re.search(r"^sz .* 1 +no$", listing, re.M)
    shown = invoke(env, "show", "gz").stdout
    assert "retention:    50 years" in shown
    history = shown.split("revisions:\n")[1].splitlines()[1:]
    assert [line.split()[0] for line in history] == ["1", "2"]


def test_invalid_files_print_every_problem_and_write_nothing(
    tmp_path: Path, tenant_files: TenantFiles
) -> None:
    env = _env(tmp_path, tenants_dir=str(tenant_files.root))
    _migrate(env)
    good = tenant_files.write()
    bad = tenant_files.write(colour="red", hosts=["Upper.example"])
    broken = tenant_files.root / "zz.toml"
    broken.write_text('slug = "zz"\nhosts = [\n', encoding="utf-8")
    result = invoke(env, "sync")
    assert result.exit_code == 2
    assert result.stdout == ""
    bad_path = display_path(tenant_files.root / f"{bad}.toml")
    assert sorted(result.stderr.splitlines()[:-1]) == sorted(
        [
            f"{bad_path}: hosts[0]: 'Upper.example' must be lowercase",
            f"{bad_path}: branding.primary_colour: must be a #rrggbb colour",
            f"{display_path(broken)}: end of document: TOML syntax: Invalid value",
        ]
    )
    assert result.stderr.splitlines()[-1] == (
        "error: 3 problems in the tenant files; nothing was written"
    )
    assert invoke(env, "list").stdout == "no tenants yet; load them with 'arbitral tenants sync'\n"
    missing = invoke(env, "show", good)
    assert missing.exit_code == 1
    assert missing.stderr == f"error: no tenant '{good}' (none are loaded yet)\n"


def test_directory_problems_are_one_line_and_exit_2(tmp_path: Path) -> None:
    env = _env(tmp_path, tenants_dir=str(tmp_path / "nowhere"))
    _migrate(env)
    result = invoke(env, "sync")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: ARBITRAL_TENANTS_DIR: {display_path(tmp_path / 'nowhere')} is not a directory\n"
    )
    result = invoke(env, "sync", "--dir", str(tmp_path / "elsewhere"))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --dir: {display_path(tmp_path / 'elsewhere')} is not a directory\n"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke(env, "sync", "--dir", str(empty))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --dir: {display_path(empty)} holds no tenant files (*.toml); refusing to "
        "deactivate every tenant\n"
    )


def test_an_unmigrated_database_is_one_line_and_exit_2(tmp_path: Path, examples: Path) -> None:
    env = _env(tmp_path, tenants_dir=str(examples))
    for args in (["sync"], ["list"], ["show", "gz"]):
        result = invoke(env, *args)
        assert result.exit_code == 2, args
        [line] = result.stderr.splitlines()
        assert line.startswith("error: ARBITRAL_DATABASE_URL: sqlite:")
        assert line.endswith("migration(s) pending; run 'arbitral migrate' first")


def test_show_names_the_known_tenants_when_the_slug_is_unknown(
    tmp_path: Path, examples: Path
) -> None:
    env = _env(tmp_path, tenants_dir=str(examples))
    _migrate(env)
    invoke(env, "sync")
    result = invoke(env, "show", "bj")
    assert result.exit_code == 1
    assert result.stderr == "error: no tenant 'bj' (known: gz, sz)\n"


@pytest.mark.postgres
def test_sync_against_postgresql(tmp_path: Path, pg: PgDatabase, tenant_files: TenantFiles) -> None:
    slug = tenant_files.write()
    env = _env(tmp_path, database_url=pg.app_url, tenants_dir=str(tenant_files.root))
    result = invoke(env, "sync")
    assert result.exit_code == 0, result.output
    assert f"{slug}  created      revision 1" in result.stdout
    shown = invoke(env, "show", slug)
    assert shown.exit_code == 0
    history = shown.stdout.split("revisions:\n")[1].splitlines()
    assert len(history) == 2  # the header and revision 1, read as the tenant (RLS)


def test_python_dash_m_arbitral_tenants(tmp_path: Path, examples: Path) -> None:
    """The group as wired into the arbitral command, run as a separate process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBITRAL_")}
    env.update({k: v for k, v in make_env(tmp_path, tenants_dir=str(examples)).items()})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "arbitral", *args],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert run("migrate").returncode == 0
    synced = run("tenants", "sync")
    assert synced.returncode == 0, synced.stderr
    assert [line.split()[:2] for line in synced.stdout.splitlines()] == [
        ["gz", "created"],
        ["sz", "created"],
    ]
    listed = run("tenants", "list")
    assert listed.returncode == 0
    assert "广州仲裁委员会 / Guangzhou Arbitration Commission" in listed.stdout
    (examples / "gz.toml").write_text("slug = 'gz'\n", encoding="utf-8")
    refused = run("tenants", "sync")
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert (
        refused.stderr.splitlines()[0]
        == f"{examples / 'gz.toml'}: names: missing (a table with zh, en)"
    )
