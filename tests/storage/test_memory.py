"""A large object streams through each store in constant memory.

256 MiB of generated chunks (never held whole) go into the store and are read back;
the test process's peak resident set may grow by less than 64 MiB. The peak is
reset first by writing ``5`` to ``/proc/self/clear_refs`` (Linux), so the figure is
the growth caused by this put and read alone.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import pytest

from arbitral.settings import StorageConfig
from arbitral.storage import ObjectStore, build_object_store
from tests.storage.conftest import PUBLIC_URL, SECRET, Harness
from tests.storage.streams import Generated, proc_status_kib

SIZE = 256 << 20
LIMIT_MIB = 64
DEFAULT_PART_SIZE = StorageConfig(variable="V", url="s3://b", kind="s3").part_size

pytestmark = pytest.mark.slow


def reset_peak_rss() -> None:
    clear_refs = Path(f"/proc/{os.getpid()}/clear_refs")
    try:
        clear_refs.write_text("5")
    except OSError as exc:  # not Linux, or not allowed: the test would measure nothing
        pytest.fail(f"cannot reset the peak RSS through {clear_refs}: {exc}")


async def read_digest(store: ObjectStore, key: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    async for chunk in store.open(key):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


async def test_large_object_streams_in_constant_memory(harness: Harness) -> None:
    """The put without a known digest: on S3 the longest path (temporary key, copy)."""
    source = Generated(SIZE, seed=b"memory")
    expected = source.sha256()

    store = harness.store
    if harness.kind == "s3":  # the production part size, not the tests' small one
        config = replace(harness.config, part_size=DEFAULT_PART_SIZE)
        store = build_object_store(config, public_url=PUBLIC_URL, secret_key=SECRET)

    try:
        reset_peak_rss()
        rss_before = proc_status_kib("VmRSS")
        stored = await store.put("t", source.stream())
        read_back, size = await read_digest(store, stored.key)
        growth_mib = (proc_status_kib("VmHWM") - rss_before) / 1024
    finally:
        if store is not harness.store:
            await store.close()

    print(f"{harness.kind}: peak RSS growth {growth_mib:.1f} MiB")
    assert stored.created
    assert stored.size == size == SIZE
    assert stored.sha256 == read_back == expected
    assert growth_mib < LIMIT_MIB, f"peak RSS grew by {growth_mib:.1f} MiB"
    assert await harness.leftovers() == []
