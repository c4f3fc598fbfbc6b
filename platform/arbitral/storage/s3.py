"""A content-addressed object store on any S3 API (AWS, MinIO, Ceph RGW), via boto3.

Only plain S3 operations are used. Writes stream: the bytes are cut into parts of
``config.part_size`` (one part is buffered at a time), hashed and uploaded as they
arrive, a few parts at once. Every request that carries bytes carries a checksum the
endpoint checks: CRC32 (``x-amz-checksum-crc32``, what boto3's own transfers send by
default; the object gets a composite CRC32) or, with the URL option ``checksum=md5``
for S3 APIs that refuse the newer checksum headers (older MinIO and Ceph RGW),
Content-MD5.

* When the caller announces the SHA-256, the final key is known in advance: the
  parts go straight to it, and a mismatch is detected before
  CompleteMultipartUpload, so the upload is aborted and nothing ever appears. If
  the object already exists, the stream is only hashed (to check the claim), not
  uploaded.
* Otherwise the parts go to a temporary key ``{prefix}{namespace}/incoming/{uuid}``.
  Once the digest is known: if the final key exists the upload is aborted (it was
  never completed, so nothing remains); else it is completed, copied server-side
  (a managed multipart copy, so objects over 5 GiB work) to the final key with
  ``x-amz-meta-sha256``, and the temporary object is deleted.
* Streams shorter than one part are sent with a single PutObject.

Writes to a final key carry ``If-None-Match: *`` where the S3 API allows it
(PutObject, CompleteMultipartUpload), on top of a HEAD check, so an existing object
is not overwritten even by a concurrent writer; a 412 means "already stored".
Every failure aborts the multipart upload, and every botocore error is turned into
one of :mod:`arbitral.storage.errors`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

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
from arbitral.storage.signing import MAX_EXPIRES_IN, content_disposition

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

T = TypeVar("T")
log = logging.getLogger(__name__)

CONTENT_TYPE = "application/octet-stream"
COPY_PART_SIZE = 256 * 1024 * 1024
STAGING = ".staging"
_CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "InvalidClientTokenId",
        "AuthorizationHeaderMalformed",
    }
)
_DENIED_CODES = frozenset({"AccessDenied", "403", "AllAccessDisabled", "AccountProblem"})
_EXISTS_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})


def build_s3_client(config: StorageConfig) -> S3Client:
    """A boto3 S3 client for ``config``: explicit credentials if the URL has them,
    boto's default chain (environment, profile, instance role) otherwise."""
    session = boto3.session.Session(
        aws_access_key_id=config.access_key_id,
        aws_secret_access_key=config.secret_access_key,
        region_name=config.region,
    )
    client_config = Config(
        signature_version="s3v4",
        s3={"addressing_style": config.addressing_style},
        connect_timeout=5,
        read_timeout=60,
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=32,
        tcp_keepalive=True,
        # Checksums only where S3 requires them or the store asks for one (see the
        # module docstring): third-party S3 APIs (older MinIO and Ceph RGW) reject the
        # CRC headers boto sends by default, hence checksum=md5 for them.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        user_agent_extra="arbitral",
    )
    region = config.region or ("us-east-1" if config.endpoint_url else None)
    return session.client(
        "s3", endpoint_url=config.endpoint_url, region_name=region, config=client_config
    )


def _md5(data: bytes | bytearray) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


