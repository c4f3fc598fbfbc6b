"""``arbitral webhooks receive``: the stand-in receiver as its own process."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from arbitral.webhooks import domain
from tests.conftest import REPO_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def receiver_process() -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    secret = domain.format_secret(domain.new_secret())
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "arbitral", "webhooks", "receive", "--port", str(port)],
        env={"WEBHOOK_SECRET": secret, "PATH": "/usr/bin:/bin"},
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/_stand-in/events", timeout=1)
            break
        except httpx.HTTPError:
            assert process.poll() is None, "the receiver exited"
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.1)
    yield url, secret, process
    process.terminate()
    process.wait(timeout=10)


def test_the_receiver_verifies_and_prints_json_lines(
    receiver_process: tuple[str, str, subprocess.Popen[str]],
) -> None:
    url, secret, process = receiver_process
    body = domain.encode_body({"type": "batch.completed", "timestamp": "t", "data": {"n": 1}})
    headers = domain.sign_headers([domain.parse_secret(secret)], "evt_1", int(time.time()), body)
    good = httpx.post(url + "/hook", content=body, headers=headers)
    assert good.status_code == 204
    tampered = httpx.post(url + "/hook", content=body.replace(b"1", b"2"), headers=headers)
    assert tampered.status_code == 401
    stale = domain.sign_headers(
        [domain.parse_secret(secret)], "evt_2", int(time.time()) - 600, body
    )
    assert httpx.post(url + "/hook", content=body, headers=stale).status_code == 401
    again = httpx.post(url + "/hook", content=body, headers=headers)
    assert again.status_code == 204
    events = httpx.get(url + "/_stand-in/events").json()
    assert [(e["id"], e["verified"], e["duplicate"]) for e in events] == [
        ("evt_1", True, False),
        ("evt_1", False, False),
        ("evt_2", False, False),
        ("evt_1", True, True),
    ]
    process.terminate()
    out, _ = process.communicate(timeout=10)
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [line["verified"] for line in lines] == [True, False, False, True]
    assert lines[0]["payload"]["data"] == {"n": 1}
    assert lines[1]["error"] == "no signature matches"


def test_a_malformed_secret_is_refused_at_start() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "arbitral", "webhooks", "receive", "--secret", "whsec_!!"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "--secret" in result.stderr
