"""Reading tenants/*.toml: syntax errors with their line, all files' problems at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbitral.tenancy.domain import InvalidTenantFiles, document_sha256
from arbitral.tenancy.services import display_path, load_tenant_files, tenant_file_paths
from tests.conftest import REPO_ROOT
from tests.tenancy.conftest import TenantFiles, tenant_toml


def test_the_example_commissions_load_cleanly() -> None:
    files = load_tenant_files(REPO_ROOT / "tenants")
    by_slug = {file.spec.slug: file for file in files}
    assert sorted(by_slug) == ["gz", "sz"]
    gz, sz = by_slug["gz"].spec, by_slug["sz"].spec
    assert gz.names.zh == "广州仲裁委员会"
    assert gz.names.en == "Guangzhou Arbitration Commission"
    assert gz.time_zone == sz.time_zone == "Asia/Shanghai"
    assert gz.format_case_number(2026, 123) == "(2026)穗仲网字第000123号"
    assert sz.format_case_number(2026, 123) == "(2026)深仲网字第000123号"
    assert gz.rule_set == sz.rule_set
    assert gz.rule_set.id == "gba-alliance/online-arbitration"
    assert gz.rule_set.version == "1.2"
    assert not set(gz.hosts) & set(sz.hosts)
    for file in files:
        assert file.source.endswith(f"{file.spec.slug}.toml")
        assert file.document["slug"] == file.spec.slug


def test_sources_are_shown_relative_to_the_working_directory(
    tenant_files: TenantFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = tenant_files.write()
    monkeypatch.chdir(tenant_files.root.parent)
    [file] = load_tenant_files(Path("tenants"))
    assert file.source == f"tenants/{slug}.toml"
    assert display_path(Path("/")) == "/"


def test_comments_and_layout_do_not_change_the_document(tenant_files: TenantFiles) -> None:
    slug = tenant_files.write()
    [before] = load_tenant_files(tenant_files.root)
    text = (tenant_files.root / f"{slug}.toml").read_text(encoding="utf-8")
    tenant_files.write(slug, "# reformatted\n\n" + text.replace(" = ", "   =   "))
    [after] = load_tenant_files(tenant_files.root)
    assert document_sha256(after.document) == document_sha256(before.document)


def test_toml_syntax_errors_name_the_line(tenant_files: TenantFiles) -> None:
    slug = tenant_files.write()
    path = tenant_files.root / f"{slug}.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = "time_zone = Asia/Shanghai"  # unquoted
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InvalidTenantFiles) as info:
        load_tenant_files(tenant_files.root)
    assert info.value.lines == [
        f"{display_path(path)}: line 4, column 13: TOML syntax: Invalid value"
    ]


def test_a_file_that_is_not_utf8(tenant_files: TenantFiles) -> None:
    path = tenant_files.root / "gb.toml"
    path.write_bytes('slug = "gb"\n[names]\nzh = "广州"\n'.encode("gb18030"))
    with pytest.raises(InvalidTenantFiles) as info:
        load_tenant_files(tenant_files.root)
    assert info.value.lines == [f"{display_path(path)}: (file): not UTF-8 text (byte 26)"]


def test_every_problem_of_every_file_at_once(tenant_files: TenantFiles) -> None:
    good = tenant_files.write(hosts=["shared.example"])
    bad = tenant_files.write(colour="red", hosts=["shared.example", "Upper.example"])
    clash = tenant_files.write(hosts=["shared.example"])
    broken = tenant_files.root / "broken.toml"
    broken.write_text('slug = "broken"\n[names\n', encoding="utf-8")
    with pytest.raises(InvalidTenantFiles) as info:
        load_tenant_files(tenant_files.root)
    shown = {slug: display_path(tenant_files.root / f"{slug}.toml") for slug in (good, clash)}
    bad_path = display_path(tenant_files.root / f"{bad}.toml")
    expected = {
        f"{display_path(broken)}: line 2, column 7: TOML syntax: Expected ']' at the end of a "
        "table declaration",
        f"{bad_path}: hosts[1]: 'Upper.example' must be lowercase",
        f"{bad_path}: branding.primary_colour: must be a #rrggbb colour",
    }
    # The later of two files sharing a host is blamed (files are read in name order).
    first, second = sorted([good, clash])
    expected.add(
        f"{shown[second]}: hosts[0]: 'shared.example' is also a host of {shown[first]} ({first})"
    )
    assert set(info.value.lines) == expected
    assert len(info.value.lines) == len(expected)


def test_the_file_name_is_the_slug(tenant_files: TenantFiles) -> None:
    (tenant_files.root / "guangzhou.toml").write_text(tenant_toml("gz"), encoding="utf-8")
    with pytest.raises(InvalidTenantFiles) as info:
        load_tenant_files(tenant_files.root)
    path = display_path(tenant_files.root / "guangzhou.toml")
    assert info.value.lines == [
        f"{path}: slug: 'gz' must equal the file name ('guangzhou'); rename one of them"
    ]


def test_a_logo_must_exist_in_the_tenants_own_directory(tenant_files: TenantFiles) -> None:
    slug = tenant_files.write()
    path = tenant_files.root / f"{slug}.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[retention]", 'logo = "logo.svg"\n\n[retention]'), "utf-8")
    with pytest.raises(InvalidTenantFiles) as info:
        load_tenant_files(tenant_files.root)
    logo = tenant_files.root / slug / "logo.svg"
    assert info.value.lines == [
        f"{display_path(path)}: branding.logo: {display_path(logo)} does not exist"
    ]
    logo.parent.mkdir()
    logo.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>", encoding="utf-8")
    [file] = load_tenant_files(tenant_files.root)
    assert file.spec.branding.logo == "logo.svg"


def test_only_visible_toml_files_are_tenants(tenant_files: TenantFiles) -> None:
    slug = tenant_files.write()
    (tenant_files.root / ".#draft.toml").write_text("not toml at all [", encoding="utf-8")
    (tenant_files.root / "README.md").write_text("# Tenants", encoding="utf-8")
    (tenant_files.root / f"{slug}.toml~").write_text("backup", encoding="utf-8")
    (tenant_files.root / "assets.toml").mkdir()
    assert [p.name for p in tenant_file_paths(tenant_files.root)] == [f"{slug}.toml"]
    assert [file.spec.slug for file in load_tenant_files(tenant_files.root)] == [slug]


def test_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_tenant_files(tmp_path / "nowhere")
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(NotADirectoryError):
        load_tenant_files(tmp_path / "file")


def test_an_unreadable_file(tenant_files: TenantFiles) -> None:
    path = tenant_files.root / "gone.toml"
    path.symlink_to(tenant_files.root / "elsewhere" / "gone.toml")
    with pytest.raises(InvalidTenantFiles) as info:
        load_tenant_files(tenant_files.root)
    assert info.value.lines == [
        f"{display_path(path)}: (file): cannot read: No such file or directory"
    ]
