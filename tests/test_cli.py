"""The arbitral command, run as a user runs it: a separate process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest

from arbitral.cli import main
from tests.conftest import REPO_ROOT, PgDatabase, make_env
from tests.support.s3 import MotoServer, bucket_name


def run(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARBITRAL_")}
    return subprocess.run(
        [sys.executable, "-m", "arbitral", *args],
        env={**base, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = [prefix]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
        else:
            found.append((*prefix, name))
    return found


def test_every_command_has_help() -> None:
    from click.testing import CliRunner

    commands = _commands(main)
    assert {("demo",), ("serve",), ("worker",), ("migrate",), ("check",)} <= set(commands)
    assert ("bench", "storage") in commands
    runner = CliRunner()
    for path in commands:
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_python_dash_m(tmp_path: Path) -> None:
    result = run("--version", env=make_env(tmp_path))
    assert result.returncode == 0
    assert result.stdout.startswith("arbitral, version")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ARBITRAL_DATABASE_URL", "mysql://root@127.0.0.1/arbitral"),
        ("ARBITRAL_STORAGE_URL", "ftp://files.example/arbitral"),
        ("ARBITRAL_BROKER_URL", "kafka://127.0.0.1:9092"),
    ],
)
def test_unknown_scheme_is_one_line_and_exit_2(tmp_path: Path, variable: str, value: str) -> None:
    for command in (["check"], ["migrate"], ["serve"]):
        result = run(*command, env={**make_env(tmp_path), variable: value})
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"error: {variable}: unknown URL scheme")
        assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {**make_env(tmp_path), "ARBITRAL_DATABASE_URL": "postgresql://app@127.0.0.1:1/arbitral"}
    result = run("migrate", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "error: ARBITRAL_DATABASE_URL: cannot connect to postgresql://app@127.0.0.1:1/arbitral: "
    )
    serve = run("serve", "--port", str(_free_port()), env=env)
    assert serve.returncode == 2
    assert len(serve.stderr.strip().splitlines()) == 1
    assert serve.stderr.startswith("error: ARBITRAL_DATABASE_URL: cannot connect")
    check = run("check", env=env)
    assert check.returncode == 2
    assert "database  FAIL  ARBITRAL_DATABASE_URL: cannot connect" in check.stdout


def test_missing_bucket_and_wrong_credentials(tmp_path: Path, s3_server: MotoServer) -> None:
    missing = s3_server.storage_url(bucket_name("missing"))
    assert run("migrate", env=make_env(tmp_path)).returncode == 0
    result = run(
        "serve",
        "--port",
        str(_free_port()),
        env={**make_env(tmp_path), "ARBITRAL_STORAGE_URL": missing},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ARBITRAL_STORAGE_URL: ")
    assert "does not exist" in lines[0]

    bucket = bucket_name()
    s3_server.create_bucket(bucket)
    wrong = s3_server.storage_url(bucket, access_key_id="AKIAWRONG", secret_access_key="nope")
    check = run("check", env={**make_env(tmp_path), "ARBITRAL_STORAGE_URL": wrong})
    assert check.returncode == 2
    storage_line = next(line for line in check.stdout.splitlines() if line.startswith("storage"))
    assert "FAIL  ARBITRAL_STORAGE_URL: " in storage_line
    assert "credentials" in storage_line


def test_unreachable_broker(tmp_path: Path) -> None:
    env = {**make_env(tmp_path), "ARBITRAL_BROKER_URL": "redis://127.0.0.1:1/0"}
    run("migrate", env=env)
    check = run("check", env=env)
    assert check.returncode == 2
    assert "broker    FAIL  ARBITRAL_BROKER_URL: redis://127.0.0.1:1/0" in check.stdout


@pytest.mark.postgres
@pytest.mark.redis
def test_check_against_postgres_redis_and_s3(
    tmp_path: Path, pg: PgDatabase, s3_server: MotoServer, redis_broker_url: str
) -> None:
    bucket = bucket_name()
    s3_server.create_bucket(bucket)
    env = {
        **make_env(tmp_path),
        "ARBITRAL_DATABASE_URL": pg.app_url,
        "ARBITRAL_MIGRATION_DATABASE_URL": pg.owner_url,
        "ARBITRAL_STORAGE_URL": s3_server.storage_url(bucket),
        "ARBITRAL_BROKER_URL": redis_broker_url,
    }
    result = run("check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["database", "OK"],
        ["storage", "OK"],
        ["broker", "OK"],
    ]
    assert "postgresql" in lines[0]
    assert "not owner, no BYPASSRLS" in lines[0]
    assert bucket in lines[1]
    assert "redis" in lines[2]

    # The owner role must never serve the application.
    owner = run("check", env={**env, "ARBITRAL_DATABASE_URL": pg.owner_url})
    assert owner.returncode == 2
    assert "owns" in owner.stdout
    assert "row-level security" in owner.stdout


@pytest.mark.rabbitmq
def test_check_reports_rabbitmq(tmp_path: Path) -> None:
    from tests.conftest import AMQP_URL

    env = {**make_env(tmp_path), "ARBITRAL_BROKER_URL": AMQP_URL}
    run("migrate", env=env)
    result = run("check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broker    OK    RabbitMQ" in result.stdout


def test_serve_names_pending_migrations(tmp_path: Path) -> None:
    result = run("serve", "--port", str(_free_port()), env=make_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ARBITRAL_DATABASE_URL: sqlite ")
    assert "migration(s) pending; run 'arbitral migrate'" in result.stderr


def test_migrate_then_check_only(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    pending = run("migrate", "--check", env=env)
    assert pending.returncode == 1
    assert "pending" in pending.stdout
    applied = run("migrate", env=env)
    assert applied.returncode == 0
    assert applied.stdout.startswith("applied ")
    assert run("migrate", env=env).stdout.strip() == "no migrations pending"
    assert run("migrate", "--check", env=env).returncode == 0


def test_worker_needs_a_shared_broker(tmp_path: Path) -> None:
    result = run("worker", env=make_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ARBITRAL_BROKER_URL: arbitral worker needs a shared")


def test_worker_refuses_an_unreachable_broker(tmp_path: Path) -> None:
    env = {**make_env(tmp_path), "ARBITRAL_BROKER_URL": "redis://127.0.0.1:1/0"}
    assert run("migrate", env=env).returncode == 0
    result = run("worker", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ARBITRAL_BROKER_URL: redis://127.0.0.1:1/0: ")


def test_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("serve", "--port", str(port), env=make_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: ARBITRAL_HTTP_PORT: 127.0.0.1:{port} is in use"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.postgres
def test_migrate_as_the_application_role_names_the_owner_variable(tmp_path: Path) -> None:
    import asyncio
    import secrets

    from arbitral.db.provision import drop_database, provision_postgres
    from tests.conftest import PG_SUPERUSER_URL, TEST_APP_ROLE, TEST_OWNER_ROLE

    name = f"arbitral_test_{secrets.token_hex(4)}"
    result = asyncio.run(
        provision_postgres(
            PG_SUPERUSER_URL, database=name, owner=TEST_OWNER_ROLE, app_role=TEST_APP_ROLE
        )
    )
    try:
        migrate = run(
            "migrate", env={**make_env(tmp_path), "ARBITRAL_DATABASE_URL": result.app_url}
        )
        assert migrate.returncode == 2
        lines = migrate.stderr.strip().splitlines()
        assert len(lines) == 1, migrate.stderr
        assert lines[0].startswith("error: ARBITRAL_DATABASE_URL: ")
        assert "permission denied" in lines[0]
        assert "owner role (ARBITRAL_MIGRATION_DATABASE_URL)" in lines[0]
    finally:
        asyncio.run(drop_database(PG_SUPERUSER_URL, name))
