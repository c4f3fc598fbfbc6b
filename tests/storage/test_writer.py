"""Writes driven step by step, and staging objects: the contract on both stores."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from arbitral.settings import parse_storage_url
from arbitral.storage import (
    DigestMismatch,
    InvalidKey,
    ObjectNotFound,
    ObjectTooLarge,
    build_object_store,
    object_key,
)
from tests.storage.conftest import PART_SIZE_MB, PUBLIC_URL, SECRET, VARIABLE, Harness
from tests.storage.streams import Generated, read_all, sha, stream_of
from tests.support.s3 import MotoServer, bucket_name

MIB = 1 << 20
PART = PART_SIZE_MB * MIB


@pytest.mark.parametrize("size", [10, PART, 2 * PART + 12_345])
async def test_a_writer_stores_only_on_commit(harness: Harness, size: int) -> None:
    store = harness.store
    source = Generated(size, chunk_size=333_333, seed=b"writer")
    key = object_key("t", source.sha256())
    writer = await store.writer("t", expected_sha256=source.sha256())
    for chunk in source.chunks():
        await writer.write(chunk)
    assert writer.size == size
    assert not await store.exists(key)  # nothing visible before the commit
    stored = await writer.commit()
    assert (stored.key, stored.sha256, stored.size, stored.created) == (
        key,
        source.sha256(),
        size,
        True,
    )
    assert sha(await read_all(store, key)) == source.sha256()
    assert await harness.leftovers() == []


@pytest.mark.parametrize("size", [10, 3 * PART + 1])
async def test_an_aborted_writer_leaves_nothing(harness: Harness, size: int) -> None:
    store = harness.store
    source = Generated(size, seed=b"aborted")
    writer = await store.writer("t", expected_sha256=source.sha256())
    for chunk in source.chunks():
        await writer.write(chunk)
    await writer.abort()
    await writer.abort()  # idempotent
    assert not await store.exists(object_key("t", source.sha256()))
    assert await harness.leftovers() == []
    with pytest.raises(RuntimeError):
        await writer.write(b"more")


async def test_leaving_the_block_without_commit_aborts(harness: Harness) -> None:
    source = Generated(2 * PART + 1, seed=b"block")
    with pytest.raises(LookupError):
        async with await harness.store.writer("t") as writer:
            for chunk in source.chunks():
                await writer.write(chunk)
            raise LookupError("the caller's check failed")
    assert not await harness.store.exists(object_key("t", source.sha256()))
    assert await harness.leftovers() == []


@pytest.mark.parametrize("size", [10, 2 * PART + 5])
async def test_a_writer_refuses_other_bytes_at_commit(harness: Harness, size: int) -> None:
    source = Generated(size, seed=b"claimed")
    wrong = hashlib.sha256(b"other").hexdigest()
    writer = await harness.store.writer("t", expected_sha256=wrong)
    for chunk in source.chunks():
        await writer.write(chunk)
    with pytest.raises(DigestMismatch):
        await writer.commit()
    assert not await harness.store.exists(object_key("t", wrong))
    assert not await harness.store.exists(object_key("t", source.sha256()))
    assert await harness.leftovers() == []


@pytest.mark.parametrize("size", [10, 2 * PART + 5])
async def test_a_writer_over_an_existing_object_only_checks(harness: Harness, size: int) -> None:
    store = harness.store
    source = Generated(size, seed=b"exists")
    first = await store.put("t", source.stream())
    await harness.tamper(first.key, b"tampered")  # a rewrite would "repair" it
    writer = await store.writer("t", expected_sha256=source.sha256())
    for chunk in source.chunks():
        await writer.write(chunk)
    again = await writer.commit()
    assert again.created is False
    assert again.key == first.key
    assert await read_all(store, first.key) == b"tampered"
    assert await harness.leftovers() == []


async def test_a_writer_enforces_max_size(harness: Harness) -> None:
    writer = await harness.store.writer("t", max_size=PART)
    async with writer:
        await writer.write(b"x" * PART)
        with pytest.raises(ObjectTooLarge):
            await writer.write(b"x")
    assert await harness.leftovers() == []


# -- staging objects ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 10, PART, 2 * PART + 7])
async def test_staging_objects_round_trip_and_are_replaced(harness: Harness, size: int) -> None:
    store = harness.store
    source = Generated(size, chunk_size=100_003, seed=b"stage")
    staged = await store.stage("t", "upload-1.00001", source.stream())
    assert (staged.name, staged.size, staged.sha256) == ("upload-1.00001", size, source.sha256())
    read = b"".join([c async for c in store.open_staged("t", "upload-1.00001")])
    assert sha(read) == source.sha256()
    # A staging object is not a content-addressed object.
    assert not await store.exists(object_key("t", source.sha256()))
    # Written again: replaced.
    replaced = await store.stage("t", "upload-1.00001", stream_of(b"second"))
    assert replaced.size == 6
    assert b"".join([c async for c in store.open_staged("t", "upload-1.00001")]) == b"second"
    assert await harness.leftovers() == []


async def test_a_failed_staging_write_keeps_the_previous_bytes(harness: Harness) -> None:
    store = harness.store
    await store.stage("t", "part", stream_of(b"first"))

    async def broken() -> AsyncIterator[bytes]:
        yield b"a" * (PART + 1)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.stage("t", "part", broken())
    with pytest.raises(ObjectTooLarge):
        await store.stage("t", "part", stream_of(b"b" * 100), max_size=99)
    assert b"".join([c async for c in store.open_staged("t", "part")]) == b"first"
    assert await harness.leftovers() == []


async def test_staging_objects_are_discarded_per_namespace(harness: Harness) -> None:
    store = harness.store
    await store.stage("a", "u.1", stream_of(b"one"))
    await store.stage("a", "u.2", stream_of(b"two"))
    await store.stage("b", "u.1", stream_of(b"other tenant"))
    await store.discard_staged("a", ["u.1", "u.2", "u.3"])  # u.3 never existed
    await store.discard_staged("a", ["u.1"])  # twice: nothing to do
    for name in ("u.1", "u.2"):
        with pytest.raises(ObjectNotFound):
            [c async for c in store.open_staged("a", name)]
    assert b"".join([c async for c in store.open_staged("b", "u.1")]) == b"other tenant"


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../x", "x" * 129, "é", "a b"])
async def test_invalid_staging_names_are_refused(harness: Harness, name: str) -> None:
    with pytest.raises(InvalidKey):
        await harness.store.stage("t", name, stream_of(b"x"))
    with pytest.raises(InvalidKey):
        await harness.store.discard_staged("t", [name])
    with pytest.raises(InvalidKey):
        await harness.store.stage("../t", "ok", stream_of(b"x"))


@pytest.mark.s3
@pytest.mark.parametrize("checksum", ["crc32", "md5"])
async def test_s3_checksums_either_way(moto: MotoServer, checksum: str) -> None:
    """CRC32 (the default, as boto3 sends) or Content-MD5 (for older S3 APIs): both store."""
    bucket = bucket_name()
    moto.create_bucket(bucket)
    url = moto.storage_url(bucket, part_size_mb=PART_SIZE_MB) + f"&checksum={checksum}"
    store = build_object_store(
        parse_storage_url(VARIABLE, url), public_url=PUBLIC_URL, secret_key=SECRET
    )
    try:
        for size in (10, 2 * PART + 1):
            source = Generated(size, seed=checksum.encode())
            stored = await store.put("t", source.stream(), expected_sha256=source.sha256())
            assert sha(await read_all(store, stored.key)) == source.sha256()
            staged = await store.stage("t", "p", source.stream())
            assert staged.sha256 == source.sha256()
        head = moto.admin.head_object(Bucket=bucket, Key=stored.key, ChecksumMode="ENABLED")
        assert ("ChecksumCRC32" in head) is (checksum == "crc32")
    finally:
        await store.close()
