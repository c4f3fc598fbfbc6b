"""Request and response types of the service API (service records, the portal inbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class AttemptOut(msgspec.Struct):
    step: int
    channel: str
    destination: str | None  # masked
    status: str
    started_at: datetime
    wait_until: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    opened_at: datetime | None
    failed_at: datetime | None
    detail: str


class CertificateOut(msgspec.Struct):
    id: UUID
    request_id: UUID
    sha256: str
    leaf_index: int
    issued_at: datetime
    record: dict[str, Any]
    text: str


class RequestOut(msgspec.Struct):
    id: UUID
    notice: str
    title: str
    party_id: UUID
    recipient: str
    status: str
    step: int
    basis: str | None
    served_at: datetime | None
    referred_at: datetime | None
    note: str
    rules: dict[str, Any] | None
    text_sha256: str
    attempts: list[AttemptOut]
    # What the notice is about when a case has several of it (a tribunal, a hearing slot).
    subject: str = ""


class CaseServiceOut(msgspec.Struct):
    case_id: UUID
    requests: list[RequestOut]
    certificates: list[CertificateOut]


class StaffServiceIn(msgspec.Struct, forbid_unknown_fields=True):
    """Service by other means (post, in person, public notice), recorded by a secretary."""

    request_id: UUID
    method: str
    reason: str
    served_at: datetime | None = None


class InboxItemOut(msgspec.Struct):
    id: UUID
    case_id: UUID
    notice: str
    title: str
    body: str
    created_at: datetime
    shown_at: datetime | None
    opened_at: datetime | None
    # The notice's signed PDF (GET /api/v1/cases/{case_id}/documents/{document_id}), once made.
    document_id: UUID | None = None


class CaseDocumentOut(msgspec.Struct):
    """A signed document of the case: an award, a notice served, a certificate of service."""

    id: UUID
    case_id: UUID
    kind: str
    kind_zh: str
    verification_code: str
    sha256: str
    size: int
    pages: int
    issued_at: datetime
    leaf_index: int | None
    award_id: UUID | None
    service_request_id: UUID | None  # a notice's document or certificate: its request
    notice: str | None
    party_id: UUID | None  # the party it was served on


class ReportAnswer(msgspec.Struct):
    """The answer an SmsReport push expects: code 0 when received."""

    code: int
    msg: str
