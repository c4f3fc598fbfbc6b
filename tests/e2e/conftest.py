"""Fixtures of the end-to-end tests: the whole platform on PostgreSQL, with real channels.

``lifecycle_world``: the tests' world (two commissions, every role) on PostgreSQL,
served by uvicorn on a loopback port, with
- the Alipay sandbox provider in its own process (``arbitral payments sandbox``),
  whose signed notifications reach the app over HTTP;
- the ``channels`` message sender: a local SMTP server (aiosmtpd) and the stand-in
  SMS gateway in its own process (``arbitral service sms-gateway``), which pushes
  its delivery reports to the app over HTTP.
Nothing is stubbed: a notice is served because a channel reported delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from arbitral.payments.sandbox import payment_url
from tests.auth.conftest import cheap_password_hashing
from tests.conftest import PgDatabase, make_settings
from tests.payments.conftest import APP_ID, Sandbox, sandbox, sandbox_keys
from tests.service.conftest import (
    ACCESS_KEY_ID,
    SIGN_NAME,
    TEMPLATE_CODE,
    Mailbox,
    sms_gateway,
    smtp_server,
)
from tests.support.world import World, world

__all__ = ["cheap_password_hashing", "sandbox", "sandbox_keys", "sms_gateway", "smtp_server"]


@dataclass
class LifecycleWorld:
    w: World
    sandbox: Sandbox
    mailbox: Mailbox
    gateway_url: str


@pytest.fixture
async def lifecycle_world(
    pg: PgDatabase,
    tmp_path: Path,
    sandbox: Sandbox,
    smtp_server: tuple[Mailbox, int],
    sms_gateway: tuple[str, int, str, str],
) -> AsyncIterator[LifecycleWorld]:
    mailbox, smtp_port = smtp_server
    gateway_url, app_port, secret_path, token_path = sms_gateway
    settings = make_settings(
        tmp_path,
        database_url=pg.app_url,
        migration_database_url=pg.owner_url,
        public_url=f"http://127.0.0.1:{app_port}",
        payment_url=payment_url(sandbox.gateway, sandbox.keys, APP_ID),
        message_sender="channels",
        smtp_url=f"smtp://127.0.0.1:{smtp_port}?from=notices@arbitral.test&starttls=off",
        sms_url=(
            f"aliyun+http://127.0.0.1:{gateway_url.rsplit(':', 1)[1]}/?access_key_id="
            f"{ACCESS_KEY_ID}&access_key_secret=file:{secret_path}&sign_name={SIGN_NAME}"
            f"&template_code={TEMPLATE_CODE}&report_token=file:{token_path}"
        ),
        # The tests sweep the deadlines themselves, after moving the clock.
        deadline_sweep_interval="0",
    )
    async with world(settings) as w:
        server = uvicorn.Server(
            uvicorn.Config(
                w.app, host="127.0.0.1", port=app_port, lifespan="off", log_level="warning"
            )
        )
        # Leave the test runner's signal handlers alone (Ctrl-C stops pytest, not uvicorn).
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        task = asyncio.create_task(server.serve())
        for _ in range(400):
            if server.started:
                break
            await asyncio.sleep(0.025)
        assert server.started, "the app did not start on its port"
        try:
            yield LifecycleWorld(w, sandbox, mailbox, gateway_url)
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await task
