"""An S3 endpoint for tests: moto's server in a child process, on a free port.

The server logic lives in :mod:`arbitral.bench._moto` (the storage benchmark uses it
too). The server checks SigV4 signatures against an IAM user it creates, so wrong
credentials are refused as on a real endpoint; moto cannot check presigned
(query-string) signatures, so fetch those inside ``server.authentication_off()``.

Usage::

    with moto_s3_server() as server:
        server.create_bucket("evidence")
        url = server.storage_url("evidence")  # an ARBITRAL_STORAGE_URL value
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from arbitral.bench._moto import REGION, MotoServer, MotoUnavailable, require_moto

__all__ = [
    "REGION",
    "MotoServer",
    "MotoUnavailable",
    "bucket_name",
    "incoming_objects",
    "moto_s3_server",
    "multipart_uploads",
    "object_names",
    "require_moto",
]


@contextmanager
def moto_s3_server(*, log_dir: Path | None = None) -> Iterator[MotoServer]:
    """Start a moto S3 server for the duration of the block."""
    server = MotoServer(log_dir=log_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def bucket_name(prefix: str = "arbitral-test") -> str:
    """A fresh, valid bucket name."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def object_names(server: MotoServer, bucket: str, prefix: str = "") -> list[str]:
    """Every object name in ``bucket`` under ``prefix``."""
    names: list[str] = []
    paginator = server.admin.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        names.extend(item["Key"] for item in page.get("Contents", []))
    return names


def incoming_objects(server: MotoServer, bucket: str) -> list[str]:
    """Temporary upload objects (``…/incoming/…``) left in ``bucket``."""
    return [name for name in object_names(server, bucket) if "/incoming/" in name]


def multipart_uploads(server: MotoServer, bucket: str) -> list[str]:
    """Keys of multipart uploads neither completed nor aborted in ``bucket``."""
    response = server.admin.list_multipart_uploads(Bucket=bucket)
    return [upload["Key"] for upload in response.get("Uploads", [])]
