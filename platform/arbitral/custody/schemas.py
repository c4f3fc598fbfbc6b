"""Request and response types of the custody API."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class CustodyItemOut(msgspec.Struct):
    id: UUID
    sha256: str
    size: int
    media_type: str
    filename: str
    title: str
    description: str
    proves: str
    provenance: str
    submitted_by: str
    leaf_index: int
    created_at: datetime


class Received(msgspec.Struct):
    item: CustodyItemOut
    receipt: dict[str, Any]


class DownloadLink(msgspec.Struct):
    url: str
    expires_in: int
    sha256: str


class UploadCreateIn(msgspec.Struct, forbid_unknown_fields=True):
    """A file to be sent in parts: what it is, how big, its SHA-256 (hex) and the part size."""

    filename: str
    title: str
    size: int
    sha256: str
    description: str = ""
    proves: str = ""
    part_size: int | None = None


class UploadOut(msgspec.Struct):
    """A resumable upload: its parts, which have arrived, and what it became."""

    upload_id: UUID
    state: str
    filename: str
    title: str
    size: int
    sha256: str
    part_size: int
    parts: int
    received: list[int]
    missing: list[int]
    created_at: datetime
    expires_at: datetime
    item_id: UUID | None = None
