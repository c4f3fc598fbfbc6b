"""The object store's own exceptions: nothing from botocore or the OS leaks past them."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every object-store failure."""


class InvalidKey(StorageError, ValueError):
    """A namespace or key does not have the form the stores accept."""


class ObjectNotFound(StorageError):
    """No object is stored under ``key``."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no object stored under {key!r}")
        self.key = key


class DigestMismatch(StorageError):
    """The bytes received do not hash to the SHA-256 the caller announced."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"SHA-256 mismatch: expected {expected}, received {actual}")
        self.expected = expected
        self.actual = actual


class ObjectTooLarge(StorageError):
    """The stream grew past ``limit`` bytes; nothing was stored."""

    def __init__(self, limit: int, size_so_far: int) -> None:
        super().__init__(f"object exceeds the limit of {limit} bytes ({size_so_far} received)")
        self.limit = limit
        self.size_so_far = size_so_far


class StorageUnavailable(StorageError):
    """The backend cannot be used: unreachable, missing, refused credentials, no space.

    The message is one line naming the bucket and endpoint, or the directory.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UrlSignatureInvalid(StorageError):
    """A local presigned URL was tampered with or signed with another key."""


class UrlExpired(UrlSignatureInvalid):
    """A local presigned URL is past its expiry time."""
