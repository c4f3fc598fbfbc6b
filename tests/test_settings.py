from __future__ import annotations

from pathlib import Path

import pytest

from arbitral.settings import ConfigError, Settings, redact_url


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"ARBITRAL_DATA_DIR": str(tmp_path), **values}


def test_defaults_are_the_embedded_backends(tmp_path: Path) -> None:
    s = Settings.from_env(env(tmp_path))
    assert s.embedded
    assert s.database.dialect == "sqlite"
    assert s.database.sqlite_path == tmp_path / "arbitral.sqlite3"
    assert s.migration_database == s.database
    assert s.storage.kind == "file"
    assert s.storage.root == tmp_path / "objects"
    assert s.broker.kind == "inprocess"
    assert (s.http_host, s.http_port) == ("127.0.0.1", 8000)
    assert s.public_url == "http://127.0.0.1:8000"


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = Settings.from_env(env(tmp_path))
    with pytest.raises(AttributeError):
        s.http_port = 1  # type: ignore[misc]


def test_production_urls(tmp_path: Path) -> None:
    s = Settings.from_env(
        env(
            tmp_path,
            ARBITRAL_DATABASE_URL="postgresql://app:s3cret@db.internal:6432/arbitral?pool_max=20",
            ARBITRAL_MIGRATION_DATABASE_URL="postgres://owner@db.internal/arbitral",
            ARBITRAL_STORAGE_URL=(
                "s3://evidence?endpoint_url=http://minio:9000&region=cn-south-1"
                "&prefix=/gz/&addressing_style=path&part_size_mb=16&checksum=md5"
            ),
            ARBITRAL_BROKER_URL="redis://cache:6379/2?namespace=gz",
            ARBITRAL_MESSAGE_SENDER="console",
        )
    )
    assert not s.embedded
    assert s.database.dialect == "postgres"
    assert s.database.pool_max == 20
    assert s.database.dsn == "postgresql://app:s3cret@db.internal:6432/arbitral"
    assert "s3cret" not in s.database.display
    assert s.migration_database.dsn == "postgresql://owner@db.internal/arbitral"
    assert s.storage.bucket == "evidence"
    assert s.storage.endpoint_url == "http://minio:9000"
    assert s.storage.region == "cn-south-1"
    assert s.storage.key_prefix == "gz/"
    assert s.storage.addressing_style == "path"
    assert s.storage.part_size == 16 * 1024 * 1024
    assert s.storage.checksum == "md5"
    assert s.broker.kind == "redis"
    assert s.broker.namespace == "gz"
    assert s.broker.client_url == "redis://cache:6379/2"


