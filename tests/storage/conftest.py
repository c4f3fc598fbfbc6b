"""Fixtures for the object-store tests: one moto S3 server per session, a store per test.

The ``store`` fixture is parametrised over both adapters so the contract tests in
``test_contract.py`` run unchanged against the local directory and S3.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from arbitral.settings import StorageConfig, file_url, parse_storage_url
from arbitral.storage import ObjectStore, build_object_store
from arbitral.storage.local import INCOMING, LocalObjectStore
from arbitral.storage.s3 import S3ObjectStore
from tests.support.s3 import (
    MotoServer,
    bucket_name,
    incoming_objects,
    moto_s3_server,
    multipart_uploads,
)

SECRET = b"storage-tests-secret-key-0123456789"
PUBLIC_URL = "http://testserver"
PART_SIZE_MB = 5  # the S3 minimum: multipart paths are reached with small streams
VARIABLE = "ARBITRAL_STORAGE_URL"


@pytest.fixture(scope="session")
def moto(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MotoServer]:
    """The suite's moto server (``s3_server`` in tests/conftest.py), or one of our own."""
    try:
        shared = request.getfixturevalue("s3_server")
    except pytest.FixtureLookupError:
        shared = None
    if isinstance(shared, MotoServer):
        yield shared
        return
    with moto_s3_server(log_dir=tmp_path_factory.mktemp("moto")) as server:
        yield server


@dataclass
class Harness:
    """A store under test plus ways to look behind its back."""

    kind: str
    store: ObjectStore
    config: StorageConfig
    leftovers: Callable[[], Awaitable[list[str]]]
    """Temporary files, temporary objects and unfinished multipart uploads."""
    tamper: Callable[[str, bytes], Awaitable[None]]
    """Replace the stored bytes of a key behind the store's back."""
    moto: MotoServer | None = None

    @property
    def local(self) -> LocalObjectStore:
        assert isinstance(self.store, LocalObjectStore)
        return self.store

    @property
    def s3(self) -> S3ObjectStore:
        assert isinstance(self.store, S3ObjectStore)
        return self.store


def local_config(root: Path) -> StorageConfig:
    return parse_storage_url(VARIABLE, file_url(root))


def s3_config(moto: MotoServer, bucket: str, *, prefix: str = "") -> StorageConfig:
    url = moto.storage_url(bucket, part_size_mb=PART_SIZE_MB, prefix=prefix or None)
    return parse_storage_url(VARIABLE, url)


async def make_local(root: Path) -> Harness:
    config = local_config(root)
    store = build_object_store(config, public_url=PUBLIC_URL, secret_key=SECRET)

    async def leftovers() -> list[str]:
        incoming = root / INCOMING
        return sorted(p.name for p in incoming.iterdir()) if incoming.exists() else []

    async def tamper(key: str, data: bytes) -> None:
        path = root / key
        path.chmod(0o644)
        path.write_bytes(data)
        path.chmod(0o444)

    return Harness("file", store, config, leftovers, tamper)


async def make_s3(moto: MotoServer, *, prefix: str = "") -> Harness:
    bucket = bucket_name()
    moto.create_bucket(bucket)
    config = s3_config(moto, bucket, prefix=prefix)
    store = build_object_store(config, public_url=PUBLIC_URL, secret_key=SECRET)

    async def leftovers() -> list[str]:
        uploads = [f"upload:{key}" for key in multipart_uploads(moto, bucket)]
        return uploads + [f"object:{key}" for key in incoming_objects(moto, bucket)]

    async def tamper(key: str, data: bytes) -> None:
        moto.admin.put_object(Bucket=bucket, Key=f"{config.key_prefix}{key}", Body=data)

    return Harness("s3", store, config, leftovers, tamper, moto)


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "file":
        made = await make_local(tmp_path / "objects")
    else:
        made = await make_s3(request.getfixturevalue("moto"), prefix="arbitral")
    try:
        yield made
    finally:
        await made.store.close()


@pytest.fixture
def store(harness: Harness) -> ObjectStore:
    return harness.store
