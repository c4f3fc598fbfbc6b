"""Request and response types of the settlement API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class OfferIn(msgspec.Struct, forbid_unknown_fields=True):
    """An offer (``reply_to``: the other side's open offer this counters)."""

    terms: str
    amount: str | None = None  # yuan, e.g. "1200.00"
    reply_to: UUID | None = None


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    decision: str  # accept, reject (the other side), withdraw (the offering side)
    reason: str = ""


class MediationIn(msgspec.Struct, forbid_unknown_fields=True):
    mediator_user_id: UUID


class MediationEndIn(msgspec.Struct, forbid_unknown_fields=True):
    result: str  # settled, failed
    reason: str = ""


class AgreementIn(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    outcome: str  # consent_award, mediation_statement, withdrawal
    offer_id: UUID | None = None


class SignatureIn(msgspec.Struct, forbid_unknown_fields=True):
    """Your side confirms the agreement's text by its SHA-256 (hex)."""

    side: str
    sha256: str


class ConcludeIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = ""


class OfferOut(msgspec.Struct):
    id: UUID
    seq: int
    side: str
    amount: str | None
    terms: str
    reply_to: UUID | None
    status: str
    made_by: str
    made_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str


class MediationOut(msgspec.Struct):
    id: UUID
    mediator_user_id: UUID
    mediator_kind: str
    assigned_by: str
    assigned_at: datetime
    ended_at: datetime | None
    result: str | None


class SignatureOut(msgspec.Struct):
    side: str
    sha256: str
    signed_by: str
    signed_at: datetime


class AgreementOut(msgspec.Struct):
    id: UUID
    text: str
    sha256: str
    outcome: str
    offer_id: UUID | None
    mediation_id: UUID | None
    status: str
    proposed_by: str
    proposed_at: datetime
    signatures: list[SignatureOut]
    concluded_at: datetime | None
    document_requested: str | None


class SettlementOut(msgspec.Struct):
    case_id: UUID
    case_state: str
    offers: list[OfferOut]
    mediations: list[MediationOut]
    agreements: list[AgreementOut]
