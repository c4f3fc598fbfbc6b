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
