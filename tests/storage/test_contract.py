"""The ObjectStore contract, run against the local directory and S3 (moto server)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import anyio
import pytest

from arbitral.storage import (
    DigestMismatch,
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    StoredObject,
    object_key,
)
from tests.storage.conftest import PART_SIZE_MB, Harness
from tests.storage.streams import Generated, read_all, sha, stream_of

MIB = 1 << 20
PART = PART_SIZE_MB * MIB

# Sizes around the S3 adapter's paths: empty, single PutObject, exactly one part,
# several parts with a short last one. Chunks of odd sizes straddle part boundaries.
SIZES = [0, 1, 100_000, PART - 1, PART, 2 * PART + 12_345]


@pytest.mark.parametrize("size", SIZES)
async def test_roundtrip_bytes_and_digest(store: ObjectStore, size: int) -> None:
    source = Generated(size, chunk_size=777_777, seed=str(size).encode())
    stored = await store.put("tenant-1", source.stream())

    expected = source.sha256()
    assert stored.sha256 == expected
    assert stored.size == size
    assert stored.created is True
    assert stored.key == f"tenant-1/sha256/{expected[:2]}/{expected}"
    data = await read_all(store, stored.key)
    assert len(data) == size
    assert sha(data) == expected
    assert await store.stat(stored.key) == ObjectInfo(stored.key, size, expected)
    assert await store.exists(stored.key)
    assert await store.verify(stored.key)


async def test_open_streams_in_requested_chunks(store: ObjectStore) -> None:
    stored = await store.put("t", Generated(3 * MIB + 5).stream())
    sizes = [len(chunk) async for chunk in store.open(stored.key, chunk_size=MIB)]
    assert sum(sizes) == 3 * MIB + 5
    assert max(sizes) <= MIB
    assert len(sizes) >= 4


async def test_chunk_types_other_than_bytes_are_accepted(store: ObjectStore) -> None:
    data = b"evidence " * 1000

    async def bytes_like() -> AsyncIterator[bytes]:
        for part in (bytearray(data[:10]), memoryview(data)[10:], b""):
            yield part  # type: ignore[misc]

    stored = await store.put("t", bytes_like())
    assert stored.sha256 == sha(data)
    assert await read_all(store, stored.key) == data


async def test_source_may_reuse_its_buffer(store: ObjectStore) -> None:
    """A reader that fills one buffer again and again (readinto) must not corrupt data."""
    source = Generated(2 * PART + 99, chunk_size=65_537, seed=b"reuse")

    async def reusing() -> AsyncIterator[bytes]:
        buffer = bytearray(65_537)
        for chunk in source.chunks():
            view = memoryview(buffer)[: len(chunk)]
            view[:] = chunk
            yield view  # type: ignore[misc]
            view[:] = b"\0" * len(chunk)  # overwritten as soon as the consumer moves on

    stored = await store.put("t", reusing())
    assert stored.sha256 == source.sha256()
    assert sha(await read_all(store, stored.key)) == source.sha256()


@pytest.mark.parametrize("size", [10, PART + 10])
async def test_identical_content_is_stored_once(harness: Harness, size: int) -> None:
    store = harness.store
    first = await store.put("t", Generated(size, seed=b"dup").stream())
    second = await store.put("t", Generated(size, seed=b"dup", chunk_size=4096).stream())

    assert first.created is True
    assert second.created is False
    assert (second.key, second.sha256, second.size) == (first.key, first.sha256, first.size)
    assert await harness.leftovers() == []


async def test_same_content_in_two_namespaces_is_two_objects(store: ObjectStore) -> None:
    a = await store.put("tenant-a", stream_of(b"same bytes"))
    b = await store.put("tenant-b", stream_of(b"same bytes"))
    assert a.created
    assert b.created
    assert a.sha256 == b.sha256
    assert a.key != b.key
    assert a.key.startswith("tenant-a/")
    assert b.key.startswith("tenant-b/")


@pytest.mark.parametrize("size", [10, PART + 10])
async def test_expected_digest_accepted(store: ObjectStore, size: int) -> None:
    source = Generated(size, seed=b"expected")
    stored = await store.put("t", source.stream(), expected_sha256=source.sha256().upper())
    assert stored.created is True
    assert stored.sha256 == source.sha256()
    assert sha(await read_all(store, stored.key)) == source.sha256()


@pytest.mark.parametrize("size", [10, PART + 10, 3 * PART])
async def test_digest_mismatch_leaves_nothing(harness: Harness, size: int) -> None:
    store = harness.store
    source = Generated(size, seed=b"claimed")
    wrong = hashlib.sha256(b"something else").hexdigest()

    with pytest.raises(DigestMismatch) as caught:
        await store.put("t", source.stream(), expected_sha256=wrong)

    assert caught.value.expected == wrong
    assert caught.value.actual == source.sha256()
    assert not await store.exists(object_key("t", wrong))
    assert not await store.exists(object_key("t", source.sha256()))
    assert await harness.leftovers() == []


@pytest.mark.parametrize("size", [10, PART + 10])
async def test_expected_digest_of_existing_object_still_checks_the_stream(
    harness: Harness, size: int
) -> None:
    store = harness.store
    original = Generated(size, seed=b"original")
    stored = await store.put("t", original.stream())

    again = await store.put("t", original.stream(), expected_sha256=original.sha256())
    assert again == type(stored)(stored.key, stored.sha256, stored.size, created=False)

    impostor = Generated(size, seed=b"impostor")
    with pytest.raises(DigestMismatch):
        await store.put("t", impostor.stream(), expected_sha256=original.sha256())
    assert sha(await read_all(store, stored.key)) == original.sha256()
    assert await harness.leftovers() == []


@pytest.mark.parametrize("size", [10, PART + 10])
async def test_existing_object_is_never_overwritten(harness: Harness, size: int) -> None:
    store = harness.store
    source = Generated(size, seed=b"keep")
    stored = await store.put("t", source.stream())
    # Change the stored bytes behind the store's back: a store that rewrote objects
    # on a repeated put would silently "repair" them; this one leaves them alone.
    await harness.tamper(stored.key, b"tampered")

    again = await store.put("t", source.stream())
    assert again.created is False
    assert await read_all(store, stored.key) == b"tampered"
    assert not await store.verify(stored.key)


@pytest.mark.parametrize("size", [10, PART + 10])
async def test_max_size_is_enforced_while_streaming(harness: Harness, size: int) -> None:
    store = harness.store
    source = Generated(size + 1, chunk_size=4096, seed=b"big")

    with pytest.raises(ObjectTooLarge) as caught:
        await store.put("t", source.stream(), max_size=size)
    assert caught.value.limit == size
    assert size < caught.value.size_so_far <= size + 4096
    assert not await store.exists(object_key("t", source.sha256()))
    assert await harness.leftovers() == []

    exact = Generated(size, chunk_size=4096, seed=b"big")
    stored = await store.put("t", exact.stream(), max_size=size)
    assert stored.size == size


async def test_stream_stopped_after_too_many_bytes(store: ObjectStore) -> None:
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield b"x" * 1000

    with pytest.raises(ObjectTooLarge):
        await store.put("t", endless(), max_size=10_000)
    assert pulled == 11


async def test_failing_source_leaves_nothing(harness: Harness) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"a" * (PART + 1)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await harness.store.put("t", broken())
    assert await harness.leftovers() == []


@pytest.mark.parametrize(
    "namespace",
    ["", "a/b", "..", ".incoming", "tenant.1", "ten ant", "é", "x" * 65, "a\n", "../etc"],
)
async def test_invalid_namespaces_are_refused(store: ObjectStore, namespace: str) -> None:
    with pytest.raises(InvalidKey):
        await store.put(namespace, stream_of(b"data"))


async def test_valid_namespace_shapes(store: ObjectStore) -> None:
    for namespace in ["platform", "0b7e2a4c-1f1d-4c1e-9d8e-3f7a6c2b1a00", "A_b-9", "x" * 64]:
        stored = await store.put(namespace, stream_of(namespace.encode()))
        assert stored.key.startswith(f"{namespace}/sha256/")


@pytest.mark.parametrize(
    "key",
    [
        "t/sha256/ab/" + "a" * 64,  # fan-out directory does not match the digest
        "t/sha256/aa/" + "A" * 64,
        "t/sha1/aa/" + "a" * 64,
        "t/sha256/aa/" + "a" * 63,
        "../t/sha256/aa/" + "a" * 64,
        "t/sha256/aa/" + "a" * 64 + "/",
        "/t/sha256/aa/" + "a" * 64,
        "",
    ],
)
async def test_malformed_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        await store.stat(key)
    with pytest.raises(InvalidKey):
        await store.exists(key)
    with pytest.raises(InvalidKey):
        await read_all(store, key)
    with pytest.raises(InvalidKey):
        await store.presigned_url(key)


async def test_missing_object(store: ObjectStore) -> None:
    key = object_key("t", hashlib.sha256(b"never stored").hexdigest())
    assert not await store.exists(key)
    with pytest.raises(ObjectNotFound) as caught:
        await store.stat(key)
    assert caught.value.key == key
    with pytest.raises(ObjectNotFound):
        await read_all(store, key)
    with pytest.raises(ObjectNotFound):
        await store.verify(key)


async def test_verify_detects_changed_bytes(harness: Harness) -> None:
    stored = await harness.store.put("t", stream_of(b"the award, as signed"))
    assert await harness.store.verify(stored.key)
    await harness.tamper(stored.key, b"the award, as altered")
    assert not await harness.store.verify(stored.key)


async def test_check_describes_the_backend(harness: Harness) -> None:
    line = await harness.store.check()
    assert "\n" not in line
    if harness.kind == "file":
        assert str(harness.config.root) in line
        assert "writable" in line
    else:
        assert f"bucket '{harness.config.bucket}'" in line
        assert str(harness.config.endpoint_url) in line
        assert "versioning: off" in line
        assert "object lock: off" in line


async def test_presigned_url_shape(harness: Harness) -> None:
    stored = await harness.store.put("t", stream_of(b"award"))
    url = await harness.store.presigned_url(stored.key, expires_in=60, filename="award.pdf")
    assert url.startswith("http")
    assert stored.sha256 in url
    with pytest.raises(ValueError, match="expires_in"):
        await harness.store.presigned_url(stored.key, expires_in=0)


async def test_concurrent_identical_puts_store_one_object(harness: Harness) -> None:
    source = Generated(PART + 123, seed=b"race")
    results: list[StoredObject] = []

    async def put() -> None:
        results.append(await harness.store.put("t", source.stream()))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(put)

    assert {r.key for r in results} == {object_key("t", source.sha256())}
    assert any(r.created for r in results)
    assert await harness.store.verify(results[0].key)
    assert await harness.leftovers() == []


def object_key_of(source: Generated) -> str:
    digest = source.sha256()
    return f"t/sha256/{digest[:2]}/{digest}"
