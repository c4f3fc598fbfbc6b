"""The object-store contract shared by the local directory and the S3 adapters.

Objects are content-addressed: the key of an object is derived from the SHA-256 of
its bytes, under a namespace (a tenant id, or ``platform``)::

    {namespace}/sha256/{hex[:2]}/{hex}

The same key names the same bytes in every adapter (the S3 adapter adds its
configured key prefix in front when it talks to the bucket, but callers never see
it), so keys recorded in the database survive a change of backend. Objects are
written once and never overwritten; storing the same bytes twice stores them once.

A write can also be driven step by step (:meth:`ObjectStore.writer`): the caller
feeds the bytes as they arrive and decides, once all of them are there and
checked, whether to commit them or to abort (nothing is stored).

Besides the content-addressed objects, a namespace has *staging* objects: mutable,
named scratch objects (the parts of a resumable upload), written whole, replaced
by a later write of the same name, read back and discarded. They never become
content-addressed objects by themselves; a caller streams them into a writer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from arbitral.storage.errors import InvalidKey

NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
STAGING_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")
_KEY_PATTERN = re.compile(
    r"(?P<namespace>[A-Za-z0-9_-]{1,64})/sha256/(?P<fan>[0-9a-f]{2})/(?P<hex>[0-9a-f]{64})"
)

DEFAULT_CHUNK_SIZE = 1 << 20


@dataclass(frozen=True, slots=True)
class StoredObject:
    """The outcome of :meth:`ObjectStore.put`."""

    key: str
    sha256: str
    size: int
    created: bool
    """False when identical content was already stored (nothing new was written)."""


@dataclass(frozen=True, slots=True)
class StagedObject:
    """The outcome of :meth:`ObjectStore.stage`."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a store knows about one stored object."""

    key: str
    size: int
    sha256: str


def validate_namespace(namespace: str) -> str:
    """Return ``namespace`` unchanged, or raise :class:`InvalidKey`."""
    if not isinstance(namespace, str) or NAMESPACE_PATTERN.fullmatch(namespace) is None:
        raise InvalidKey(
            f"invalid namespace {namespace!r}: expected 1 to 64 letters, digits, '-' or '_'"
        )
    return namespace


def validate_sha256(digest: str) -> str:
    """Return ``digest`` in lower case, or raise :class:`InvalidKey`."""
    lowered = digest.lower() if isinstance(digest, str) else ""
    if SHA256_PATTERN.fullmatch(lowered) is None:
        raise InvalidKey(f"invalid SHA-256 {digest!r}: expected 64 hexadecimal digits")
    return lowered


def validate_staging_name(name: str) -> str:
    """Return ``name`` unchanged, or raise :class:`InvalidKey`."""
    if not isinstance(name, str) or STAGING_NAME_PATTERN.fullmatch(name) is None:
        raise InvalidKey(
            f"invalid staging name {name!r}: expected 1 to 128 letters, digits, '.', '-' "
            "or '_', not starting with '.'"
        )
    return name


def object_key(namespace: str, sha256: str) -> str:
    """The content-addressed key of ``sha256`` in ``namespace``."""
    validate_namespace(namespace)
    digest = validate_sha256(sha256)
    return f"{namespace}/sha256/{digest[:2]}/{digest}"


def parse_key(key: str) -> tuple[str, str]:
    """Split a key into ``(namespace, sha256)``, or raise :class:`InvalidKey`."""
    match = _KEY_PATTERN.fullmatch(key) if isinstance(key, str) else None
    if match is None or match["hex"][:2] != match["fan"]:
        raise InvalidKey(f"invalid object key {key!r}: expected namespace/sha256/xx/<64 hex>")
    return match["namespace"], match["hex"]


