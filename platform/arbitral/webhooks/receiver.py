"""A stand-in webhook receiver, as a lender would run one (``arbitral webhooks receive``).

It does what the Standard Webhooks specification asks of a receiver, and nothing
else: for every ``POST`` it reads the raw body, checks ``webhook-timestamp`` against
its own clock (five minutes either way) and the ``webhook-signature`` entries against
the secret (:func:`verify`), answers ``204`` to a genuine event and ``401`` (bad or
missing signature, stale timestamp) otherwise, and writes one JSON line per request
to its output: ``{"received_at", "id", "type", "verified", "duplicate", "error",
"payload"}``. An event id seen before is acknowledged again and marked
``"duplicate": true`` (at-least-once delivery: receivers deduplicate on
``webhook-id``). ``--fail-first N`` answers the first N requests with ``500``, to
watch the platform retry. ``GET /_stand-in/events`` lists what it received.

A lender's own code can use :func:`verify` (or any Standard Webhooks library)::

    from arbitral.webhooks.receiver import verify, WebhookVerificationError

    try:
        event = verify("whsec_...", request.headers, raw_body)
    except WebhookVerificationError:
        return 401
    if already_processed(event_id := request.headers["webhook-id"]):
        return 204
    handle(event["type"], event["data"])
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any

from arbitral.webhooks.domain import (
    TOLERANCE_S,
    WebhookVerificationError,
    parse_secret,
    sign_headers,
    verify,
)

__all__ = ["Receiver", "WebhookVerificationError", "sign_headers", "verify"]

MAX_BODY = 1 << 20


@dataclass
class Receiver:
    """The receiver's state: its secret, what it received, how many requests to fail."""

    secret: str
    tolerance_s: int = TOLERANCE_S
    fail_first: int = 0
    output: IO[str] | None = None
    clock: Callable[[], float] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    # Each request as received (headers, raw body), in the order of ``events``.
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        parse_secret(self.secret)  # a malformed secret fails now, not at the first event

    def receive(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Judge one request: (HTTP status to answer, the line recorded)."""
        line: dict[str, Any] = {
            "received_at": datetime.now(UTC).isoformat(),
            "id": headers.get("webhook-id"),
            "type": None,
            "verified": False,
            "duplicate": False,
            "error": None,
            "payload": None,
        }
        with self._lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                status, line["error"] = 500, "told to fail (--fail-first)"
            else:
                try:
                    now = self.clock() if self.clock else None
                    payload = verify(
                        self.secret, headers, body, now=now, tolerance_s=self.tolerance_s
                    )
                except WebhookVerificationError as exc:
                    status, line["error"] = 401, str(exc)
                else:
                    line.update(verified=True, type=payload.get("type"), payload=payload)
                    line["duplicate"] = line["id"] in self._seen
                    self._seen.add(str(line["id"]))
                    status = 204
            self.events.append(line)
            self.requests.append((dict(headers), body))
            if self.output is not None:
                self.output.write(json.dumps(line, ensure_ascii=False) + "\n")
                self.output.flush()
        return status, line

    def verified(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["verified"]]

    # -- serving -----------------------------------------------------------------------

    def bind(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Open the listening socket; return the port."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "arbitral-webhook-receiver"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_BODY:
                    self._answer(413, b"")
                    return
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, _ = receiver.receive(headers, body)
                self._answer(status, b"")

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/_stand-in/events":
                    self._answer(404, b"")
                    return
                with receiver._lock:
                    data = json.dumps(receiver.events, ensure_ascii=False).encode()
                self._answer(200, data, "application/json")

            def _answer(self, status: int, body: bytes, kind: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # one JSON line per event is the log

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        return self.port

    def serve_forever(self) -> None:
        assert self._server is not None, "bind() first"
        self._server.serve_forever(poll_interval=0.1)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve in a background thread (tests); return the port."""
        bound = self.bind(host, port)
        self._thread = threading.Thread(
            target=self.serve_forever, name="webhook-receiver", daemon=True
        )
        self._thread.start()
        return bound

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def run(secret: str, host: str, port: int, *, fail_first: int = 0, tolerance_s: int) -> None:
    """Serve until interrupted, one JSON line per request on standard output."""
    receiver = Receiver(secret, tolerance_s=tolerance_s, fail_first=fail_first, output=sys.stdout)
    bound = receiver.bind(host, port)
    print(f"webhook receiver on http://{host}:{bound}/", file=sys.stderr, flush=True)
    try:
        receiver.serve_forever()
    finally:
        receiver.stop()
