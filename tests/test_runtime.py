from __future__ import annotations

from pathlib import Path

import pytest

from arbitral.runtime import resolve_secret_key
from arbitral.settings import ConfigError
from tests.conftest import make_settings


def test_generated_secret_key_is_kept_and_private(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    key = resolve_secret_key(settings)
    assert len(key) >= 32
    path = settings.data_dir / "secret_key"
    assert path.stat().st_mode & 0o077 == 0
    assert resolve_secret_key(settings) == key
    assert [p.name for p in settings.data_dir.iterdir()] == ["secret_key"]  # no temp files


def test_a_truncated_secret_key_is_a_config_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "secret_key").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"ARBITRAL_DATA_DIR: .*holds a key of 0 bytes"):
        resolve_secret_key(settings)


def test_the_configured_secret_key_wins(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, secret_key="k" * 40)
    assert resolve_secret_key(settings) == b"k" * 40
    assert not (settings.data_dir / "secret_key").exists()
