"""Build the object store that the settings name."""

from __future__ import annotations

from arbitral.settings import StorageConfig
from arbitral.storage.interfaces import ObjectStore


def build_object_store(config: StorageConfig, *, public_url: str, secret_key: bytes) -> ObjectStore:
    """The adapter for ``config``: a local directory (``file://``) or S3 (``s3://``).

    ``public_url`` and ``secret_key`` serve the local store's signed download URLs;
    S3 presigns with its own credentials. Nothing is contacted here: call
    :meth:`ObjectStore.check` to find out whether the backend is usable.
    """
    if config.kind == "file":
        from arbitral.storage.local import LocalObjectStore

        return LocalObjectStore(config, public_url=public_url, secret_key=secret_key)
    if config.kind == "s3":
        from arbitral.storage.s3 import S3ObjectStore

        return S3ObjectStore(config)
    raise ValueError(f"unknown storage kind {config.kind!r}")
