"""A content-addressed object store on any S3 API (AWS, MinIO, Ceph RGW), via boto3.

Only plain S3 operations are used. Writes stream: the bytes are cut into parts of
``config.part_size`` (one part is buffered at a time), hashed and uploaded as they
arrive.

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
from collections.abc import AsyncIterable, AsyncIterator, Callable
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
    StoredObject,
    object_key,
    parse_key,
    validate_namespace,
    validate_sha256,
)
from arbitral.storage.signing import MAX_EXPIRES_IN, content_disposition

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

T = TypeVar("T")
log = logging.getLogger(__name__)

CONTENT_TYPE = "application/octet-stream"
COPY_PART_SIZE = 256 * 1024 * 1024
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
        # Checksums only where S3 requires them: third-party S3 APIs (older MinIO and
        # Ceph RGW) reject the CRC headers boto sends by default. Parts carry
        # Content-MD5, which every S3 API checks.
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
        validate_namespace(namespace)
        expected = validate_sha256(expected_sha256) if expected_sha256 is not None else None
        if max_size is not None and max_size < 0:
            raise ValueError("max_size must not be negative")

        upload = _Upload(self, namespace, expected)
        if expected is not None:
            # The object may already exist: then the stream is only hashed, to check it.
            upload.only_hash = await self._head(upload.final_name) is not None
        try:
            # The one part buffer: grown while the first part fills, then reused in place.
            buffer = bytearray()
            filled = 0
            async for chunk in chunks:
                if not chunk:
                    continue
                view = memoryview(chunk).cast("B")
                received = upload.size + filled + len(view)
                if max_size is not None and received > max_size:
                    raise ObjectTooLarge(max_size, received)
                while view:
                    take = min(self.part_size - filled, len(view))
                    if len(buffer) < self.part_size:
                        buffer += view[:take]
                    else:
                        buffer[filled : filled + take] = view[:take]
                    filled += take
                    view = view[take:]
                    if filled == self.part_size:
                        await upload.send_part(buffer)
                        filled = 0
            del buffer[filled:]  # the last, short part (or the whole of a small object)
            return await upload.finish(buffer)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await upload.abandon()
            raise

    # -- reading ---------------------------------------------------------------------

    async def open(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        name = self.name_of(key)
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
"""Parts of one put uploading at once (each holds a copy of its part_size bytes)."""


class _Upload:
    """The state of one streaming put: which key, which multipart upload, what was sent."""

    def __init__(self, store: S3ObjectStore, namespace: str, expected: str | None) -> None:
        self.store = store
        self.client = store.client
        self.bucket = store.bucket
        self.namespace = namespace
        self.expected = expected
        self.final_name = f"{store.prefix}{object_key(namespace, expected)}" if expected else ""
        # Where the parts go: the final key when it is known, a temporary key otherwise.
        self.target = self.final_name or f"{store.prefix}{namespace}/incoming/{uuid.uuid4().hex}"
        self.only_hash = False
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.upload_id: str | None = None
        self.parts: list[CompletedPartTypeDef] = []
        self.numbered = 0
        self.in_flight: set[asyncio.Task[None]] = set()
        self.completed_temp = False

    async def _call(self, thunk: Callable[[], T]) -> T:
        return await self.store._call(thunk)

    async def send_part(self, part: bytearray) -> None:
        """Hash one full part (in order) and, unless only hashing, start its upload.

        Up to :data:`PARTS_IN_FLIGHT` parts upload at once, each from its own copy
        (the caller reuses its buffer): memory stays within (1 + PARTS_IN_FLIGHT)
        parts whatever the object's size, and the network is kept busy.
        """
        if self.upload_id is None and not self.only_hash:
            response = await self._call(
                lambda: self.client.create_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.target,
                    ContentType=CONTENT_TYPE,
                    Metadata={"sha256": self.expected} if self.expected else {},
                )
            )
            self.upload_id = response["UploadId"]
        self.numbered += 1
        number = self.numbered
        upload_id = self.upload_id
        data = bytes(part)
        await anyio.to_thread.run_sync(self.sha256.update, data)
        self.size += len(data)
        if upload_id is None:
            self.parts.append({"PartNumber": number})  # counted, not sent
            return
        while len(self.in_flight) >= PARTS_IN_FLIGHT:
            done, _ = await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                self.in_flight.discard(task)
                task.result()  # an upload's failure fails the put
        self.in_flight.add(asyncio.create_task(self._upload_part(upload_id, number, data)))

    async def _upload_part(self, upload_id: str, number: int, data: bytes) -> None:
        response = await self._call(
            lambda: self.client.upload_part(
                Bucket=self.bucket,
                Key=self.target,
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
                ContentMD5=_md5(data),
            )
        )
        self.parts.append({"ETag": response["ETag"], "PartNumber": number})

    async def drain(self) -> None:
        """Wait for the parts in flight; the first failure is raised."""
        pending, self.in_flight = self.in_flight, set()
        if pending:
            results = await asyncio.gather(*pending, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        self.parts.sort(key=lambda part: part["PartNumber"])

    async def finish(self, last: bytearray) -> StoredObject:
        """Send the rest, check the digest, and put the object in its final place."""
        if self.upload_id is None and not self.parts:
            return await self._finish_small(last)
        if last:
            await self.send_part(last)
        await self.drain()
        digest = self.sha256.hexdigest()
        key = object_key(self.namespace, digest)
        if self.expected is not None and digest != self.expected:
            raise DigestMismatch(self.expected, digest)
        stored = StoredObject(key=key, sha256=digest, size=self.size, created=False)
        if self.only_hash:
            return stored
        final_name = f"{self.store.prefix}{key}"
        if self.expected is None and await self.store._head(final_name) is not None:
            await self.abandon()
            return stored
        created = await self._complete()
        if self.expected is None and created:
            await self._copy_to(final_name, digest)
        return StoredObject(key=key, sha256=digest, size=self.size, created=created)

    async def _finish_small(self, data: bytearray) -> StoredObject:
        def hash_data() -> str:
            self.sha256.update(data)
            return self.sha256.hexdigest()

        digest = await anyio.to_thread.run_sync(hash_data)
        self.size = len(data)
        if self.expected is not None and digest != self.expected:
            raise DigestMismatch(self.expected, digest)
        key = object_key(self.namespace, digest)
        name = f"{self.store.prefix}{key}"
        created = not self.only_hash and await self.store._head(name) is None
        if created:
            try:
                await self._call(
                    lambda: self.client.put_object(
                        Bucket=self.bucket,
                        Key=name,
                        Body=data,  # type: ignore[arg-type]  # bytearray, as above
                        ContentMD5=_md5(data),
                        ContentType=CONTENT_TYPE,
                        Metadata={"sha256": digest},
                        IfNoneMatch="*",
                    )
                )
            except StorageError as exc:
                if not _already_exists(exc):
                    raise
                created = False
        return StoredObject(key=key, sha256=digest, size=self.size, created=created)

    async def _complete(self) -> bool:
        """Complete the multipart upload; False if the target appeared meanwhile."""
        upload_id = self.upload_id
        assert upload_id is not None
        try:
            await self._call(
                lambda: self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.target,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": self.parts},
                    IfNoneMatch="*",
                )
            )
        except StorageError as exc:
            if not _already_exists(exc):
                raise
            await self.abandon()  # someone stored the same bytes meanwhile
            return False
        self.upload_id = None
        self.completed_temp = self.expected is None
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

    async def abandon(self) -> None:
        """Leave nothing behind: abort the upload, delete a completed temporary object."""
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
            pass  # best effort: the original error matters more; lifecycle rules catch the rest


def _is_bare_forbidden(exc: ClientError) -> bool:
    """A 403 without an error code: the answer to a HEAD request."""
    return str(exc.response.get("Error", {}).get("Code", "")) in {"403", "Forbidden"}


def _already_exists(exc: StorageError) -> bool:
    cause = exc.__cause__
    if not isinstance(cause, ClientError):
        return False
    return str(cause.response.get("Error", {}).get("Code", "")) in _EXISTS_CODES
