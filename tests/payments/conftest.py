"""Fixtures of the payments tests: the sandbox provider in its own process, the app on a port.

The sandbox (``arbitral payments sandbox``) runs as a subprocess on a loopback port,
exactly as an operator runs it; the platform reaches it only through the Alipay
adapter. The app is served by uvicorn on another loopback port so that the sandbox's
asynchronous notifications really arrive over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from arbitral.payments.sandbox import payment_url, write_keys
from tests.auth.conftest import auth_world, cheap_password_hashing
from tests.conftest import PgDatabase, make_settings
from tests.support.world import World, world

__all__ = ["auth_world", "cheap_password_hashing"]

APP_ID = "2021000000000042"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Sandbox:
    url: str
    keys: Path
    process: subprocess.Popen[bytes]

    @property
    def gateway(self) -> str:
        return f"{self.url}/gateway.do"


@pytest.fixture(scope="session")
def sandbox_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keys = tmp_path_factory.mktemp("alipay-keys")
    write_keys(keys)
    return keys


@pytest.fixture
def sandbox(sandbox_keys: Path, tmp_path: Path) -> Iterator[Sandbox]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "arbitral",
            "payments",
            "sandbox",
            "--port",
            str(port),
            "--keys",
            str(sandbox_keys),
            "--app-id",
            APP_ID,
            "--state",
            str(tmp_path / "sandbox.sqlite3"),
            "--notify-schedule",
            "0.3,0.6,1,2,4",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{url}/sandbox/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate()
            raise RuntimeError(f"the sandbox did not start: {err.decode()[-2000:]}")
        time.sleep(0.05)
    yield Sandbox(url, sandbox_keys, process)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stderr is not None:
        process.stderr.close()


@dataclass
class PayWorld:
    w: World
    sandbox: Sandbox


@pytest.fixture
async def pay_world(
    db_backend: str, tmp_path: Path, request: pytest.FixtureRequest, sandbox: Sandbox
) -> AsyncIterator[PayWorld]:
    """The tests' world, with the sandbox as its payment provider and the app on a port."""
    port = free_port()
    options = {
        "payment_url": payment_url(sandbox.gateway, sandbox.keys, APP_ID),
        "public_url": f"http://127.0.0.1:{port}",
    }
    if db_backend == "postgres":
        pg: PgDatabase = request.getfixturevalue("pg")
        options |= {"database_url": pg.app_url, "migration_database_url": pg.owner_url}
    settings = make_settings(tmp_path, **options)
    async with world(settings) as w:
        server = uvicorn.Server(
            uvicorn.Config(w.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
        )
        # Leave the test runner's signal handlers alone (Ctrl-C stops pytest, not uvicorn).
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        task = asyncio.create_task(server.serve())
        for _ in range(400):
            if server.started:
                break
            await asyncio.sleep(0.025)
        try:
            yield PayWorld(w, sandbox)
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await task
