"""Streams and small helpers for the storage tests."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator

from arbitral.storage import ObjectStore


class Generated:
    """A deterministic pseudo-random stream, produced chunk by chunk (never whole).

    The bytes depend on ``size`` and ``seed`` only, not on ``chunk_size``: they repeat
    a pseudo-random pattern whose odd length keeps parts and chunks from aligning.
    """

    PATTERN_SIZE = (1 << 20) + 7

    def __init__(self, size: int, *, chunk_size: int = 1 << 20, seed: bytes = b"seed") -> None:
        if not 0 < chunk_size <= self.PATTERN_SIZE:
            raise ValueError("chunk_size must be between 1 and PATTERN_SIZE")
        self.size = size
        self.chunk_size = chunk_size
        self._pattern = hashlib.shake_256(seed).digest(self.PATTERN_SIZE) * 2

    def chunks(self) -> Iterator[bytes]:
        position = 0
        while position < self.size:
            length = min(self.chunk_size, self.size - position)
            offset = position % self.PATTERN_SIZE
            yield self._pattern[offset : offset + length]
            position += length

    async def stream(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks():
            yield chunk

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


async def stream_of(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read_all(store: ObjectStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.open(key)])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def proc_status_kib(field: str) -> int:
    """A ``VmRSS``/``VmHWM`` figure of this process, in KiB."""
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise LookupError(field)
