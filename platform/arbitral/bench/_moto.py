"""A moto S3 server in a child process, for tests and benchmarks.

moto is a development dependency: it is imported by the child process only, and
:func:`require_moto` gives a clear message when it is missing. The server runs
with IAM authentication switched on, so requests must be signed with the
credentials it hands out (:attr:`MotoServer.access_key_id`,
:attr:`MotoServer.secret_access_key`) and wrong ones are refused the way a real
S3 endpoint refuses them (``InvalidAccessKeyId``, ``SignatureDoesNotMatch``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REGION = "us-east-1"
_BOOTSTRAP_KEY = "bootstrap"  # any key works while moto's authentication is off
_USER = "arbitral"
_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]}],
}


class MotoUnavailable(RuntimeError):
    """moto (a development dependency) is not installed, or its server did not start."""


def require_moto() -> None:
    """Raise :class:`MotoUnavailable` with an actionable message when moto is missing."""
    missing = [m for m in ("moto", "flask", "werkzeug") if importlib.util.find_spec(m) is None]
    if missing:
        raise MotoUnavailable(
            f"the S3 test server needs moto[server] (missing: {', '.join(missing)}); "
            "install the development extras (pip install -e '.[dev]') "
            "or pass an S3 endpoint explicitly"
        )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class MotoServer:
    """Start ``python -m moto.server`` on a free port; stop it on exit."""

    def __init__(
        self, *, host: str = "127.0.0.1", require_auth: bool = True, log_dir: Path | None = None
    ) -> None:
        self.host = host
        self.require_auth = require_auth
        self.log_dir = log_dir
        self.port = 0
        self.access_key_id = _BOOTSTRAP_KEY
        self.secret_access_key = _BOOTSTRAP_KEY
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._admin: S3Client | None = None

    # -- lifecycle -----------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        if not self.port:
            raise RuntimeError("the moto server is not running")
        return f"http://{self.host}:{self.port}"

    def start(self, *, timeout: float = 30.0) -> MotoServer:
        require_moto()
        last_error = "did not start"
        for _attempt in range(3):  # the free port may be taken between probe and bind
            self.port = _free_port(self.host)
            env = {**os.environ, "MOTO_PORT": str(self.port), "PYTHONWARNINGS": "ignore"}
            if self.log_dir is not None:
                self._log = (self.log_dir / f"moto-{self.port}.log").open("wb")
            self._process = subprocess.Popen(  # noqa: S603 (fixed argv, our interpreter)
                [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=self._log or subprocess.DEVNULL,
                stderr=self._log or subprocess.DEVNULL,
                env=env,
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    last_error = f"exited with status {self._process.returncode}"
                    break
                if self._ping():
                    self._configure()
                    return self
                time.sleep(0.05)
            else:
                last_error = f"did not answer within {timeout:.0f} s"
            self.stop()
        raise MotoUnavailable(f"the moto S3 server {last_error}")

    def stop(self) -> None:
        self._close_admin()
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        elif process is not None:
            process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        self.port = 0

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _ping(self) -> bool:
        try:
            with urllib.request.urlopen(  # noqa: S310 (http URL we built)
                f"{self.endpoint_url}/moto-api/data.json", timeout=1
            ) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _post(self, path: str, body: bytes) -> None:
        request = urllib.request.Request(  # noqa: S310 (http URL we built)
            f"{self.endpoint_url}{path}",
            data=body,
            method="POST",
            headers={"Content-Type": "text/plain"},  # not a form: moto reads the raw body
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()

    def _configure(self) -> None:
        """Create an IAM user allowed ``s3:*``, then make moto check signatures."""
        self.access_key_id = self.secret_access_key = _BOOTSTRAP_KEY
        if not self.require_auth:
            return
        iam = boto3.session.Session().client(
            "iam",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=_BOOTSTRAP_KEY,
            aws_secret_access_key=_BOOTSTRAP_KEY,
        )
        try:
            iam.create_user(UserName=_USER)
            iam.put_user_policy(
                UserName=_USER, PolicyName="s3-all", PolicyDocument=json.dumps(_POLICY)
            )
            key = iam.create_access_key(UserName=_USER)["AccessKey"]
        finally:
            iam.close()
        self.access_key_id = key["AccessKeyId"]
        self.secret_access_key = key["SecretAccessKey"]
        self._post("/moto-api/reset-auth", b"0")

    @contextlib.contextmanager
    def authentication_off(self) -> Iterator[None]:
        """Let unsigned requests through for a while.

        moto's IAM check cannot read query-string (presigned) signatures and answers
        them with a 500; a presigned URL is fetched inside this block.
        """
        if not self.require_auth:
            yield
            return
        self._post("/moto-api/reset-auth", b"inf")
        try:
            yield
        finally:
            self._post("/moto-api/reset-auth", b"0")

    def reset(self) -> None:
        """Forget every bucket and object (and the IAM user: a new one is made)."""
        self._close_admin()
        self._post("/moto-api/reset-auth", b"inf")
        self._post("/moto-api/reset", b"")
        self._configure()

    # -- helpers for callers -------------------------------------------------------

    def client(
        self, *, access_key_id: str | None = None, secret_access_key: str | None = None
    ) -> S3Client:
        """A plain boto3 S3 client for this server (its own credentials by default)."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=access_key_id or self.access_key_id,
            aws_secret_access_key=secret_access_key or self.secret_access_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1, "mode": "standard"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    @property
    def admin(self) -> S3Client:
        """A shared client with the server's credentials (closed by :meth:`stop`)."""
        if self._admin is None:
            self._admin = self.client()
        return self._admin

    def _close_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            admin.close()

    def create_bucket(self, name: str) -> None:
        self.admin.create_bucket(Bucket=name)

    def storage_url(
        self,
        bucket: str,
        *,
        prefix: str | None = None,
        part_size_mb: int | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> str:
        """An ``ARBITRAL_STORAGE_URL`` value for ``bucket`` on this server."""
        user = quote(access_key_id or self.access_key_id, safe="")
        secret = quote(secret_access_key or self.secret_access_key, safe="")
        options: dict[str, str] = {
            "endpoint_url": self.endpoint_url,
            "region": REGION,
            "addressing_style": "path",
        }
        if prefix:
            options["prefix"] = prefix
        if part_size_mb:
            options["part_size_mb"] = str(part_size_mb)
        return f"s3://{user}:{secret}@{bucket}?{urlencode(options)}"