class S3ObjectStore:
    """Objects in an S3 bucket, under ``config.key_prefix``."""

    kind = "s3"

    def __init__(self, config: StorageConfig, *, client: S3Client | None = None) -> None:
        if config.kind != "s3" or not config.bucket:
            raise ValueError("S3ObjectStore needs an s3:// storage configuration")
        self.config = config
        self.bucket = config.bucket
        self.prefix = config.key_prefix
        self.part_size = config.part_size
        self.checksum = config.checksum
        self.endpoint = config.endpoint_url or (
            f"AWS S3 ({config.region})" if config.region else "AWS S3"
        )
        self._client = client if client is not None else build_s3_client(config)
        self._lock_enabled: bool | None = None  # learnt on first retain()
        # Temporary objects are at least one part long, so the managed copy always takes
        # its multipart path (UploadPartCopy): one code path for every size, objects over
        # 5 GiB included, and no CopyObject, which some S3 implementations (moto among
        # them) refuse into Object Lock buckets for want of a Content-MD5.
        self._transfer = TransferConfig(
            multipart_threshold=min(self.part_size, COPY_PART_SIZE),
            multipart_chunksize=COPY_PART_SIZE,
            max_concurrency=4,
        )

    def __repr__(self) -> str:
        return f"S3ObjectStore(bucket={self.bucket!r}, endpoint={self.endpoint!r})"

    @property
    def client(self) -> S3Client:
        return self._client

    def name_of(self, key: str) -> str:
        """The S3 object name of ``key`` (the key is validated first)."""
        parse_key(key)
        return f"{self.prefix}{key}"

    # -- error mapping ---------------------------------------------------------------

    def _where(self) -> str:
        return f"bucket '{self.bucket}' at {self.endpoint}"

    def _error(self, exc: Exception, key: str | None = None) -> StorageError:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "")) or "unknown"
            message = str(error.get("Message", "")) or code
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if key is not None and code in {"NoSuchKey", "404", "NotFound"}:
                return ObjectNotFound(key)
            if code in {"NoSuchBucket", "404", "NotFound"}:
                return StorageUnavailable(
                    f"bucket '{self.bucket}' does not exist at {self.endpoint}"
                )
            if code in _CREDENTIAL_CODES:
                return StorageUnavailable(f"credentials rejected for {self._where()}: {code}")
            if code in _DENIED_CODES:
                return StorageUnavailable(f"access denied to {self._where()}: {code}")
            if status >= 500 or code in {"SlowDown", "ServiceUnavailable", "RequestTimeout"}:
                return StorageUnavailable(f"{self._where()} failed: {code}: {message}")
            return StorageError(f"S3 request to {self._where()} failed: {code}: {message}")
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            return StorageUnavailable(
                f"no usable S3 credentials for {self._where()}: put them in "
                f"{self.config.variable} (s3://KEY:SECRET@bucket) or the AWS environment"
            )
        if isinstance(exc, (ConnectionError, HTTPClientError)):
            return StorageUnavailable(f"cannot reach {self.endpoint}: {exc}")
        return StorageUnavailable(f"S3 client error for {self._where()}: {exc}")

    async def _call(self, thunk: Callable[[], T], *, key: str | None = None) -> T:
        """Run a blocking boto3 call in a worker thread, mapping its errors."""
        try:
            return await anyio.to_thread.run_sync(thunk)
        except ClientError as exc:
            if _is_bare_forbidden(exc):
                raise await self._explain_forbidden() from exc
            raise self._error(exc, key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, key) from exc

    async def _head(self, name: str) -> dict[str, Any] | None:
        """HeadObject, or None when the object does not exist."""
        try:
            response = await self._call(
                lambda: self._client.head_object(Bucket=self.bucket, Key=name), key=name
            )
        except ObjectNotFound:
            return None
        return dict(response)

    # -- writing ---------------------------------------------------------------------

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
    ) -> S3Writer:
        validate_namespace(namespace)
        expected = validate_sha256(expected_sha256) if expected_sha256 is not None else None
        if max_size is not None and max_size < 0:
            raise ValueError("max_size must not be negative")
        writer = S3Writer(self, namespace, expected, max_size=max_size)
        if expected is not None:
            # The object may already exist: then the stream is only hashed, to check it.
            writer.only_hash = await self._head(writer.final_name) is not None
        return writer

    # -- staging -----------------------------------------------------------------------

    def staging_name(self, namespace: str, name: str) -> str:
        """The S3 object name of a staging object: ``.staging/{namespace}/{name}``.

        One prefix for every namespace (no namespace starts with a dot), so a single
        lifecycle rule on ``{prefix}.staging/`` can expire what a crash left there.
        """
        validate_namespace(namespace)
        validate_staging_name(name)
        return f"{self.prefix}{STAGING}/{namespace}/{name}"

    async def stage(
        self,
        namespace: str,
        name: str,
        chunks: AsyncIterable[bytes],
        *,
        max_size: int | None = None,
    ) -> StagedObject:
        target = self.staging_name(namespace, name)
        async with S3Writer(self, namespace, None, max_size=max_size, staging=target) as writer:
            async for chunk in chunks:
                await writer.write(chunk)
            stored = await writer.commit()
        return StagedObject(name=name, sha256=stored.sha256, size=stored.size)

    async def open_staged(
        self, namespace: str, name: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        target = self.staging_name(namespace, name)
        async for chunk in self._read(target, f".staging/{namespace}/{name}", chunk_size):
            yield chunk

    async def discard_staged(self, namespace: str, names: Iterable[str]) -> None:
        targets = [self.staging_name(namespace, name) for name in names]
        for start in range(0, len(targets), 1000):  # DeleteObjects takes 1,000 keys at most
            batch = [{"Key": target} for target in targets[start : start + 1000]]

            def delete(objects: list[Any] = batch) -> Any:
                return self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )

            response = await self._call(delete)
            errors = [e for e in response.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if errors:
                first = errors[0]
                raise StorageError(
                    f"could not delete {len(errors)} staging objects in {self._where()}: "
                    f"{first.get('Key')}: {first.get('Code')}"
                )

    # -- reading ---------------------------------------------------------------------

    async def open(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        async for chunk in self._read(self.name_of(key), key, chunk_size):
            yield chunk

    async def _read(self, name: str, key: str, chunk_size: int) -> AsyncIterator[bytes]:
        response = await self._call(
            lambda: self._client.get_object(Bucket=self.bucket, Key=name), key=key
        )
        body = response["Body"]
        try:
            while True:
                data = await self._call(lambda: body.read(chunk_size), key=key)
                if not data:
                    return
                yield data
        finally:
            body.close()

    async def stat(self, key: str) -> ObjectInfo:
        _namespace, digest = parse_key(key)
        name = self.name_of(key)
        response = await self._call(
            lambda: self._client.head_object(Bucket=self.bucket, Key=name), key=key
        )
        return ObjectInfo(key=key, size=int(response["ContentLength"]), sha256=digest)

    async def exists(self, key: str) -> bool:
        return await self._head(self.name_of(key)) is not None

    async def verify(self, key: str) -> bool:
        _namespace, digest = parse_key(key)
        name = self.name_of(key)

        def hash_object() -> str:
            response = self._client.get_object(Bucket=self.bucket, Key=name)
            hasher = hashlib.sha256()
            with response["Body"] as body:
                while data := body.read(DEFAULT_CHUNK_SIZE):
                    hasher.update(data)
            return hasher.hexdigest()

        return await self._call(hash_object, key=key) == digest

    async def presigned_url(
        self, key: str, *, expires_in: int = 300, filename: str | None = None
    ) -> str:
        if not 1 <= expires_in <= MAX_EXPIRES_IN:
            raise ValueError(f"expires_in must be between 1 and {MAX_EXPIRES_IN} seconds")
        params: dict[str, str] = {
            "Bucket": self.bucket,
            "Key": self.name_of(key),
            "ResponseContentType": CONTENT_TYPE,
        }
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return await self._call(
            lambda: self._client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_in
            ),
            key=key,
        )

    # -- operations ------------------------------------------------------------------

    async def check(self) -> str:
        try:
            await anyio.to_thread.run_sync(lambda: self._client.head_bucket(Bucket=self.bucket))
        except ClientError as exc:
            if _is_bare_forbidden(exc):
                raise await self._explain_forbidden() from exc
            raise self._error(exc) from exc
        except BotoCoreError as exc:
            raise self._error(exc) from exc
        versioning = await self._versioning()
        object_lock = await self._object_lock()
        prefix = f", prefix '{self.prefix}'" if self.prefix else ""
        return (
            f"s3 bucket '{self.bucket}' at {self.endpoint}{prefix} "
            f"(versioning: {versioning}, object lock: {object_lock})"
        )

    async def _explain_forbidden(self) -> StorageError:
        """The error behind a 403 to a HEAD request, whose response has no body.

        A GET (ListObjectsV2) is refused with a code that tells wrong credentials
        (InvalidAccessKeyId, SignatureDoesNotMatch) from missing permissions.
        """
        try:
            await anyio.to_thread.run_sync(
                lambda: self._client.list_objects_v2(Bucket=self.bucket, MaxKeys=1)
            )
        except (ClientError, BotoCoreError) as exc:
            return self._error(exc)
        return StorageUnavailable(f"access denied to {self._where()}: HeadBucket refused")

    async def retain(self, key: str, until: datetime) -> str:
        """COMPLIANCE-mode retention until ``until`` when the bucket has Object Lock.

        Never shortens: when the object already has a retention date at or after
        ``until`` it is kept. A bucket without Object Lock is reported, not an error
        (the object is still write-once through this store).
        """
        parse_key(key)
        if self._lock_enabled is None:
            self._lock_enabled = (await self._object_lock()).startswith("on")
        if not self._lock_enabled:
            return f"unavailable: Object Lock is not enabled on bucket {self.bucket}"
        name = self.name_of(key)
        until = until.astimezone(UTC).replace(microsecond=0)
        # HeadObject reports the retention (x-amz-object-lock-*), and unlike
        # GetObjectRetention it answers for an object that has none.
        head = await self._head(name)
        if head is None:
            raise self._error(ClientError({"Error": {"Code": "NoSuchKey"}}, "HeadObject"), key)
        kept = head.get("ObjectLockRetainUntilDate")
        if kept is not None and kept >= until:
            return f"kept: compliance until {kept.isoformat()}"
        await self._call(
            lambda: self._client.put_object_retention(
                Bucket=self.bucket,
                Key=name,
                Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until},
            ),
            key=key,
        )
        return f"compliance until {until.isoformat()}"

    async def _versioning(self) -> str:
        try:
            response = await anyio.to_thread.run_sync(
                lambda: self._client.get_bucket_versioning(Bucket=self.bucket)
            )
        except ClientError:
            return "unknown"  # not readable with these credentials, or not implemented
        except BotoCoreError as exc:
            raise self._error(exc) from exc
        return str(response.get("Status", "off"))

    async def _object_lock(self) -> str:
        try:
            response = await anyio.to_thread.run_sync(
                lambda: self._client.get_object_lock_configuration(Bucket=self.bucket)
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            return "off" if code == "ObjectLockConfigurationNotFoundError" else "unknown"
        except BotoCoreError as exc:
            raise self._error(exc) from exc
        configuration = response.get("ObjectLockConfiguration", {})
        if configuration.get("ObjectLockEnabled") != "Enabled":
            return "off"
        retention = configuration.get("Rule", {}).get("DefaultRetention", {})
        if not retention:
            return "on (no default retention)"
        period = (
            f"{retention['Days']} days"
            if "Days" in retention
            else f"{retention.get('Years')} years"
        )
        return f"on ({retention.get('Mode', '?')}, {period})"

    async def close(self) -> None:
        await anyio.to_thread.run_sync(self._client.close)


PARTS_IN_FLIGHT = 3
"""Parts of one write uploading at once (each holds a copy of its part_size bytes)."""


class S3Writer:
    """One streaming write: which key, which multipart upload, what was sent (an ObjectWriter).

    Bytes are cut into parts of ``part_size`` (one part buffered at a time) and
    uploaded as they arrive, :data:`PARTS_IN_FLIGHT` at once. ``staging`` names a
    staging object to write instead of a content-addressed one: it is completed
    (replacing what was there) without any of the content-addressed checks.
    """

    def __init__(
        self,
        store: S3ObjectStore,
        namespace: str,
        expected: str | None,
        *,
        max_size: int | None = None,
        staging: str | None = None,
    ) -> None:
        self.store = store
        self.client = store.client
        self.bucket = store.bucket
        self.namespace = namespace
        self.expected = expected
        self.max_size = max_size
        self.staging = staging
        self.final_name = f"{store.prefix}{object_key(namespace, expected)}" if expected else ""
        # Where the parts go: the final key when it is known, a temporary key otherwise.
        self.target = (
            staging or self.final_name or f"{store.prefix}{namespace}/incoming/{uuid.uuid4().hex}"
        )
        self.only_hash = False
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.sent = 0
        self.upload_id: str | None = None
        self.parts: list[CompletedPartTypeDef] = []
        self.numbered = 0
        self.in_flight: set[asyncio.Task[None]] = set()
        # Hashing the last part handed over (each part's hashing waits for the one
        # before, so the digest is of the bytes in order, off the receiving path).
        self.hashed: asyncio.Task[None] | None = None
        self.completed_temp = False
        # The part being filled (grown while the first part fills), and the buffers of
        # parts already sent, to be filled again.
        self.buffer = bytearray()
        self.filled = 0
        self.free: list[bytearray] = []
        self.done = False

    async def __aenter__(self) -> S3Writer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.abort()

    async def _call(self, thunk: Callable[[], T]) -> T:
        return await self.store._call(thunk)

    def _checksum(self, data: bytes | bytearray) -> dict[str, Any]:
        """The integrity arguments of a request carrying ``data``."""
        if self.store.checksum == "md5":
            return {"ContentMD5": _md5(data)}
        return {"ChecksumAlgorithm": "CRC32"}  # botocore computes and sends it

    async def write(self, chunk: bytes) -> None:
        if self.done:
            raise RuntimeError("the writer is closed")
        view = memoryview(chunk).cast("B")
        if not view:
            return
        part_size = self.store.part_size
        received = self.size + len(view)
        if self.max_size is not None and received > self.max_size:
            raise ObjectTooLarge(self.max_size, received)
        self.size = received
        while view:
            take = min(part_size - self.filled, len(view))
            if len(self.buffer) < part_size:
                self.buffer += view[:take]
            else:
                self.buffer[self.filled : self.filled + take] = view[:take]
            self.filled += take
            view = view[take:]
            if self.filled == part_size:
                await self._send_part(self.buffer)  # which now belongs to the part's upload
                self.buffer = self.free.pop() if self.free else bytearray()
                self.filled = 0

    async def _send_part(self, part: bytearray) -> None:
        """Start hashing one full part (in order) and, unless only hashing, its upload.

        Up to :data:`PARTS_IN_FLIGHT` parts upload at once, each from its own buffer,
        which goes back to :attr:`free` for the next parts once sent: memory stays
        within (1 + PARTS_IN_FLIGHT) parts whatever the object's size, nothing is
        copied, and the same few buffers serve the whole object.
        """
        if self.upload_id is None and not self.only_hash:
            metadata = {"sha256": self.expected} if self.expected and not self.staging else {}
            extra = {} if self.store.checksum == "md5" else {"ChecksumAlgorithm": "CRC32"}
            response = await self._call(
                lambda: self.client.create_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.target,
                    ContentType=CONTENT_TYPE,
                    Metadata=metadata,
                    **extra,  # type: ignore[arg-type]
                )
            )
            self.upload_id = response["UploadId"]
        self.numbered += 1
        number = self.numbered
        upload_id = self.upload_id
        while len(self.in_flight) >= PARTS_IN_FLIGHT:
            done, _ = await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                self.in_flight.discard(task)
                task.result()  # an upload's failure fails the write
        hashed = self.hashed = asyncio.create_task(self._hash(self.hashed, part))
        self.sent += len(part)
        if upload_id is None:
            self.parts.append({"PartNumber": number})  # counted, not sent
            self.in_flight.add(asyncio.create_task(self._release(part, hashed)))
            return
        self.in_flight.add(asyncio.create_task(self._upload_part(upload_id, number, part, hashed)))

    async def _hash(self, previous: asyncio.Task[None] | None, part: bytearray) -> None:
        if previous is not None:
            await previous
        await anyio.to_thread.run_sync(self.sha256.update, part)

    async def _release(self, data: bytearray, hashed: asyncio.Task[None]) -> None:
        """Give ``data`` back for the next parts once it is hashed."""
        try:
            await hashed
        finally:
            self.free.append(data)

    async def _upload_part(
        self, upload_id: str, number: int, data: bytearray, hashed: asyncio.Task[None]
    ) -> None:
        try:
            response = await self._call(
                lambda: self.client.upload_part(
                    Bucket=self.bucket,
                    Key=self.target,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,  # type: ignore[arg-type]  # bytearray: sent as it is
                    **self._checksum(data),
                )
            )
        finally:
            await self._release(data, hashed)  # hashed meanwhile, in another thread
        part: CompletedPartTypeDef = {"ETag": response["ETag"], "PartNumber": number}
        if "ChecksumCRC32" in response:
            part["ChecksumCRC32"] = response["ChecksumCRC32"]
        self.parts.append(part)

    async def _drain(self) -> None:
        """Wait for the parts in flight; the first failure is raised."""
        pending, self.in_flight = self.in_flight, set()
        if pending:
            results = await asyncio.gather(*pending, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        self.parts.sort(key=lambda part: part["PartNumber"])

    async def commit(self) -> StoredObject:
        """Send the rest, check the digest, and put the object in its final place."""
        if self.done:
            raise RuntimeError("the writer is closed")
        try:
            del self.buffer[self.filled :]  # the last, short part (or a whole small object)
            last = self.buffer
            if self.upload_id is None and not self.parts:
                stored = await self._finish_small(last)
            else:
                stored = await self._finish_multipart(last)
        except BaseException:
            await self.abort()
            raise
        self.done = True
        self.buffer, self.free = bytearray(), []
        return stored

    async def _finish_multipart(self, last: bytearray) -> StoredObject:
        if last:
            await self._send_part(last)
        await self._drain()
        digest = self.sha256.hexdigest()
        key = object_key(self.namespace, digest)
        if self.expected is not None and digest != self.expected:
            raise DigestMismatch(self.expected, digest)
        stored = StoredObject(key=key, sha256=digest, size=self.sent, created=False)
        if self.only_hash:
            return stored
        if self.staging:
            await self._complete(if_none_match=False)
            return replace(stored, created=True)
        final_name = f"{self.store.prefix}{key}"
        if self.expected is None and await self.store._head(final_name) is not None:
            await self.abort()
            return stored
        created = await self._complete(if_none_match=True)
        if self.expected is None and created:
            await self._copy_to(final_name, digest)
        return replace(stored, created=created)

    async def _finish_small(self, data: bytearray) -> StoredObject:
        def hash_data() -> str:
            self.sha256.update(data)
            return self.sha256.hexdigest()

        digest = await anyio.to_thread.run_sync(hash_data)
        self.sent = len(data)
        if self.expected is not None and digest != self.expected:
            raise DigestMismatch(self.expected, digest)
        key = object_key(self.namespace, digest)
        name = self.staging or f"{self.store.prefix}{key}"
        if self.staging:
            created = True
        else:
            created = not self.only_hash and await self.store._head(name) is None
        if created:
            guard = {} if self.staging else {"IfNoneMatch": "*"}
            try:
                await self._call(
                    lambda: self.client.put_object(
                        Bucket=self.bucket,
                        Key=name,
                        Body=data,  # type: ignore[arg-type]  # bytearray, as above
                        ContentType=CONTENT_TYPE,
                        Metadata={} if self.staging else {"sha256": digest},
                        **self._checksum(data),
                        **guard,  # type: ignore[arg-type]
                    )
                )
            except StorageError as exc:
                if not _already_exists(exc):
                    raise
                created = False
        return StoredObject(key=key, sha256=digest, size=self.sent, created=created)

    async def _complete(self, *, if_none_match: bool) -> bool:
        """Complete the multipart upload; False if the target appeared meanwhile."""
        upload_id = self.upload_id
        assert upload_id is not None
        guard = {"IfNoneMatch": "*"} if if_none_match else {}
        try:
            await self._call(
                lambda: self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.target,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": self.parts},
                    **guard,  # type: ignore[arg-type]
                )
            )
        except StorageError as exc:
            if not _already_exists(exc):
                raise
            await self.abort()  # someone stored the same bytes meanwhile
            return False
        self.upload_id = None
        self.completed_temp = self.expected is None and not self.staging
        return True

    async def _copy_to(self, final_name: str, digest: str) -> None:
        """Server-side copy of the temporary object to its final key, then delete it."""
        await self._call(
            lambda: self.client.copy(
                {"Bucket": self.bucket, "Key": self.target},
                self.bucket,
                final_name,
                ExtraArgs={
                    "Metadata": {"sha256": digest},
                    "MetadataDirective": "REPLACE",
                    "ContentType": CONTENT_TYPE,
                },
                Config=self.store._transfer,
            )
        )
        try:
            await self._delete_temp()
        except StorageError as exc:
            # The object is stored; only the temporary copy is left behind.
            log.warning("could not delete temporary object %s: %s", self.target, exc)

    async def _delete_temp(self) -> None:
        if self.completed_temp:
            await self._call(lambda: self.client.delete_object(Bucket=self.bucket, Key=self.target))
            self.completed_temp = False

    async def abort(self) -> None:
        """Leave nothing behind: abort the upload, delete a completed temporary object."""
        self.done = True
        self.buffer, self.free = bytearray(), []
        with anyio.CancelScope(shield=True):
            for task in self.in_flight:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*self.in_flight, return_exceptions=True)
            self.in_flight = set()
            upload_id, self.upload_id = self.upload_id, None
            try:
                if upload_id is not None:
                    await self._call(
                        lambda: self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=self.target, UploadId=upload_id
                        )
                    )
                await self._delete_temp()
            except StorageError:
                pass  # best effort: the original error matters more; lifecycle rules do the rest


def _is_bare_forbidden(exc: ClientError) -> bool:
    """A 403 without an error code: the answer to a HEAD request."""
    return str(exc.response.get("Error", {}).get("Code", "")) in {"403", "Forbidden"}


def _already_exists(exc: StorageError) -> bool:
    cause = exc.__cause__
    if not isinstance(cause, ClientError):
        return False
    return str(cause.response.get("Error", {}).get("Code", "")) in _EXISTS_CODES
