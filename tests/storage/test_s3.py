"""What only the S3 adapter does: its failures, metadata, temporary keys and presigning."""

from __future__ import annotations

import socket
import time
import urllib.request
from dataclasses import replace

import pytest

from arbitral.settings import parse_storage_url
from arbitral.storage import StorageUnavailable, build_object_store
from arbitral.storage.s3 import S3ObjectStore
from tests.storage.conftest import (
    PART_SIZE_MB,
    PUBLIC_URL,
    SECRET,
    VARIABLE,
    make_s3,
    s3_config,
)
from tests.storage.streams import Generated, read_all, stream_of
from tests.support.s3 import MotoServer, bucket_name, multipart_uploads, object_names

pytestmark = pytest.mark.s3

PART = PART_SIZE_MB << 20


def s3_store(moto: MotoServer, bucket: str, **credentials: str) -> S3ObjectStore:
    url = moto.storage_url(bucket, part_size_mb=PART_SIZE_MB, **credentials)
    store = build_object_store(
        parse_storage_url(VARIABLE, url), public_url=PUBLIC_URL, secret_key=SECRET
    )
    assert isinstance(store, S3ObjectStore)
    return store


async def test_missing_bucket_is_reported_clearly(moto: MotoServer) -> None:
    missing = bucket_name("missing")
    store = s3_store(moto, missing)
    try:
        with pytest.raises(StorageUnavailable) as caught:
            await store.check()
        assert str(caught.value) == f"bucket '{missing}' does not exist at {moto.endpoint_url}"

        with pytest.raises(StorageUnavailable, match=f"bucket '{missing}' does not exist"):
            await store.put("t", stream_of(b"small"))
        with pytest.raises(StorageUnavailable, match=f"bucket '{missing}' does not exist"):
            await store.put("t", Generated(PART + 1).stream())
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        ({"access_key_id": "AKIAUNKNOWNKEY000000"}, "InvalidAccessKeyId"),
        ({"secret_access_key": "not-the-secret"}, "SignatureDoesNotMatch"),
    ],
)
async def test_wrong_credentials_are_reported_clearly(
    moto: MotoServer, credentials: dict[str, str], code: str
) -> None:
    bucket = bucket_name()
    moto.create_bucket(bucket)
    store = s3_store(moto, bucket, **credentials)
    try:
        with pytest.raises(StorageUnavailable) as caught:
            await store.check()
        assert str(caught.value) == (
            f"credentials rejected for bucket '{bucket}' at {moto.endpoint_url}: {code}"
        )
        with pytest.raises(StorageUnavailable, match=f"credentials rejected .*: {code}"):
            await store.put("t", stream_of(b"small"))
        with pytest.raises(StorageUnavailable, match="credentials rejected"):
            await store.put("t", Generated(PART + 1).stream())
        assert multipart_uploads(moto, bucket) == []
        assert object_names(moto, bucket) == []
    finally:
        await store.close()


async def test_unreachable_endpoint_is_reported_clearly() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    config = parse_storage_url(VARIABLE, f"s3://k:s@evidence?endpoint_url={endpoint}")
    store = build_object_store(config, public_url=PUBLIC_URL, secret_key=SECRET)
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as caught:
            await store.check()
        assert str(caught.value).startswith(f"cannot reach {endpoint}: ")
        assert "\n" not in str(caught.value)
        assert time.monotonic() - started < 15
    finally:
        await store.close()


async def test_credentials_from_the_default_chain(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = bucket_name()
    moto.create_bucket(bucket)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_access_key)
    url = f"s3://{bucket}?endpoint_url={moto.endpoint_url}&addressing_style=path"
    config = parse_storage_url(VARIABLE, url)
    assert config.access_key_id is None
    store = build_object_store(config, public_url=PUBLIC_URL, secret_key=SECRET)
    try:
        assert "versioning" in await store.check()
        stored = await store.put("t", stream_of(b"via the environment"))
        assert await read_all(store, stored.key) == b"via the environment"
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("size", "announce"),
    [(10, False), (10, True), (2 * PART + 1, False), (2 * PART + 1, True)],
    ids=["small", "small-expected", "multipart-temp-copy", "multipart-direct"],
)
async def test_objects_carry_their_digest_under_the_prefix(
    moto: MotoServer, size: int, announce: bool
) -> None:
    harness = await make_s3(moto, prefix="deploy/a")
    try:
        source = Generated(size, seed=b"meta")
        digest = source.sha256()
        stored = await harness.store.put(
            "tenant-7", source.stream(), expected_sha256=digest if announce else None
        )
        name = f"deploy/a/{stored.key}"
        assert object_names(moto, str(harness.config.bucket)) == [name]
        head = moto.admin.head_object(Bucket=str(harness.config.bucket), Key=name)
        assert head["Metadata"] == {"sha256": digest}
        assert head["ContentLength"] == size
        assert head["ContentType"] == "application/octet-stream"
        assert await harness.leftovers() == []
    finally:
        await harness.store.close()


