"""Values as the two drivers hand them back (asyncpg: typed; SQLite: sometimes text)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID


def as_uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def as_datetime(value: Any) -> datetime:
    """An aware datetime (UTC when the driver dropped the zone)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def as_optional_datetime(value: Any) -> datetime | None:
    return None if value is None else as_datetime(value)