def test_amqp_broker(tmp_path: Path) -> None:
    s = Settings.from_env(env(tmp_path, ARBITRAL_BROKER_URL="amqp://guest:guest@mq:5672/%2F"))
    assert s.broker.kind == "amqp"
    assert s.broker.display == "amqp://guest:***@mq:5672/%2F"


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("ARBITRAL_DATABASE_URL", "mysql://x@h/db", "unknown URL scheme mysql:"),
        ("ARBITRAL_DATABASE_URL", "postgresql:///db", "needs a host"),
        ("ARBITRAL_DATABASE_URL", "postgresql://h", "needs a database name"),
        ("ARBITRAL_DATABASE_URL", "postgresql://h:port/db", "port is not a number"),
        ("ARBITRAL_DATABASE_URL", "postgresql://h/db?pool_min=5&pool_max=2", "pool_min"),
        ("ARBITRAL_DATABASE_URL", "sqlite://host/x.db", "has no host"),
        ("ARBITRAL_DATABASE_URL", "sqlite:///tmp/x.db?mode=ro", "unknown option 'mode'"),
        ("ARBITRAL_STORAGE_URL", "ftp://files/x", "unknown URL scheme ftp:"),
        ("ARBITRAL_STORAGE_URL", "s3://", "names the bucket"),
        ("ARBITRAL_STORAGE_URL", "s3://b?endpoint=http://x", "unknown option 'endpoint'"),
        ("ARBITRAL_STORAGE_URL", "s3://b?endpoint_url=minio:9000", "http(s) URL"),
        ("ARBITRAL_STORAGE_URL", "s3://b?part_size_mb=1", "between 5 and 5120"),
        ("ARBITRAL_STORAGE_URL", "s3://b?checksum=sha1", "checksum must be crc32 or md5"),
        ("ARBITRAL_STORAGE_URL", "file://remote/share", "local directory"),
        ("ARBITRAL_BROKER_URL", "kafka://k:9092", "unknown URL scheme kafka:"),
        ("ARBITRAL_BROKER_URL", "redis:///0", "needs a host"),
        ("ARBITRAL_BROKER_URL", "redis://h/0?namespace=a b", "namespace"),
        ("ARBITRAL_HTTP_PORT", "eighty", "must be an integer"),
        ("ARBITRAL_HTTP_PORT", "70000", "between 1 and 65535"),
        ("ARBITRAL_LOG_LEVEL", "LOUD", "unknown level"),
        ("ARBITRAL_LOG_FORMAT", "xml", "unknown format"),
        ("ARBITRAL_SECRET_KEY", "short", "at least 32"),
        ("ARBITRAL_PUBLIC_URL", "ftp://x", "http(s) URL"),
        ("ARBITRAL_DATABSE_URL", "sqlite:///x", "did you mean ARBITRAL_DATABASE_URL"),
    ],
)
def test_bad_settings_name_the_variable_and_the_problem(
    tmp_path: Path, variable: str, value: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env(tmp_path, **{variable: value}))
    assert info.value.variable == variable
    assert str(info.value).startswith(f"{variable}: ")
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_migration_database_must_be_the_same_dialect(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(
            env(
                tmp_path,
                ARBITRAL_DATABASE_URL="postgresql://app@h/db",
                ARBITRAL_MIGRATION_DATABASE_URL="sqlite:///x.db",
            )
        )
    assert info.value.variable == "ARBITRAL_MIGRATION_DATABASE_URL"


def test_unrelated_variables_are_ignored(tmp_path: Path) -> None:
    Settings.from_env(env(tmp_path, PATH="/bin", HOME="/root", ARBITRALITY="x"))


def test_redact_url() -> None:
    assert redact_url("postgresql://u:p@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redact_url("postgresql://u@h/d") == "postgresql://u@h/d"


def test_a_data_dir_with_spaces_and_cjk(tmp_path: Path) -> None:
    data = tmp_path / "仲裁 数据"
    s = Settings.from_env({"ARBITRAL_DATA_DIR": str(data)})
    assert s.database.sqlite_path == data / "arbitral.sqlite3"
    assert s.storage.root == data / "objects"


def test_secrets_never_reach_display_strings(tmp_path: Path) -> None:
    s = Settings.from_env(
        env(
            tmp_path,
            ARBITRAL_DATABASE_URL="postgresql://app:pw1@h/db?password=pw2&sslmode=require",
            ARBITRAL_BROKER_URL="redis://:pw3@cache:6379/0?password=pw4",
            ARBITRAL_STORAGE_URL="s3://AKIA:pw5@bucket?region=x",
            ARBITRAL_MESSAGE_SENDER="console",
        )
    )
    shown = " ".join([s.database.display, s.broker.display, s.storage.display])
    for secret in ("pw1", "pw2", "pw3", "pw4", "pw5"):
        assert secret not in shown
    assert "sslmode=require" in s.database.display
    assert s.database.dsn is not None
    assert "password=pw2" in s.database.dsn  # the driver still gets it


def test_bucket_names_keep_their_case(tmp_path: Path) -> None:
    s = Settings.from_env(env(tmp_path, ARBITRAL_STORAGE_URL="s3://k:s@Legacy.Bucket?region=x"))
    assert s.storage.bucket == "Legacy.Bucket"


def test_broker_port_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ARBITRAL_BROKER_URL: the port"):
        Settings.from_env(env(tmp_path, ARBITRAL_BROKER_URL="redis://h:99999/0"))


def test_migration_database_must_name_the_same_database(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(
            env(
                tmp_path,
                ARBITRAL_DATABASE_URL="postgresql://app@h/one",
                ARBITRAL_MIGRATION_DATABASE_URL="postgresql://owner@h/two",
            )
        )
    assert info.value.variable == "ARBITRAL_MIGRATION_DATABASE_URL"
    assert "same database" in str(info.value)


def test_key_encryption_key(tmp_path: Path) -> None:
    import base64

    raw = bytes(range(32))
    for given in (
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        raw.hex(),
    ):
        s = Settings.from_env(env(tmp_path, ARBITRAL_KEY_ENCRYPTION_KEY=given))
        assert s.key_encryption_key == raw
    shown = repr(Settings.from_env(env(tmp_path, ARBITRAL_KEY_ENCRYPTION_KEY=raw.hex())))
    assert "key_encryption_key=" not in shown
    assert repr(raw) not in shown
    for bad, fragment in (("c2hvcnQ=", "got 5"), ("not base64 at all!", "base64 or hex")):
        with pytest.raises(ConfigError, match=fragment) as info:
            Settings.from_env(env(tmp_path, ARBITRAL_KEY_ENCRYPTION_KEY=bad))
        assert info.value.variable == "ARBITRAL_KEY_ENCRYPTION_KEY"


def test_production_must_choose_how_messages_leave(tmp_path: Path) -> None:
    assert Settings.from_env(env(tmp_path)).message_sender == "console"
    with pytest.raises(ConfigError, match="ARBITRAL_MESSAGE_SENDER: must be set"):
        Settings.from_env(env(tmp_path, ARBITRAL_DATABASE_URL="postgresql://app@h/db"))
    chosen = Settings.from_env(
        env(
            tmp_path,
            ARBITRAL_DATABASE_URL="postgresql://app@h/db",
            ARBITRAL_MESSAGE_SENDER="console",
        )
    )
    assert chosen.message_sender == "console"
    with pytest.raises(ConfigError, match="unknown sender 'sms'"):
        Settings.from_env(env(tmp_path, ARBITRAL_MESSAGE_SENDER="sms"))
