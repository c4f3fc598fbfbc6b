"""Request and response types of the pleadings API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class AnswerIn(msgspec.Struct, forbid_unknown_fields=True):
    """The respondent's answer: its text and, optionally, exhibits of its side it relies on."""

    text: str
    exhibit_ids: list[UUID] = msgspec.field(default_factory=list)


class AnswerOut(msgspec.Struct):
    id: UUID
    case_id: UUID
    text: str
    sha256: str
    exhibit_ids: list[UUID]
    submitted_by: str
    submitted_at: datetime
