"""What the batch API takes and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from arbitral.errors import FieldProblem


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new batch: how many rows the claims file will have, and the lender as claimant."""

    declared_rows: int
    claimant: dict[str, Any]
    case_type: str = "online-loan"


class BatchFile(msgspec.Struct):
    sha256: str
    size: int
    format: str | None
    encoding: str | None
    custody_item_id: UUID


class BatchCounts(msgspec.Struct):
    declared: int
    read: int
    created: int
    rejected: int
    duplicate: int
    pending: int


class BatchOut(msgspec.Struct):
    id: UUID
    state: str
    case_type: str
    rule_set: str
    rule_set_version: str
    idempotency_key: str
    counts: BatchCounts
    percent: float
    rate_per_second: float | None
    eta_seconds: float | None
    problems: list[FieldProblem]
    file: BatchFile | None
    created_at: datetime
    uploaded_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    filed_by: str
    claimant_name: str
    report: dict[str, str]


class BatchPage(msgspec.Struct):
    items: list[BatchOut]
    next_cursor: str | None