class ObjectWriter(Protocol):
    """One object being written: fed chunk by chunk, then committed or aborted.

    Also an async context manager: leaving the block without :meth:`commit`
    (an exception, or no commit at all) aborts. Memory use does not depend on
    the size of the object.
    """

    size: int
    """Bytes received so far."""

    async def write(self, chunk: bytes) -> None:
        """Take the next bytes (:class:`ObjectTooLarge` past ``max_size``)."""
        ...

    async def commit(self) -> StoredObject:
        """Store what was written under its SHA-256; :class:`DigestMismatch` when it is
        not the expected one (then nothing is stored). Never overwrites."""
        ...

    async def abort(self) -> None:
        """Drop what was written: nothing is stored, nothing left behind. Idempotent."""
        ...

    async def __aenter__(self) -> ObjectWriter: ...

    async def __aexit__(self, *exc: object) -> None: ...


class ObjectStore(Protocol):
    """Write-once, content-addressed object storage with streaming reads and writes."""

    kind: str
    """``"file"`` or ``"s3"``."""

    async def put(
        self,
        namespace: str,
        chunks: AsyncIterable[bytes],
        *,
        expected_sha256: str | None = None,
        max_size: int | None = None,
    ) -> StoredObject:
        """Store the bytes of ``chunks`` under their SHA-256 in ``namespace``.

        Memory use does not depend on the size of the stream. If ``expected_sha256``
        is given and the bytes hash differently, :class:`DigestMismatch` is raised and
        nothing is stored; past ``max_size`` bytes, :class:`ObjectTooLarge` is raised
        and nothing is stored. An existing object is never overwritten.
        """
        ...

    async def writer(
        self,
        namespace: str,
        *,
        expected_sha256: str | None = None,
        max_size: int | None = None,
    ) -> ObjectWriter:
        """Start writing an object in ``namespace``, for :meth:`put`'s guarantees step by step.

        With ``expected_sha256`` the final key is known from the start: on S3 the bytes
        stream straight into a multipart upload of that key, completed only by
        :meth:`ObjectWriter.commit`; when that object already exists, the bytes are only
        hashed (to check the claim), not sent again.
        """
        ...

    def open(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        """Stream the stored bytes of ``key`` (:class:`ObjectNotFound` when absent)."""
        ...

    async def stage(
        self,
        namespace: str,
        name: str,
        chunks: AsyncIterable[bytes],
        *,
        max_size: int | None = None,
    ) -> StagedObject:
        """Write the staging object ``name`` of ``namespace`` whole, replacing one of that name.

        Streamed, in bounded memory. A failed write (:class:`ObjectTooLarge`, a broken
        stream) leaves the previous object of that name, if any, as it was.
        """
        ...

    def open_staged(
        self, namespace: str, name: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        """Stream a staging object's bytes (:class:`ObjectNotFound` when absent)."""
        ...

    async def discard_staged(self, namespace: str, names: Iterable[str]) -> None:
        """Delete these staging objects; names with no object are ignored."""
        ...

    async def stat(self, key: str) -> ObjectInfo:
        """Size and digest of ``key`` (:class:`ObjectNotFound` when absent)."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    async def presigned_url(
        self, key: str, *, expires_in: int = 300, filename: str | None = None
    ) -> str:
        """A short-lived URL that downloads ``key`` without further authentication."""
        ...

    async def retain(self, key: str, until: datetime) -> str:
        """Protect ``key`` from deletion and overwriting until ``until``, where the backend can.

        On S3 with Object Lock enabled on the bucket: a COMPLIANCE-mode retention
        (never shortened: a later date already set is kept). Returns what was done,
        for the record: ``"compliance until …"``, ``"kept …"`` or ``"unavailable: …"``.
        """
        ...

    async def verify(self, key: str) -> bool:
        """Re-hash the stored bytes and compare them with the digest in the key."""
        ...

    async def check(self) -> str:
        """Readiness probe: one line describing the backend, or :class:`StorageUnavailable`."""
        ...

    async def close(self) -> None:
        """Release connections and threads."""
        ...