@pytest.mark.parametrize("size", [10, 2 * PART + 1])
async def test_repeated_puts_add_no_version(moto: MotoServer, size: int) -> None:
    harness = await make_s3(moto)
    bucket = str(harness.config.bucket)
    moto.admin.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    try:
        assert "versioning: Enabled" in await harness.store.check()
        source = Generated(size, seed=b"versions")
        first = await harness.store.put("t", source.stream())
        again = await harness.store.put("t", source.stream())
        again_expected = await harness.store.put(
            "t", source.stream(), expected_sha256=source.sha256()
        )
        assert (first.created, again.created, again_expected.created) == (True, False, False)
        versions = moto.admin.list_object_versions(Bucket=bucket, Prefix=first.key)
        assert len(versions.get("Versions", [])) == 1
        assert versions.get("DeleteMarkers", []) == []
    finally:
        await harness.store.close()


async def test_object_lock_bucket(moto: MotoServer) -> None:
    bucket = bucket_name("locked")
    moto.admin.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    moto.admin.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    store = build_object_store(s3_config(moto, bucket), public_url=PUBLIC_URL, secret_key=SECRET)
    try:
        line = await store.check()
        assert "versioning: Enabled" in line
        assert "object lock: on (GOVERNANCE, 1 days)" in line
        small = await store.put("t", stream_of(b"locked evidence"))
        large = await store.put("t", Generated(PART + 1).stream())
        assert await store.verify(small.key)
        assert await store.verify(large.key)
    finally:
        await store.close()


async def test_presigned_url_downloads_the_object(moto: MotoServer) -> None:
    harness = await make_s3(moto)
    try:
        data = b"%PDF-1.7 the award"
        stored = await harness.store.put("t", stream_of(data))
        url = await harness.store.presigned_url(stored.key, expires_in=60, filename="裁决书.pdf")
        # moto cannot check query-string signatures with its IAM emulation switched on
        with moto.authentication_off(), urllib.request.urlopen(url, timeout=10) as response:
            body = response.read()
            disposition = response.headers["Content-Disposition"]
            content_type = response.headers["Content-Type"]
    finally:
        await harness.store.close()
    assert body == data
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E8%A3%81%E5%86%B3%E4%B9%A6.pdf" in disposition
    assert content_type == "application/octet-stream"


async def test_part_size_comes_from_the_configuration(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = bucket_name()
    moto.create_bucket(bucket)
    config = replace(s3_config(moto, bucket), part_size=6 << 20)
    store = S3ObjectStore(config)
    try:
        seen: list[int] = []
        original = store.client.upload_part

        def spy(**kwargs: object) -> object:
            body = kwargs["Body"]
            assert isinstance(body, (bytes, bytearray))
            seen.append(len(body))
            return original(**kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(store.client, "upload_part", spy)
        await store.put("t", Generated(13 << 20, chunk_size=1_000_003).stream())
        # Parts upload concurrently: their sizes, in whatever order they were sent.
        assert sorted(seen, reverse=True) == [6 << 20, 6 << 20, 1 << 20]
    finally:
        await store.close()


async def test_object_stored_concurrently_before_complete(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If-None-Match on CompleteMultipartUpload: a writer that loses the race aborts."""
    harness = await make_s3(moto)
    store = harness.s3
    source = Generated(PART + 10, seed=b"race-to-complete")
    name = store.name_of(f"t/sha256/{source.sha256()[:2]}/{source.sha256()}")
    original = store.client.complete_multipart_upload

    def other_writer_first(**kwargs: object) -> object:
        moto.admin.put_object(Bucket=store.bucket, Key=name, Body=b"".join(source.chunks()))
        return original(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store.client, "complete_multipart_upload", other_writer_first)
    try:
        stored = await store.put("t", source.stream(), expected_sha256=source.sha256())
        assert stored.created is False
        assert await store.verify(stored.key)
        assert await harness.leftovers() == []
    finally:
        await store.close()
