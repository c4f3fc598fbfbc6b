"""`arbitral demo` as a newcomer runs it: ready within a minute, Ctrl-C stops it, data stays."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

READY_WITHIN_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(url: str, process: subprocess.Popen[str]) -> dict[str, object]:
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"demo exited early with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    body: dict[str, object] = json.load(response)
                    return body
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} was not ready within {READY_WITHIN_S} s")


def _run_demo(data_dir: Path, port: int) -> tuple[str, str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBITRAL_")}
    env["ARBITRAL_DATA_DIR"] = str(data_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "arbitral", "demo", "--port", str(port)],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = _wait_ready(f"http://127.0.0.1:{port}/health/ready", process)
        assert body["status"] == "ready"
        # Every demo commission can sign its documents (its development CA is published).
        for slug in ("gz", "sz"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/t/{slug}/documents/ca.pem") as ca:
                assert b"BEGIN CERTIFICATE" in ca.read()
        process.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return out, err, process.returncode


@pytest.mark.slow
def test_demo_starts_stops_cleanly_and_keeps_its_data(tmp_path: Path) -> None:
    data = tmp_path / "var"
    port = _free_port()
    out, err, code = _run_demo(data, port)
    assert code == 0, err
    assert "Traceback" not in err
    assert f"http://127.0.0.1:{port}/" in out
    assert "Applied" in out
    assert "commission_admin" in out  # the demo accounts, ready to log in with
    credentials = (data / "demo-credentials.json").read_text()
    assert oct((data / "demo-credentials.json").stat().st_mode & 0o777) == "0o600"
    database = data / "arbitral.sqlite3"
    assert database.is_file()
    secret = (data / "secret_key").read_bytes()

    out2, err2, code2 = _run_demo(data, port)
    assert code2 == 0, err2
    assert "Traceback" not in err2
    assert "Applied" not in out2  # the second run found its database migrated
    assert (data / "secret_key").read_bytes() == secret
    assert (data / "demo-credentials.json").read_text() == credentials
    admin_password = json.loads(credentials)["people"][0]["password"]
    assert admin_password in out2


async def test_demo_accounts_are_made_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arbitral import demo
    from arbitral.db.engine import Database
    from arbitral.db.migrate import migrate
    from arbitral.runtime import build_runtime
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, tenants_dir=str(REPO_ROOT / "tenants"))
    db = Database(settings.database)
    await db.open()
    await migrate(db)
    await db.close()
    runtime = build_runtime(settings)
    await runtime.open()
    try:

        async def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the machine died half-way")

        monkeypatch.setattr(demo, "create_client", broken)
        with pytest.raises(RuntimeError):
            await demo.prepare_demo(runtime)
        assert not (settings.data_dir / demo.CREDENTIALS_FILE).exists()
        assert await runtime.db.fetch("SELECT id FROM tenant_user") == []
        monkeypatch.undo()
        accounts = await demo.prepare_demo(runtime)
        assert accounts is not None
        assert len(accounts.people) == 5
    finally:
        await runtime.close()
