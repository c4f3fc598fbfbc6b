"""Request and response types of the webhooks API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec


class EndpointPut(msgspec.Struct, forbid_unknown_fields=True):
    """Where the client's webhooks go (``https://``; checked precisely by the service)."""

    url: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class DeliveryOut(msgspec.Struct):
    """One event and how its delivery went."""

    id: UUID
    type: str
    status: str
    attempts: int
    created_at: datetime
    next_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None


class EndpointOut(msgspec.Struct, omit_defaults=True):
    """The client's endpoint; ``secret`` only in the answer that made it (shown once)."""

    url: str
    status: str
    created_at: datetime
    updated_at: datetime
    secret_rotated_at: datetime
    deliveries: list[DeliveryOut]
    secret: str | None = None
