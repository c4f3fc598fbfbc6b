"""Object storage: write-once, content-addressed, streamed.

Two adapters behind one protocol: a local directory (the embedded default) and
any S3 API. See :mod:`arbitral.storage.interfaces` for the contract.
"""

from __future__ import annotations

from arbitral.storage.errors import (
    DigestMismatch,
    InvalidKey,
    ObjectNotFound,
    ObjectTooLarge,
    StorageError,
    StorageUnavailable,
    UrlExpired,
    UrlSignatureInvalid,
)
from arbitral.storage.factory import build_object_store
from arbitral.storage.interfaces import (
    ObjectInfo,
    ObjectStore,
    StoredObject,
    object_key,
    parse_key,
    validate_namespace,
)

__all__ = [
    "DigestMismatch",
    "InvalidKey",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectTooLarge",
    "StorageError",
    "StorageUnavailable",
    "StoredObject",
    "UrlExpired",
    "UrlSignatureInvalid",
    "build_object_store",
    "object_key",
    "parse_key",
    "validate_namespace",
]
