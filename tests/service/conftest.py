"""Fixtures of the service tests.

``auth_world`` (the auth tests' world) for the API; ``channels_world`` for the
real channels: an SMTP server (aiosmtpd) and the stand-in SMS gateway (its own
process, ``arbitral service sms-gateway``) on loopback, and the app served over
a real socket too, so that the gateway can push its delivery reports to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller

from tests.auth.conftest import auth_world, cheap_password_hashing
from tests.conftest import REPO_ROOT, PgDatabase, make_settings
from tests.support.world import World, world

__all__ = ["auth_world", "cheap_password_hashing"]

FAILING_NUMBER = "13900000001"  # the gateway reports its delivery failed
SILENT_NUMBER = "13900000002"  # the gateway never reports on it
ACCESS_KEY_ID = "test-key"
SIGN_NAME = "ArbitralTest"
TEMPLATE_CODE = "SMS_100"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mailbox:
    """An SMTP server's handler: refuses some addresses, keeps what it accepts."""

    refuse: set[str] = field(default_factory=set)
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 accepted for delivery"

    def to(self, address: str) -> list[bytes]:
        return [m[2] for m in self.messages if address.lower() in (r.lower() for r in m[1])]


@dataclass
class ChannelsWorld:
    w: World
    mailbox: Mailbox
    gateway_url: str
    report_url: str

    async def gateway_messages(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as client:
            found: list[dict[str, Any]] = (
                await client.get(f"{self.gateway_url}/_stand-in/messages")
            ).json()
        return found


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@pytest.fixture
def sms_gateway(tmp_path: Path) -> Iterator[tuple[str, int, str, str]]:
    """The stand-in gateway as its own process: (URL, app port, secret path, token path)."""
    secret, token = "gateway-secret-" + os.urandom(8).hex(), os.urandom(12).hex()
    (tmp_path / "sms-secret").write_text(secret)
    (tmp_path / "sms-token").write_text(token)
    port, app_port = free_port(), free_port()
    report_url = f"http://127.0.0.1:{app_port}/hooks/sms/aliyun/{token}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "arbitral",
            "service",
            "sms-gateway",
            "--port",
            str(port),
            "--access-key-id",
            ACCESS_KEY_ID,
            "--sign-name",
            SIGN_NAME,
            "--template-code",
            TEMPLATE_CODE,
            "--report-url",
            report_url,
            "--fail",
            FAILING_NUMBER,
            "--silent",
            SILENT_NUMBER,
            "--report-delay",
            "0.1",
        ],
        env={**os.environ, "SMS_GATEWAY_ACCESS_KEY_SECRET": secret},
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/_stand-in/messages", timeout=1)
            break
        except httpx.HTTPError:
            assert process.poll() is None, "the stand-in gateway exited"
            assert time.monotonic() < deadline, "the stand-in gateway did not start"
            time.sleep(0.1)
    yield url, app_port, str(tmp_path / "sms-secret"), str(tmp_path / "sms-token")
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
async def channels_world(
    db_backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    smtp_server: tuple[Mailbox, int],
    sms_gateway: tuple[str, int, str, str],
) -> AsyncIterator[ChannelsWorld]:
    mailbox, smtp_port = smtp_server
    gateway_url, app_port, secret_path, token_path = sms_gateway
    channels = {
        "message_sender": "channels",
        "smtp_url": f"smtp://127.0.0.1:{smtp_port}?from=notices@arbitral.test&starttls=off",
        "sms_url": (
            f"aliyun+http://127.0.0.1:{gateway_url.rsplit(':', 1)[1]}/?access_key_id="
            f"{ACCESS_KEY_ID}&access_key_secret=file:{secret_path}&sign_name={SIGN_NAME}"
            f"&template_code={TEMPLATE_CODE}&report_token=file:{token_path}"
        ),
    }
    if db_backend == "postgres":
        pg: PgDatabase = request.getfixturevalue("pg")
        settings = make_settings(
            tmp_path, database_url=pg.app_url, migration_database_url=pg.owner_url, **channels
        )
    else:
        settings = make_settings(tmp_path, **channels)
    async with world(settings) as w:
        server = uvicorn.Server(
            uvicorn.Config(
                w.app, host="127.0.0.1", port=app_port, lifespan="off", log_level="warning"
            )
        )
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        try:
            yield ChannelsWorld(w, mailbox, gateway_url, f"http://127.0.0.1:{app_port}")
        finally:
            server.should_exit = True
            await task
