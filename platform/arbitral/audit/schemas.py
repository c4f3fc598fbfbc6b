"""Response types of the audit API."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class AuditEventOut(msgspec.Struct):
    id: UUID
    at: datetime
    actor_kind: str
    actor_id: str | None
    action: str
    target_kind: str | None
    target_id: str | None
    outcome: str
    ip: str | None
    request_id: str | None
    detail: dict[str, Any]


class AuditPage(msgspec.Struct):
    items: list[AuditEventOut]
    next_cursor: str | None
