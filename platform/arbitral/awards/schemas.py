"""Request and response types of the awards API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import msgspec


class DecisionItemIn(msgspec.Struct, forbid_unknown_fields=True):
    """One decision item: its text; an amount (yuan, e.g. "1999.90") and who pays it."""

    text: str
    amount: str | None = None
    payer: str | None = None  # claimant, respondent


class FeesIn(msgspec.Struct, forbid_unknown_fields=True):
    """Who bears the fees assessed (yuan); one share may be left out: it is the rest."""

    claimant: str | None = None
    respondent: str | None = None


class AwardDraftIn(msgspec.Struct, forbid_unknown_fields=True):
    """The tribunal's text. Left out on a new draft: suggested from the case (the decision
    from the claim or the loan assessment, the fees on the respondent); for a consent award
    or a mediation statement, the decision items from the settlement agreement's text."""

    kind: str = "award"  # award, consent_award, mediation_statement
    facts: str | None = None
    reasoning: str | None = None
    decision: list[DecisionItemIn] | None = None
    fees: FeesIn | None = None
    place: str | None = None


class AwardUpdateIn(msgspec.Struct, forbid_unknown_fields=True):
    """A revision of the draft (the fields given replace theirs); clears the votes."""

    if_version: int
    facts: str | None = None
    reasoning: str | None = None
    decision: list[DecisionItemIn] | None = None
    fees: FeesIn | None = None
    place: str | None = None


class CorrectionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A correction (补正) of an issued award: what was wrong, and the corrected text."""

    reason: str
    facts: str | None = None
    reasoning: str | None = None
    decision: list[DecisionItemIn] | None = None
    fees: FeesIn | None = None
    place: str | None = None


class VoteIn(msgspec.Struct, forbid_unknown_fields=True):
    """Your vote on the award's current text (``content_sha256`` as shown with it)."""

    vote: str  # concur, dissent
    content_sha256: str
    opinion: str = ""  # a dissenting opinion, recorded with the award


class VoteOut(msgspec.Struct):
    arbitrator_id: UUID
    name: str
    vote: str
    opinion: str
    voted_at: datetime


class ProblemOut(msgspec.Struct):
    field: str
    rule: str
    message: str


class DocumentOut(msgspec.Struct):
    id: UUID
    kind: str
    verification_code: str
    sha256: str
    size: int
    pages: int
    signed_at: datetime
    issued_at: datetime
    leaf_index: int | None
    custody_item_id: UUID | None


class AwardOut(msgspec.Struct):
    id: UUID
    case_id: UUID
    kind: str
    corrects_id: UUID | None
    status: str
    version: int
    content: dict[str, Any]
    content_sha256: str
    missing: list[ProblemOut]
    votes: list[VoteOut]
    drafted_by: str
    drafted_at: datetime
    updated_at: datetime
    approved_at: datetime | None
    issued_at: datetime | None
    # The day an award or consent award takes effect (the day it is made); always empty for
    # a mediation statement, which takes effect when the parties sign for it (art. 52).
    effective_on: date | None
    document: DocumentOut | None
