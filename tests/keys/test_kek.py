"""The key-encryption key: from the settings, or generated once for the embedded default."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from arbitral.keys.services import resolve_key_encryption_key
from arbitral.settings import ConfigError, Settings
from tests.conftest import make_settings

PG_URL = "postgresql://app@127.0.0.1:5432/arbitral"  # never connected to


def unset(tmp_path: Path, **overrides: str) -> Settings:
    """Settings without ARBITRAL_KEY_ENCRYPTION_KEY (the suite's make_env sets one)."""
    return make_settings(tmp_path, **{"key_encryption_key": "", **overrides})


def test_a_generated_kek_is_kept_private_and_reusable_as_the_variable(tmp_path: Path) -> None:
    settings = unset(tmp_path)
    kek = resolve_key_encryption_key(settings)
    assert len(kek) == 32
    path = settings.data_dir / "key_encryption_key"
    assert path.stat().st_mode & 0o077 == 0
    assert resolve_key_encryption_key(settings) == kek
    assert [p.name for p in settings.data_dir.iterdir()] == ["key_encryption_key"]  # no temps
    # The file's text is what ARBITRAL_KEY_ENCRYPTION_KEY takes when the data moves elsewhere.
    text = path.read_text().strip()
    assert base64.b64decode(text) == kek
    assert make_settings(tmp_path / "elsewhere", key_encryption_key=text).key_encryption_key == kek


def test_concurrent_first_resolutions_agree(tmp_path: Path) -> None:
    settings = unset(tmp_path)
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = list(pool.map(lambda _: resolve_key_encryption_key(settings), range(16)))
    assert len(set(keys)) == 1
    assert [p.name for p in settings.data_dir.iterdir()] == ["key_encryption_key"]


def test_the_configured_kek_wins(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, key_encryption_key="ab" * 32)
    assert resolve_key_encryption_key(settings) == bytes.fromhex("ab" * 32)
    assert not settings.data_dir.exists()


def test_postgresql_requires_the_variable(tmp_path: Path) -> None:
    settings = unset(tmp_path, database_url=PG_URL)
    with pytest.raises(ConfigError) as caught:
        resolve_key_encryption_key(settings)
    assert caught.value.variable == "ARBITRAL_KEY_ENCRYPTION_KEY"
    assert "must be set when the database is PostgreSQL" in str(caught.value)
    assert not settings.data_dir.exists()
    # A file left in the data directory does not stand in for it either.
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "key_encryption_key").write_text(base64.b64encode(b"k" * 32).decode())
    with pytest.raises(ConfigError, match="ARBITRAL_KEY_ENCRYPTION_KEY"):
        resolve_key_encryption_key(settings)
    configured = make_settings(tmp_path, database_url=PG_URL, key_encryption_key="cd" * 32)
    assert resolve_key_encryption_key(configured) == bytes.fromhex("cd" * 32)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "got 0"),
        (base64.b64encode(b"k" * 16), "got 16"),
        (b"not base64 at all!", "base64 or hex"),
    ],
)
def test_a_damaged_kek_file_is_a_config_error(tmp_path: Path, content: bytes, problem: str) -> None:
    settings = unset(tmp_path)
    settings.data_dir.mkdir(parents=True)
    path = settings.data_dir / "key_encryption_key"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        resolve_key_encryption_key(settings)
    assert caught.value.variable == "ARBITRAL_DATA_DIR"
    assert str(path) in caught.value.problem
    assert problem in caught.value.problem
    assert "restore it from a backup" in caught.value.problem
    assert path.read_bytes() == content  # never replaced: that would orphan every sealed key


def test_an_unwritable_data_dir_is_a_config_error(tmp_path: Path) -> None:
    settings = unset(tmp_path)
    settings.data_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.data_dir.write_text("a file where the directory should be")
    with pytest.raises(ConfigError, match=r"ARBITRAL_DATA_DIR: cannot (read|write)"):
        resolve_key_encryption_key(settings)
