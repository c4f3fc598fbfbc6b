"""A write-once, content-addressed object store in a local directory.

Layout under the root: ``{namespace}/sha256/{hex[:2]}/{hex}`` for objects (mode
0444), ``.incoming/`` for uploads in progress and ``.staging/{namespace}/{name}``
for staging objects (the namespace pattern cannot produce a name starting with a
dot). A staging object is written to ``.incoming`` too, then renamed over its
name, so a reader sees the old bytes or the new ones, never a mixture.

An upload streams into a temporary file in ``.incoming`` while it is hashed and
counted, is fsynced, and is then hard-linked to its final name: ``link`` fails
when the name exists, so an object is never overwritten and identical content is
stored once. The directory entry is fsynced before the upload is reported as
stored.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, ParamSpec, TypeVar

import anyio
import anyio.to_thread

from arbitral.settings import StorageConfig
from arbitral.storage.errors import (
    DigestMismatch,
    ObjectNotFound,
    ObjectTooLarge,
    StorageError,
    StorageUnavailable,
)
from arbitral.storage.interfaces import (
    DEFAULT_CHUNK_SIZE,
    ObjectInfo,
    StagedObject,
    StoredObject,
    object_key,
    parse_key,
    validate_namespace,
    validate_sha256,
    validate_staging_name,
)
from arbitral.storage.signing import UrlSigner

P = ParamSpec("P")
T = TypeVar("T")

INCOMING = ".incoming"
STAGING = ".staging"
WRITE_BATCH = 1 << 20  # bytes handed to the writer thread at once
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class LocalObjectStore:
    """The embedded default: objects as read-only files under ``config.root``."""

    kind = "file"

    def __init__(self, config: StorageConfig, *, public_url: str, secret_key: bytes) -> None:
        if config.kind != "file" or config.root is None:
            raise ValueError("LocalObjectStore needs a file:// storage configuration")
        self.root: Path = config.root
        self.public_url = public_url.rstrip("/")
        self.signer = UrlSigner(secret_key)
        self._incoming = self.root / INCOMING

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    # -- helpers -------------------------------------------------------------------

    def path_of(self, key: str) -> Path:
        """The file holding ``key`` (the key is validated first)."""
        parse_key(key)
        return self.root / key

    def _unavailable(self, exc: OSError, doing: str) -> StorageUnavailable:
        reason = exc.strerror or type(exc).__name__
        return StorageUnavailable(f"cannot {doing} in directory {self.root}: {reason}")

    async def _run(self, doing: str, func: Callable[P, T], *args: P.args, **kw: P.kwargs) -> T:
        """Run blocking file I/O in a worker thread; OS errors become StorageUnavailable."""

        def call() -> T:
            return func(*args, **kw)

        try:
            return await anyio.to_thread.run_sync(call)
        except StorageError:
            raise
        except OSError as exc:
            raise self._unavailable(exc, doing) from exc

    # -- writing -------------------------------------------------------------------

    async def put(
        self,
        namespace: str,
        chunks: AsyncIterable[bytes],
        *,
        expected_sha256: str | None = None,
        max_size: int | None = None,
    ) -> StoredObject:
        async with await self.writer(
            namespace, expected_sha256=expected_sha256, max_size=max_size
        ) as writer:
            async for chunk in chunks:
                await writer.write(chunk)
            return await writer.commit()

    async def writer(
        self,
        namespace: str,
        *,
        expected_sha256: str | None = None,
        max_size: int | None = None,
    ) -> LocalWriter:
        validate_namespace(namespace)
        expected = validate_sha256(expected_sha256) if expected_sha256 is not None else None
        if max_size is not None and max_size < 0:
            raise ValueError("max_size must not be negative")
        only_hash = expected is not None and await self._run(
            "stat", os.path.isfile, self.root / object_key(namespace, expected)
        )
        upload = await self._run(
            "create a temporary file", _Upload.create, self._incoming, only_hash=only_hash
        )
        return LocalWriter(self, namespace, upload, expected, max_size)

    # -- staging -------------------------------------------------------------------

    def staging_path(self, namespace: str, name: str) -> Path:
        """The file of a staging object (outside every namespace: ``.staging/ns/name``)."""
        return self.root / STAGING / validate_namespace(namespace) / validate_staging_name(name)

    async def stage(
        self,
        namespace: str,
        name: str,
        chunks: AsyncIterable[bytes],
        *,
        max_size: int | None = None,
    ) -> StagedObject:
        final = self.staging_path(namespace, name)
        writer = LocalWriter(
            self,
            namespace,
            await self._run("create a temporary file", _Upload.create, self._incoming),
            None,
            max_size,
        )
        async with writer:
            async for chunk in chunks:
                await writer.write(chunk)
            await writer.flush()
            upload = writer.upload
            await self._run("store a staging object", upload.replace, final)
            return StagedObject(name=name, sha256=upload.sha256.hexdigest(), size=upload.size)

    async def open_staged(
        self, namespace: str, name: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        path = self.staging_path(namespace, name)
        async for chunk in self._read(path, f".staging/{namespace}/{name}", chunk_size):
            yield chunk

    async def discard_staged(self, namespace: str, names: Iterable[str]) -> None:
        paths = [self.staging_path(namespace, name) for name in names]

        def unlink_all() -> None:
            for path in paths:
                path.unlink(missing_ok=True)

        await self._run("delete staging objects", unlink_all)

    # -- reading -------------------------------------------------------------------

    async def open(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        async for chunk in self._read(self.path_of(key), key, chunk_size):
            yield chunk

    async def _read(self, path: Path, key: str, chunk_size: int) -> AsyncIterator[bytes]:
        handle = await self._run("read", _open_existing, path, key)
        try:
            while True:
                data = await self._run("read", handle.read, chunk_size)
                if not data:
                    return
                yield data
        finally:
            handle.close()

    async def stat(self, key: str) -> ObjectInfo:
        _namespace, digest = parse_key(key)
        size = await self._run("stat", _file_size, self.path_of(key), key)
        return ObjectInfo(key=key, size=size, sha256=digest)

    async def exists(self, key: str) -> bool:
        return await self._run("stat", os.path.isfile, self.path_of(key))

    async def retain(self, key: str, until: datetime) -> str:
        """A local directory has no retention lock: files are write-once and read-only."""
        parse_key(key)
        del until
        return "unavailable: the local store has no retention lock (files are read-only)"

    async def verify(self, key: str) -> bool:
        _namespace, digest = parse_key(key)
        actual = await self._run("read", _hash_file, self.path_of(key), key)
        return actual == digest

    # -- presigned downloads ---------------------------------------------------------

    async def presigned_url(
        self, key: str, *, expires_in: int = 300, filename: str | None = None
    ) -> str:
        parse_key(key)
        return self.signer.url(self.public_url, key, expires_in=expires_in, filename=filename)

    async def authorize_download(
        self, key: str, *, expires: str, sig: str, filename: str | None
    ) -> ObjectInfo:
        """Check a presigned URL's parameters; the object's info when they are good.

        Raises :class:`InvalidKey`, :class:`UrlSignatureInvalid` (or its subclass
        :class:`UrlExpired`) or :class:`ObjectNotFound`.
        """
        parse_key(key)
        self.signer.verify(key, expires=expires, sig=sig, filename=filename)
        return await self.stat(key)

    # -- operations ------------------------------------------------------------------

    async def check(self) -> str:
        return await self._run("write a probe file", _probe, self._incoming, self.root)

    async def close(self) -> None:
        return None


class LocalWriter:
    """One object being written to a temporary file in ``.incoming`` (see ObjectWriter).

    Bytes are handed to a worker thread in batches of :data:`WRITE_BATCH`, so
    the event loop never waits on the disk for more than one batch at a time.
    """

    def __init__(
        self,
        store: LocalObjectStore,
        namespace: str,
        upload: _Upload,
        expected: str | None,
        max_size: int | None,
    ) -> None:
        self.store = store
        self.namespace = namespace
        self.upload = upload
        self.expected = expected
        self.max_size = max_size
        self.size = 0
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._done = False

    async def write(self, chunk: bytes) -> None:
        if self._done:
            raise RuntimeError("the writer is closed")
        if not chunk:
            return
        received = self.size + len(chunk)
        if self.max_size is not None and received > self.max_size:
            raise ObjectTooLarge(self.max_size, received)
        self._pending.append(bytes(chunk))
        self._pending_size += len(chunk)
        self.size = received
        if self._pending_size >= WRITE_BATCH:
            await self._write_pending()

    async def _write_pending(self) -> None:
        pending, self._pending, self._pending_size = self._pending, [], 0
        if pending:
            await self.store._run("write", self.upload.write, pending)

    async def flush(self) -> None:
        """Everything written reaches the disk (fsync)."""
        await self._write_pending()
        await self.store._run("flush", self.upload.finish)

    async def commit(self) -> StoredObject:
        if self._done:
            raise RuntimeError("the writer is closed")
        try:
            await self.flush()
            upload = self.upload
            digest = upload.sha256.hexdigest()
            if self.expected is not None and digest != self.expected:
                raise DigestMismatch(self.expected, digest)
            key = object_key(self.namespace, digest)
            created = not upload.only_hash and await self.store._run(
                "store an object", upload.commit, self.store.root / key
            )
            return StoredObject(key=key, sha256=digest, size=upload.size, created=created)
        finally:
            await self.abort()

    async def abort(self) -> None:
        self._done = True
        self._pending = []
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.upload.discard)

    async def __aenter__(self) -> LocalWriter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.abort()


# -- blocking helpers (run in worker threads) ------------------------------------------


class _Upload:
    """A temporary file being filled, hashed and counted (only hashed with ``only_hash``)."""

    def __init__(self, path: Path, handle: IO[bytes], incoming: Path, *, only_hash: bool) -> None:
        self.path = path
        self.handle = handle
        self.incoming = incoming
        self.only_hash = only_hash
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.committed = False

    @classmethod
    def create(cls, incoming: Path, *, only_hash: bool = False) -> _Upload:
        incoming.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=incoming, prefix="upload-", suffix=".part")
        return cls(Path(name), os.fdopen(fd, "wb"), incoming, only_hash=only_hash)

    def write(self, batch: list[bytes]) -> None:
        for data in batch:
            self.sha256.update(data)
            if not self.only_hash:
                self.handle.write(data)
            self.size += len(data)

    def finish(self) -> None:
        if self.handle.closed:
            return
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()

    def replace(self, final: Path) -> None:
        """Move the finished file to ``final``, replacing what is there (staging objects)."""
        _makedirs_durably(final.parent)
        os.replace(self.path, final)
        _fsync_directory(final.parent)
        self.committed = True

    def commit(self, final: Path) -> bool:
        """Link the finished file to ``final``; False when ``final`` already exists."""
        os.chmod(self.path, READ_ONLY)
        _makedirs_durably(final.parent)
        try:
            os.link(self.path, final)
        except FileExistsError:
            return False
        _fsync_directory(final.parent)
        self.committed = True
        return True

    def discard(self) -> None:
        """Close and remove the temporary file (after a commit only its name goes)."""
        with contextlib.suppress(OSError):
            self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs_durably(path: Path) -> None:
    """Create ``path`` and missing parents, fsyncing each parent that gained an entry."""
    missing: list[Path] = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            continue
        _fsync_directory(directory.parent)


def _open_existing(path: Path, key: str) -> IO[bytes]:
    try:
        handle = path.open("rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise ObjectNotFound(key) from None
    return handle


def _file_size(path: Path, key: str) -> int:
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise ObjectNotFound(key) from None
    if not stat.S_ISREG(st.st_mode):
        raise ObjectNotFound(key)
    return st.st_size


def _hash_file(path: Path, key: str) -> str:
    digest = hashlib.sha256()
    with _open_existing(path, key) as handle:
        while data := handle.read(DEFAULT_CHUNK_SIZE):
            digest.update(data)
    return digest.hexdigest()


def _probe(incoming: Path, root: Path) -> str:
    incoming.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=incoming, prefix="probe-") as handle:
        handle.write(b"arbitral storage probe")
        handle.flush()
        os.fsync(handle.fileno())
    if not os.access(root, os.W_OK | os.X_OK):
        raise OSError(errno.EACCES, "directory is not writable")
    free = shutil.disk_usage(root).free / (1 << 30)
    return f"local directory {root} (writable, {free:.1f} GiB free)"
